"""Packet protection: ciphers combined with their MAC, one object per direction.

Each protector turns a packet body (``padding_length || payload || padding``)
into wire bytes and back. The four shapes SSH uses are:

* ``none``: the initial state, length in clear, no MAC;
* CTR with a MAC: encrypt-and-MAC (length encrypted, MAC over plaintext) or
  encrypt-then-MAC (``*-etm@openssh.com``: length in clear, MAC over ciphertext);
* AES-GCM (RFC 5647 as OpenSSH does it): length in clear as associated data;
* ChaCha20-Poly1305 (OpenSSH PROTOCOL.chacha20poly1305): length encrypted
  with a second key, Poly1305 over the encrypted length and body.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import poly1305
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ...exceptions import MACError
from .mac import Mac

__all__ = [
    "CIPHER_ALGORITHMS",
    "DEFAULT_CIPHERS",
    "CipherSpec",
    "PacketProtector",
    "NoneProtector",
    "make_protector",
]

_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_unpack_u32 = _U32.unpack_from
_ZERO64 = bytes(64)

Buffer = bytes | bytearray | memoryview


@dataclass(frozen=True)
class CipherSpec:
    """A cipher algorithm: sizes and the protector shape it uses."""

    name: str
    key_size: int
    iv_size: int
    block_size: int
    kind: str  # "ctr", "gcm" or "chacha"

    @property
    def is_aead(self) -> bool:
        """True when the cipher authenticates by itself (no MAC is negotiated)."""
        return self.kind in ("gcm", "chacha")


CIPHER_ALGORITHMS: dict[str, CipherSpec] = {
    s.name: s
    for s in (
        CipherSpec("chacha20-poly1305@openssh.com", 64, 0, 8, "chacha"),
        CipherSpec("aes128-gcm@openssh.com", 16, 12, 16, "gcm"),
        CipherSpec("aes256-gcm@openssh.com", 32, 12, 16, "gcm"),
        CipherSpec("aes128-ctr", 16, 16, 16, "ctr"),
        CipherSpec("aes192-ctr", 24, 16, 16, "ctr"),
        CipherSpec("aes256-ctr", 32, 16, 16, "ctr"),
    )
}

# OpenSSH 10's order (GCM ahead of CTR).
DEFAULT_CIPHERS: tuple[str, ...] = (
    "chacha20-poly1305@openssh.com",
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "aes128-ctr",
    "aes192-ctr",
    "aes256-ctr",
)


class PacketProtector:
    """Encrypts and authenticates packets in one direction.

    Attributes used by the framing code:

    * ``block_size``: what the padded packet must be a multiple of;
    * ``length_in_alignment``: whether the 4-byte length counts toward it;
    * ``head_size``: bytes needed before :meth:`open_length` can run;
    * ``tag_size``: bytes of MAC or tag after the packet.
    """

    name = "none"
    block_size = 8
    length_in_alignment = True
    head_size = 4
    tag_size = 0
    # Blocks this key may protect before a rekey is due (None: no cipher limit).
    max_blocks: int | None = None

    def seal(self, seq: int, length_field: bytes, body: bytes) -> bytes | bytearray:
        """Return the wire form of one packet."""
        raise NotImplementedError

    def open_length(self, seq: int, head: Buffer) -> int:
        """Return the packet length from the first ``head_size`` bytes."""
        raise NotImplementedError

    def open(self, seq: int, packet: memoryview, length: int) -> bytes:
        """Check and decrypt a whole packet; return its body (``padding_length`` onward)."""
        raise NotImplementedError


class NoneProtector(PacketProtector):
    """No encryption, no MAC: used until the first NEWKEYS."""

    def seal(self, seq: int, length_field: bytes, body: bytes) -> bytes:
        """Return the length and body unchanged."""
        return length_field + body

    def open_length(self, seq: int, head: Buffer) -> int:
        """Read the clear length."""
        return int(_unpack_u32(head, 0)[0])

    def open(self, seq: int, packet: memoryview, length: int) -> bytes:
        """Return the body as is."""
        return bytes(packet[4 : 4 + length])


def _max_blocks(block_size: int) -> int:
    # RFC 4344 section 3.2, as OpenSSH applies it.
    if block_size >= 16:
        return 1 << (block_size * 2)
    return (1 << 30) // block_size


class CtrProtector(PacketProtector):
    """AES-CTR with an HMAC, in encrypt-and-MAC or encrypt-then-MAC form."""

    def __init__(self, spec: CipherSpec, key: bytes, iv: bytes, mac: Mac, encrypt: bool) -> None:
        cipher = Cipher(algorithms.AES(key), modes.CTR(iv))
        self._ctx = cipher.encryptor() if encrypt else cipher.decryptor()
        self._mac = mac
        self.name = spec.name
        self.block_size = spec.block_size
        self.tag_size = mac.tag_size
        self.max_blocks = _max_blocks(spec.block_size)
        self._etm = mac.etm
        if mac.etm:
            self.length_in_alignment = False
            self.head_size = 4
        else:
            self.length_in_alignment = True
            self.head_size = spec.block_size
        self._first = b""

    def seal(self, seq: int, length_field: bytes, body: bytes) -> bytes:
        """Encrypt and append the MAC."""
        update = self._ctx.update
        if self._etm:
            ct = length_field + update(body)
            return ct + self._mac.sign(seq, ct)
        plain = length_field + body
        return update(plain) + self._mac.sign(seq, plain)

    def open_length(self, seq: int, head: Buffer) -> int:
        """Read the length: in clear for EtM, else by decrypting the first block."""
        if self._etm:
            return int(_unpack_u32(head, 0)[0])
        self._first = self._ctx.update(bytes(head[: self.head_size]))
        return int(_unpack_u32(self._first, 0)[0])

    def open(self, seq: int, packet: memoryview, length: int) -> bytes:
        """Verify the MAC and decrypt."""
        end = 4 + length
        tag = packet[end : end + self.tag_size]
        if self._etm:
            if not self._mac.verify(seq, packet[:end], tag):
                raise MACError("message authentication code mismatch")
            return self._ctx.update(packet[4:end])
        plain = self._first + self._ctx.update(packet[self.head_size : end])
        if not self._mac.verify(seq, plain, tag):
            raise MACError("message authentication code mismatch")
        return plain[4:]


class GcmProtector(PacketProtector):
    """AES-GCM with the packet length as associated data."""

    length_in_alignment = False
    head_size = 4
    tag_size = 16

    def __init__(self, spec: CipherSpec, key: bytes, iv: bytes) -> None:
        self._aead = AESGCM(key)
        self._fixed = iv[:4]
        self._counter = int.from_bytes(iv[4:12], "big")
        self.name = spec.name
        self.block_size = spec.block_size
        self.max_blocks = _max_blocks(spec.block_size)

    def _next_nonce(self) -> bytes:
        nonce = self._fixed + _U64.pack(self._counter)
        self._counter = (self._counter + 1) & 0xFFFFFFFFFFFFFFFF
        return nonce

    def seal(self, seq: int, length_field: bytes, body: bytes) -> bytes | bytearray:
        """Encrypt the body, authenticating the clear length too (written in place, no extra copy)."""
        out = bytearray(4 + len(body) + 16)
        out[:4] = length_field
        with memoryview(out) as view:
            self._aead.encrypt_into(self._next_nonce(), body, length_field, view[4:])
        return out

    def open_length(self, seq: int, head: Buffer) -> int:
        """The length is sent in clear."""
        return int(_unpack_u32(head, 0)[0])

    def open(self, seq: int, packet: memoryview, length: int) -> bytes:
        """Decrypt and check the tag."""
        try:
            return self._aead.decrypt(self._next_nonce(), packet[4 : 4 + length + 16], packet[:4])
        except InvalidTag:
            raise MACError("message authentication code mismatch") from None


class ChaChaProtector(PacketProtector):
    """chacha20-poly1305@openssh.com."""

    length_in_alignment = False
    head_size = 4
    tag_size = 16
    block_size = 8

    def __init__(self, spec: CipherSpec, key: bytes) -> None:
        self._main_key = key[:32]
        self._header_key = key[32:64]
        self.name = spec.name
        self.max_blocks = _max_blocks(spec.block_size)

    @staticmethod
    def _nonce(seq: int) -> bytes:
        # 64-bit little-endian block counter (0) followed by the 64-bit big-endian sequence number.
        return b"\x00" * 8 + _U64.pack(seq)

    def seal(self, seq: int, length_field: bytes, body: bytes) -> bytes:
        """Encrypt length and body, append the Poly1305 tag."""
        nonce = self._nonce(seq)
        enc_len = Cipher(algorithms.ChaCha20(self._header_key, nonce), None).encryptor().update(length_field)
        ctx = Cipher(algorithms.ChaCha20(self._main_key, nonce), None).encryptor()
        mac = poly1305.Poly1305(ctx.update(_ZERO64)[:32])
        ciphertext = ctx.update(body)
        mac.update(enc_len)
        mac.update(ciphertext)
        return b"".join((enc_len, ciphertext, mac.finalize()))

    def open_length(self, seq: int, head: Buffer) -> int:
        """Decrypt the length with the header key (authenticated later in :meth:`open`)."""
        nonce = self._nonce(seq)
        ctx = Cipher(algorithms.ChaCha20(self._header_key, nonce), None).decryptor()
        return int(_unpack_u32(ctx.update(bytes(head[:4])), 0)[0])

    def open(self, seq: int, packet: memoryview, length: int) -> bytes:
        """Check the tag, then decrypt the body."""
        nonce = self._nonce(seq)
        ctx = Cipher(algorithms.ChaCha20(self._main_key, nonce), None).decryptor()
        poly_key = ctx.update(_ZERO64)[:32]
        end = 4 + length
        try:
            poly1305.Poly1305.verify_tag(poly_key, packet[:end], bytes(packet[end : end + 16]))
        except InvalidSignature:
            raise MACError("message authentication code mismatch") from None
        return ctx.update(packet[4:end])


def make_protector(spec: CipherSpec, key: bytes, iv: bytes, mac: Mac | None, encrypt: bool) -> PacketProtector:
    """Build the protector for a negotiated cipher (and MAC, unless the cipher is AEAD)."""
    if spec.kind == "gcm":
        return GcmProtector(spec, key, iv)
    if spec.kind == "chacha":
        return ChaChaProtector(spec, key)
    if mac is None:
        raise ValueError(f"{spec.name} needs a MAC")
    return CtrProtector(spec, key, iv, mac, encrypt)
