"""Key agreement primitives for each key exchange method.

A one-round method is a :class:`Agreement`: the client sends one public value
(``Q_C``, or ``e``), the server answers with its own (``Q_S``/``f``) and both
derive the shared secret ``K``. Values are carried already wire-encoded, so
the exchange hash can concatenate them whatever their type (string for ECDH
and the hybrid KEM, mpint for finite-field DH). ``K`` is wire-encoded too:
an mpint for classic methods, a string for the hybrid post-quantum one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, mlkem, x25519

from ...exceptions import KeyExchangeFailed
from ..wire import Reader, mpint, string
from .groups import modp_group

__all__ = ["Agreement", "KexSpec", "KEX_ALGORITHMS", "DEFAULT_KEX", "DEFAULT_SERVER_KEX", "Rng"]

Rng = Callable[[int], bytes]


class Agreement:
    """One side of a one-round key agreement."""

    def public_field(self) -> bytes:
        """Our public value, wire-encoded (Q_C on a client, Q_S on a server)."""
        raise NotImplementedError

    def client_finish(self, server: Reader) -> bytes:
        """On the client: read Q_S and return K, wire-encoded."""
        raise NotImplementedError

    def server_respond(self, client: Reader) -> bytes:
        """On the server: read Q_C and return K, wire-encoded; then :meth:`public_field` is Q_S."""
        raise NotImplementedError


def _x25519_shared(private: x25519.X25519PrivateKey, peer: bytes) -> bytes:
    if len(peer) != 32:
        raise KeyExchangeFailed(f"X25519 public value has {len(peer)} bytes, expected 32")
    try:
        shared = private.exchange(x25519.X25519PublicKey.from_public_bytes(peer))
    except ValueError:
        raise KeyExchangeFailed("invalid X25519 public value") from None
    if not any(shared):
        raise KeyExchangeFailed("X25519 shared secret is zero")
    return shared


def _x25519_keypair(rng: Rng) -> tuple[x25519.X25519PrivateKey, bytes]:
    private = x25519.X25519PrivateKey.from_private_bytes(rng(32))
    return private, private.public_key().public_bytes_raw()


class Curve25519(Agreement):
    """curve25519-sha256 (RFC 8731)."""

    def __init__(self, rng: Rng) -> None:
        self._private, self._public = _x25519_keypair(rng)

    def public_field(self) -> bytes:
        """Our 32-byte public key as a string."""
        return string(self._public)

    def _k(self, peer: bytes) -> bytes:
        return mpint(int.from_bytes(_x25519_shared(self._private, peer), "big"))

    def client_finish(self, server: Reader) -> bytes:
        """Derive K from the server's public key."""
        return self._k(server.get_string())

    def server_respond(self, client: Reader) -> bytes:
        """Derive K from the client's public key."""
        return self._k(client.get_string())


