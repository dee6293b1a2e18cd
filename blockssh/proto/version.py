"""The identification-string exchange (RFC 4253 section 4.2).

A client accepts a bounded number of other lines before the server's
``SSH-`` line; a server accepts none. The ``SSH-`` line is at most 255 bytes
including CR LF.
"""

from __future__ import annotations

from ..exceptions import ProtocolVersionNotSupported

__all__ = ["VersionReader", "make_version_line", "MAX_VERSION_LINE", "DEFAULT_MAX_BANNER_LINES"]

MAX_VERSION_LINE = 255
MAX_PRE_BANNER_LINE = 8192
DEFAULT_MAX_BANNER_LINES = 1024


def make_version_line(software: str, comments: str = "") -> bytes:
    """Build our identification line, e.g. ``SSH-2.0-blockssh_0.1.0``."""
    if any(c.isspace() or c == "-" or not c.isprintable() for c in software):
        raise ValueError(f"invalid software version {software!r}")
    line = f"SSH-2.0-{software}" + (f" {comments}" if comments else "")
    data = line.encode("ascii") + b"\r\n"
    if len(data) > MAX_VERSION_LINE:
        raise ValueError("identification string too long")
    return data


class VersionReader:
    """Collects the peer's identification line.

    Feed bytes with :meth:`feed`; once it returns True, :attr:`version` holds
    the line (without CR LF), :attr:`banner_lines` any lines sent before it,
    and :meth:`leftover` the bytes that followed it (the first packets).
    """

    def __init__(self, *, is_server: bool, max_banner_lines: int = DEFAULT_MAX_BANNER_LINES) -> None:
        self._is_server = is_server
        self._max_lines = max_banner_lines
        self._buf = bytearray()
        self.version: str | None = None
        self.banner_lines: list[str] = []

    def feed(self, data: bytes) -> bool:
        """Add received bytes; return True once the identification line is complete."""
        if self.version is not None:
            self._buf += data
            return True
        self._buf += data
        while True:
            nl = self._buf.find(b"\n")
            if nl < 0:
                head = bytes(self._buf[:4])
                maybe_version = b"SSH-".startswith(head) if len(head) < 4 else head == b"SSH-"
                if self._is_server and not maybe_version:
                    raise ProtocolVersionNotSupported("peer did not send an SSH identification string")
                if len(self._buf) > (MAX_VERSION_LINE if maybe_version else MAX_PRE_BANNER_LINE):
                    raise ProtocolVersionNotSupported("identification line too long or missing")
                return False
            line = bytes(self._buf[: nl + 1])
            del self._buf[: nl + 1]
            if line.startswith(b"SSH-"):
                self._accept_version(line)
                return True
            if self._is_server:
                raise ProtocolVersionNotSupported("peer did not send an SSH identification string")
            if len(line) > MAX_PRE_BANNER_LINE:
                raise ProtocolVersionNotSupported("pre-identification line too long")
            if b"\x00" in line:
                raise ProtocolVersionNotSupported("NUL byte before the identification string")
            if len(self.banner_lines) >= self._max_lines:
                raise ProtocolVersionNotSupported(f"no identification string after {self._max_lines} lines")
            self.banner_lines.append(line.rstrip(b"\r\n").decode("utf-8", "replace"))

    def _accept_version(self, line: bytes) -> None:
        if len(line) > MAX_VERSION_LINE:
            raise ProtocolVersionNotSupported("identification string longer than 255 bytes")
        text = line.rstrip(b"\n").rstrip(b"\r")
        try:
            version = text.decode("ascii")
        except UnicodeDecodeError:
            raise ProtocolVersionNotSupported("non-ASCII identification string") from None
        parts = version.split("-", 2)
        if len(parts) < 3 or not parts[2]:
            raise ProtocolVersionNotSupported(f"malformed identification string {version!r}")
        if parts[1] not in ("2.0", "1.99"):
            raise ProtocolVersionNotSupported(f"unsupported protocol version {parts[1]!r}")
        if any(not (" " <= c <= "~") for c in version):
            raise ProtocolVersionNotSupported("control characters in identification string")
        self.version = version

    def leftover(self) -> bytes:
        """Return and clear the bytes received after the identification line."""
        data = bytes(self._buf)
        self._buf.clear()
        return data
