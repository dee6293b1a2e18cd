"""Per key type wire formats and signature primitives (Ed25519, ECDSA, RSA).

Each :class:`KeyTypeHandler` knows how one key type is laid out on the wire
(public blob fields, openssh-key-v1 private fields) and how it signs and
verifies. Higher layers (:mod:`.sshkey`) deal only in handlers and never
branch on the key type themselves.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ..exceptions import KeyImportError, PacketDecodeError, PasswordRequiredException, UnknownKeyType
from ..proto.wire import Reader, mpint, string
from . import algorithms as alg
from .errors import KeyUsageError

__all__ = [
    "MAX_RSA_BITS",
    "MIN_RSA_BITS",
    "KeyTypeHandler",
    "PrivateKey",
    "PublicKey",
    "handler_for_key",
    "handler_for_key_type",
    "key_errors",
]

PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey
PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

#: RSA keys below this size are refused (OpenSSH's SSH_RSA_MINIMUM_MODULUS_SIZE).
MIN_RSA_BITS = 1024
#: RSA keys above this size are refused (OpenSSH's limit).
MAX_RSA_BITS = 16384


@contextmanager
def key_errors(what: str) -> Iterator[None]:
    """Turn parser and cryptography errors raised inside the block into :class:`KeyImportError`."""
    try:
        yield
    except (KeyImportError, PasswordRequiredException):
        raise
    except PacketDecodeError as exc:
        raise KeyImportError(f"{what}: truncated or malformed data ({exc})") from None
    except (ValueError, OverflowError, UnsupportedAlgorithm) as exc:
        raise KeyImportError(f"{what}: {exc}") from None


class KeyTypeHandler:
    """Wire format and signature operations for one key type."""

    name: str = ""
    sig_algorithms: tuple[str, ...] = ()

    def read_public(self, reader: Reader) -> PublicKey:
        """Read the public key fields that follow the key type name."""
        raise NotImplementedError

    def public_fields(self, key: PublicKey) -> bytes:
        """Encode the public key fields that follow the key type name."""
        raise NotImplementedError

    def public_blob(self, key: PublicKey) -> bytes:
        """Encode the full public key blob (name then fields)."""
        return string(self.name) + self.public_fields(key)

    def read_private(self, reader: Reader) -> PrivateKey:
        """Read the openssh-key-v1 private fields that follow the key type name."""
        raise NotImplementedError

    def private_fields(self, key: PrivateKey) -> bytes:
        """Encode the openssh-key-v1 private fields that follow the key type name."""
        raise NotImplementedError

    def bits(self, key: PublicKey) -> int:
        """Return the key size in bits."""
        raise NotImplementedError

    def sign(self, key: PrivateKey, data: bytes, sig_algorithm: str) -> bytes:
        """Sign ``data`` and return the raw signature (the part inside the signature blob)."""
        raise NotImplementedError

    def verify(self, key: PublicKey, data: bytes, sig_algorithm: str, signature: bytes) -> bool:
        """Check a raw signature; never raises for a bad one."""
        raise NotImplementedError

    def generate(self, bits: int | None) -> PrivateKey:
        """Create a new private key."""
        raise NotImplementedError


class _Ed25519Handler(KeyTypeHandler):
    """ssh-ed25519 (RFC 8709)."""

    name = alg.ED25519
    sig_algorithms = (alg.ED25519,)

    def read_public(self, reader: Reader) -> PublicKey:
        raw = reader.get_string()
        if len(raw) != 32:
            raise KeyImportError(f"invalid ssh-ed25519 public key length {len(raw)}")
        with key_errors("invalid ssh-ed25519 public key"):
            return ed25519.Ed25519PublicKey.from_public_bytes(raw)

    def public_fields(self, key: PublicKey) -> bytes:
        assert isinstance(key, ed25519.Ed25519PublicKey)
        return string(key.public_bytes_raw())

    def read_private(self, reader: Reader) -> PrivateKey:
        public = reader.get_string()
        secret = reader.get_string()
        if len(public) != 32 or len(secret) != 64 or secret[32:] != public:
            raise KeyImportError("invalid ssh-ed25519 private key fields")
        with key_errors("invalid ssh-ed25519 private key"):
            key = ed25519.Ed25519PrivateKey.from_private_bytes(secret[:32])
        if key.public_key().public_bytes_raw() != public:
            raise KeyImportError("ssh-ed25519 private key does not match its public key")
        return key

    def private_fields(self, key: PrivateKey) -> bytes:
        assert isinstance(key, ed25519.Ed25519PrivateKey)
        public = key.public_key().public_bytes_raw()
        return string(public) + string(key.private_bytes_raw() + public)

    def bits(self, key: PublicKey) -> int:
        return 256

    def sign(self, key: PrivateKey, data: bytes, sig_algorithm: str) -> bytes:
        assert isinstance(key, ed25519.Ed25519PrivateKey)
        return key.sign(data)

    def verify(self, key: PublicKey, data: bytes, sig_algorithm: str, signature: bytes) -> bool:
        assert isinstance(key, ed25519.Ed25519PublicKey)
        if len(signature) != 64:
            return False
        try:
            key.verify(signature, data)
        except InvalidSignature:
            return False
        return True

    def generate(self, bits: int | None) -> PrivateKey:
        if bits not in (None, 256):
            raise KeyUsageError("ssh-ed25519 keys are always 256 bits")
        return ed25519.Ed25519PrivateKey.generate()


class _ECDSAHandler(KeyTypeHandler):
    """ecdsa-sha2-nistp256/384/521 (RFC 5656)."""

    def __init__(self, curve_name: str, curve: ec.EllipticCurve, hash_algorithm: hashes.HashAlgorithm) -> None:
        self.curve_name = curve_name
        self.curve = curve
        self.hash_algorithm = hash_algorithm
        self.name = "ecdsa-sha2-" + curve_name
        self.sig_algorithms = (self.name,)

    def _point(self, key: ec.EllipticCurvePublicKey) -> bytes:
        return key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)

    def _read_point(self, reader: Reader) -> ec.EllipticCurvePublicKey:
        curve_name = reader.get_ascii()
        if curve_name != self.curve_name:
            raise KeyImportError(f"{self.name} key names curve {curve_name!r}")
        point = reader.get_string()
        if not point or point[0] != 4:
            raise KeyImportError(f"{self.name} public point must be uncompressed")
        with key_errors(f"invalid {self.name} public point"):
            return ec.EllipticCurvePublicKey.from_encoded_point(self.curve, point)

    def read_public(self, reader: Reader) -> PublicKey:
        return self._read_point(reader)

    def public_fields(self, key: PublicKey) -> bytes:
        assert isinstance(key, ec.EllipticCurvePublicKey)
        return string(self.curve_name) + string(self._point(key))

    def read_private(self, reader: Reader) -> PrivateKey:
        public = self._read_point(reader)
        secret = reader.get_mpint()
        with key_errors(f"invalid {self.name} private key"):
            key = ec.derive_private_key(secret, self.curve)
        if key.public_key().public_numbers() != public.public_numbers():
            raise KeyImportError(f"{self.name} private key does not match its public key")
        return key

    def private_fields(self, key: PrivateKey) -> bytes:
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return self.public_fields(key.public_key()) + mpint(key.private_numbers().private_value)

    def bits(self, key: PublicKey) -> int:
        return self.curve.key_size

    def sign(self, key: PrivateKey, data: bytes, sig_algorithm: str) -> bytes:
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(self.hash_algorithm)))
        return mpint(r) + mpint(s)

    def verify(self, key: PublicKey, data: bytes, sig_algorithm: str, signature: bytes) -> bool:
        assert isinstance(key, ec.EllipticCurvePublicKey)
        try:
            reader = Reader(signature)
            r = reader.get_mpint()
            s = reader.get_mpint()
            reader.check_end()
        except PacketDecodeError:
            return False
        if r <= 0 or s <= 0 or max(r.bit_length(), s.bit_length()) > self.curve.key_size:
            return False
        try:
            key.verify(encode_dss_signature(r, s), data, ec.ECDSA(self.hash_algorithm))
        except (InvalidSignature, ValueError):
            return False
        return True

    def generate(self, bits: int | None) -> PrivateKey:
        if bits not in (None, self.curve.key_size):
            raise KeyUsageError(f"{self.name} keys are always {self.curve.key_size} bits")
        return ec.generate_private_key(self.curve)


_RSA_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    alg.RSA_SHA512: hashes.SHA512,
    alg.RSA_SHA256: hashes.SHA256,
    alg.RSA_SHA1: hashes.SHA1,
}


def _check_rsa_size(bits: int) -> None:
    if bits < MIN_RSA_BITS:
        raise KeyImportError(f"RSA key of {bits} bits is too small (minimum {MIN_RSA_BITS})")
    if bits > MAX_RSA_BITS:
        raise KeyImportError(f"RSA key of {bits} bits is too large (maximum {MAX_RSA_BITS})")


class _RSAHandler(KeyTypeHandler):
    """ssh-rsa keys, signing with rsa-sha2-512, rsa-sha2-256 (RFC 8332) or legacy SHA-1."""

    name = alg.RSA
    sig_algorithms = (alg.RSA_SHA512, alg.RSA_SHA256, alg.RSA_SHA1)

    def read_public(self, reader: Reader) -> PublicKey:
        e = reader.get_positive_mpint()
        n = reader.get_positive_mpint()
        _check_rsa_size(n.bit_length())
        with key_errors("invalid ssh-rsa public key"):
            return rsa.RSAPublicNumbers(e, n).public_key()

    def public_fields(self, key: PublicKey) -> bytes:
        assert isinstance(key, rsa.RSAPublicKey)
        numbers = key.public_numbers()
        return mpint(numbers.e) + mpint(numbers.n)

    def read_private(self, reader: Reader) -> PrivateKey:
        n = reader.get_positive_mpint()
        e = reader.get_positive_mpint()
        d = reader.get_positive_mpint()
        iqmp = reader.get_positive_mpint()
        p = reader.get_positive_mpint()
        q = reader.get_positive_mpint()
        _check_rsa_size(n.bit_length())
        # Cheap consistency checks first; cryptography's full validation is slow (primality tests).
        if p * q != n:
            raise KeyImportError("invalid ssh-rsa private key: p * q != n")
        if (iqmp * q) % p != 1:
            raise KeyImportError("invalid ssh-rsa private key: bad CRT coefficient")
        lam = (p - 1) * (q - 1) // math.gcd(p - 1, q - 1)
        if (d * e) % lam != 1:
            raise KeyImportError("invalid ssh-rsa private key: d does not match e")
        with key_errors("invalid ssh-rsa private key"):
            numbers = rsa.RSAPrivateNumbers(
                p=p,
                q=q,
                d=d,
                dmp1=rsa.rsa_crt_dmp1(d, p),
                dmq1=rsa.rsa_crt_dmq1(d, q),
                iqmp=iqmp,
                public_numbers=rsa.RSAPublicNumbers(e, n),
            )
            return numbers.private_key()

    def private_fields(self, key: PrivateKey) -> bytes:
        assert isinstance(key, rsa.RSAPrivateKey)
        numbers = key.private_numbers()
        public = numbers.public_numbers
        return b"".join(mpint(v) for v in (public.n, public.e, numbers.d, numbers.iqmp, numbers.p, numbers.q))

    def bits(self, key: PublicKey) -> int:
        assert isinstance(key, rsa.RSAPublicKey)
        return key.key_size

    def sign(self, key: PrivateKey, data: bytes, sig_algorithm: str) -> bytes:
        assert isinstance(key, rsa.RSAPrivateKey)
        return key.sign(data, padding.PKCS1v15(), _RSA_HASHES[sig_algorithm]())

    def verify(self, key: PublicKey, data: bytes, sig_algorithm: str, signature: bytes) -> bool:
        assert isinstance(key, rsa.RSAPublicKey)
        size = (key.key_size + 7) // 8
        if not signature or len(signature) > size:
            return False
        # Some implementations drop leading zero bytes; OpenSSH pads them back.
        signature = signature.rjust(size, b"\x00")
        try:
            key.verify(signature, data, padding.PKCS1v15(), _RSA_HASHES[sig_algorithm]())
        except (InvalidSignature, ValueError):
            return False
        return True

    def generate(self, bits: int | None) -> PrivateKey:
        bits = 3072 if bits is None else bits
        try:
            _check_rsa_size(bits)
        except KeyImportError as exc:
            raise KeyUsageError(str(exc)) from None
        return rsa.generate_private_key(public_exponent=65537, key_size=bits)


_HANDLERS: dict[str, KeyTypeHandler] = {
    alg.ED25519: _Ed25519Handler(),
    alg.ECDSA_NISTP256: _ECDSAHandler("nistp256", ec.SECP256R1(), hashes.SHA256()),
    alg.ECDSA_NISTP384: _ECDSAHandler("nistp384", ec.SECP384R1(), hashes.SHA384()),
    alg.ECDSA_NISTP521: _ECDSAHandler("nistp521", ec.SECP521R1(), hashes.SHA512()),
    alg.RSA: _RSAHandler(),
}

_CURVE_KEY_TYPES: dict[str, str] = {
    "secp256r1": alg.ECDSA_NISTP256,
    "secp384r1": alg.ECDSA_NISTP384,
    "secp521r1": alg.ECDSA_NISTP521,
}


def handler_for_key_type(name: str) -> KeyTypeHandler:
    """Return the handler for a plain key type name; :class:`UnknownKeyType` otherwise."""
    handler = _HANDLERS.get(name)
    if handler is None:
        raise UnknownKeyType(key_type=name)
    return handler


def handler_for_key(key: PublicKey | PrivateKey) -> KeyTypeHandler:
    """Return the handler for a cryptography key object, checking it is a supported kind and size."""
    if isinstance(key, (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)):
        return _HANDLERS[alg.ED25519]
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        name = _CURVE_KEY_TYPES.get(key.curve.name)
        if name is None:
            raise UnknownKeyType(key_type=f"ecdsa ({key.curve.name})")
        return _HANDLERS[name]
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        _check_rsa_size(key.key_size)
        return _HANDLERS[alg.RSA]
    raise UnknownKeyType(key_type=type(key).__name__)
