"""Forwarding on the asyncio side: listeners, and pipes that copy bytes between sockets and channels.

A *pipe* joins one socket (an asyncio transport) to one SSH channel. Bytes
flow both ways with back-pressure both ways: when the channel's output queue
passes its high-water mark (the peer's window is used up) the socket stops
being read, and when the socket's write buffer is full the channel stops
delivering data, which stops our window adjusts, which stops the peer. A
half close (EOF) is passed through in each direction; once both directions
are done the channel closes and the socket with it.

Listeners (what ``forward_local_port``, ``forward_remote_port``,
``forward_socks``... return) share :class:`SSHListener`'s small surface:
:meth:`~SSHListener.get_port`, :meth:`~SSHListener.close`,
:meth:`~SSHListener.wait_closed`, and ``async with``. Closing a listener
stops new connections; connections already forwarded carry on until either
end closes them (as with OpenSSH).

Limits, each with a named default: :data:`DEFAULT_MAX_LISTENERS` per
connection, :data:`DEFAULT_MAX_LISTENER_CONNECTIONS` live connections per
local listener, :data:`DEFAULT_CONNECT_TIMEOUT` for the outbound connect
behind a forwarded channel, :data:`DEFAULT_OPEN_TIMEOUT` for the peer to
confirm a channel for an accepted socket, :data:`DEFAULT_LISTEN_BACKLOG`,
:data:`DEFAULT_PIPE_HIGH_WATER` (a socket's write buffer) and
:data:`DEFAULT_STREAM_LIMIT` (the stream reader of ``open_connection``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import stat
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from ..exceptions import ChannelClosedError, ConfigurationError, ForwardingError, SSHException, SSHTimeoutError
from ..proto.constants import ChannelOpenFailure
from .channel import SSHChannel
from .session import SSHSession

if TYPE_CHECKING:
    from .connection import SSHConnection

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_LISTEN_BACKLOG",
    "DEFAULT_MAX_LISTENERS",
    "DEFAULT_MAX_LISTENER_CONNECTIONS",
    "DEFAULT_OPEN_TIMEOUT",
    "DEFAULT_PIPE_HIGH_WATER",
    "DEFAULT_STREAM_LIMIT",
    "ForwardingError",
    "SSHForwardSession",
    "SSHListener",
    "SSHLocalListener",
    "SSHStreamSession",
    "SSHStreamWriter",
    "accept_channel_with_session",
    "accept_by_connecting",
    "accept_from_factory",
    "check_port",
    "open_channel_with_session",
]

logger = logging.getLogger("blockssh.forward")

DEFAULT_MAX_LISTENERS = 64  # forwarding listeners per connection (local, remote and SOCKS together)
DEFAULT_MAX_LISTENER_CONNECTIONS = 256  # live connections per local listener; more are closed when accepted
DEFAULT_CONNECT_TIMEOUT = 30.0  # seconds for the outbound TCP/UNIX connect behind a forwarded channel
DEFAULT_OPEN_TIMEOUT = 30.0  # seconds for the peer to confirm the channel of an accepted socket
DEFAULT_LISTEN_BACKLOG = 128
DEFAULT_PIPE_HIGH_WATER = 256 * 1024  # a forwarded socket's write buffer; above it the channel pauses
DEFAULT_STREAM_LIMIT = 256 * 1024  # open_connection()'s reader buffers up to twice this before pausing

_T = TypeVar("_T")
_S = TypeVar("_S", bound=SSHSession[Any])


def check_port(port: int, what: str = "port") -> int:
    """Validate a TCP port number (0 allowed: pick one); raise :class:`ConfigurationError` otherwise."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ConfigurationError(f"{what} must be an integer from 0 to 65535, not {port!r}")
    return port


def check_host(host: str, what: str = "host") -> str:
    """Validate a host name or address string."""
    if not isinstance(host, str):
        raise ConfigurationError(f"{what} must be a string, not {type(host).__name__}")
    if "\0" in host or len(host) > 1024:
        raise ConfigurationError(f"invalid {what} {host[:40]!r}")
    return host


