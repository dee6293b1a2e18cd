"""Payload compression: ``zlib`` (RFC 4253) and ``zlib@openssh.com`` (after auth)."""

from __future__ import annotations

import zlib

from ...exceptions import CompressionError

__all__ = ["COMPRESSION_ALGORITHMS", "DEFAULT_COMPRESSION", "Compressor", "Decompressor", "is_delayed"]

COMPRESSION_ALGORITHMS: tuple[str, ...] = ("none", "zlib@openssh.com", "zlib")
DEFAULT_COMPRESSION: tuple[str, ...] = ("none", "zlib@openssh.com")


def is_delayed(name: str) -> bool:
    """True for methods that start only once user authentication has succeeded."""
    return name == "zlib@openssh.com"


class Compressor:
    """Compresses payloads with a shared zlib stream, flushing after each packet."""

    __slots__ = ("_z",)

    def __init__(self, level: int = 6) -> None:
        self._z = zlib.compressobj(level)

    def compress(self, payload: bytes) -> bytes:
        """Compress one payload."""
        return self._z.compress(payload) + self._z.flush(zlib.Z_SYNC_FLUSH)


class Decompressor:
    """Inflates payloads, refusing ones that would grow past ``max_size``."""

    __slots__ = ("_z", "_max_size")

    def __init__(self, max_size: int) -> None:
        self._z = zlib.decompressobj()
        self._max_size = max_size

    def decompress(self, data: bytes) -> bytes:
        """Inflate one payload."""
        try:
            out = self._z.decompress(data, self._max_size)
        except zlib.error as exc:
            raise CompressionError(f"invalid compressed data: {exc}") from None
        if self._z.unconsumed_tail:
            raise CompressionError(f"decompressed payload exceeds {self._max_size} bytes")
        return out
