"""SSH data types (RFC 4251 section 5): encoders and a bounds-checked reader.

This module is a leaf: it imports nothing from blockssh but the exception
tree, so key formats (``blockssh.keys``) can use it without pulling in the
protocol core. Malformed input raises :class:`PacketDecodeError`, never
``IndexError`` or ``struct.error``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from ..exceptions import PacketDecodeError

__all__ = [
    "Reader",
    "boolean",
    "byte",
    "mpint",
    "name_list",
    "string",
    "uint32",
    "uint64",
]

_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_pack_u32 = _U32.pack
_unpack_u32 = _U32.unpack_from
_unpack_u64 = _U64.unpack_from

Bytes = bytes | bytearray | memoryview


def byte(value: int) -> bytes:
    """Encode one byte."""
    return bytes((value,))


def boolean(value: bool) -> bytes:
    """Encode a boolean as one byte, 0 or 1."""
    return b"\x01" if value else b"\x00"


def uint32(value: int) -> bytes:
    """Encode an unsigned 32-bit integer, big-endian."""
    return _pack_u32(value)


def uint64(value: int) -> bytes:
    """Encode an unsigned 64-bit integer, big-endian."""
    return _U64.pack(value)


def string(value: Bytes | str) -> bytes:
    """Encode a string: a uint32 length then the bytes (str is UTF-8 encoded)."""
    if isinstance(value, str):
        value = value.encode("utf-8")
    return _pack_u32(len(value)) + bytes(value)


def mpint(value: int) -> bytes:
    """Encode a multiple-precision integer in two's complement, minimal length."""
    if value == 0:
        return b"\x00\x00\x00\x00"
    length = (value.bit_length() + 8) // 8  # room for the sign bit
    data = value.to_bytes(length, "big", signed=True)
    # to_bytes with the extra byte may leave one redundant sign byte; strip it.
    if len(data) > 1 and ((data[0] == 0 and not data[1] & 0x80) or (data[0] == 0xFF and data[1] & 0x80)):
        data = data[1:]
    return _pack_u32(len(data)) + data


def name_list(names: Iterable[str]) -> bytes:
    """Encode a comma-separated name-list."""
    return string(",".join(names).encode("ascii"))


class Reader:
    """Reads SSH data types from a buffer, checking every bound.

    ``Reader(data).get_uint32()`` and friends consume the buffer from the
    front; :meth:`check_end` refuses trailing bytes.
    """

    __slots__ = ("_data", "_pos", "_end")

    def __init__(self, data: Bytes, pos: int = 0, end: int | None = None) -> None:
        self._data = data
        self._pos = pos
        self._end = len(data) if end is None else end

    @property
    def position(self) -> int:
        """Offset of the next unread byte."""
        return self._pos

    @property
    def remaining(self) -> int:
        """Number of unread bytes."""
        return self._end - self._pos

    def _take(self, n: int) -> int:
        pos = self._pos
        if n < 0 or pos + n > self._end:
            raise PacketDecodeError(f"message truncated: wanted {n} bytes, {self._end - pos} left")
        self._pos = pos + n
        return pos

    def get_byte(self) -> int:
        """Read one byte."""
        pos = self._take(1)
        return self._data[pos]

    def get_boolean(self) -> bool:
        """Read a boolean (any non-zero byte is True)."""
        return self.get_byte() != 0

    def get_uint32(self) -> int:
        """Read an unsigned 32-bit integer."""
        pos = self._take(4)
        return int(_unpack_u32(self._data, pos)[0])

    def get_uint64(self) -> int:
        """Read an unsigned 64-bit integer."""
        pos = self._take(8)
        return int(_unpack_u64(self._data, pos)[0])

    def get_bytes(self, n: int) -> bytes:
        """Read exactly ``n`` raw bytes."""
        pos = self._take(n)
        return bytes(self._data[pos : pos + n])

    def get_string(self) -> bytes:
        """Read a length-prefixed string as bytes."""
        return self.get_bytes(self.get_uint32())

    def get_string_view(self) -> memoryview:
        """Read a length-prefixed string without copying it."""
        n = self.get_uint32()
        pos = self._take(n)
        return memoryview(self._data)[pos : pos + n]

    def get_text(self) -> str:
        """Read a string and decode it as UTF-8."""
        raw = self.get_string()
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PacketDecodeError(f"invalid UTF-8 in string: {exc}") from None

    def get_ascii(self) -> str:
        """Read a string that must be printable US-ASCII (algorithm and method names)."""
        raw = self.get_string()
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError:
            raise PacketDecodeError("non-ASCII bytes in a name") from None
        return text

    def get_mpint(self) -> int:
        """Read a two's-complement multiple-precision integer."""
        raw = self.get_string()
        return int.from_bytes(raw, "big", signed=True) if raw else 0

    def get_positive_mpint(self) -> int:
        """Read an mpint that must be greater than zero."""
        value = self.get_mpint()
        if value <= 0:
            raise PacketDecodeError("expected a positive mpint")
        return value

    def get_name_list(self) -> list[str]:
        """Read a name-list; empty names are refused."""
        text = self.get_ascii()
        if not text:
            return []
        names = text.split(",")
        if any(not name or any(c <= " " or c > "~" for c in name) for name in names):
            raise PacketDecodeError(f"malformed name-list {text[:80]!r}")
        return names

    def bytes_since(self, start: int) -> bytes:
        """Return the raw bytes read since offset ``start``."""
        return bytes(self._data[start : self._pos])

    def get_remaining(self) -> bytes:
        """Read everything that is left."""
        pos = self._pos
        self._pos = self._end
        return bytes(self._data[pos : self._end])

    def check_end(self) -> None:
        """Raise if unread bytes remain."""
        if self._pos != self._end:
            raise PacketDecodeError(f"{self._end - self._pos} unexpected trailing bytes")
