"""File objects over a channel's streams, with paramiko's bytes-vs-str behaviour.

``read()`` always returns bytes; ``readline()``, ``readlines()`` and iteration
return str (strict UTF-8) unless the mode contains ``"b"``. Writing accepts
str (UTF-8 encoded) or bytes. Closing a stdin file sends EOF; closing a
stdout/stderr file leaves the channel open.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._bridge import Stream
    from .channel import Channel

__all__ = ["ChannelFile", "ChannelStderrFile", "ChannelStdinFile"]


class ChannelFile:
    """A file over a channel's stdout (reading) or stdin (writing)."""

    _stderr = False

    def __init__(self, channel: Channel, mode: str = "r", bufsize: int = -1) -> None:
        self.channel = channel
        self.mode = mode
        self.bufsize = bufsize
        self._binary = "b" in mode
        self._universal = "U" in mode
        self._readable = "r" in mode or "+" in mode
        self._writable = "w" in mode or "a" in mode or "+" in mode
        self._closed = False
        self.newlines: str | tuple[str, ...] | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} mode={self.mode!r} on {self.channel!r}>"

    # -- helpers ---------------------------------------------------------

    def _stream(self) -> Stream:
        b = self.channel._bridge  # noqa: SLF001
        return b.stderr if self._stderr else b.stdout

    def _check_readable(self) -> None:
        if self._closed:
            raise ValueError("I/O operation on closed file")
        if not self._readable:
            raise OSError("File not open for reading")

    # -- reading ---------------------------------------------------------

    def read(self, size: int | None = None) -> bytes:
        """Read ``size`` bytes (fewer only at EOF), or everything up to EOF."""
        self._check_readable()
        b = self.channel._bridge  # noqa: SLF001
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
                        if not stream.size:
                            break
                        continue
                    b.wait_for(lambda: stream.size > 0 or b.eof, timeout, "read")
                return b"".join(parts)
            got = 0
            while got < size:
                if stream.size:
                    chunk = stream.take(size - got)
                    parts.append(chunk)
                    got += len(chunk)
                    b.after_read()
                    continue
                if b.eof:
                    break
                b.wait_for(lambda: stream.size > 0 or b.eof, timeout, "read")
            return b"".join(parts)

    def readinto(self, buffer: Any) -> int:
        """Read into a writable buffer; returns the number of bytes read."""
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def _readline_bytes(self, size: int | None) -> bytes:
        self._check_readable()
        b = self.channel._bridge  # noqa: SLF001
        stream = self._stream()
        limit = size if size is not None and size >= 0 else None
        with b.cond:
            while True:
                end = stream.find_newline()
                if end >= 0 and (limit is None or end <= limit):
                    line = stream.take(end)
                    break
                if limit is not None and stream.size >= limit:
                    line = stream.take(limit)
                    break
                if b.eof:
                    line = stream.take_all() if stream.size else b""
                    break
                have = stream.size
                b.wait_for(lambda have=have: b.eof or stream.size > have, self.channel.timeout, "readline")
            b.after_read()
        return line

    def readline(self, size: int | None = None) -> Any:
        """Read one line (str unless the mode is binary); ``""`` at EOF."""
        line = self._readline_bytes(size)
        if self._universal and line.endswith(b"\r\n"):
            line = line[:-2] + b"\n"
        if self._binary:
            return line
        return line.decode("utf-8")

    def readlines(self, sizehint: int | None = None) -> list[Any]:
        """Read lines until EOF (or about ``sizehint`` bytes)."""
        lines = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                break
            lines.append(line)
            total += len(line)
            if sizehint is not None and 0 < sizehint <= total:
                break
        return lines

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def readable(self) -> bool:
        """True for stdout/stderr files."""
        return self._readable

    # -- writing ---------------------------------------------------------

    def write(self, data: str | bytes | bytearray | memoryview) -> int:
        """Send ``data`` to the channel (str is UTF-8 encoded)."""
        if self._closed:
            raise ValueError("I/O operation on closed file")
        if not self._writable:
            raise OSError("File not open for writing")
        raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        if self._stderr:
            self.channel.sendall_stderr(raw)
        else:
            self.channel.sendall(raw)
        return len(raw)

    def writelines(self, lines: Iterable[str | bytes]) -> None:
        """Write each item."""
        for line in lines:
            self.write(line)

    def writable(self) -> bool:
        """True when opened for writing."""
        return self._writable

    def flush(self) -> None:
        """Data is handed to the channel on write; nothing to do."""

    # -- file protocol ---------------------------------------------------

    def seekable(self) -> bool:
        """Channels cannot seek."""
        return False

    def seek(self, offset: int, whence: int = 0) -> int:
        """Not supported on channels."""
        raise OSError("File does not support seeking.")

    def tell(self) -> int:
        """Not supported on channels."""
        raise OSError("File does not support tell.")

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed

    def close(self) -> None:
        """Close this file object (the channel stays open)."""
        self._closed = True

    def __enter__(self) -> ChannelFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class ChannelStderrFile(ChannelFile):
    """A file over a channel's stderr."""

    _stderr = True


class ChannelStdinFile(ChannelFile):
    """A file writing to a channel's stdin; :meth:`close` sends EOF."""

    def __init__(self, channel: Channel, mode: str = "wb", bufsize: int = -1) -> None:
        super().__init__(channel, mode, bufsize)

    def close(self) -> None:
        """Send EOF to the remote command and close this file object."""
        if not self._closed:
            super().close()
            self.channel.shutdown_write()
