"""A minimal paramiko-style ``Message``: build and read SSH data types in one buffer.

It exists so paramiko-compatible key code (``sign_ssh_data`` returning a
Message, ``verify_ssh_sig(data, Message(blob))``) works unchanged. Unlike
paramiko's, reading past the end raises :class:`SSHException` instead of
returning zero padding.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..exceptions import SSHException
from ..proto.wire import boolean, mpint, name_list, string, uint32, uint64

__all__ = ["Message"]


class Message:
    """A byte buffer with paramiko's ``add_*`` writers (appending) and ``get_*`` readers (from a cursor)."""

    __slots__ = ("_buffer", "_pos")

    big_int = 0xFF000000

    def __init__(self, content: bytes | bytearray | memoryview | None = None) -> None:
        self._buffer = bytearray(content or b"")
        self._pos = 0

    # -- output -----------------------------------------------------------------------------------------------

    def asbytes(self) -> bytes:
        """The whole buffer."""
        return bytes(self._buffer)

    def __bytes__(self) -> bytes:
        return self.asbytes()

    def __str__(self) -> str:
        return repr(self.asbytes())

    def __repr__(self) -> str:
        return f"paramiko.Message({self.asbytes()!r})"

    # -- cursor -----------------------------------------------------------------------------------------------

    def rewind(self) -> None:
        """Move the read cursor back to the start."""
        self._pos = 0

    def get_remainder(self) -> bytes:
        """Read everything after the cursor."""
        data = bytes(self._buffer[self._pos :])
        self._pos = len(self._buffer)
        return data

    def get_so_far(self) -> bytes:
        """The bytes before the cursor."""
        return bytes(self._buffer[: self._pos])

    # -- readers ----------------------------------------------------------------------------------------------

    def get_bytes(self, n: int) -> bytes:
        """Read exactly ``n`` bytes."""
        if n < 0 or self._pos + n > len(self._buffer):
            raise SSHException(f"message truncated: wanted {n} bytes, {len(self._buffer) - self._pos} left")
        data = bytes(self._buffer[self._pos : self._pos + n])
        self._pos += n
        return data

    def get_byte(self) -> bytes:
        """Read one byte (as a 1-byte ``bytes``)."""
        return self.get_bytes(1)

    def get_boolean(self) -> bool:
        """Read a boolean."""
        return self.get_bytes(1) != b"\x00"

    def get_int(self) -> int:
        """Read a uint32."""
        return int.from_bytes(self.get_bytes(4), "big")

    def get_adaptive_int(self) -> int:
        """Read paramiko's adaptive integer (uint32, or uint64 after a 0xFF first byte)."""
        if self._pos < len(self._buffer) and self._buffer[self._pos] == 0xFF:
            return int.from_bytes(self.get_bytes(8), "big")
        return self.get_int()

    def get_int64(self) -> int:
        """Read a uint64."""
        return int.from_bytes(self.get_bytes(8), "big")

    def get_mpint(self) -> int:
        """Read an mpint."""
        raw = self.get_string()
        return int.from_bytes(raw, "big", signed=True) if raw else 0

    def get_string(self) -> bytes:
        """Read a length-prefixed string as bytes."""
        return self.get_bytes(self.get_int())

    def get_binary(self) -> bytes:
        """Read a length-prefixed string as bytes (same as :meth:`get_string`)."""
        return self.get_string()

    def get_text(self) -> str:
        """Read a length-prefixed string and decode it as UTF-8 (undecodable bytes are replaced)."""
        return self.get_string().decode("utf-8", errors="replace")

    def get_list(self) -> list[str]:
        """Read a comma-separated name-list."""
        text = self.get_text()
        return text.split(",") if text else []

    # -- writers ----------------------------------------------------------------------------------------------

    def add_bytes(self, b: bytes) -> Message:
        """Append raw bytes."""
        self._buffer += b
        return self

    def add_byte(self, b: bytes) -> Message:
        """Append one byte given as ``bytes``."""
        self._buffer += b
        return self

    def add_boolean(self, b: bool) -> Message:
        """Append a boolean."""
        self._buffer += boolean(b)
        return self

    def add_int(self, n: int) -> Message:
        """Append a uint32."""
        self._buffer += uint32(n)
        return self

    def add_adaptive_int(self, n: int) -> Message:
        """Append paramiko's adaptive integer (uint32, or 0xFF then uint64 for large values)."""
        if n >= self.big_int:
            self._buffer += b"\xff" + uint64(n)
        else:
            self._buffer += uint32(n)
        return self

    def add_int64(self, n: int) -> Message:
        """Append a uint64."""
        self._buffer += uint64(n)
        return self

    def add_mpint(self, z: int) -> Message:
        """Append an mpint."""
        self._buffer += mpint(z)
        return self

    def add_string(self, s: str | bytes) -> Message:
        """Append a length-prefixed string (str is UTF-8 encoded)."""
        self._buffer += string(s)
        return self

    def add_list(self, items: Iterable[str]) -> Message:
        """Append a comma-separated name-list."""
        self._buffer += name_list(items)
        return self

    def _add(self, item: object) -> None:
        if isinstance(item, bool):
            self.add_boolean(item)
        elif isinstance(item, int):
            self.add_adaptive_int(item)
        elif isinstance(item, (str, bytes)):
            self.add_string(item)
        elif isinstance(item, list):
            self.add_list(item)
        else:
            raise SSHException(f"cannot add {type(item).__name__} to a Message")

    def add(self, *seq: object) -> Message:
        """Append each item by its Python type: bool, int (adaptive), str/bytes (string), list (name-list)."""
        for item in seq:
            self._add(item)
        return self
