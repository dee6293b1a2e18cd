"""The blocking :class:`Channel`, with paramiko's methods and semantics.

Every method is thread-safe. Reads never round-trip through the event loop:
they take data from the channel's :class:`ChannelBridge` buffers. Every
blocking call honours :meth:`Channel.settimeout` and raises
``socket.timeout`` (:class:`SSHTimeoutError`) when it expires; requests
that wait for the server's answer are bounded by the transport's
``channel_timeout`` when no timeout is set.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any

from ..aio.channel import SSHClientChannel
from ..exceptions import ChannelClosedError, SSHException, SSHTimeoutError
from ..proto.constants import ExtendedData
from ..proto.wire import uint32
from ._bridge import ChannelBridge

if TYPE_CHECKING:
    from ..aio.channel import SSHChannel
    from .file import ChannelFile, ChannelStderrFile, ChannelStdinFile
    from .transport import Transport

__all__ = ["Channel"]

_Data = bytes | bytearray | memoryview | str


class Channel:
    """A blocking SSH channel: a socket-like object for one command, shell or forwarded stream.

    Attributes read by real code: ``chanid``, ``transport``, ``timeout``, ``active`` (True
    once open; like paramiko it stays True after close -- use ``closed``), ``closed``,
    ``eof_received``, ``eof_sent``, ``exit_status`` (-1 until one arrives), ``combine_stderr``.
    """

    def __init__(self, transport: Transport, chan: SSHChannel[Any], bridge: ChannelBridge) -> None:
        self.transport = transport
        self._chan = chan
        self._bridge = bridge
        self._portal = transport._portal  # noqa: SLF001 - shared loop thread
        self.chanid = chan.id
        self.timeout: float | None = None
        self.active = True
        self.origin_addr: Any = None
        self._name = str(chan.id)
        self._read_shut = False

    def __repr__(self) -> str:
        if self.closed:
            state = " (closed)"
        else:
            state = (" (EOF received)" if self.eof_received else "") + (" (EOF sent)" if self.eof_sent else "")
            state += " (open)"
        return f"<blockssh.Channel {self.chanid}{state} -> {self.transport!r}>"

    def __del__(self) -> None:
        # paramiko closes a channel nobody references any more. Never take a lock here: the
        # collector may run on any thread, the loop thread included (paramiko #2075).
        bridge = getattr(self, "_bridge", None)
        if bridge is not None and not bridge.closed and not bridge.close_requested:
            bridge.schedule_close()

    # -- state -----------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once the channel is closed (by either side) or :meth:`close` was called."""
        b = self._bridge
        return b.closed or b.close_requested

    @property
    def _closed(self) -> bool:
        return self.closed

    @property
    def eof_received(self) -> bool:
        """True once the peer sent EOF (or reading was shut down)."""
        return self._bridge.eof or self._read_shut

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

    @property
    def remote_chanid(self) -> int:
        """The server's number for this channel."""
        core = self._chan._conn._core  # noqa: SLF001
        ch = core.channels._channels.get(self.chanid)  # noqa: SLF001
        return int(getattr(ch, "remote_id", 0) or 0)

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
        self.timeout = None if timeout is None else float(timeout)

    def gettimeout(self) -> float | None:
        """The current timeout."""
        return self.timeout

    def setblocking(self, blocking: int | bool) -> None:
        """``setblocking(0)`` is ``settimeout(0.0)``; ``setblocking(1)`` is ``settimeout(None)``."""
        self.settimeout(None if blocking else 0.0)

    def _request_timeout(self) -> float | None:
        return self.timeout if self.timeout else self.transport.channel_timeout

    # -- requests --------------------------------------------------------

    def _check_open(self) -> SSHClientChannel[Any]:
        if self.closed or self.eof_received or self.eof_sent:
            raise SSHException("Channel is not open")
        chan = self._chan
        if not isinstance(chan, SSHClientChannel):
            raise SSHException(f"{chan.get_extra_info('kind', 'this')} channels take no session requests")
        return chan

    def _request(self, what: str, coro: Coroutine[Any, Any, bool], *, refusal_closes: bool = True) -> None:
        try:
            ok = self._portal.call(coro, self._request_timeout(), what=f"{what} request")
        except SSHTimeoutError:
            self._chan_abort()
            raise
        if not ok:
            if not refusal_closes:
                raise SSHException(f"the server refused the {what} request")
            self.close()
            raise SSHException(f"Channel closed: the server refused the {what} request")

    def _chan_abort(self) -> None:
        self._portal.call_soon(self._chan.abort)

    def exec_command(self, command: str) -> None:
        """Run ``command`` on this channel; returns None (read its output from the channel)."""
        self._request("exec", self._check_open().request_exec(command))

    def invoke_shell(self) -> None:
        """Start an interactive shell on this channel."""
        self._request("shell", self._check_open().request_shell())

    def invoke_subsystem(self, subsystem: str) -> None:
        """Start a subsystem (such as ``sftp``) on this channel."""
        self._request("subsystem", self._check_open().request_subsystem(subsystem))

    def get_pty(
        self, term: str = "vt100", width: int = 80, height: int = 24, width_pixels: int = 0, height_pixels: int = 0
    ) -> None:
        """Ask the server for a pseudo-terminal (before ``exec_command``/``invoke_shell``)."""
        self._request("pty", self._check_open().request_pty(term, width, height, width_pixels, height_pixels))

    def resize_pty(self, width: int = 80, height: int = 24, width_pixels: int = 0, height_pixels: int = 0) -> None:
        """Tell the server the terminal changed size (no answer is awaited)."""
        chan = self._check_open()
        self._portal.call_soon(_no_raise(chan.change_terminal_size), width, height, width_pixels, height_pixels)

    def update_environment(self, environment: Mapping[str, str]) -> None:
        """Send environment variables (servers silently drop names their AcceptEnv does not list)."""
        chan = self._check_open()
        self._portal.call_soon(_no_raise(chan.set_environment), dict(environment))

    def set_environment_variable(self, name: str, value: str) -> None:
        """Send one environment variable."""
        self.update_environment({name: value})

    def request_x11(
        self,
        screen_number: int = 0,
        auth_protocol: str | bytes | None = None,
        auth_cookie: str | bytes | None = None,
        single_connection: bool = False,
        handler: Callable[[Channel, tuple[str, int]], Any] | None = None,
    ) -> str | bytes:
        """Ask for X11 forwarding on this session (before ``exec_command``/``invoke_shell``); returns the cookie.

        The server is given ``auth_protocol`` (default ``MIT-MAGIC-COOKIE-1``) and
        ``auth_cookie`` (hex; default: 16 random bytes, returned as hex ``bytes``); with
        ``single_connection`` it forwards one X connection only. Each ``x11`` channel the
        server then opens becomes a :class:`Channel` carrying the X client's raw stream
        (nothing is relayed to a local display and no cookie is checked: that is up to
        you), passed to ``handler(channel, (origin_addr, origin_port))`` on a worker
        thread of the transport (never the loop thread; handlers run one at a time, in
        order, so a long-running handler should hand the channel to its own thread), or,
        without a handler, queued for :meth:`Transport.accept`. As in paramiko the
        handler belongs to the transport: the last request's is used. A refusal closes
        this channel and raises :class:`SSHException`.
        """
        from .forward import remote_forwarding

        return remote_forwarding(self.transport).request_x11(
            self, screen_number, auth_protocol, auth_cookie, single_connection, handler
        )

    def request_forward_agent(self, handler: Callable[[Channel], Any]) -> bool:
        """Ask the server to forward an agent on this session (before the command starts); returns True.

        Each ``auth-agent@openssh.com`` channel the server then opens (a program there
        using ``SSH_AUTH_SOCK``) becomes a :class:`Channel` passed to ``handler(channel)``
        on a worker thread of the transport; the handler speaks the agent protocol (or
        relays to an agent). The handler belongs to the transport: the last request's is
        used. Unlike paramiko, which does not wait, the server's answer is awaited: a
        refusal raises :class:`SSHException` (this channel stays open). To relay to the
        local ``SSH_AUTH_SOCK`` instead, use :class:`~blockssh.AgentRequestHandler`.
        """
        from .forward import remote_forwarding

        remote_forwarding(self.transport).request_agent(self, handler)
        return True

    def send_signal(self, signal: str) -> None:
        """Ask the server to deliver ``signal`` (e.g. ``"TERM"``) to the remote process (blockssh extra)."""
        chan = self._check_open()
        self._portal.call_soon(_no_raise(chan.send_signal), signal)

    def send_exit_status(self, status: int) -> None:
        """Send an ``exit-status`` request (what a server does when its command ends)."""
        chan = self._chan
        self._portal.call_soon(_no_raise(chan._send_request), "exit-status", uint32(status & 0xFFFFFFFF))  # noqa: SLF001

    # -- exit status -----------------------------------------------------

    def exit_status_ready(self) -> bool:
        """True once the exit status arrived or the channel closed (never blocks).

        A thread polling this counts as waiting for the command, so the channel keeps
        draining output meanwhile (see :mod:`blockssh.sync._bridge`).
        """
        b = self._bridge
        if b.exit_status is not None or b.closed:
            return True
        with b.cond:
            b.note_poll()
        return False

    def recv_exit_status(self, timeout: float | None = None) -> int:
        """Wait for the remote command to exit and return its status (-1 if none was sent).

        Output not read yet stays buffered (the channel keeps draining while this waits),
        so this cannot deadlock on a full window. Unlike paramiko, it honours ``timeout``
        (default: the channel's :meth:`settimeout`) and raises ``socket.timeout``; a
        connection that died (keepalive, reset) raises its error instead of returning -1.
        """
        b = self._bridge
        wait = timeout if timeout is not None else self.timeout
        with b.cond:
            if b.exit_status is None and not b.closed:
                b.wait_for(lambda: b.exit_status is not None or b.closed, wait, "recv_exit_status")
            if b.exit_status is None:
                b.raise_if_failed()
                return -1
            return b.exit_status

    def get_exit_signal(self) -> tuple[str, bool, str, str] | None:
        """``(signal, core_dumped, message, lang)`` if the command died by a signal (blockssh extra)."""
        return self._bridge.exit_signal

    # -- reading ---------------------------------------------------------

    def _recv(self, stderr: bool, nbytes: int) -> bytes:
        b = self._bridge
        with b.cond:
            stream = b.stderr if stderr else b.stdout
            if not stream.size:
                if self._read_shut:
                    return b""
                if not b.eof:
                    b.wait_for(lambda: stream.size > 0 or b.eof, self.timeout, "recv")
                if not stream.size:
                    b.raise_if_failed()
                    return b""
            data = stream.take(nbytes)
            b.after_read()
            return data

    def recv(self, nbytes: int) -> bytes:
        """Return up to ``nbytes`` of stdout data; ``b""`` at EOF; ``socket.timeout`` past the timeout."""
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
            if combine and not old and b.stderr.size:
                b.stderr.move_to(b.stdout)
            return old

    def fileno(self) -> int:
        """A file descriptor that ``select`` reports readable while data or EOF is pending."""
        return self._bridge.fileno()

    # -- writing ---------------------------------------------------------

    def send_ready(self) -> bool:
        """True if :meth:`send` would not block."""
        b = self._bridge
        return b.closed or b.eof_sent or b.out_bytes + b.chan_queued < b.write_limit

    def _send(self, data: _Data, datatype: int | None) -> int:
        if isinstance(data, str):
            data = data.encode("utf-8")
        if self.closed:
            error = self._bridge.error
            if error is not None:
                raise error
            raise ChannelClosedError("Socket is closed")
        if not data:
            return 0
        payload = bytes(data)
        self._bridge.enqueue((payload, datatype), len(payload), self.timeout)
        return len(payload)

    def send(self, data: _Data) -> int:
        """Queue data for the remote side; returns the number of bytes taken (all of them).

        Blocks (up to the timeout) only while more than the write limit waits for the peer.
        """
        return self._send(data, None)

    def sendall(self, data: _Data) -> None:
        """Send all of ``data``, returning once it has been handed to the peer's window."""
        self._send(data, None)
        self._bridge.wait_sent(self.timeout)

    def send_stderr(self, data: _Data) -> int:
        """Send data as stderr (meaningful from a server)."""
        return self._send(data, ExtendedData.STDERR)

    def sendall_stderr(self, data: _Data) -> None:
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
        """Send EOF (after queued data): the remote command sees the end of its input."""
        b = self._bridge
        if b.closed or b.eof_sent or b.close_requested:
            return
        try:
            b.send_eof()
        except (ChannelClosedError, SSHException):
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

    # -- blockssh extras -----------------------------------------------------

    def memory(self) -> dict[str, int]:
        """Bytes this channel holds in memory: ``buffered``, ``held`` and ``outgoing`` (see the bridge)."""
        return self._bridge.memory()


def _no_raise(fn: Any) -> Any:
    """Wrap a loop-side call whose failure (channel closed meanwhile) must not escape into the loop."""

    def call(*args: Any) -> None:
        try:
            fn(*args)
        except (ChannelClosedError, SSHException):
            pass

    return call