class NistEcdh(Agreement):
    """ecdh-sha2-nistp256/384/521 (RFC 5656)."""

    def __init__(self, rng: Rng, curve: ec.EllipticCurve) -> None:
        self._curve = curve
        # Any value in [1, 2**(n-1)] is below the group order of the NIST curves.
        bits = curve.key_size - 1
        secret = int.from_bytes(rng((bits + 7) // 8 + 8), "big") % (1 << bits) + 1
        self._private = ec.derive_private_key(secret, curve)
        self._public = self._private.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )

    def public_field(self) -> bytes:
        """Our public point, uncompressed, as a string."""
        return string(self._public)

    def _k(self, peer: bytes) -> bytes:
        try:
            point = ec.EllipticCurvePublicKey.from_encoded_point(self._curve, peer)
            shared = self._private.exchange(ec.ECDH(), point)
        except ValueError:
            raise KeyExchangeFailed("invalid elliptic curve public value") from None
        return mpint(int.from_bytes(shared, "big"))

    def client_finish(self, server: Reader) -> bytes:
        """Derive K from the server's point."""
        return self._k(server.get_string())

    def server_respond(self, client: Reader) -> bytes:
        """Derive K from the client's point."""
        return self._k(client.get_string())


class FiniteFieldDH(Agreement):
    """Diffie-Hellman over a MODP group (RFC 4253 section 8, RFC 8268, RFC 4419)."""

    def __init__(self, rng: Rng, p: int, g: int, exponent_bits: int = 512) -> None:
        self.p = p
        self.g = g
        bits = min(exponent_bits, p.bit_length() - 2)
        self._x = int.from_bytes(rng((bits + 7) // 8), "big") % (1 << bits) | (1 << (bits - 1))
        self._public = pow(g, self._x, p)

    def public_field(self) -> bytes:
        """Our public value (e or f) as an mpint."""
        return mpint(self._public)

    def _k(self, peer: int) -> bytes:
        if not 1 < peer < self.p - 1:
            raise KeyExchangeFailed("Diffie-Hellman public value out of range")
        shared = pow(peer, self._x, self.p)
        if shared in (0, 1):
            raise KeyExchangeFailed("degenerate Diffie-Hellman shared secret")
        return mpint(shared)

    def client_finish(self, server: Reader) -> bytes:
        """Derive K from f."""
        return self._k(server.get_mpint())

    def server_respond(self, client: Reader) -> bytes:
        """Derive K from e."""
        return self._k(client.get_mpint())


MLKEM768_PUBLIC = 1184
MLKEM768_CIPHERTEXT = 1088


class MlKem768X25519(Agreement):
    """mlkem768x25519-sha256: ML-KEM-768 combined with X25519 (OpenSSH 9.9+).

    K is ``string(SHA256(mlkem_secret || x25519_secret))``.
    """

    def __init__(self, rng: Rng) -> None:
        self._rng = rng
        self._x_private, self._x_public = _x25519_keypair(rng)
        self._kem_private: mlkem.MLKEM768PrivateKey | None = None
        self._field = b""

    def public_field(self) -> bytes:
        """The client's KEM key and X25519 key, or the server's ciphertext and X25519 key."""
        if not self._field:
            self._kem_private = mlkem.MLKEM768PrivateKey.from_seed_bytes(self._rng(64))
            self._field = string(self._kem_private.public_key().public_bytes_raw() + self._x_public)
        return self._field

    @staticmethod
    def _k(kem_secret: bytes, x_secret: bytes) -> bytes:
        return string(hashlib.sha256(kem_secret + x_secret).digest())

    def client_finish(self, server: Reader) -> bytes:
        """Decapsulate the server's ciphertext and combine with X25519."""
        blob = server.get_string()
        if len(blob) != MLKEM768_CIPHERTEXT + 32 or self._kem_private is None:
            raise KeyExchangeFailed("malformed mlkem768x25519 server reply")
        try:
            kem_secret = self._kem_private.decapsulate(blob[:MLKEM768_CIPHERTEXT])
        except ValueError:
            raise KeyExchangeFailed("invalid ML-KEM ciphertext") from None
        return self._k(kem_secret, _x25519_shared(self._x_private, blob[MLKEM768_CIPHERTEXT:]))

    def server_respond(self, client: Reader) -> bytes:
        """Encapsulate to the client's KEM key and combine with X25519."""
        blob = client.get_string()
        if len(blob) != MLKEM768_PUBLIC + 32:
            raise KeyExchangeFailed("malformed mlkem768x25519 client key")
        try:
            kem_public = mlkem.MLKEM768PublicKey.from_public_bytes(blob[:MLKEM768_PUBLIC])
            kem_secret, ciphertext = kem_public.encapsulate()
        except ValueError:
            raise KeyExchangeFailed("invalid ML-KEM public key") from None
        x_secret = _x25519_shared(self._x_private, blob[MLKEM768_PUBLIC:])
        self._field = string(ciphertext + self._x_public)
        return self._k(kem_secret, x_secret)


@dataclass(frozen=True)
class KexSpec:
    """A key exchange method: its hash and how to build one side of it."""

    name: str
    hash_name: str
    make: Callable[[Rng], Agreement] | None  # None: group exchange (two rounds)

    def hash(self, data: bytes) -> bytes:
        """Hash with the method's hash function."""
        return hashlib.new(self.hash_name, data).digest()


def _dh(bits: int) -> Callable[[Rng], Agreement]:
    def make(rng: Rng) -> Agreement:
        p, g = modp_group(bits)
        return FiniteFieldDH(rng, p, g)

    return make


KEX_ALGORITHMS: dict[str, KexSpec] = {
    s.name: s
    for s in (
        KexSpec("mlkem768x25519-sha256", "sha256", MlKem768X25519),
        KexSpec("curve25519-sha256", "sha256", Curve25519),
        KexSpec("curve25519-sha256@libssh.org", "sha256", Curve25519),
        KexSpec("ecdh-sha2-nistp256", "sha256", lambda rng: NistEcdh(rng, ec.SECP256R1())),
        KexSpec("ecdh-sha2-nistp384", "sha384", lambda rng: NistEcdh(rng, ec.SECP384R1())),
        KexSpec("ecdh-sha2-nistp521", "sha512", lambda rng: NistEcdh(rng, ec.SECP521R1())),
        KexSpec("diffie-hellman-group-exchange-sha256", "sha256", None),
        KexSpec("diffie-hellman-group16-sha512", "sha512", _dh(4096)),
        KexSpec("diffie-hellman-group18-sha512", "sha512", _dh(8192)),
        KexSpec("diffie-hellman-group14-sha256", "sha256", _dh(2048)),
    )
}

# OpenSSH 10's client order, minus sntrup761 which we do not implement.
DEFAULT_KEX: tuple[str, ...] = (
    "mlkem768x25519-sha256",
    "curve25519-sha256",
    "curve25519-sha256@libssh.org",
    "ecdh-sha2-nistp256",
    "ecdh-sha2-nistp384",
    "ecdh-sha2-nistp521",
    "diffie-hellman-group-exchange-sha256",
    "diffie-hellman-group16-sha512",
    "diffie-hellman-group18-sha512",
    "diffie-hellman-group14-sha256",
)

# A server offers what OpenSSH 10's sshd offers: no finite-field DH by default.
DEFAULT_SERVER_KEX: tuple[str, ...] = DEFAULT_KEX[:6]
