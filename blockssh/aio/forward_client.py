"""The forwarding methods of :class:`~blockssh.aio.client.SSHClientConnection`.

They live in :class:`SSHClientForwarding`, a base class of the client
connection, to keep ``client.py`` about connecting and authenticating.

Outgoing (we open the channel): :meth:`~SSHClientForwarding.create_connection`
and :meth:`~SSHClientForwarding.open_connection` (``direct-tcpip``),
``create_unix_connection``/``open_unix_connection``
(``direct-streamlocal@openssh.com``), ``create_tun``/``create_tap``
(``tun@openssh.com``), and the listeners that use them:
``forward_local_port``, ``forward_local_path``, ``forward_socks``,
``forward_tun``/``forward_tap``.

Incoming (the server opens the channel after we asked it to listen):
``create_server``/``start_server``/``forward_remote_port`` (``tcpip-forward``
and ``forwarded-tcpip`` channels), ``create_unix_server``/``forward_remote_path``
(``streamlocal-forward@openssh.com``), and X11 (``x11`` channels after
:meth:`~SSHClientForwarding.request_x11_forwarding`). Channels of these
kinds that we did not ask for are refused.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ..exceptions import ConfigurationError, PacketDecodeError, SSHException
from ..proto import events as ev
from ..proto.constants import ChannelOpenFailure
from ..proto.wire import Reader, string, uint32
from .channel import SSHChannel, SSHClientChannel, SSHTCPChannel, SSHTunTapChannel, SSHUNIXChannel
from .connection import SSHConnection
from .forward import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_LISTENERS,
    DEFAULT_OPEN_TIMEOUT,
    DEFAULT_STREAM_LIMIT,
    ForwardingError,
    SocketHalf,
    SSHListener,
    SSHLocalListener,
    SSHStreamSession,
    SSHStreamWriter,
    accept_by_connecting,
    accept_from_factory,
    check_host,
    check_path,
    check_port,
    local_opener,
    open_channel_with_session,
    peer_address,
    refuse_channel,
    spawn,
    tcp_connect,
    unix_connect,
)
from .session import SSHSession, SSHTunTapSession
from .socks import DEFAULT_SOCKS_HANDSHAKE_TIMEOUT, socks_listener
from .tuntap import LAYER2, LAYER3, TunTapDeviceSession, encode_tun_open, open_tun_device
from .x11 import MIT_COOKIE, X11ChannelForwarding, X11ClientForwarding, X11Forwarding

__all__ = ["SSHClientForwarding", "SSHRemoteListener", "SSHTunnel"]

_TCP = TypeVar("_TCP", bound=SSHSession[Any])  # an SSHTCPSession, or any session class
_UNIX = TypeVar("_UNIX", bound=SSHSession[Any])  # an SSHUNIXSession, or any session class
_TUN = TypeVar("_TUN", bound=SSHTunTapSession)

#: Called for each connection to a remote listener: ``(chan_id, orig_host, orig_port)``; accepts or refuses it.
IncomingHandler = Callable[[int, str, int], None]
#: ``session_factory(orig_host, orig_port)`` of :meth:`SSHClientForwarding.create_server`: a session, or None to refuse.
ServerSessionFactory = Callable[[str, int], Any]


class SSHRemoteListener(SSHListener):
    """A listener on the server (``tcpip-forward`` or ``streamlocal-forward@openssh.com``).

    :meth:`close` asks the server to stop listening; :meth:`wait_closed` waits for its answer.
    """

    def __init__(self, conn: SSHClientForwarding, host: str, port: int, path: str | None, handler: IncomingHandler):
        super().__init__()
        self._conn = conn
        self.listen_host = host
        self._port = port
        self._path = path
        self.handler = handler
        self._cancel: asyncio.Task[Any] | None = None

    def get_port(self) -> int:
        """The port the server listens on (the one it picked when 0 was asked for)."""
        return self._port

    def get_path(self) -> str | None:
        """The socket path the server listens on, for a UNIX forward."""
        return self._path

    def _do_close(self) -> None:
        conn = self._conn
        if self._path is not None:
            conn._remote_paths.pop(self._path, None)  # noqa: SLF001
            name, data = "cancel-streamlocal-forward@openssh.com", string(self._path)
        else:
            conn._remote_ports.pop((self.listen_host, self._port), None)  # noqa: SLF001
            name, data = "cancel-tcpip-forward", string(self.listen_host) + uint32(self._port)
        if not conn.is_closed():
            self._cancel = asyncio.ensure_future(_quiet(conn.global_request(name, data)))

    async def wait_closed(self) -> None:
        """Wait for the server's answer to the cancel request."""
        if self._cancel is not None:
            await asyncio.shield(self._cancel)

    def __repr__(self) -> str:
        where = self._path or f"{self.listen_host}:{self._port}"
        return f"<SSHRemoteListener {where}{' (closed)' if self._closing else ''}>"


