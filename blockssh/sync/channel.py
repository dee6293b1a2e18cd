"""The blocking :class:`Channel`, with paramiko's methods and semantics.

Every method is thread-safe. Reads never round-trip through the event loop:
they take data from the channel's :class:`ChannelBridge` buffers. Every
blocking call honours :meth:`Channel.settimeout` and raises
``socket.timeout`` (:class:`SSHTimeoutError`) when it expires.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..aio.channel import SSHClientChannel
from ..exceptions import ChannelClosedError, SSHException, SSHTimeoutError
from ..proto.constants import ExtendedData
from ._bridge import ChannelBridge

if TYPE_CHECKING:
    from .file import ChannelFile, ChannelStderrFile, ChannelStdinFile
    from .transport import Transport

__all__ = ["Channel"]


class Channel:
    """A blocking SSH channel (a socket-like object)."""

    def __init__(self, transport: Transport, chan: SSHClientChannel[Any], bridge: ChannelBridge) -> None:
        self.transport = transport
        self._chan = chan
        self._bridge = bridge
        self._portal = transport._portal  # noqa: SLF001 - shared loop thread
        self.chanid = chan.id
        self.timeout: float | None = None
        self._name = str(chan.id)
        self._read_shut = False

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<blockssh.Channel {self.chanid} ({state}) on {self.transport!r}>"

    # -- state -----------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once the channel is closed (by either side) or close() was called."""
        b = self._bridge
        return b.closed or b.close_requested

    @property
    def active(self) -> bool:
        """True while the channel is open."""
        return not self.closed

    @property
    def eof_received(self) -> bool:
        """True once the peer sent EOF."""
        return self._bridge.eof

    @property
    def eof_sent(self) -> bool:
        """True once we sent EOF."""
        return self._bridge.eof_sent

    @property
    def exit_status(self) -> int:
        """The exit status, or -1 while none has arrived."""
        status = self._bridge.exit_status
        return -1 if status is None else status

    @property
    def combine_stderr(self) -> bool:
        """Whether stderr data is merged into stdout."""
        return self._bridge.combine_stderr

    def get_id(self) -> int:
        """Our channel number."""
        return self.chanid

    def get_name(self) -> str:
        """The channel's name (for logs)."""
        return self._name

    def set_name(self, name: str) -> None:
        """Set the channel's name."""
        self._name = name

    def get_transport(self) -> Transport:
        """The transport this channel runs on."""
        return self.transport

    def getpeername(self) -> Any:
        """The address of the server."""
        return self.transport.getpeername()

    # -- timeouts --------------------------------------------------------

    def settimeout(self, timeout: float | None) -> None:
        """Timeout in seconds for blocking calls (None: wait forever, 0: never block)."""
        if timeout is not None and timeout < 0:
            raise ValueError("timeout must be None or >= 0")
        self.timeout = timeout

    def gettimeout(self) -> float | None:
        """The current timeout."""
        return self.timeout

    def setblocking(self, blocking: int | bool) -> None:
        """``setblocking(0)`` is ``settimeout(0.0)``; ``setblocking(1)`` is ``settimeout(None)``."""
        self.settimeout(None if blocking else 0.0)

    def _request_timeout(self) -> float | None:
        return self.timeout if self.timeout is not None else self.transport.channel_timeout

    # -- requests --------------------------------------------------------

    def _request(self, what: str, coro: Any) -> None:
        ok = self._portal.call(coro, self._request_timeout(), what=f"{what} request")
        if not ok:
            raise SSHException(f"the server refused the {what} request")

    def exec_command(self, command: str) -> None:
        """Run ``command`` on this channel (returns None; read its output from the channel)."""
        self._request("exec", self._chan.request_exec(command))

    def invoke_shell(self) -> None:
        """Start an interactive shell on this channel."""
        self._request("shell", self._chan.request_shell())

    def invoke_subsystem(self, subsystem: str) -> None:
        """Start a subsystem (such as ``sftp``) on this channel."""
        self._request("subsystem", self._chan.request_subsystem(subsystem))

    def get_pty(
        self, term: str = "vt100", width: int = 80, height: int = 24, width_pixels: int = 0, height_pixels: int = 0
    ) -> None:
        """Ask the server for a pseudo-terminal."""
        self._request("pty", self._chan.request_pty(term, width, height, width_pixels, height_pixels))

    def resize_pty(self, width: int = 80, height: int = 24, width_pixels: int = 0, height_pixels: int = 0) -> None:
        """Tell the server the terminal changed size."""
        self._portal.check_not_loop_thread("resize_pty")
        self._portal.call_soon(self._chan.change_terminal_size, width, height, width_pixels, height_pixels)

    def update_environment(self, environment: Mapping[str, str]) -> None:
        """Send environment variables (servers drop names their AcceptEnv does not list)."""
        self._portal.check_not_loop_thread("update_environment")
        self._portal.call_soon(self._chan.set_environment, dict(environment))

    def set_environment_variable(self, name: str, value: str) -> None:
        """Send one environment variable."""
        self.update_environment({name: value})

    def send_signal(self, signal: str) -> None:
        """Ask the server to deliver ``signal`` (e.g. ``"TERM"``) to the remote process."""
        self._portal.call_soon(self._chan.send_signal, signal)

    # -- exit status -----------------------------------------------------

    def exit_status_ready(self) -> bool:
        """True once the exit status arrived or the channel closed (never blocks)."""
        b = self._bridge
        return b.exit_status is not None or b.exit_signal is not None or b.closed

    def recv_exit_status(self, timeout: float | None = None) -> int:
        """Wait for the remote command to exit and return its status (-1 if none was sent).

        Output not read yet stays buffered (the channel keeps draining while
        this waits), so this cannot deadlock on a full window.
        """
        b = self._bridge
        wait = timeout if timeout is not None else self.timeout
        with b.cond:
            b.wait_for(lambda: b.exit_status is not None or b.closed, wait, "recv_exit_status")
            return -1 if b.exit_status is None else b.exit_status

    def get_exit_signal(self) -> tuple[str, bool, str, str] | None:
        """``(signal, core_dumped, message, lang)`` if the command died by a signal."""
        return self._bridge.exit_signal

    # -- reading ---------------------------------------------------------

    def _recv(self, stderr: bool, nbytes: int) -> bytes:
        b = self._bridge
        with b.cond:
            stream = b.stderr if stderr else b.stdout
            if self._read_shut:
                return b""
            if not stream.size and not b.eof:
                if self.timeout == 0.0:
                    raise SSHTimeoutError("no data ready")
                b.wait_for(lambda: stream.size > 0 or b.eof, self.timeout, "recv")
            if not stream.size:
                if b.error is not None and not b.closed:
                    raise b.error
                return b""
            data = stream.take(nbytes)
            b.after_read()
            return data

    def recv(self, nbytes: int) -> bytes:
        """Return up to ``nbytes`` of stdout data; ``b""`` at EOF."""
        return self._recv(False, nbytes)

    def recv_stderr(self, nbytes: int) -> bytes:
        """Return up to ``nbytes`` of stderr data; ``b""`` at EOF."""
        return self._recv(True, nbytes)

    def recv_ready(self) -> bool:
        """True if stdout data is buffered (never blocks)."""
        return self._bridge.stdout.size > 0

    def recv_stderr_ready(self) -> bool:
        """True if stderr data is buffered (never blocks)."""
        return self._bridge.stderr.size > 0

    def set_combine_stderr(self, combine: bool) -> bool:
        """Merge stderr into stdout from now on (buffered stderr moves over); returns the old setting."""
        b = self._bridge
        with b.cond:
            old = b.combine_stderr
            b.combine_stderr = bool(combine)
            if combine and b.stderr.size:
                b.stdout.chunks.extend(b.stderr.chunks)
                b.stdout.size += b.stderr.size
                b.stderr.chunks.clear()
                b.stderr.size = 0
            return old

    def fileno(self) -> int:
        """A file descriptor that ``select`` reports readable when data or EOF is pending."""
        return self._bridge.fileno()

    # -- writing ---------------------------------------------------------

    def send_ready(self) -> bool:
        """True if :meth:`send` would not block."""
        b = self._bridge
        return b.closed or b._out_bytes + b._chan_queued < b.write_limit  # noqa: SLF001

    def _send(self, data: bytes | bytearray | memoryview | str, datatype: int | None) -> int:
        if isinstance(data, str):
            data = data.encode("utf-8")
        if not data:
            return 0
        if self.closed:
            raise ChannelClosedError("Socket is closed")
        payload = bytes(data)
        self._bridge.enqueue((payload, datatype), len(payload), self.timeout)
        return len(payload)

    def send(self, data: bytes | bytearray | memoryview | str) -> int:
        """Queue data for the remote side; returns the number of bytes taken (all of them)."""
        return self._send(data, None)

    def sendall(self, data: bytes | bytearray | memoryview | str) -> None:
        """Send all of ``data``, waiting until it has been handed to the peer's window."""
        self._send(data, None)
        self._bridge.wait_sent(self.timeout)

    def send_stderr(self, data: bytes | bytearray | memoryview | str) -> int:
        """Send data as stderr (meaningful from a server)."""
        return self._send(data, ExtendedData.STDERR)

    def sendall_stderr(self, data: bytes | bytearray | memoryview | str) -> None:
        """Send all of ``data`` as stderr."""
        self._send(data, ExtendedData.STDERR)
        self._bridge.wait_sent(self.timeout)

    # -- shutdown and close ------------------------------------------------

    def shutdown(self, how: int) -> None:
        """0: stop reading, 1: send EOF, 2: both."""
        if how in (0, 2):
            self.shutdown_read()
        if how in (1, 2):
            self.shutdown_write()

    def shutdown_read(self) -> None:
        """Ignore further incoming data."""
        self._read_shut = True

    def shutdown_write(self) -> None:
        """Send EOF (after queued data): the remote command sees end of input."""
        if self._bridge.closed or self._bridge.eof_sent:
            return
        try:
            self._bridge.send_eof()
        except ChannelClosedError:
            pass

    def close(self) -> None:
        """Close the channel (queued data is sent first). Never blocks."""
        self._bridge.request_close()
        self._bridge.close_pipe()

    def __enter__(self) -> Channel:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- file objects ----------------------------------------------------

    def makefile(self, mode: str = "r", bufsize: int = -1) -> ChannelFile:
        """A file object over stdout (or, opened for writing, over stdin)."""
        from .file import ChannelFile

        return ChannelFile(self, mode, bufsize)

    def makefile_stderr(self, mode: str = "r", bufsize: int = -1) -> ChannelStderrFile:
        """A file object over stderr."""
        from .file import ChannelStderrFile

        return ChannelStderrFile(self, mode, bufsize)

    def makefile_stdin(self, mode: str = "w", bufsize: int = -1) -> ChannelStdinFile:
        """A file object writing to stdin; closing it sends EOF."""
        from .file import ChannelStdinFile

        return ChannelStdinFile(self, mode, bufsize)
