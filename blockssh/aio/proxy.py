"""SSH over something other than a TCP socket: a channel of another connection, a proxy command, a socket-like object.

Each adapter is an :class:`asyncio.Transport`, so an :class:`SSHClientConnection`
runs over it unchanged:

- :class:`ChannelTransport` carries the connection over a ``direct-tcpip`` channel of
  another SSH connection (jump hosts: ``connect(..., tunnel=conn)``, ``tunnel="user@jump"``,
  ProxyJump chains). Flow control is the channel's window.
- :class:`ProcessTransport` carries it over a subprocess's stdin/stdout
  (``connect(..., proxy_command="ssh -W %h:%p jump")``); the command's stderr is kept
  (up to :data:`MAX_PROXY_STDERR` bytes) to explain a failure, which is raised as
  :class:`~blockssh.exceptions.ProxyCommandFailure`.
- :class:`SocketLikeTransport` drives any object with blocking ``send``/``recv``
  (paramiko's ``sock=`` contract) from two helper threads, never from the loop.

Limits: :data:`DEFAULT_MAX_JUMP_HOPS` nested jumps (a ProxyJump loop in ssh_config ends
there), :data:`DEFAULT_PROXY_STARTUP_TIMEOUT` for a proxy command's first output,
:data:`DEFAULT_PROXY_KILL_GRACE` between SIGTERM and SIGKILL when a proxy command is closed.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import getpass
import logging
import os
import queue
import shlex
import signal
import subprocess
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..config import JumpHost, parse_jump
from ..exceptions import ConfigurationError, ProxyCommandFailure
from .channel import SSHChannel
from .session import SSHTCPSession

if TYPE_CHECKING:
    from .client import SSHClientConnection, SSHClientConnectionOptions

__all__ = [
    "ChannelSock",
    "ChannelTransport",
    "DEFAULT_MAX_JUMP_HOPS",
    "DEFAULT_PROXY_KILL_GRACE",
    "DEFAULT_PROXY_STARTUP_TIMEOUT",
    "MAX_PROXY_STDERR",
    "PipeSock",
    "ProcessTransport",
    "SocketLikeTransport",
    "connect_over",
    "connect_tunneled",
    "open_direct_tcpip",
    "parse_tunnel",
    "proxy_command_argv",
]

logger = logging.getLogger("blockssh.proxy")

DEFAULT_MAX_JUMP_HOPS = 8  # nested jump hosts (and proxy levels) one connection may go through
DEFAULT_PROXY_STARTUP_TIMEOUT = 15.0  # seconds until a proxy command writes its first byte
DEFAULT_PROXY_KILL_GRACE = 2.0  # seconds from SIGTERM to SIGKILL when a proxy command is closed
MAX_PROXY_STDERR = 64 * 1024  # bytes of a proxy command's stderr kept for error messages
SOCKET_LIKE_READ_SIZE = 64 * 1024
_POLL_INTERVAL = 0.05
_TERM_DELAY = 0.2  # seconds a closed proxy command may take to exit on its own before SIGTERM

_depth: contextvars.ContextVar[int] = contextvars.ContextVar("blockssh_jump_depth", default=0)

ProtocolFactory = Callable[[], asyncio.Protocol]


# ---------------------------------------------------------------------------------------------
# over an SSH channel
# ---------------------------------------------------------------------------------------------


class _TunnelSession(SSHTCPSession[bytes]):
    """The channel's session: hands everything to the transport's protocol."""

    accepts_buffers = False

    def __init__(self, transport: ChannelTransport) -> None:
        self._transport = transport

    def data_received(self, data: bytes, datatype: int | None) -> None:
        if datatype is None:
            self._transport._protocol.data_received(bytes(data))  # noqa: SLF001

    def eof_received(self) -> bool:
        keep_open = self._transport._protocol.eof_received()  # noqa: SLF001
        if not keep_open:
            self._transport.close()
        return True

    def pause_writing(self) -> None:
        self._transport._protocol.pause_writing()  # noqa: SLF001

    def resume_writing(self) -> None:
        self._transport._protocol.resume_writing()  # noqa: SLF001

    def connection_lost(self, exc: BaseException | None) -> None:
        self._transport._lost(exc)  # noqa: SLF001


class ChannelTransport(asyncio.Transport):
    """An :class:`asyncio.Transport` over an open SSH channel (usually ``direct-tcpip``).

    ``owned`` connections (jump hosts this transport's creator opened) are closed when
    the channel closes. ``early`` is data received on the channel before it was handed over.
    """

    def __init__(
        self,
        chan: SSHChannel[Any],
        protocol: asyncio.Protocol,
        *,
        peername: tuple[str, int] | None = None,
        owned: Sequence[Any] = (),
        early: Sequence[bytes] = (),
    ) -> None:
        super().__init__({"peername": peername, "channel": chan, "sockname": None, "socket": None})
        self._chan = chan
        self._protocol = protocol
        self._owned = list(owned)
        self._closing = False
        self._lost_called = False
        self._reading = True
        protocol.connection_made(self)
        for data in early:
            if data:
                protocol.data_received(data)
        session = _TunnelSession(self)
        chan._set_session(session)  # noqa: SLF001 - the transport becomes the channel's session
        chan.set_write_buffer_limits()  # the defaults (a blocking channel's bridge sets 0/0)
        chan.resume_reading()
        loop = asyncio.get_running_loop()
        if chan._closed:  # noqa: SLF001 - it closed before the handover: report that now
            loop.call_soon(self._lost, chan._close_error)  # noqa: SLF001
        elif chan._eof_received:  # noqa: SLF001
            loop.call_soon(session.eof_received)

    # -- asyncio.Transport ---------------------------------------------------------------------

    def get_protocol(self) -> asyncio.BaseProtocol:
        """The protocol driven by this transport."""
        return self._protocol

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        """Replace the protocol."""
        assert isinstance(protocol, asyncio.Protocol)
        self._protocol = protocol

    def is_closing(self) -> bool:
        """True once closing or closed."""
        return self._closing or self._chan.is_closing()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Queue data for the peer."""
        if self.is_closing():
            return
        self._chan.write(bytes(data))

    def writelines(self, list_of_data: Any) -> None:
        """Write each item in turn."""
        for data in list_of_data:
            self.write(data)

    def write_eof(self) -> None:
        """Half-close: no more data will be written."""
        self._chan.write_eof()

    def can_write_eof(self) -> bool:
        """Whether :meth:`write_eof` is supported."""
        return True

    def close(self) -> None:
        """Close after queued data has been written."""
        if self._closing:
            return
        self._closing = True
        self._chan.close()

    def abort(self) -> None:
        """Close now, dropping queued data."""
        self._closing = True
        self._chan.abort()

    def pause_reading(self) -> None:
        """Stop delivering received data."""
        self._reading = False
        self._chan.pause_reading()

    def resume_reading(self) -> None:
        """Deliver received data again."""
        self._reading = True
        self._chan.resume_reading()

    def is_reading(self) -> bool:
        """True while received data is delivered."""
        return self._reading and not self.is_closing()

    def get_write_buffer_size(self) -> int:
        """Bytes queued and not yet written."""
        return self._chan.get_write_buffer_size()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        """Set the queue sizes at which the protocol is paused and resumed."""
        self._chan.set_write_buffer_limits(high, low)

    # -- from the channel ----------------------------------------------------------------------

    def _lost(self, exc: BaseException | None) -> None:
        self._closing = True
        if self._lost_called:
            return
        self._lost_called = True
        try:
            self._protocol.connection_lost(exc if isinstance(exc, Exception) else None)
        finally:
            for conn in self._owned:
                conn.close()
            self._owned.clear()


async def open_direct_tcpip(
    conn: SSHClientConnection, host: str, port: int, *, timeout: float | None = None
) -> ChannelSock:
    """Open a ``direct-tcpip`` channel to ``host:port`` from ``conn``'s server, ready to carry a connection.

    What the destination sends before the tunnel's protocol is attached is kept (an SSH
    server speaks first), and handed over by :class:`ChannelTransport`.
    """
    pending = _PendingSession()
    chan, _ = await conn.create_connection(lambda: pending, host, port, "127.0.0.1", 0, timeout=timeout)
    return ChannelSock(chan, pending.take)


class _PendingSession(SSHTCPSession[bytes]):
    """A tunnel channel's session until the transport takes over: keeps what arrives."""

    def __init__(self) -> None:
        self.early: list[bytes] = []

    def data_received(self, data: bytes, datatype: int | None) -> None:
        if datatype is None:
            self.early.append(bytes(data))

    def eof_received(self) -> bool:
        return True  # the transport's protocol sees the EOF once attached (the channel stays half-open)

    def take(self) -> list[bytes]:
        early, self.early = self.early, []
        return early


class ChannelSock:
    """An SSH channel to run a connection over, with data that arrived before (``take_early``)."""

    def __init__(self, chan: SSHChannel[Any], take_early: Callable[[], list[bytes]] | None = None) -> None:
        self.chan = chan
        self.take_early = take_early


# ---------------------------------------------------------------------------------------------
# over a subprocess
# ---------------------------------------------------------------------------------------------


def proxy_command_argv(command: str | Sequence[str]) -> list[str]:
    """The argv of a proxy command: a string runs under ``$SHELL -c exec ...`` (as ssh does), a list as is."""
    if isinstance(command, str):
        if not command.strip():
            raise ConfigurationError("empty proxy command")
        shell = os.environ.get("SHELL") or "/bin/sh"
        return [shell, "-c", f"exec {command}"]
    argv = [os.fspath(a) for a in command]
    if not argv:
        raise ConfigurationError("empty proxy command")
    return argv


def _command_text(command: str | Sequence[str]) -> str:
    return command if isinstance(command, str) else shlex.join(os.fspath(a) for a in command)


class PipeSock:
    """A running proxy process whose stdin/stdout carry the connection (``popen`` with pipes)."""

    def __init__(self, popen: subprocess.Popen[bytes], command: str) -> None:
        self.popen = popen
        self.command = command


class _PipeReader(asyncio.Protocol):
    def __init__(self, owner: ProcessTransport, stderr: bool) -> None:
        self._owner = owner
        self._stderr = stderr

    def data_received(self, data: bytes) -> None:
        if self._stderr:
            self._owner._stderr_data(data)  # noqa: SLF001
        else:
            self._owner._stdout_data(data)  # noqa: SLF001

    def eof_received(self) -> bool:
        if not self._stderr:
            self._owner._stdout_eof()  # noqa: SLF001
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._stderr:
            self._owner._stdout_eof()  # noqa: SLF001


class _PipeWriter(asyncio.Protocol):
    def __init__(self, owner: ProcessTransport) -> None:
        self._owner = owner

    def pause_writing(self) -> None:
        self._owner._protocol.pause_writing()  # noqa: SLF001

    def resume_writing(self) -> None:
        self._owner._protocol.resume_writing()  # noqa: SLF001

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None:
            self._owner._write_failed(exc)  # noqa: SLF001


class ProcessTransport(asyncio.Transport):
    """An :class:`asyncio.Transport` over a proxy process's stdin (writes) and stdout (reads).

    Create it with :meth:`start`. When the process's output ends before any data came,
    or it writes nothing within ``startup_timeout``, :attr:`failure` holds a
    :class:`ProxyCommandFailure` with the command's stderr. Closing the transport
    closes stdin, then terminates the process (SIGTERM, SIGKILL after ``kill_grace``).
    """

    def __init__(
        self,
        popen: subprocess.Popen[bytes],
        command: str,
        protocol: asyncio.Protocol,
        *,
        startup_timeout: float | None = DEFAULT_PROXY_STARTUP_TIMEOUT,
        kill_grace: float = DEFAULT_PROXY_KILL_GRACE,
    ) -> None:
        super().__init__({"peername": None, "sockname": None, "socket": None, "subprocess": popen})
        self._loop = asyncio.get_running_loop()
        self._popen = popen
        self._command = command
        self._protocol = protocol
        self._kill_grace = kill_grace
        self._stdin: asyncio.WriteTransport | None = None
        self._stdout: asyncio.ReadTransport | None = None
        self._stderr: asyncio.ReadTransport | None = None
        self._stderr_buf = bytearray()
        self._got_data = False
        self._closing = False
        self._lost = False
        self._eof = False
        self._early_exit_pending = False
        self.failure: ProxyCommandFailure | None = None
        self._startup_timer: asyncio.TimerHandle | None = None
        if startup_timeout is not None:
            self._startup_timer = self._loop.call_later(startup_timeout, self._startup_expired, startup_timeout)

    @classmethod
    async def start(
        cls,
        popen: subprocess.Popen[bytes],
        command: str,
        protocol: asyncio.Protocol,
        **kwargs: Any,
    ) -> ProcessTransport:
        """Attach the process's pipes to the loop and call ``protocol.connection_made``."""
        transport = cls(popen, command, protocol, **kwargs)
        loop = transport._loop
        assert popen.stdin is not None and popen.stdout is not None
        try:
            transport._stdin, _ = await loop.connect_write_pipe(lambda: _PipeWriter(transport), popen.stdin)
            protocol.connection_made(transport)
            if popen.stderr is not None:
                transport._stderr, _ = await loop.connect_read_pipe(lambda: _PipeReader(transport, True), popen.stderr)
            transport._stdout, _ = await loop.connect_read_pipe(lambda: _PipeReader(transport, False), popen.stdout)
        except BaseException:
            transport.abort()
            raise
        return transport

    # -- pipe events ---------------------------------------------------------------------------

    def _stdout_data(self, data: bytes) -> None:
        if not self._got_data:
            self._got_data = True
            if self._startup_timer is not None:
                self._startup_timer.cancel()
                self._startup_timer = None
        if not self._lost:
            self._protocol.data_received(data)

    def _stderr_data(self, data: bytes) -> None:
        room = MAX_PROXY_STDERR - len(self._stderr_buf)
        if room > 0:
            self._stderr_buf += data[:room]
        for line in data.decode("utf-8", "replace").splitlines():
            if line.strip():
                logger.debug("proxy command: %s", line)

    def _stdout_eof(self) -> None:
        if self._eof:
            return
        self._eof = True
        if not self._got_data:
            # Give the process a moment to exit and say why on stderr before reporting.
            if not self._early_exit_pending:
                self._early_exit_pending = True
                self._loop.call_later(_POLL_INTERVAL, self._report_early_exit, 20)
            return
        if not self._lost and not self._protocol.eof_received():
            self.close()

    def _write_failed(self, exc: Exception) -> None:
        if self._got_data:
            self._fail(f"writing to the proxy command failed: {exc}")
        elif not self._early_exit_pending:  # it probably exited: wait for its status and stderr
            self._early_exit_pending = True
            self._loop.call_later(_POLL_INTERVAL, self._report_early_exit, 20)

    def _report_early_exit(self, tries: int) -> None:
        code = self._popen.poll()
        if code is None and tries > 0:
            self._loop.call_later(_POLL_INTERVAL, self._report_early_exit, tries - 1)
            return
        status = "still running" if code is None else f"exit status {code}"
        self._fail(f"the proxy command closed its output before any data ({status})")

    def _startup_expired(self, timeout: float) -> None:
        self._startup_timer = None
        if not self._got_data and not self._lost:
            self._fail(f"no output from the proxy command within {timeout:g} s")

    def _fail(self, what: str) -> None:
        if self.failure is None:
            detail = self._stderr_buf.decode("utf-8", "replace").strip()
            self.failure = ProxyCommandFailure(self._command, f"{what}: {detail}" if detail else what)
        self._finish(self.failure)

    def _finish(self, exc: Exception | None, *, abort: bool = True) -> None:
        if self._startup_timer is not None:
            self._startup_timer.cancel()
            self._startup_timer = None
        self._close_pipes(abort=abort)
        self._reap(abort=abort)
        if not self._lost:
            self._lost = True
            self._protocol.connection_lost(exc)

    def _close_pipes(self, *, abort: bool) -> None:
        stdin = self._stdin
        if stdin is not None and not stdin.is_closing():
            if abort:
                stdin.abort()
            else:
                stdin.close()
        for pipe in (self._stdout, self._stderr):
            if pipe is not None and not pipe.is_closing():
                pipe.close()

    def _reap(self, *, abort: bool) -> None:
        popen = self._popen
        if popen.poll() is not None:
            return
        # A helper thread, not the loop: the process must be reaped even if the loop stops now.
        delay = 0.0 if abort else _TERM_DELAY
        threading.Thread(
            target=_reap_process, args=(popen, delay, self._kill_grace), name="blockssh-proxy-reaper", daemon=True
        ).start()

    # -- asyncio.Transport ---------------------------------------------------------------------

    def get_protocol(self) -> asyncio.BaseProtocol:
        """The protocol driven by this transport."""
        return self._protocol

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        """Replace the protocol."""
        assert isinstance(protocol, asyncio.Protocol)
        self._protocol = protocol

    def is_closing(self) -> bool:
        """True once closing or closed."""
        return self._closing or self._lost

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Queue data for the peer."""
        if self._stdin is not None and not self.is_closing():
            self._stdin.write(data)

    def writelines(self, list_of_data: Any) -> None:
        """Write each item in turn."""
        for data in list_of_data:
            self.write(data)

    def write_eof(self) -> None:
        """Half-close: no more data will be written."""
        if self._stdin is not None and not self._stdin.is_closing():
            self._stdin.close()

    def can_write_eof(self) -> bool:
        """Whether :meth:`write_eof` is supported."""
        return True

    def close(self) -> None:
        """Close after queued data has been written."""
        if self._closing:
            return
        self._closing = True
        if self._stdin is not None and not self._stdin.is_closing():
            self._stdin.close()  # flushes what is queued first
        self._loop.call_soon(lambda: self._finish(None, abort=False))

    def abort(self) -> None:
        """Close now, dropping queued data."""
        self._closing = True
        self._finish(None)

    def pause_reading(self) -> None:
        """Stop delivering received data."""
        if self._stdout is not None:
            self._stdout.pause_reading()

    def resume_reading(self) -> None:
        """Deliver received data again."""
        if self._stdout is not None:
            self._stdout.resume_reading()

    def is_reading(self) -> bool:
        """True while received data is delivered."""
        return self._stdout is not None and self._stdout.is_reading()

    def get_write_buffer_size(self) -> int:
        """Bytes queued and not yet written."""
        return self._stdin.get_write_buffer_size() if self._stdin is not None else 0

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        """Set the queue sizes at which the protocol is paused and resumed."""
        if self._stdin is not None:
            self._stdin.set_write_buffer_limits(high, low)


def _reap_process(popen: subprocess.Popen[bytes], delay: float, grace: float) -> None:
    """Give a closed proxy command ``delay`` seconds to exit, then SIGTERM, then SIGKILL after ``grace``."""
    for sig, wait in ((None, delay), (signal.SIGTERM, grace), (signal.SIGKILL, None)):
        if sig is not None:
            _signal(popen, sig)
        try:
            popen.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _signal(popen: subprocess.Popen[bytes], sig: int) -> None:
    if popen.poll() is None:
        try:
            popen.send_signal(sig)
        except ProcessLookupError:
            pass


def spawn_proxy_command(command: str | Sequence[str]) -> subprocess.Popen[bytes]:
    """Start a proxy command with pipes for stdin, stdout and stderr (fork/exec only; nothing waits)."""
    argv = proxy_command_argv(command)
    try:
        return subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            bufsize=0,
            start_new_session=True,
        )
    except OSError as exc:
        raise ProxyCommandFailure(_command_text(command), exc.strerror or str(exc)) from None


# ---------------------------------------------------------------------------------------------
# over a blocking socket-like object (threads)
# ---------------------------------------------------------------------------------------------


class SocketLikeTransport(asyncio.Transport):
    """An :class:`asyncio.Transport` over an object with blocking ``send``/``recv`` (and ``close``).

    A reader thread calls ``recv`` and a writer thread ``send``; the loop itself never
    blocks. ``settimeout(0.2)`` is set when available so the reader notices a close.
    """

    high_water = 256 * 1024

    def __init__(self, sock: Any, protocol: asyncio.Protocol) -> None:
        super().__init__({"peername": _peername(sock), "sockname": None, "socket": None})
        self._loop = asyncio.get_running_loop()
        self._sock = sock
        self._protocol = protocol
        self._closing = False
        self._lost = False
        self._queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._queued = 0
        self._queued_lock = threading.Lock()
        self._writing_paused = False
        self._read_allowed = threading.Event()
        self._read_allowed.set()
        if hasattr(sock, "settimeout"):
            try:
                sock.settimeout(0.2)
            except Exception:  # noqa: BLE001 - best effort
                pass
        protocol.connection_made(self)
        threading.Thread(target=self._read_loop, name="blockssh-sock-reader", daemon=True).start()
        threading.Thread(target=self._write_loop, name="blockssh-sock-writer", daemon=True).start()

    def _read_loop(self) -> None:
        error: Exception | None = None
        while not self._closing:
            if not self._read_allowed.wait(0.2):
                continue
            try:
                data = self._sock.recv(SOCKET_LIKE_READ_SIZE)
            except TimeoutError:
                continue
            except Exception as exc:  # noqa: BLE001 - reported to the protocol
                if not self._closing:
                    error = exc
                break
            if not data:
                break
            self._call(self._deliver, bytes(data))
        self._call(self._finish, error)

    def _write_loop(self) -> None:
        while True:
            data = self._queue.get()
            if data is None:
                break
            try:
                view = memoryview(data)
                while view:
                    try:
                        sent = self._sock.send(view)
                    except TimeoutError:
                        continue
                    view = view[sent:]
            except Exception as exc:  # noqa: BLE001
                self._call(self._finish, exc)
                break
            with self._queued_lock:
                self._queued -= len(data)
            self._call(self._maybe_resume)
        self._call(self._close_sock)

    def _call(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            self._loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop is gone
            pass

    def _deliver(self, data: bytes) -> None:
        if not self._lost:
            self._protocol.data_received(data)

    def _maybe_resume(self) -> None:
        if self._writing_paused and self.get_write_buffer_size() <= self.high_water // 4:
            self._writing_paused = False
            self._protocol.resume_writing()

    def _finish(self, exc: Exception | None) -> None:
        self._closing = True
        self._queue.put(None)
        if not self._lost:
            self._lost = True
            self._protocol.connection_lost(exc)

    def _close_sock(self) -> None:
        try:
            self._sock.close()
        except Exception:  # noqa: BLE001
            pass

    # -- asyncio.Transport ---------------------------------------------------------------------

    def get_protocol(self) -> asyncio.BaseProtocol:
        """The protocol driven by this transport."""
        return self._protocol

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        """Replace the protocol."""
        assert isinstance(protocol, asyncio.Protocol)
        self._protocol = protocol

    def is_closing(self) -> bool:
        """True once closing or closed."""
        return self._closing

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Queue data for the peer."""
        if self._closing or not data:
            return
        chunk = bytes(data)
        with self._queued_lock:
            self._queued += len(chunk)
        self._queue.put(chunk)
        if not self._writing_paused and self.get_write_buffer_size() > self.high_water:
            self._writing_paused = True
            self._protocol.pause_writing()

    def writelines(self, list_of_data: Any) -> None:
        """Write each item in turn."""
        for data in list_of_data:
            self.write(data)

    def can_write_eof(self) -> bool:
        """Whether :meth:`write_eof` is supported."""
        return False

    def close(self) -> None:
        """Close after queued data has been written."""
        if self._closing:
            return
        self._closing = True
        self._queue.put(None)  # the writer sends what is queued, then closes the object
        self._loop.call_soon(self._finish, None)

    def abort(self) -> None:
        """Close now, dropping queued data."""
        self._finish(None)

    def pause_reading(self) -> None:
        """Stop delivering received data."""
        self._read_allowed.clear()

    def resume_reading(self) -> None:
        """Deliver received data again."""
        self._read_allowed.set()

    def is_reading(self) -> bool:
        """True while received data is delivered."""
        return self._read_allowed.is_set()

    def get_write_buffer_size(self) -> int:
        """Bytes queued and not yet written."""
        with self._queued_lock:
            return self._queued

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        """Set the queue sizes at which the protocol is paused and resumed."""
        if high is not None:
            self.high_water = high


def _peername(sock: Any) -> Any:
    getpeername = getattr(sock, "getpeername", None)
    if getpeername is None:
        return None
    try:
        return getpeername()
    except Exception:  # noqa: BLE001
        return None


# ---------------------------------------------------------------------------------------------
# connecting
# ---------------------------------------------------------------------------------------------


def parse_tunnel(spec: str) -> list[JumpHost]:
    """Parse ``[user@]host[:port][,...]`` (ProxyJump syntax, ``ssh://`` URIs allowed) into hops."""
    try:
        hops = parse_jump(spec)
    except ValueError as exc:
        raise ConfigurationError(f"invalid tunnel {spec!r}: {exc}") from None
    if not hops:
        raise ConfigurationError(f"invalid tunnel {spec!r}: no hosts")
    return list(hops)


def _hop_options(options: SSHClientConnectionOptions, hop: Any) -> SSHClientConnectionOptions:
    """Options for one jump host: the target's credentials and host key checks, the hop's address."""
    from .client import SSHClientConnectionOptions

    if isinstance(hop, SSHClientConnectionOptions):
        return hop
    if isinstance(hop, str):
        hops = parse_tunnel(hop)
        if len(hops) != 1:
            raise ConfigurationError(f"one jump host expected, got {hop!r}")
        hop = hops[0]
    if not isinstance(hop, JumpHost):
        raise ConfigurationError(f"cannot use {type(hop).__name__} as a jump host")
    return dataclasses.replace(
        options,
        host=hop.host,
        port=hop.port or 22,
        username=hop.user or getpass.getuser(),
        password=None,
        tunnel=None,
        proxy_command=None,
        agent_forwarding=False,
        host_key_alias=None,
        manual_auth=False,
    )


async def _connect_hops(options: SSHClientConnectionOptions) -> tuple[SSHClientConnection, bool]:
    """The connection whose channel reaches the target: ``(conn, owned)`` (owned: close it with the tunnel)."""
    from .client import SSHClientConnection, connect_with_options

    tunnel = options.tunnel
    if isinstance(tunnel, SSHClientConnection):
        return tunnel, False
    if isinstance(tunnel, str):
        hops: list[Any] = parse_tunnel(tunnel)
    elif isinstance(tunnel, Sequence):
        hops = list(tunnel)
    else:
        raise ConfigurationError(f"tunnel must be a connection, 'user@host:port[,...]' or a list, not {tunnel!r}")
    if not hops:
        raise ConfigurationError("empty tunnel")
    if _depth.get() + len(hops) > DEFAULT_MAX_JUMP_HOPS:
        raise ConfigurationError(f"more than {DEFAULT_MAX_JUMP_HOPS} jump hosts (is there a ProxyJump loop?)")
    previous: SSHClientConnection | None = None
    previous_owned = False
    for index, hop in enumerate(hops):
        if isinstance(hop, SSHClientConnection):
            if index != 0:
                raise ConfigurationError("an existing connection can only be the first jump host")
            previous, previous_owned = hop, False
            continue
        token = _depth.set(_depth.get() + 1)
        try:
            if callable(hop):  # a hop that connects itself (ssh_config ProxyJump): hop(previous) -> connection
                conn = await hop(previous)
            else:
                hop_options = _hop_options(options, hop)
                if previous is not None:
                    hop_options = dataclasses.replace(hop_options, tunnel=previous, proxy_command=None)
                conn = await connect_with_options(hop_options)
        except BaseException:
            if previous is not None and previous_owned:
                previous.close()
            raise
        finally:
            _depth.reset(token)
        if previous is not None and previous_owned:
            _own(conn, previous)
        previous, previous_owned = conn, True
    assert previous is not None
    return previous, previous_owned


def _own(conn: SSHClientConnection, inner: SSHClientConnection) -> None:
    """Close ``inner`` (a jump host) when ``conn`` (the connection through it) closes; wait for it too."""
    conn._jump_connections.append(inner)  # noqa: SLF001 - closed and awaited with conn
    if conn.is_closed():
        inner.close()


async def _establish(conn: SSHClientConnection, transport: asyncio.Transport) -> SSHClientConnection:
    try:
        await conn.wait_established()
    except BaseException as exc:
        conn.abort()
        failure = getattr(transport, "failure", None)
        if isinstance(failure, ProxyCommandFailure) and isinstance(exc, Exception):
            raise failure from exc
        raise
    return conn


async def connect_tunneled(options: SSHClientConnectionOptions) -> SSHClientConnection:
    """Connect with ``options.proxy_command`` or through ``options.tunnel`` (see :func:`blockssh.aio.connect`)."""
    from .client import SSHClientConnection

    if options.proxy_command:
        if _depth.get() >= DEFAULT_MAX_JUMP_HOPS:
            raise ConfigurationError(f"more than {DEFAULT_MAX_JUMP_HOPS} proxy levels")
        popen = spawn_proxy_command(options.proxy_command)
        return await connect_over(options, PipeSock(popen, _command_text(options.proxy_command)))
    jump, owned = await _connect_hops(options)
    try:
        sock = await open_direct_tcpip(jump, options.host, options.port, timeout=options.connect_timeout)
    except BaseException:
        if owned:
            jump.close()
        raise
    conn = SSHClientConnection(options)
    if owned:
        conn._jump_connections.append(jump)  # noqa: SLF001 - closed and awaited with conn
    transport = ChannelTransport(
        sock.chan,
        conn,
        peername=(options.host, options.port),
        owned=[jump] if owned else [],
        early=sock.take_early() if sock.take_early is not None else [],
    )
    return await _establish(conn, transport)


async def connect_over(options: SSHClientConnectionOptions, sock: Any) -> SSHClientConnection:
    """Connect over an already open path.

    ``sock`` is an SSH channel, a :class:`ChannelSock`, a :class:`PipeSock`, or any object
    with blocking ``send``/``recv``.
    """
    from .client import SSHClientConnection

    conn = SSHClientConnection(options)
    transport: asyncio.Transport
    if isinstance(sock, SSHChannel):
        sock = ChannelSock(sock)
    if isinstance(sock, ChannelSock):
        early = sock.take_early() if sock.take_early is not None else []
        # No peername: the jump host's address must not select known_hosts entries for the target.
        transport = ChannelTransport(sock.chan, conn, early=early)
    elif isinstance(sock, PipeSock):
        try:
            transport = await ProcessTransport.start(
                sock.popen, sock.command, conn, startup_timeout=DEFAULT_PROXY_STARTUP_TIMEOUT
            )
        except OSError as exc:
            raise ProxyCommandFailure(sock.command, str(exc)) from None
    elif callable(getattr(sock, "send", None)) and callable(getattr(sock, "recv", None)):
        transport = SocketLikeTransport(sock, conn)
    else:
        raise ConfigurationError(f"cannot run SSH over a {type(sock).__name__}")
    return await _establish(conn, transport)
