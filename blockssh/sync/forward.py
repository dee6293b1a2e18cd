"""Blocking port forwarding: paramiko's remote-forward calls and blockssh's forwarding helpers.

paramiko's names, on :class:`~blockssh.sync.transport.Transport`:

* ``request_port_forward(address, port, handler=None)`` asks the server to
  listen and returns the port it bound (the one it picked for ``port=0``).
  Each connection to it becomes a :class:`~blockssh.sync.channel.Channel`:
  with a ``handler`` it is called as ``handler(channel, (origin_addr,
  origin_port), (server_addr, server_port))`` on a worker thread of this
  transport (paramiko calls it on its transport thread; here the loop
  thread is never blocked by it, and handlers run one at a time, in order);
  without one, channels wait for ``accept()``.
* ``accept(timeout=None)`` returns the next such channel, or None when the
  timeout passes or the transport closes.
* ``cancel_port_forward(address, port)`` stops the listener.

The same queue and handler thread serve :meth:`Channel.request_x11
<blockssh.sync.channel.Channel.request_x11>` (``handler(channel, (origin_addr,
origin_port))``, or ``accept()`` without a handler) and
:meth:`Channel.request_forward_agent
<blockssh.sync.channel.Channel.request_forward_agent>` (``handler(channel)``).

At most :data:`DEFAULT_MAX_PENDING_ACCEPT` channels wait for ``accept()``
(or for their handler); more connections are refused until some are taken.

blockssh's own helpers (also ``SSHClient`` methods): :func:`forward_local_port`,
:func:`forward_remote_port` and :func:`forward_socks` return a
:class:`ForwardHandle` with ``port`` and ``close()``; the forwarding runs on
the loop thread, no thread per connection.
"""

from __future__ import annotations

import asyncio
import binascii
import functools
import logging
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from ..aio.agent import AGENT_REQUEST
from ..aio.forward import SSHListener
from ..aio.x11 import MIT_COOKIE
from ..exceptions import SSHException
from ._bridge import ChannelBridge
from .channel import Channel

if TYPE_CHECKING:
    from ..aio.client import SSHClientConnection
    from ..aio.forward_client import SSHRemoteListener
    from .transport import Transport

__all__ = [
    "DEFAULT_MAX_PENDING_ACCEPT",
    "DEFAULT_FORWARD_TIMEOUT",
    "ForwardHandle",
    "RemoteForwarding",
    "forward_local_port",
    "forward_remote_port",
    "forward_socks",
    "remote_forwarding",
]

logger = logging.getLogger("blockssh.forward")

DEFAULT_MAX_PENDING_ACCEPT = 64  # forwarded channels waiting for accept() or their handler
DEFAULT_FORWARD_TIMEOUT = 30.0  # seconds for setting up or tearing down a forward (bind, server's answer)

PortForwardHandler = Callable[[Channel, tuple[str, int], tuple[str, int]], Any]
X11Handler = Callable[[Channel, tuple[str, int]], Any]
AgentHandler = Callable[[Channel], Any]
_T = TypeVar("_T")


def _call(transport: Transport, coro: Coroutine[Any, Any, _T], timeout: float | None, what: str) -> _T:
    return transport._portal.call(coro, timeout, what=what)  # noqa: SLF001 - the transport's loop thread


#: Decides what happens to a channel the server opened, once it is a blocking :class:`Channel`:
#: returns the handler call to run on the handler thread, or None to queue the channel for ``accept()``.
_Route = Callable[[Channel], Callable[[], Any] | None]


class _IncomingBridge(ChannelBridge):
    """A bridge that reports when its channel has been accepted (on the loop thread)."""

    def __init__(self, forwarding: RemoteForwarding, origin: tuple[str, int] | None, route: _Route) -> None:
        super().__init__(forwarding.transport._portal)  # noqa: SLF001
        self._forwarding = forwarding
        self._origin = origin
        self._route = route

    def session_started(self) -> None:
        self._forwarding._opened(self, self._origin, self._route)  # noqa: SLF001


