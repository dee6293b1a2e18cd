"""File objects over a channel's streams, with paramiko's bytes-vs-str behaviour.

``read()`` always returns bytes; ``readline()``, ``readlines()`` and iteration
return str (strict UTF-8) unless the mode contains ``"b"``; ``"U"`` turns on
universal newlines. Writing accepts str (UTF-8 encoded) or bytes; ``bufsize``
works as in paramiko: ``-1`` and ``0`` send every write at once, ``1`` sends
complete lines, ``n > 1`` sends whenever ``n`` bytes have collected (and on
:meth:`~ChannelFile.flush` and :meth:`~ChannelFile.close`). Closing a stdin
file sends EOF, and so does dropping the last reference to it (paramiko's
``__del__`` behaviour, which scripts that ignore ``stdin`` rely on); closing
a stdout/stderr file leaves the channel open.

Reads come straight from the channel's buffers (no extra copy, no trip to the
event loop) and honour the channel's timeout.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._bridge import ChannelBridge, Stream
    from .channel import Channel

__all__ = ["BufferedFile", "ChannelFile", "ChannelStderrFile", "ChannelStdinFile"]

_DEFAULT_BUFSIZE = 8192


class BufferedFile:
    """paramiko's file flags and write buffering, shared by the channel files."""

    _DEFAULT_BUFSIZE = _DEFAULT_BUFSIZE
    SEEK_SET = 0
    SEEK_CUR = 1
    SEEK_END = 2
    FLAG_READ = 0x1
    FLAG_WRITE = 0x2
    FLAG_APPEND = 0x4
    FLAG_BINARY = 0x10
    FLAG_BUFFERED = 0x20
    FLAG_LINE_BUFFERED = 0x40
    FLAG_UNIVERSAL_NEWLINE = 0x80

    def __init__(self) -> None:
        self.newlines: bytes | tuple[bytes, ...] | None = None  # as paramiko: bytes
        self._flags = 0
        self._bufsize = _DEFAULT_BUFSIZE
        self._wbuffer = bytearray()
        self._closed = False
        self._pos = 0

    def _set_mode(self, mode: str = "r", bufsize: int = -1) -> None:
        self.mode = mode
        self._bufsize = _DEFAULT_BUFSIZE
        if bufsize < 0:
            bufsize = 0
        if bufsize == 1:
            self._flags |= self.FLAG_BUFFERED | self.FLAG_LINE_BUFFERED
        elif bufsize > 1:
            self._bufsize = bufsize
            self._flags |= self.FLAG_BUFFERED
            self._flags &= ~self.FLAG_LINE_BUFFERED
        else:
            self._flags &= ~(self.FLAG_BUFFERED | self.FLAG_LINE_BUFFERED)
        if "r" in mode or "+" in mode:
            self._flags |= self.FLAG_READ
        if "w" in mode or "+" in mode:
            self._flags |= self.FLAG_WRITE
        if "a" in mode:
            self._flags |= self.FLAG_WRITE | self.FLAG_APPEND
        if "b" in mode:
            self._flags |= self.FLAG_BINARY
        if "U" in mode:
            self._flags |= self.FLAG_UNIVERSAL_NEWLINE
            self.newlines = None

    # -- the byte source and sink (subclasses) ------------------------------

    def _write_raw(self, data: bytes) -> None:
        raise OSError("write not implemented")

    # -- writing ---------------------------------------------------------

    def write(self, data: str | bytes | bytearray | memoryview) -> None:
        """Write ``data`` (str is UTF-8 encoded), buffered according to ``bufsize``. Returns None, as paramiko."""
        raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        if self._closed:
            raise OSError("File is closed")
        if not self._flags & self.FLAG_WRITE:
            raise OSError("File not open for writing")
        if not self._flags & self.FLAG_BUFFERED:
            self._write_all(raw)
            return
        self._wbuffer += raw
        if self._flags & self.FLAG_LINE_BUFFERED:
            last = self._wbuffer.rfind(b"\n")
            if last >= 0:
                out = bytes(self._wbuffer[: last + 1])
                del self._wbuffer[: last + 1]
                self._write_all(out)
            return
        if len(self._wbuffer) >= self._bufsize:
            self.flush()

    def _write_all(self, data: bytes) -> None:
        if data:
            self._write_raw(data)
            self._pos += len(data)

    def writelines(self, sequence: Iterable[str | bytes]) -> None:
        """Write each item."""
        for line in sequence:
            self.write(line)

    def flush(self) -> None:
        """Send buffered writes."""
        if self._wbuffer:
            out = bytes(self._wbuffer)
            self._wbuffer.clear()
            self._write_all(out)

    # -- file protocol ---------------------------------------------------

    def readable(self) -> bool:
        """True when opened for reading."""
        return bool(self._flags & self.FLAG_READ)

    def writable(self) -> bool:
        """True when opened for writing."""
        return bool(self._flags & self.FLAG_WRITE)

    def seekable(self) -> bool:
        """Channels cannot seek."""
        return False

    def seek(self, offset: int, whence: int = 0) -> int:
        """Not supported on channels (``OSError``)."""
        raise OSError("File does not support seeking.")

    def tell(self) -> int:
        """Bytes read or written so far through this file object."""
        return self._pos

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed

    def close(self) -> None:
        """Flush and close this file object."""
        if self._closed:
            return
        self.flush()
        self._closed = True

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class ChannelFile(BufferedFile):
    """A file over a channel's stdout (reading) or stdin (writing)."""

    _stderr = False

    def __init__(self, channel: Channel, mode: str = "r", bufsize: int = -1) -> None:
        super().__init__()
        self.channel = channel
        self.bufsize = bufsize
        self._set_mode(mode, bufsize)

    def __repr__(self) -> str:
        return f"<blockssh.{type(self).__name__} from {self.channel!r}>"

    def __del__(self) -> None:
        # Never block or lock here (any thread may run the collector): hand leftovers to the loop.
        try:
            if self._wbuffer and not self._closed:
                self._bridge().schedule_write(bytes(self._wbuffer), self._datatype())
                self._wbuffer.clear()
        except Exception:  # noqa: BLE001,S110 - interpreter shutdown
            pass

    # -- helpers ---------------------------------------------------------

    def _bridge(self) -> ChannelBridge:
        return self.channel._bridge  # noqa: SLF001

    def _datatype(self) -> int | None:
        return 1 if self._stderr else None

    def _stream(self) -> Stream:
        b = self._bridge()
        return b.stderr if self._stderr else b.stdout

    def _check_readable(self) -> None:
        if self._closed:
            raise OSError("File is closed")
        if not self._flags & self.FLAG_READ:
            raise OSError("File is not open for reading")

    def _write_raw(self, data: bytes) -> None:
        if self._stderr:
            self.channel.sendall_stderr(data)
        else:
            self.channel.sendall(data)

    # -- reading ---------------------------------------------------------

    def read(self, size: int | None = None) -> bytes:
        """Read ``size`` bytes (fewer only at EOF), or everything up to EOF. Always bytes."""
        self._check_readable()
        b = self._bridge()
        timeout = self.channel.timeout
        stream = self._stream()
        parts: list[bytes] = []
        with b.cond:
            if size is None or size < 0:
                while True:
                    if stream.size:
                        parts.append(stream.take_all())
                        b.after_read()
                    if b.eof:
                        if stream.size:
                            continue
                        break
                    b.wait_for(lambda: stream.size > 0 or b.eof, timeout, "read")
                if not parts:
                    b.raise_if_failed()
            else:
                got = 0
                while got < size:
                    if stream.size:
                        chunk = stream.take(size - got)
                        parts.append(chunk)
                        got += len(chunk)
                        b.after_read()
                        continue
                    if b.eof:
                        if not got:
                            b.raise_if_failed()
                        break
                    b.wait_for(lambda: stream.size > 0 or b.eof, timeout, "read")
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        self._pos += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        """Read into a writable buffer; returns the number of bytes read."""
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def _readline_bytes(self, size: int | None) -> bytes:
        self._check_readable()
        b = self._bridge()
        stream = self._stream()
        universal = bool(self._flags & self.FLAG_UNIVERSAL_NEWLINE)
        limit = size if size is not None and size >= 0 else None
        with b.cond:
            while True:
                end = stream.find_line_end(universal)
                if end >= 0 and (limit is None or end <= limit):
                    line = stream.take(end)
                    break
                if limit is not None and stream.size >= limit:
                    line = stream.take(limit)
                    break
                if b.eof:
                    if not stream.size:
                        b.raise_if_failed()
                    line = stream.take_all() if stream.size else b""
                    break
                have = stream.size

                def more(have: int = have) -> bool:
                    return b.eof or stream.size > have

                b.wait_for(more, self.channel.timeout, "readline")
            b.after_read()
        self._pos += len(line)
        if universal:
            line = self._translate_newline(line)
        return line

    def _translate_newline(self, line: bytes) -> bytes:
        if line.endswith(b"\r\n"):
            ending = b"\r\n"
            line = line[:-2] + b"\n"
        elif line.endswith(b"\r"):
            ending = b"\r"
            line = line[:-1] + b"\n"
        elif line.endswith(b"\n"):
            ending = b"\n"
        else:
            return line
        if self.newlines is None:
            self.newlines = ending
        elif isinstance(self.newlines, bytes):
            if self.newlines != ending:
                self.newlines = (self.newlines, ending)
        elif ending not in self.newlines:
            self.newlines = (*self.newlines, ending)
        return line

    def readline(self, size: int | None = None) -> Any:
        """Read one line (str unless the mode is binary); empty at EOF."""
        line = self._readline_bytes(size)
        if self._flags & self.FLAG_BINARY:
            return line
        return line.decode("utf-8")

    def readlines(self, sizehint: int | None = None) -> list[Any]:
        """Read lines until EOF (or until about ``sizehint`` bytes have been read)."""
        lines = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                break
            lines.append(line)
            total += len(line)
            if sizehint is not None and total >= sizehint:
                break
        return lines

    def xreadlines(self) -> ChannelFile:
        """The file itself (an iterator over lines)."""
        return self

    def __iter__(self) -> Iterator[Any]:
        if self._closed:
            raise ValueError("I/O operation on closed file")
        return self

    def __next__(self) -> Any:
        line = self.readline()
        if not line:
            raise StopIteration
        return line


class ChannelStderrFile(ChannelFile):
    """A file over a channel's stderr."""

    _stderr = True


class ChannelStdinFile(ChannelFile):
    """A file writing to a channel's stdin; :meth:`close` sends EOF."""

    def close(self) -> None:
        """Flush, send EOF to the remote command and close this file object."""
        super().close()
        self.channel.shutdown_write()

    def __del__(self) -> None:
        # paramiko sends EOF when stdin is garbage-collected; scripts that ignore stdin rely on it.
        try:
            if not self._closed:
                bridge = self._bridge()
                if self._wbuffer:
                    bridge.schedule_write(bytes(self._wbuffer), None)
                    self._wbuffer.clear()
                bridge.schedule_eof()
        except Exception:  # noqa: BLE001,S110 - interpreter shutdown
            pass
