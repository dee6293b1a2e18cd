"""Message authentication codes (RFC 4253 section 6.4, RFC 6668, OpenSSH EtM)."""

from __future__ import annotations

import hmac
import struct
from dataclasses import dataclass

__all__ = ["MAC_ALGORITHMS", "MacSpec", "Mac", "DEFAULT_MACS"]

_pack_seq = struct.Struct(">I").pack


@dataclass(frozen=True)
class MacSpec:
    """A MAC algorithm: hash name, key and tag sizes, and whether it is encrypt-then-MAC."""

    name: str
    digest: str
    key_size: int
    tag_size: int
    etm: bool


class Mac:
    """A keyed MAC bound to one direction of a connection."""

    __slots__ = ("spec", "_key", "_digest", "tag_size", "etm")

    def __init__(self, spec: MacSpec, key: bytes) -> None:
        self.spec = spec
        self._key = key
        self._digest = spec.digest
        self.tag_size = spec.tag_size
        self.etm = spec.etm

    def sign(self, seq: int, data: bytes | bytearray | memoryview) -> bytes:
        """Compute the tag over ``uint32(seq) || data``."""
        tag = hmac.digest(self._key, _pack_seq(seq) + bytes(data), self._digest)
        return tag[: self.tag_size]

    def verify(self, seq: int, data: bytes | bytearray | memoryview, tag: bytes | memoryview) -> bool:
        """Check a received tag in constant time."""
        return hmac.compare_digest(self.sign(seq, data), bytes(tag))


def _spec(name: str, digest: str, size: int, etm: bool) -> MacSpec:
    return MacSpec(name, digest, size, size, etm)


MAC_ALGORITHMS: dict[str, MacSpec] = {
    s.name: s
    for s in (
        _spec("hmac-sha2-256-etm@openssh.com", "sha256", 32, True),
        _spec("hmac-sha2-512-etm@openssh.com", "sha512", 64, True),
        _spec("hmac-sha1-etm@openssh.com", "sha1", 20, True),
        _spec("hmac-sha2-256", "sha256", 32, False),
        _spec("hmac-sha2-512", "sha512", 64, False),
        _spec("hmac-sha1", "sha1", 20, False),
    )
}

# OpenSSH 10's order, minus the UMAC family we do not implement.
DEFAULT_MACS: tuple[str, ...] = (
    "hmac-sha2-256-etm@openssh.com",
    "hmac-sha2-512-etm@openssh.com",
    "hmac-sha1-etm@openssh.com",
    "hmac-sha2-256",
    "hmac-sha2-512",
    "hmac-sha1",
)