class RemoteForwarding:
    """The channels the server opens to one transport, with their ``accept()`` queue and handler thread.

    Remote port forwards (``forwarded-tcpip``), and X11 and agent channels asked for with
    :meth:`Channel.request_x11` and :meth:`Channel.request_forward_agent`, all arrive here.
    """

    def __init__(self, transport: Transport, max_pending: int = DEFAULT_MAX_PENDING_ACCEPT) -> None:
        self.transport = transport
        self.max_pending = max_pending
        self._cond = threading.Condition()
        self._queue: deque[Channel] = deque()
        self._in_flight = 0  # accepted on the loop, not yet queued or handed to a handler
        self._listeners: dict[tuple[str, int], SSHRemoteListener] = {}
        self._handlers: dict[tuple[str, int], PortForwardHandler | None] = {}
        self._x11_handler: X11Handler | None = None  # the last request_x11's (paramiko: one per transport)
        self._agent_handler: AgentHandler | None = None
        self._jobs: queue.SimpleQueue[Callable[[], Any] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._pending_jobs = 0
        self._closed = False
        self._watching = False

    # -- loop-thread side --------------------------------------------------------------

    def _incoming(self, origin: tuple[str, int] | None, route: _Route) -> ChannelBridge | None:
        """The session for a channel the server opens, or None (refused) when too many wait."""
        with self._cond:
            waiting = len(self._queue) + self._in_flight + self._pending_jobs
            if self._closed or waiting >= self.max_pending:
                logger.warning("channel from the server (origin %s) refused: %d waiting", origin, waiting)
                return None
            self._in_flight += 1
        return _IncomingBridge(self, origin, route)

    def _forwarded_session(self, server: tuple[str, int], orig_host: str, orig_port: int) -> ChannelBridge | None:
        origin = (orig_host, orig_port)

        def route(channel: Channel) -> Callable[[], Any] | None:
            handler = self._handlers.get(server)
            if handler is None:  # the port may have been echoed differently: match on the port alone
                handler = next((h for (_, p), h in self._handlers.items() if p == server[1]), None)
            return None if handler is None else functools.partial(handler, channel, origin, server)

        return self._incoming(origin, route)

    def _x11_session(self, orig_host: str, orig_port: int) -> ChannelBridge | None:
        origin = (orig_host, orig_port)

        def route(channel: Channel) -> Callable[[], Any] | None:
            handler = self._x11_handler
            return None if handler is None else functools.partial(handler, channel, origin)

        return self._incoming(origin, route)

    def _agent_session(self) -> ChannelBridge | None:
        handler = self._agent_handler
        if handler is None:
            return None
        return self._incoming(None, lambda channel: functools.partial(handler, channel))

    def _opened(self, bridge: ChannelBridge, origin: tuple[str, int] | None, route: _Route) -> None:
        assert bridge.chan is not None
        channel = Channel(self.transport, bridge.chan, bridge)
        channel.origin_addr = origin
        job = route(channel)
        with self._cond:
            self._in_flight -= 1
            if job is None:
                self._queue.append(channel)
                self._cond.notify_all()
                return
            self._pending_jobs += 1
            self._start_thread()
        self._jobs.put(job)

    def _watch(self, conn: SSHClientConnection) -> None:
        if self._watching:
            return
        self._watching = True

        def closed(_: Any) -> None:
            self.close()

        task = asyncio.ensure_future(conn.wait_closed())
        task.add_done_callback(closed)

    # -- handler thread ------------------------------------------------------------------

    def _start_thread(self) -> None:
        # caller holds the lock
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run_handlers, name="blockssh-forward-handler", daemon=True)
            self._thread.start()

    def _run_handlers(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            with self._cond:
                self._pending_jobs -= 1
            try:
                job()
            except Exception:  # noqa: BLE001 - a broken handler must not stop the others
                logger.exception("handler %r for a channel from the server failed", job)

    # -- caller side ---------------------------------------------------------------------

    def request(self, address: str, port: int, handler: PortForwardHandler | None = None) -> int:
        """Ask the server to listen on ``address``:``port``; returns the bound port."""
        transport = self.transport
        conn = transport._check_active()  # noqa: SLF001
        address = address or ""
        holder: list[tuple[str, int]] = []

        def factory(orig_host: str, orig_port: int) -> ChannelBridge | None:
            return self._forwarded_session(holder[0], orig_host, orig_port)

        async def start() -> SSHRemoteListener:
            self._watch(conn)
            listener = await conn.create_server(factory, address, int(port))
            # Registered here, on the loop thread, before any connection to it can be handled.
            key = (address, listener.get_port())
            holder.append(key)
            with self._cond:
                self._closed = False
                self._listeners[key] = listener
                self._handlers[key] = handler
            return listener

        try:
            listener = _call(transport, start(), transport.channel_timeout, "request_port_forward")
        except SSHException as exc:
            raise SSHException(f"TCP forwarding request denied: {exc}") from exc
        return listener.get_port()

    def request_x11(
        self,
        channel: Channel,
        screen_number: int,
        auth_protocol: str | bytes | None,
        auth_cookie: str | bytes | None,
        single_connection: bool,
        handler: X11Handler | None,
    ) -> str | bytes:
        """Send ``x11-req`` on ``channel``; x11 channels go to ``handler`` (or ``accept()``). Returns the cookie."""
        chan = channel._check_open()  # noqa: SLF001 - the facade's own channel
        protocol = auth_protocol or MIT_COOKIE
        if isinstance(protocol, bytes):
            protocol = protocol.decode("ascii")
        cookie = auth_cookie if auth_cookie is not None else binascii.hexlify(os.urandom(16))
        cookie_text = cookie.decode("ascii") if isinstance(cookie, bytes) else cookie
        conn = self.transport._check_active()  # noqa: SLF001

        async def start() -> bool:
            self._watch(conn)
            with self._cond:
                self._closed = False
                self._x11_handler = handler
            return await conn.request_x11_forwarding(
                chan,
                single_connection=single_connection,
                screen=screen_number,
                session_factory=self._x11_session,
                auth_protocol=protocol,
                auth_cookie=cookie_text,
            )

        channel._request("x11", start())  # noqa: SLF001
        return cookie

    def request_agent(self, channel: Channel, handler: AgentHandler) -> None:
        """Send ``auth-agent-req@openssh.com`` on ``channel``; agent channels go to ``handler``."""
        if not callable(handler):
            raise TypeError("request_forward_agent needs a handler(channel)")
        chan = channel._check_open()  # noqa: SLF001 - the facade's own channel
        conn = self.transport._check_active()  # noqa: SLF001

        async def start() -> bool:
            self._watch(conn)
            with self._cond:
                self._closed = False
                self._agent_handler = handler
            conn.accept_agent_channels(self._agent_session)
            return await chan.request(AGENT_REQUEST)

        # A refusal leaves the session channel open (its command can still run without an agent).
        channel._request("agent forwarding", start(), refusal_closes=False)  # noqa: SLF001

    def cancel(self, address: str, port: int) -> None:
        """Stop the server's listener on ``address``:``port`` (as passed to, or returned by, :meth:`request`)."""
        key = (address or "", int(port))
        with self._cond:
            listener = self._listeners.pop(key, None)
            self._handlers.pop(key, None)
        if listener is None:
            return

        async def stop() -> None:
            listener.close()
            await listener.wait_closed()

        try:
            _call(self.transport, stop(), DEFAULT_FORWARD_TIMEOUT, "cancel_port_forward")
        except SSHException:
            pass

    def accept(self, timeout: float | None = None) -> Channel | None:
        """The next forwarded channel; None after ``timeout`` seconds or once the transport is closed."""
        self.transport._portal.check_not_loop_thread("accept")  # noqa: SLF001
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._queue:
                if self._closed or not self.transport.is_active():
                    return None
                if deadline is None:
                    self._cond.wait(1.0)  # wakes now and then to notice a dead transport
                else:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return None
                    self._cond.wait(min(left, 1.0))
            return self._queue.popleft()

    def close(self) -> None:
        """The transport closed: wake ``accept()`` callers and stop the handler thread."""
        with self._cond:
            self._closed = True
            self._listeners.clear()
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            self._jobs.put(None)


def remote_forwarding(transport: Transport) -> RemoteForwarding:
    """The transport's :class:`RemoteForwarding` (made on first use)."""
    existing = transport.__dict__.get("_blockssh_remote_forwarding")
    if isinstance(existing, RemoteForwarding):
        return existing
    with _lock:
        existing = transport.__dict__.get("_blockssh_remote_forwarding")
        if not isinstance(existing, RemoteForwarding):
            existing = RemoteForwarding(transport)
            transport.__dict__["_blockssh_remote_forwarding"] = existing
        return existing


_lock = threading.Lock()


# ---------------------------------------------------------------------------------------------
# blockssh's helpers
# ---------------------------------------------------------------------------------------------


class ForwardHandle:
    """A running forward: ``port`` (bound, or picked for 0), ``path`` for UNIX sockets, :meth:`close`."""

    def __init__(self, transport: Transport, listener: SSHListener, what: str) -> None:
        self._transport = transport
        self.listener = listener
        self.port = listener.get_port()
        self.path = listener.get_path()
        self._what = what

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<blockssh.ForwardHandle {self._what} port={self.port} ({state})>"

    @property
    def closed(self) -> bool:
        """True once closed."""
        return self.listener.is_closing()

    def close(self, timeout: float | None = DEFAULT_FORWARD_TIMEOUT) -> None:
        """Stop listening (connections already forwarded go on); idempotent."""
        if self.listener.is_closing():
            return
        listener = self.listener

        async def stop() -> None:
            listener.close()
            await listener.wait_closed()

        portal = self._transport._portal  # noqa: SLF001
        if portal.in_loop_thread():
            listener.close()
            return
        try:
            portal.call(stop(), timeout, what="closing a forward")
        except SSHException:
            pass

    def __enter__(self) -> ForwardHandle:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def forward_local_port(
    transport: Transport,
    listen_host: str,
    listen_port: int,
    dest_host: str,
    dest_port: int,
    *,
    timeout: float | None = DEFAULT_FORWARD_TIMEOUT,
) -> ForwardHandle:
    """``ssh -L``: listen here, connect from the server (see ``SSHClientConnection.forward_local_port``)."""
    conn = transport._check_active()  # noqa: SLF001

    async def start() -> SSHListener:
        return await conn.forward_local_port(listen_host, listen_port, dest_host, dest_port)

    listener = _call(transport, start(), timeout, "forward_local_port")
    return ForwardHandle(transport, listener, f"local {listen_host}:{listener.get_port()} -> {dest_host}:{dest_port}")


def forward_remote_port(
    transport: Transport,
    listen_host: str,
    listen_port: int,
    dest_host: str,
    dest_port: int,
    *,
    timeout: float | None = DEFAULT_FORWARD_TIMEOUT,
) -> ForwardHandle:
    """``ssh -R``: the server listens, connections come to ``dest_host``:``dest_port`` from here."""
    conn = transport._check_active()  # noqa: SLF001

    async def start() -> SSHListener:
        return await conn.forward_remote_port(listen_host, listen_port, dest_host, dest_port)

    listener = _call(transport, start(), timeout, "forward_remote_port")
    return ForwardHandle(transport, listener, f"remote {listen_host}:{listener.get_port()} -> {dest_host}:{dest_port}")


def forward_socks(
    transport: Transport, listen_host: str, listen_port: int, *, timeout: float | None = DEFAULT_FORWARD_TIMEOUT
) -> ForwardHandle:
    """``ssh -D``: a local SOCKS4/4a/5 server whose connections go through the server."""
    conn = transport._check_active()  # noqa: SLF001

    async def start() -> SSHListener:
        return await conn.forward_socks(listen_host, listen_port)

    listener = _call(transport, start(), timeout, "forward_socks")
    return ForwardHandle(transport, listener, f"SOCKS {listen_host}:{listener.get_port()}")