def check_path(path: str | os.PathLike[str], what: str = "socket path") -> str:
    """Validate a UNIX socket path."""
    value = os.fspath(path)
    if not isinstance(value, str) or not value or "\0" in value or len(value.encode()) > 4096:
        raise ConfigurationError(f"invalid {what} {value!r}")
    return value


def spawn(tasks: set[asyncio.Task[Any]], coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
    """Start ``coro`` as a task kept alive in ``tasks`` until it ends (its exception is logged)."""
    task = asyncio.ensure_future(coro)
    tasks.add(task)

    def done(t: asyncio.Task[Any]) -> None:
        tasks.discard(t)
        if not t.cancelled() and t.exception() is not None:
            logger.error("forwarding task failed", exc_info=t.exception())

    task.add_done_callback(done)
    return task


# ---------------------------------------------------------------------------------------------
# opening and accepting channels with a session attached
# ---------------------------------------------------------------------------------------------


async def open_channel_with_session(
    conn: SSHConnection,
    kind: str,
    extra: bytes,
    chan_factory: Callable[[int], SSHChannel[Any]],
    session: SSHSession[Any],
    *,
    window: int | None = None,
    max_packet: int | None = None,
    timeout: float | None = None,
) -> SSHChannel[Any]:
    """Open a channel of ``kind`` with its session attached before the open is sent.

    Data the peer sends right behind its confirmation reaches the session. A
    refusal raises :class:`ChannelException`, a timeout :class:`SSHTimeoutError`;
    either way (and on cancellation) the session gets ``connection_lost`` and
    the open is withdrawn.
    """
    conn._check_open()  # noqa: SLF001 - forwarding is part of the connection
    core = conn._core  # noqa: SLF001
    chan_id = core.open_channel(kind, extra, window=window, max_packet=max_packet)
    chan = chan_factory(chan_id)
    conn._channels[chan_id] = chan  # noqa: SLF001
    chan._set_session(session)  # noqa: SLF001
    fut: asyncio.Future[bytes] = conn.loop.create_future()
    conn._open_waiters[chan_id] = fut  # noqa: SLF001
    conn._schedule_flush()  # noqa: SLF001
    try:
        if timeout is None:
            await fut
        else:
            await asyncio.wait_for(fut, timeout)
    except BaseException as exc:
        conn._open_waiters.pop(chan_id, None)  # noqa: SLF001
        if conn._channels.get(chan_id) is chan:  # noqa: SLF001
            del conn._channels[chan_id]  # noqa: SLF001
        if chan_id in core.channels and not conn.is_closed() and not isinstance(exc, SSHException):
            core.channel_close(chan_id, flush=False)
            conn._schedule_flush()  # noqa: SLF001
        if isinstance(exc, asyncio.TimeoutError):
            error = SSHTimeoutError(f"opening a {kind} channel timed out after {timeout:g} s")
            chan._on_closed(error)  # noqa: SLF001
            raise error from None
        chan._on_closed(exc if isinstance(exc, Exception) else None)  # noqa: SLF001
        raise
    if not chan.is_closing():
        session.session_started()
    return chan


def accept_channel_with_session(
    conn: SSHConnection,
    chan_id: int,
    chan_factory: Callable[[int], SSHChannel[Any]],
    session: SSHSession[Any],
    *,
    window: int | None = None,
    max_packet: int | None = None,
) -> SSHChannel[Any] | None:
    """Confirm a channel the peer asked for and attach ``session``; None if the request is gone."""
    core = conn._core  # noqa: SLF001
    if conn.is_closed() or chan_id not in core.channels:
        session.connection_lost(ChannelClosedError("the channel request was withdrawn"))
        return None
    core.accept_channel(chan_id, window=window, max_packet=max_packet)
    chan = chan_factory(chan_id)
    conn._adopt_channel(chan)  # noqa: SLF001
    conn._schedule_flush()  # noqa: SLF001
    chan._set_session(session)  # noqa: SLF001
    session.session_started()
    return chan


async def accept_from_factory(
    conn: SSHConnection,
    chan_id: int,
    chan_factory: Callable[[int], SSHChannel[Any]],
    session_factory: Callable[..., Any],
    *args: Any,
) -> None:
    """Confirm a channel the peer asked for with ``session_factory(*args)``'s session, or refuse it.

    The factory returns a session (or an awaitable of one); None, False or an exception
    (logged) refuses the channel.
    """
    try:
        session = await call_maybe_async(session_factory, *args)
    except Exception:  # noqa: BLE001 - the channel is refused, the error logged
        logger.exception("session factory for an incoming channel failed")
        session = None
    if not isinstance(session, SSHSession):
        refuse_channel(conn, chan_id, ChannelOpenFailure.CONNECT_FAILED, "connection refused")
        return
    accept_channel_with_session(conn, chan_id, chan_factory, session)


def refuse_channel(conn: SSHConnection, chan_id: int, code: int, reason: str) -> None:
    """Refuse a channel the peer asked for (nothing happens if it is gone)."""
    conn._refuse_channel(chan_id, code, reason)  # noqa: SLF001


# ---------------------------------------------------------------------------------------------
# the pipe: a socket half and a channel half
# ---------------------------------------------------------------------------------------------


class SocketHalf(asyncio.Protocol):
    """The socket side of a pipe (an :class:`asyncio.Protocol`)."""

    def __init__(self, high_water: int = DEFAULT_PIPE_HIGH_WATER) -> None:
        self.transport: asyncio.Transport | None = None
        self.chan: SSHChannel[Any] | None = None
        self._high_water = high_water
        self._pauses: set[str] = set()
        self._paused = False
        self._eof_in = False  # the socket sent EOF
        self._eof_out = False  # the channel sent EOF (passed to the socket)
        self._closed = False
        self._pending: list[bytes] = []  # socket data that arrived before the channel was attached
        self._early: list[bytes] = []  # channel data that arrived before attach()
        self._attached = False
        self.on_made: Callable[[SocketHalf], None] | None = None
        self.on_lost: Callable[[SocketHalf], None] | None = None
        self.reject = False  # set before connection_made: drop the connection at once

    # -- asyncio.Protocol ---------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Configure the socket; hold its input until a channel is attached."""
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:  # pragma: no cover - not every socket allows it
                pass
        if self.reject:
            transport.abort()
            return
        transport.set_write_buffer_limits(high=self._high_water)
        if self.chan is None:
            self.pause("open")
        if self.on_made is not None:
            self.on_made(self)

    def data_received(self, data: bytes) -> None:
        """Socket data goes to the channel."""
        chan = self.chan
        if chan is None:
            self._pending.append(data)
            return
        try:
            chan.write(data)
        except ChannelClosedError:
            self.abort()

    def eof_received(self) -> bool:
        """The socket's peer is done sending: send EOF on the channel (keep the socket half open)."""
        self._eof_in = True
        chan = self.chan
        if chan is not None:
            chan.write_eof()
            if self._eof_out:
                chan.close()
        return True

    def pause_writing(self) -> None:
        """The socket's write buffer is full: stop taking data from the channel."""
        if self.chan is not None:
            self.chan.pause_reading()

    def resume_writing(self) -> None:
        """The socket's write buffer drained: take channel data again."""
        if self.chan is not None:
            self.chan.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        """The socket is gone: close the channel (after the data already queued on it)."""
        self._closed = True
        chan = self.chan
        if chan is not None:
            chan.close()
        if self.on_lost is not None:
            self.on_lost(self)

    # -- control ----------------------------------------------------------------------

    def pause(self, reason: str) -> None:
        """Stop reading the socket (reasons stack: reading resumes when every one is lifted)."""
        self._pauses.add(reason)
        if not self._paused and self.transport is not None and not self.transport.is_closing():
            self._paused = True
            self.transport.pause_reading()

    def resume(self, reason: str) -> None:
        """Lift one reason to stop reading."""
        self._pauses.discard(reason)
        if self._paused and not self._pauses and self.transport is not None and not self.transport.is_closing():
            self._paused = False
            self.transport.resume_reading()

    def attach(self, chan: SSHChannel[Any], prefix: bytes = b"") -> None:
        """The channel is open: write ``prefix`` to the socket, then what arrived meanwhile, and start copying."""
        self.chan = chan
        self._attached = True
        if self._closed:  # the socket went away while the channel was opening
            chan.close()
            return
        transport = self.transport
        early, self._early = self._early, []
        if transport is not None and not transport.is_closing():
            if prefix:
                transport.write(prefix)
            for data in early:
                transport.write(data)
        pending, self._pending = self._pending, []
        for data in pending:
            self.data_received(data)
        if self._eof_in:
            chan.write_eof()
        if self._eof_out:
            self._half_close()
        self.resume("open")

    def channel_data(self, data: bytes) -> None:
        """Data from the channel for the socket (held until :meth:`attach`)."""
        if not self._attached:
            self._early.append(bytes(data))
            return
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    def channel_eof(self) -> None:
        """The channel's peer is done sending: half-close the socket."""
        self._eof_out = True
        if self._attached:
            self._half_close()

    def _half_close(self) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if transport.can_write_eof():
            transport.write_eof()
        else:
            transport.close()
        if self._eof_in and self.chan is not None:
            self.chan.close()

    #: A channel that fails to open leaves the socket to the opener (SOCKS answers first).
    keep_open_on_failure = False

    def channel_closed(self, exc: BaseException | None) -> None:
        """The channel is gone: close the socket once its buffered output has gone out."""
        if not self._attached and self.keep_open_on_failure:
            return
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.close()

    def close(self) -> None:
        """Close the socket once what is buffered for it has gone out."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def abort(self) -> None:
        """Drop the socket now."""
        if self.transport is not None:
            self.transport.abort()

    @property
    def closed(self) -> bool:
        """True once the socket is gone."""
        return self._closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """The socket transport's extra information (``peername``, ``sockname``...)."""
        return self.transport.get_extra_info(name, default) if self.transport is not None else default


class SSHForwardSession(SSHSession[bytes]):
    """The channel side of a pipe: data to the socket, back-pressure to the socket, EOF and close both ways."""

    accepts_buffers = True  # memoryviews over immutable bytes go to the socket without a copy

    def __init__(self, sock: SocketHalf) -> None:
        self.sock = sock
        self.chan: SSHChannel[Any] | None = None

    def connection_made(self, chan: SSHChannel[Any]) -> None:
        """Remember the channel (it may not be open yet)."""
        self.chan = chan

    def session_started(self) -> None:
        """The channel is open: start copying (unless the opener attaches the socket itself)."""
        if self.chan is not None and self.auto_attach:
            self.sock.attach(self.chan)

    auto_attach = True

    def data_received(self, data: bytes, datatype: int | None) -> None:
        """Channel data goes to the socket."""
        self.sock.channel_data(data)

    def eof_received(self) -> bool:
        """Half-close the socket; keep the channel open for data the other way."""
        self.sock.channel_eof()
        return True

    def pause_writing(self) -> None:
        """The channel's queue is full (the peer's window is used up): stop reading the socket."""
        self.sock.pause("channel")

    def resume_writing(self) -> None:
        """The channel's queue drained: read the socket again."""
        self.sock.resume("channel")

    def connection_lost(self, exc: BaseException | None) -> None:
        """The channel closed: close the socket."""
        self.sock.channel_closed(exc)


async def accept_by_connecting(
    conn: SSHConnection,
    chan_id: int,
    chan_factory: Callable[[int], SSHChannel[Any]],
    connect: Callable[[Callable[[], SocketHalf]], Awaitable[Any]],
    *,
    what: str,
    timeout: float | None = DEFAULT_CONNECT_TIMEOUT,
    session_factory: Callable[[SocketHalf], SSHSession[Any]] | None = None,
) -> SSHChannel[Any] | None:
    """Connect a socket with ``connect(protocol_factory)``; accept the channel if that works, refuse it if not.

    This is what OpenSSH does for ``direct-tcpip`` (server) and
    ``forwarded-tcpip`` (client): the channel is confirmed only once the
    destination answered, so a refused destination is a refused channel.
    """
    sock = SocketHalf()
    try:
        if timeout is None:
            await connect(lambda: sock)
        else:
            await asyncio.wait_for(connect(lambda: sock), timeout)
    except asyncio.TimeoutError:
        logger.info("connecting to %s timed out after %g s", what, timeout)
        refuse_channel(conn, chan_id, ChannelOpenFailure.CONNECT_FAILED, f"connect to {what} timed out")
        return None
    except (OSError, ValueError, UnicodeError) as exc:
        logger.info("connecting to %s failed: %s", what, exc)
        errno = getattr(exc, "errno", None)
        reason = os.strerror(errno) if isinstance(errno, int) and errno > 0 else str(exc)
        refuse_channel(conn, chan_id, ChannelOpenFailure.CONNECT_FAILED, f"connect to {what} failed: {reason}")
        return None
    except asyncio.CancelledError:
        refuse_channel(conn, chan_id, ChannelOpenFailure.CONNECT_FAILED, "cancelled")
        raise
    if sock.closed:
        refuse_channel(conn, chan_id, ChannelOpenFailure.CONNECT_FAILED, f"{what} closed the connection")
        return None
    session = SSHForwardSession(sock) if session_factory is None else session_factory(sock)
    return accept_channel_with_session(conn, chan_id, chan_factory, session)


async def tcp_connect(host: str, port: int, factory: Callable[[], asyncio.Protocol]) -> Any:
    """``loop.create_connection`` to ``host``:``port`` (every address tried)."""
    loop = asyncio.get_running_loop()
    return await loop.create_connection(factory, host, port)


async def unix_connect(path: str, factory: Callable[[], asyncio.Protocol]) -> Any:
    """``loop.create_unix_connection`` to ``path``."""
    loop = asyncio.get_running_loop()
    return await loop.create_unix_connection(factory, path)


# ---------------------------------------------------------------------------------------------
# listeners
# ---------------------------------------------------------------------------------------------


class SSHListener:
    """A forwarding listener: something that accepts connections and forwards them until closed."""

    def __init__(self) -> None:
        self._closing = False
        self._closed: asyncio.Future[None] | None = None
        self._on_close: list[Callable[[SSHListener], None]] = []

    def get_port(self) -> int:
        """The TCP port listened on (the one picked when 0 was asked for); 0 for a UNIX socket."""
        return 0

    def get_path(self) -> str | None:
        """The UNIX socket path listened on, if any."""
        return None

    def is_closing(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closing

    def close(self) -> None:
        """Stop accepting connections (those already forwarded go on)."""
        if self._closing:
            return
        self._closing = True
        callbacks, self._on_close = self._on_close, []
        for callback in callbacks:
            callback(self)
        self._do_close()

    def _do_close(self) -> None:
        """Subclass hook: release the listening socket or the remote forward."""

    async def wait_closed(self) -> None:
        """Wait until the listener has stopped."""

    def _add_close_callback(self, callback: Callable[[SSHListener], None]) -> None:
        self._on_close.append(callback)

    async def __aenter__(self: _T) -> _T:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()
        await self.wait_closed()


class SSHLocalListener(SSHListener):
    """A local listening socket whose connections are forwarded over SSH.

    ``opener(sock)`` runs for each accepted connection (its reading is paused
    until then) and opens the channel it is piped to, or raises; ``opener``
    may also take over the socket (SOCKS does its handshake first).
    """

    def __init__(
        self,
        opener: Callable[[SocketHalf], Awaitable[Any]],
        *,
        protocol_factory: Callable[[], SocketHalf] = SocketHalf,
        max_connections: int = DEFAULT_MAX_LISTENER_CONNECTIONS,
        what: str = "forwarded connection",
    ) -> None:
        super().__init__()
        self._opener = opener
        self._protocol_factory = protocol_factory
        self._servers: list[asyncio.AbstractServer] = []
        self._path: str | None = None
        self._live: set[SocketHalf] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.max_connections = max_connections
        self._what = what

    async def listen_tcp(self, host: str, port: int, *, backlog: int = DEFAULT_LISTEN_BACKLOG) -> None:
        """Bind and listen on ``host``:``port`` ("" or "*" for every address, port 0 picks one)."""
        loop = asyncio.get_running_loop()
        try:
            if host not in ("", "*"):
                self._servers.append(
                    await loop.create_server(self._accepted, host, port, backlog=backlog, reuse_address=True)
                )
                return
            # Every address: IPv4, then IPv6 on the same port (for port 0, the one IPv4 was given).
            first = await loop.create_server(self._accepted, "0.0.0.0", port, backlog=backlog, reuse_address=True)  # noqa: S104
            self._servers.append(first)
        except OSError as exc:
            raise ForwardingError(f"cannot listen on {host or '*'} port {port}: {exc.strerror or exc}") from exc
        try:
            self._servers.append(
                await loop.create_server(self._accepted, "::", self.get_port(), backlog=backlog, reuse_address=True)
            )
        except OSError:
            pass  # no IPv6 here, or the port is taken there: IPv4 only

    async def listen_unix(self, path: str, *, backlog: int = DEFAULT_LISTEN_BACKLOG, unlink: bool = False) -> None:
        """Bind and listen on the UNIX socket ``path``.

        An existing file there is an error, unless ``unlink`` is set and it is a socket
        (OpenSSH's StreamLocalBindUnlink; asyncio alone would silently replace any socket).
        """
        loop = asyncio.get_running_loop()
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise ForwardingError(f"cannot listen on {path}: {exc.strerror or exc}") from exc
        else:
            if not (unlink and stat.S_ISSOCK(mode)):
                raise ForwardingError(f"cannot listen on {path}: it exists")
            os.unlink(path)
        try:
            self._servers.append(await loop.create_unix_server(self._accepted, path, backlog=backlog))
        except OSError as exc:
            raise ForwardingError(f"cannot listen on {path}: {exc.strerror or exc}") from exc
        self._path = path

    def _accepted(self) -> SocketHalf:
        sock = self._protocol_factory()
        if self._closing or len(self._live) >= self.max_connections:
            if not self._closing:
                logger.warning("%s: %d connections already, refusing another", self._what, self.max_connections)
            sock.reject = True
            return sock
        self._live.add(sock)
        sock.on_lost = self._live.discard
        sock.on_made = self._start
        return sock

    def _start(self, sock: SocketHalf) -> None:
        spawn(self._tasks, self._run_opener(sock))

    async def _run_opener(self, sock: SocketHalf) -> None:
        try:
            await self._opener(sock)
        except (SSHException, OSError) as exc:
            logger.info("%s from %s failed: %s", self._what, sock.get_extra_info("peername"), exc)
            sock.close()
        except BaseException:
            sock.abort()
            raise

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        """The listening sockets."""
        return tuple(sock for server in self._servers for sock in (getattr(server, "sockets", ()) or ()))

    def get_port(self) -> int:
        """The TCP port listened on."""
        for sock in self.sockets:
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                return int(sock.getsockname()[1])
        return 0

    def get_path(self) -> str | None:
        """The UNIX socket path listened on."""
        return self._path

    @property
    def connection_count(self) -> int:
        """Connections accepted and still open."""
        return len(self._live)

    def stop_accepting(self) -> None:
        """Close the listening sockets only: connections being opened now go on (:meth:`close` drops them)."""
        for server in self._servers:
            server.close()

    def _do_close(self) -> None:
        self.stop_accepting()
        for task in list(self._tasks):  # opens still waiting: their sockets are dropped
            task.cancel()
        if self._path is not None:
            try:
                os.unlink(self._path)
            except OSError:
                pass

    async def wait_closed(self) -> None:
        """Wait until the listening socket is closed (forwarded connections may go on)."""
        # Not Server.wait_closed(): on newer Pythons it also waits for every accepted connection.
        # The listening sockets are closed synchronously by close(); the cancelled opens end here.
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def local_opener(
    conn: SSHConnection,
    kind: str,
    extra_for: Callable[[SocketHalf], bytes],
    chan_factory: Callable[[int], SSHChannel[Any]],
    *,
    timeout: float | None = DEFAULT_OPEN_TIMEOUT,
) -> Callable[[SocketHalf], Awaitable[Any]]:
    """An opener for :class:`SSHLocalListener`: a channel of ``kind`` per accepted socket, piped to it."""

    async def opener(sock: SocketHalf) -> None:
        await open_channel_with_session(
            conn, kind, extra_for(sock), chan_factory, SSHForwardSession(sock), timeout=timeout
        )

    return opener


def peer_address(sock: SocketHalf) -> tuple[str, int]:
    """The accepted socket's peer as ``(host, port)`` ("" and 0 for UNIX sockets)."""
    peer = sock.get_extra_info("peername")
    if isinstance(peer, tuple) and len(peer) >= 2:
        return str(peer[0]), int(peer[1])
    return "", 0


# ---------------------------------------------------------------------------------------------
# streams: open_connection() and start_server()
# ---------------------------------------------------------------------------------------------


class _ChannelReadTransport:
    """What :class:`asyncio.StreamReader` calls to pause and resume its source: the channel."""

    def __init__(self, chan: SSHChannel[Any]) -> None:
        self._chan = chan

    def pause_reading(self) -> None:
        self._chan.pause_reading()

    def resume_reading(self) -> None:
        self._chan.resume_reading()


class SSHStreamSession(SSHSession[bytes]):
    """A session that feeds an :class:`asyncio.StreamReader` and backs an :class:`SSHStreamWriter`."""

    accepts_buffers = True

    def __init__(self, limit: int = DEFAULT_STREAM_LIMIT) -> None:
        self.reader = asyncio.StreamReader(limit=limit)
        self.chan: SSHChannel[Any] | None = None
        self._write_paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._lost = False
        self._error: BaseException | None = None

    def connection_made(self, chan: SSHChannel[Any]) -> None:
        """Let the reader pause the channel when its buffer fills."""
        self.chan = chan
        self.reader.set_transport(_ChannelReadTransport(chan))  # type: ignore[arg-type]

    def data_received(self, data: bytes, datatype: int | None) -> None:
        """Buffer for the reader."""
        self.reader.feed_data(data)

    def eof_received(self) -> bool:
        """The reader sees EOF; we may go on writing."""
        self.reader.feed_eof()
        return True

    def pause_writing(self) -> None:
        """``drain()`` waits from now on."""
        self._write_paused = True

    def resume_writing(self) -> None:
        """Wake ``drain()``."""
        self._write_paused = False
        self._wake()

    def connection_lost(self, exc: BaseException | None) -> None:
        """End the reader (with ``exc`` if the connection failed) and wake ``drain()``."""
        self._lost = True
        self._error = exc
        if exc is None:
            self.reader.feed_eof()
        else:
            self.reader.set_exception(exc if isinstance(exc, Exception) else ConnectionError(str(exc)))
        self._wake()

    def _wake(self) -> None:
        waiters, self._drain_waiters = self._drain_waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    async def drain(self) -> None:
        """Wait while the channel's output queue is above its high-water mark."""
        while self._write_paused and not self._lost:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._drain_waiters.append(fut)
            await fut
        if self._lost and self._error is not None:
            raise ChannelClosedError(f"channel closed: {self._error}")


class SSHStreamWriter:
    """The writing half of a forwarded stream (the methods of :class:`asyncio.StreamWriter`)."""

    def __init__(self, chan: SSHChannel[Any], session: SSHStreamSession) -> None:
        self._chan = chan
        self._session = session

    @property
    def channel(self) -> SSHChannel[Any]:
        """The SSH channel underneath."""
        return self._chan

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Queue ``data`` (call :meth:`drain` to respect flow control)."""
        self._chan.write(bytes(data) if not isinstance(data, bytes) else data)

    def writelines(self, data: Iterable[bytes]) -> None:
        """Write each item."""
        for item in data:
            self.write(item)

    def write_eof(self) -> None:
        """Half-close: the peer reads EOF."""
        self._chan.write_eof()

    def can_write_eof(self) -> bool:
        """Always True for SSH channels."""
        return True

    def close(self) -> None:
        """Close the channel once queued data has gone out."""
        self._chan.close()

    def is_closing(self) -> bool:
        """True once closing or closed."""
        return self._chan.is_closing()

    async def wait_closed(self) -> None:
        """Wait until the channel is closed."""
        await self._chan.wait_closed()

    async def drain(self) -> None:
        """Wait until the output queue is below its low-water mark."""
        await self._session.drain()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """The channel's extra information."""
        return self._chan.get_extra_info(name, default)

    def __repr__(self) -> str:
        return f"<SSHStreamWriter channel={self._chan.id}>"


async def call_maybe_async(fn: Callable[..., Any], *args: Any) -> Any:
    """Call ``fn``; await the result if it is awaitable."""
    result = fn(*args)
    if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
        return await result
    return result