async def _quiet(aw: Awaitable[Any]) -> Any:
    try:
        return await aw
    except SSHException:
        return None


class SSHTunnel:
    """A local tun/tap interface joined to the server's by ``tun@openssh.com`` (see ``forward_tun``)."""

    def __init__(self, chan: SSHTunTapChannel, session: TunTapDeviceSession) -> None:
        self.channel = chan
        self.session = session

    @property
    def interface(self) -> str:
        """The local interface name (``tun0``...)."""
        return self.session.ifname

    def close(self) -> None:
        """Close the tunnel (the local interface goes away with its file descriptor)."""
        self.channel.close()

    async def wait_closed(self) -> None:
        """Wait until it is closed."""
        await self.channel.wait_closed()

    async def __aenter__(self) -> SSHTunnel:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()
        await self.wait_closed()


class SSHClientForwarding(SSHConnection):
    """Forwarding for client connections (see the module documentation)."""

    #: Listeners (local, remote and SOCKS together) one connection may hold.
    max_listeners: int = DEFAULT_MAX_LISTENERS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._remote_ports: dict[tuple[str, int], SSHRemoteListener] = {}
        self._remote_paths: dict[str, SSHRemoteListener] = {}
        self._listeners: set[SSHListener] = set()
        self._fwd_tasks: set[asyncio.Task[Any]] = set()
        self._x11: X11Forwarding | None = None
        self._channel_openers["forwarded-tcpip"] = self._on_forwarded_tcpip
        self._channel_openers["forwarded-streamlocal@openssh.com"] = self._on_forwarded_streamlocal
        self._channel_openers["x11"] = self._on_x11_open

    # -- bookkeeping -----------------------------------------------------------------------

    def _add_listener(self, listener: SSHListener) -> None:
        self._listeners.add(listener)
        listener._add_close_callback(self._listeners.discard)  # noqa: SLF001

    def _check_listener_room(self) -> None:
        self._check_open()
        if len(self._listeners) >= self.max_listeners:
            raise ForwardingError(f"too many forwarding listeners on this connection (limit {self.max_listeners})")

    def _finish(self, exc: BaseException | None) -> None:
        super()._finish(exc)
        for listener in list(self._listeners):
            listener.close()
        for task in list(self._fwd_tasks):
            task.cancel()
        if self._x11 is not None:
            for task in list(self._x11.tasks):
                task.cancel()

    @property
    def listeners(self) -> frozenset[SSHListener]:
        """The forwarding listeners still open."""
        return frozenset(self._listeners)

    # -- direct TCP ------------------------------------------------------------------------

    async def create_connection(
        self,
        session_factory: Callable[[], _TCP],
        remote_host: str,
        remote_port: int,
        orig_host: str = "",
        orig_port: int = 0,
        *,
        encoding: str | None = None,
        errors: str = "strict",
        window: int | None = None,
        max_packet: int | None = None,
        timeout: float | None = None,
    ) -> tuple[SSHTCPChannel[Any], _TCP]:
        """Ask the server to connect to ``remote_host``:``remote_port`` (``direct-tcpip``).

        Returns ``(channel, session)``; the session gets the data the
        destination sends. A refusal raises :class:`ChannelException` (with the
        server's reason code), ``timeout`` :class:`SSHTimeoutError`.
        """
        check_host(remote_host, "remote_host")
        check_port(remote_port, "remote_port")
        check_host(orig_host, "orig_host")
        check_port(orig_port, "orig_port")
        extra = string(remote_host) + uint32(remote_port) + string(orig_host) + uint32(orig_port)

        def make(chan_id: int) -> SSHTCPChannel[Any]:
            chan: SSHTCPChannel[Any] = SSHTCPChannel(self, chan_id, "direct-tcpip", encoding=encoding, errors=errors)
            chan._extra.update(remote_peername=(remote_host, remote_port), local_peername=(orig_host, orig_port))  # noqa: SLF001
            return chan

        session = session_factory()
        chan = await open_channel_with_session(
            self, "direct-tcpip", extra, make, session, window=window, max_packet=max_packet, timeout=timeout
        )
        assert isinstance(chan, SSHTCPChannel)
        return chan, session

    async def open_connection(
        self,
        remote_host: str,
        remote_port: int,
        orig_host: str = "",
        orig_port: int = 0,
        *,
        limit: int = DEFAULT_STREAM_LIMIT,
        timeout: float | None = None,
    ) -> tuple[asyncio.StreamReader, SSHStreamWriter]:
        """Like :func:`asyncio.open_connection`, through the server: ``(reader, writer)`` streams."""
        chan, session = await self.create_connection(
            lambda: SSHStreamSession(limit), remote_host, remote_port, orig_host, orig_port, timeout=timeout
        )
        return session.reader, SSHStreamWriter(chan, session)

    async def forward_local_port(
        self,
        listen_host: str,
        listen_port: int,
        dest_host: str,
        dest_port: int,
        *,
        open_timeout: float | None = DEFAULT_OPEN_TIMEOUT,
    ) -> SSHLocalListener:
        """Listen on ``listen_host``:``listen_port`` here; forward each connection to ``dest_host``:``dest_port`` there.

        ``ssh -L``. ``listen_port=0`` picks a free port (``listener.get_port()``);
        ``listen_host`` "" or "*" listens on every address. A busy port raises
        :class:`ForwardingError`.
        """
        check_host(listen_host, "listen_host")
        check_port(listen_port, "listen_port")
        check_host(dest_host, "dest_host")
        check_port(dest_port, "dest_port")
        self._check_listener_room()

        def extra_for(sock: SocketHalf) -> bytes:
            orig_host, orig_port = peer_address(sock)
            return string(dest_host) + uint32(dest_port) + string(orig_host) + uint32(orig_port)

        def make(chan_id: int) -> SSHChannel[Any]:
            return SSHTCPChannel(self, chan_id, "direct-tcpip")

        listener = SSHLocalListener(
            local_opener(self, "direct-tcpip", extra_for, make, timeout=open_timeout),
            what=f"forward to {dest_host}:{dest_port}",
        )
        await listener.listen_tcp(listen_host, listen_port)
        self._add_listener(listener)
        return listener

    async def forward_local_port_to_path(
        self, listen_host: str, listen_port: int, dest_path: str, *, open_timeout: float | None = DEFAULT_OPEN_TIMEOUT
    ) -> SSHLocalListener:
        """Listen on a local TCP port; forward each connection to the UNIX socket ``dest_path`` on the server."""
        check_host(listen_host, "listen_host")
        check_port(listen_port, "listen_port")
        path = check_path(dest_path, "dest_path")
        self._check_listener_room()
        listener = SSHLocalListener(
            local_opener(self, "direct-streamlocal@openssh.com", lambda _: _streamlocal(path), self._unix_chan(path)),
            what=f"forward to {path}",
        )
        await listener.listen_tcp(listen_host, listen_port)
        self._add_listener(listener)
        return listener

    async def forward_socks(
        self,
        listen_host: str,
        listen_port: int,
        *,
        handshake_timeout: float | None = DEFAULT_SOCKS_HANDSHAKE_TIMEOUT,
    ) -> SSHLocalListener:
        """A local SOCKS4/4a/5 server (``ssh -D``): each CONNECT becomes a ``direct-tcpip`` channel."""
        check_host(listen_host, "listen_host")
        check_port(listen_port, "listen_port")
        self._check_listener_room()
        listener = socks_listener(self, handshake_timeout=handshake_timeout)
        await listener.listen_tcp(listen_host, listen_port)
        self._add_listener(listener)
        return listener

    # -- remote TCP ----------------------------------------------------------------------------

    async def _request_remote_port(
        self, listen_host: str, listen_port: int, handler: IncomingHandler
    ) -> SSHRemoteListener:
        check_host(listen_host, "listen_host")
        check_port(listen_port, "listen_port")
        self._check_listener_room()
        ok, data = await self.global_request("tcpip-forward", string(listen_host) + uint32(listen_port))
        if not ok:
            raise ForwardingError(f"the server refused to listen on {listen_host or '*'} port {listen_port}")
        port = listen_port
        if listen_port == 0:
            try:
                port = Reader(data).get_uint32()
            except SSHException:
                raise ForwardingError("the server did not say which port it picked") from None
        listener = SSHRemoteListener(self, listen_host, port, None, handler)
        self._remote_ports[(listen_host, port)] = listener
        self._add_listener(listener)
        return listener

    async def create_server(
        self,
        session_factory: ServerSessionFactory,
        listen_host: str,
        listen_port: int,
        *,
        encoding: str | None = None,
        errors: str = "strict",
    ) -> SSHRemoteListener:
        """Ask the server to listen (``tcpip-forward``); ``session_factory(orig_host, orig_port)`` serves each client.

        The factory returns an :class:`SSHTCPSession` (or an awaitable of one),
        or None/False to refuse the connection. ``listen_port=0`` lets the
        server pick (``listener.get_port()``). A refusal raises :class:`ForwardingError`.
        """
        listener: list[SSHRemoteListener] = []

        def handler(chan_id: int, orig_host: str, orig_port: int) -> None:
            lst = listener[0]

            def make(cid: int) -> SSHTCPChannel[Any]:
                chan: SSHTCPChannel[Any] = SSHTCPChannel(self, cid, "forwarded-tcpip", encoding=encoding, errors=errors)
                chan._extra.update(  # noqa: SLF001
                    remote_peername=(orig_host, orig_port), local_peername=(lst.listen_host, lst.get_port())
                )
                return chan

            spawn(self._fwd_tasks, accept_from_factory(self, chan_id, make, session_factory, orig_host, orig_port))

        listener.append(await self._request_remote_port(listen_host, listen_port, handler))
        return listener[0]

    async def start_server(
        self,
        handler_factory: Callable[[str, int], Callable[[asyncio.StreamReader, SSHStreamWriter], Any] | None],
        listen_host: str,
        listen_port: int,
        *,
        limit: int = DEFAULT_STREAM_LIMIT,
    ) -> SSHRemoteListener:
        """Like :meth:`create_server`, with streams.

        ``handler_factory(orig_host, orig_port)`` returns a ``handler(reader, writer)``
        (a coroutine function runs as a task), or None to refuse the connection.
        """

        def factory(orig_host: str, orig_port: int) -> SSHStreamSession | None:
            handler = handler_factory(orig_host, orig_port)
            if handler is None:
                return None
            session = _StreamServerSession(limit, handler, self._fwd_tasks)
            return session

        return await self.create_server(factory, listen_host, listen_port)

    async def forward_remote_port(
        self,
        listen_host: str,
        listen_port: int,
        dest_host: str,
        dest_port: int,
        *,
        connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT,
    ) -> SSHRemoteListener:
        """Ask the server to listen on a port; connect each connection to ``dest_host``:``dest_port`` here.

        ``ssh -R``. ``listen_port=0`` lets the server pick (``listener.get_port()``);
        a refusal raises :class:`ForwardingError`. A connection whose local
        destination refuses is refused on the SSH side too.
        """
        check_host(dest_host, "dest_host")
        check_port(dest_port, "dest_port")
        listener: list[SSHRemoteListener] = []

        def handler(chan_id: int, orig_host: str, orig_port: int) -> None:
            lst = listener[0]

            def make(cid: int) -> SSHTCPChannel[Any]:
                chan: SSHTCPChannel[Any] = SSHTCPChannel(self, cid, "forwarded-tcpip")
                chan._extra.update(  # noqa: SLF001
                    remote_peername=(orig_host, orig_port), local_peername=(lst.listen_host, lst.get_port())
                )
                return chan

            spawn(
                self._fwd_tasks,
                accept_by_connecting(
                    self,
                    chan_id,
                    make,
                    lambda f: tcp_connect(dest_host, dest_port, f),
                    what=f"{dest_host}:{dest_port}",
                    timeout=connect_timeout,
                ),
            )

        listener.append(await self._request_remote_port(listen_host, listen_port, handler))
        return listener[0]

    async def forward_remote_port_to_path(
        self,
        listen_host: str,
        listen_port: int,
        dest_path: str,
        *,
        connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT,
    ) -> SSHRemoteListener:
        """Ask the server to listen on a TCP port; connect each connection to the local UNIX socket ``dest_path``."""
        path = check_path(dest_path, "dest_path")

        def handler(chan_id: int, orig_host: str, orig_port: int) -> None:
            spawn(
                self._fwd_tasks,
                accept_by_connecting(
                    self,
                    chan_id,
                    lambda cid: SSHTCPChannel(self, cid, "forwarded-tcpip"),
                    lambda f: unix_connect(path, f),
                    what=path,
                    timeout=connect_timeout,
                ),
            )

        return await self._request_remote_port(listen_host, listen_port, handler)

    def _on_forwarded_tcpip(self, event: ev.ChannelOpenRequest) -> None:
        try:
            r = Reader(event.data)
            host, port, orig_host, orig_port = r.get_text(), r.get_uint32(), r.get_text(), r.get_uint32()
        except PacketDecodeError:
            refuse_channel(self, event.channel, ChannelOpenFailure.CONNECT_FAILED, "malformed forwarded-tcpip")
            return
        listener = self._remote_ports.get((host, port))
        if listener is None:  # servers may echo the address differently: match on the port alone
            matches = [lst for (h, p), lst in self._remote_ports.items() if p == port]
            listener = matches[0] if len(matches) == 1 else None
        if listener is None:
            refuse_channel(self, event.channel, ChannelOpenFailure.ADMINISTRATIVELY_PROHIBITED, "no such forward")
            return
        listener.handler(event.channel, orig_host, orig_port)

    # -- UNIX sockets ----------------------------------------------------------------------------

    def _unix_chan(
        self, path: str, kind: str = "direct-streamlocal@openssh.com", **kwargs: Any
    ) -> Callable[[int], SSHChannel[Any]]:
        def make(chan_id: int) -> SSHUNIXChannel[Any]:
            chan: SSHUNIXChannel[Any] = SSHUNIXChannel(self, chan_id, kind, **kwargs)
            chan._extra["path"] = path  # noqa: SLF001
            return chan

        return make

    async def create_unix_connection(
        self,
        session_factory: Callable[[], _UNIX],
        remote_path: str,
        *,
        encoding: str | None = None,
        errors: str = "strict",
        window: int | None = None,
        max_packet: int | None = None,
        timeout: float | None = None,
    ) -> tuple[SSHUNIXChannel[Any], _UNIX]:
        """Ask the server to connect to its UNIX socket ``remote_path`` (``direct-streamlocal@openssh.com``)."""
        path = check_path(remote_path, "remote_path")
        session = session_factory()
        chan = await open_channel_with_session(
            self,
            "direct-streamlocal@openssh.com",
            _streamlocal(path),
            self._unix_chan(path, encoding=encoding, errors=errors),
            session,
            window=window,
            max_packet=max_packet,
            timeout=timeout,
        )
        assert isinstance(chan, SSHUNIXChannel)
        return chan, session

    async def open_unix_connection(
        self, remote_path: str, *, limit: int = DEFAULT_STREAM_LIMIT, timeout: float | None = None
    ) -> tuple[asyncio.StreamReader, SSHStreamWriter]:
        """Like :func:`asyncio.open_unix_connection`, to a socket on the server."""
        chan, session = await self.create_unix_connection(lambda: SSHStreamSession(limit), remote_path, timeout=timeout)
        return session.reader, SSHStreamWriter(chan, session)

    async def forward_local_path(
        self, listen_path: str, dest_path: str, *, open_timeout: float | None = DEFAULT_OPEN_TIMEOUT
    ) -> SSHLocalListener:
        """Listen on the local UNIX socket ``listen_path``; forward each connection to ``dest_path`` on the server."""
        listen = check_path(listen_path, "listen_path")
        dest = check_path(dest_path, "dest_path")
        self._check_listener_room()
        listener = SSHLocalListener(
            local_opener(self, "direct-streamlocal@openssh.com", lambda _: _streamlocal(dest), self._unix_chan(dest)),
            what=f"forward to {dest}",
        )
        await listener.listen_unix(listen)
        self._add_listener(listener)
        return listener

    async def forward_local_path_to_port(
        self, listen_path: str, dest_host: str, dest_port: int, *, open_timeout: float | None = DEFAULT_OPEN_TIMEOUT
    ) -> SSHLocalListener:
        """Listen on a local UNIX socket; forward each connection to ``dest_host``:``dest_port`` from the server."""
        listen = check_path(listen_path, "listen_path")
        check_host(dest_host, "dest_host")
        check_port(dest_port, "dest_port")
        self._check_listener_room()

        def extra_for(sock: SocketHalf) -> bytes:
            return string(dest_host) + uint32(dest_port) + string("") + uint32(0)

        listener = SSHLocalListener(
            local_opener(self, "direct-tcpip", extra_for, lambda cid: SSHTCPChannel(self, cid, "direct-tcpip")),
            what=f"forward to {dest_host}:{dest_port}",
        )
        await listener.listen_unix(listen)
        self._add_listener(listener)
        return listener

    async def _request_remote_path(self, listen_path: str, handler: IncomingHandler) -> SSHRemoteListener:
        path = check_path(listen_path, "listen_path")
        self._check_listener_room()
        ok, _ = await self.global_request("streamlocal-forward@openssh.com", string(path))
        if not ok:
            raise ForwardingError(f"the server refused to listen on {path}")
        listener = SSHRemoteListener(self, "", 0, path, handler)
        self._remote_paths[path] = listener
        self._add_listener(listener)
        return listener

    async def create_unix_server(
        self,
        session_factory: Callable[[], Any],
        listen_path: str,
        *,
        encoding: str | None = None,
        errors: str = "strict",
    ) -> SSHRemoteListener:
        """Ask the server to listen on its UNIX socket ``listen_path``; ``session_factory()`` serves each connection.

        The factory returns an :class:`SSHUNIXSession` (or an awaitable), or None to refuse.
        """

        def handler(chan_id: int, orig_host: str, orig_port: int) -> None:
            make = self._unix_chan(listen_path, "forwarded-streamlocal@openssh.com", encoding=encoding, errors=errors)
            spawn(self._fwd_tasks, accept_from_factory(self, chan_id, make, session_factory))

        return await self._request_remote_path(listen_path, handler)

    async def forward_remote_path(
        self, listen_path: str, dest_path: str, *, connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT
    ) -> SSHRemoteListener:
        """Ask the server to listen on its UNIX socket ``listen_path``; connect each connection to ``dest_path``."""
        dest = check_path(dest_path, "dest_path")

        def handler(chan_id: int, orig_host: str, orig_port: int) -> None:
            make = self._unix_chan(listen_path, "forwarded-streamlocal@openssh.com")
            spawn(
                self._fwd_tasks,
                accept_by_connecting(
                    self, chan_id, make, lambda f: unix_connect(dest, f), what=dest, timeout=connect_timeout
                ),
            )

        return await self._request_remote_path(listen_path, handler)

    async def forward_remote_path_to_port(
        self,
        listen_path: str,
        dest_host: str,
        dest_port: int,
        *,
        connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT,
    ) -> SSHRemoteListener:
        """Ask the server to listen on its UNIX socket ``listen_path``; connect each connection to a TCP port here."""
        check_host(dest_host, "dest_host")
        check_port(dest_port, "dest_port")

        def handler(chan_id: int, orig_host: str, orig_port: int) -> None:
            make = self._unix_chan(listen_path, "forwarded-streamlocal@openssh.com")
            spawn(
                self._fwd_tasks,
                accept_by_connecting(
                    self,
                    chan_id,
                    make,
                    lambda f: tcp_connect(dest_host, dest_port, f),
                    what=f"{dest_host}:{dest_port}",
                    timeout=connect_timeout,
                ),
            )

        return await self._request_remote_path(listen_path, handler)

    def _on_forwarded_streamlocal(self, event: ev.ChannelOpenRequest) -> None:
        try:
            path = Reader(event.data).get_string().decode("utf-8", "surrogateescape")
        except PacketDecodeError:
            refuse_channel(self, event.channel, ChannelOpenFailure.CONNECT_FAILED, "malformed forwarded-streamlocal")
            return
        listener = self._remote_paths.get(path)
        if listener is None:
            refuse_channel(self, event.channel, ChannelOpenFailure.ADMINISTRATIVELY_PROHIBITED, "no such forward")
            return
        listener.handler(event.channel, "", 0)

    # -- TUN/TAP -------------------------------------------------------------------------------------

    async def _create_tuntap(
        self,
        layer: int,
        session_factory: Callable[[], _TUN],
        remote_unit: int | None,
        window: int | None,
        max_packet: int | None,
        timeout: float | None,
    ) -> tuple[SSHTunTapChannel, _TUN]:
        extra = encode_tun_open(layer, remote_unit)

        def make(chan_id: int) -> SSHTunTapChannel:
            chan = SSHTunTapChannel(self, chan_id, "tun@openssh.com", layer=layer)
            chan._extra["unit"] = remote_unit  # noqa: SLF001
            return chan

        session = session_factory()
        chan = await open_channel_with_session(
            self, "tun@openssh.com", extra, make, session, window=window, max_packet=max_packet, timeout=timeout
        )
        assert isinstance(chan, SSHTunTapChannel)
        return chan, session

    async def create_tun(
        self,
        session_factory: Callable[[], _TUN],
        remote_unit: int | None = None,
        *,
        window: int | None = None,
        max_packet: int | None = None,
        timeout: float | None = None,
    ) -> tuple[SSHTunTapChannel, _TUN]:
        """Open a layer 3 tunnel to the server's tun device ``remote_unit`` (None: any).

        The session gets one IP packet per ``data_received``; ``channel.write(packet)``
        sends one. A refusal raises :class:`ChannelException`.
        """
        return await self._create_tuntap(LAYER3, session_factory, remote_unit, window, max_packet, timeout)

    async def create_tap(
        self,
        session_factory: Callable[[], _TUN],
        remote_unit: int | None = None,
        *,
        window: int | None = None,
        max_packet: int | None = None,
        timeout: float | None = None,
    ) -> tuple[SSHTunTapChannel, _TUN]:
        """Open a layer 2 tunnel (Ethernet frames) to the server's tap device ``remote_unit`` (None: any)."""
        return await self._create_tuntap(LAYER2, session_factory, remote_unit, window, max_packet, timeout)

    async def _forward_tuntap(self, layer: int, local_unit: int | None, remote_unit: int | None) -> SSHTunnel:
        fd, ifname = open_tun_device(local_unit, layer)
        try:
            chan, session = await self._create_tuntap(
                layer, lambda: TunTapDeviceSession(fd, ifname), remote_unit, None, None, DEFAULT_OPEN_TIMEOUT
            )
        except BaseException:
            try:
                os.close(fd)
            except OSError:
                pass
            raise
        return SSHTunnel(chan, session)

    async def forward_tun(self, local_unit: int | None = None, remote_unit: int | None = None) -> SSHTunnel:
        """Join a local tun device (Linux, needs CAP_NET_ADMIN) to the server's: ``ssh -w local:remote``.

        Addresses and routes are up to the caller (``ip addr``/``ip link set up``
        on ``tunnel.interface``). Raises :class:`TunTapError` when the local
        device cannot be made, :class:`ChannelException` when the server refuses.
        """
        return await self._forward_tuntap(LAYER3, local_unit, remote_unit)

    async def forward_tap(self, local_unit: int | None = None, remote_unit: int | None = None) -> SSHTunnel:
        """Join a local tap device to the server's (layer 2, ``ssh -o Tunnel=ethernet -w``)."""
        return await self._forward_tuntap(LAYER2, local_unit, remote_unit)

    # -- X11 --------------------------------------------------------------------------------------------

    async def request_x11_forwarding(
        self,
        chan: SSHClientChannel[Any],
        display: str | None = None,
        auth_path: str | None = None,
        *,
        single_connection: bool = False,
        screen: int | None = None,
        session_factory: Callable[[str, int], Any] | None = None,
        auth_protocol: str = MIT_COOKIE,
        auth_cookie: str | None = None,
    ) -> bool:
        """Ask for X11 forwarding on a session channel before starting its command or shell.

        ``display`` defaults to ``$DISPLAY`` and ``auth_path`` to ``$XAUTHORITY``.
        Returns whether the server accepted. Raises :class:`X11Error` without a
        usable display. One display per connection: later requests reuse the first one's.

        With ``session_factory`` no display is used: each ``x11`` channel the server
        opens is accepted with ``session_factory(orig_host, orig_port)``'s session (an
        :class:`SSHTCPSession`, an awaitable of one, or None to refuse), which gets the
        X client's raw stream, connection setup and cookie included (see
        :class:`~blockssh.aio.x11.X11ChannelForwarding`). The server is given
        ``auth_protocol`` and ``auth_cookie`` (hex text; default 16 random bytes), both
        readable as :attr:`x11_auth`. A later request of this kind replaces the
        factory and the cookie. The two modes do not mix on one connection
        (:class:`ConfigurationError`).
        """
        if not isinstance(chan, SSHClientChannel):
            raise ConfigurationError("X11 forwarding is requested on a session channel")
        if session_factory is not None:
            if display is not None or auth_path is not None:
                raise ConfigurationError("X11 forwarding to a session_factory takes no display or auth_path")
            if isinstance(self._x11, X11ClientForwarding):
                raise ConfigurationError("X11 forwarding on this connection already relays to a display")
            state = X11ChannelForwarding(
                session_factory,
                auth_protocol,
                auth_cookie,
                single_connection=single_connection,
                screen=screen or 0,
            )
            if self._x11 is not None:
                state.tasks = self._x11.tasks  # channels still being accepted stay tied to the connection
            self._x11 = state
        elif isinstance(self._x11, X11ChannelForwarding):
            raise ConfigurationError("X11 forwarding on this connection already hands channels to a session_factory")
        elif self._x11 is None:
            self._x11 = X11ClientForwarding.from_environment(display, auth_path, single_connection=single_connection)
        return await chan.request("x11-req", self._x11.request_data(screen))

    @property
    def x11_auth(self) -> tuple[str, str] | None:
        """``(protocol, hex cookie)`` given to the server by :meth:`request_x11_forwarding` (None before)."""
        return None if self._x11 is None else self._x11.auth

    def _on_x11_open(self, event: ev.ChannelOpenRequest) -> None:
        if self._x11 is None:
            refuse_channel(self, event.channel, ChannelOpenFailure.ADMINISTRATIVELY_PROHIBITED, "X11 not requested")
            return
        self._x11.on_channel_open(self, event)


class _StreamServerSession(SSHStreamSession):
    def __init__(self, limit: int, handler: Callable[..., Any], tasks: set[asyncio.Task[Any]]) -> None:
        super().__init__(limit)
        self._handler = handler
        self._tasks = tasks

    def session_started(self) -> None:
        assert self.chan is not None
        result = self._handler(self.reader, SSHStreamWriter(self.chan, self))
        if asyncio.iscoroutine(result):
            spawn(self._tasks, result)


def _streamlocal(path: str) -> bytes:
    return string(path) + string("") + uint32(0)
