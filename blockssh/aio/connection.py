"""The asyncio driver of the protocol core: one :class:`asyncio.Protocol` per connection.

Bytes from the socket go into the core; bytes the core produces are written
out; the core's events are dispatched through a table to channels, sessions
and the role-specific subclasses (client or server).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import socket
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from ..exceptions import (
    ChannelClosedError,
    ChannelException,
    ConnectionLost,
    DisconnectError,
    DisconnectReason,
    ProtocolError,
    SSHException,
    SSHTimeoutError,
)
from ..proto import events as ev
from ..proto.connection import SSHConnectionCore
from ..proto.constants import ChannelOpenFailure
from .channel import SSHChannel

__all__ = ["SSHConnection", "ChannelOpener", "GlobalRequestHandler", "GlobalReply"]

logger = logging.getLogger("blockssh")

#: What a global request handler returns: success, or ``(success, response data)``, or an awaitable of either.
GlobalReply = bool | tuple[bool, bytes]
#: Handles one incoming global request (see ``SSHConnection._global_handlers``).
GlobalRequestHandler = Callable[[ev.GlobalRequest], GlobalReply | Awaitable[GlobalReply]]
#: Answers one incoming channel open (accept or refuse, now or later; see ``SSHConnection._channel_openers``).
ChannelOpener = Callable[[ev.ChannelOpenRequest], None]


class SSHConnection(asyncio.Protocol):
    """What the client and server connections share."""

    def __init__(self, core: SSHConnectionCore, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.loop = loop or asyncio.get_running_loop()
        self._core = core
        self._transport: asyncio.Transport | None = None
        self._channels: dict[int, SSHChannel[Any]] = {}
        self._open_waiters: dict[int, asyncio.Future[bytes]] = {}
        self._global_waiters: deque[asyncio.Future[tuple[bool, bytes]] | None] = deque()
        self._flush_scheduled = False
        self._closed = False
        self._error: BaseException | None = None
        self._closed_future: asyncio.Future[None] = self.loop.create_future()
        self._kex_waiter: asyncio.Future[None] = self.loop.create_future()
        self._rekey_waiters: list[asyncio.Future[None]] = []
        self._last_received = self.loop.time()
        self._keepalive_handle: asyncio.TimerHandle | None = None
        self._keepalive_interval = 0.0
        self._keepalive_count_max = 3
        self._keepalive_outstanding = 0
        self._extra: dict[str, Any] = {}
        # Incoming channel opens by channel type, and global requests by name (forwarding, agent, ...
        # register here); what is not listed is refused. Replies to global requests go out in order.
        self._channel_openers: dict[str, ChannelOpener] = {}
        self._global_handlers: dict[str, GlobalRequestHandler] = {}
        self._global_replies: deque[GlobalReply | asyncio.Future[GlobalReply]] = deque()
        self._handlers: dict[type, Callable[[Any], None]] = {
            ev.ChannelData: self._on_channel_data,
            ev.ChannelEOF: self._on_channel_eof,
            ev.ChannelClosed: self._on_channel_closed,
            ev.ChannelRequest: self._on_channel_request,
            ev.ChannelRequestReply: self._on_channel_reply,
            ev.ChannelWindowOpened: self._on_window_opened,
            ev.ChannelOpened: self._on_channel_opened,
            ev.ChannelOpenFailed: self._on_channel_open_failed,
            ev.ChannelOpenRequest: self._on_channel_open_request,
            ev.GlobalRequest: self._on_global_request,
            ev.GlobalRequestReply: self._on_global_reply,
            ev.KexComplete: self._on_kex_complete,
            ev.ExtInfoReceived: lambda e: None,
            ev.DebugReceived: self._on_debug,
            ev.ConnectionClosed: self._on_connection_closed,
        }

    # -- asyncio.Protocol --------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Start the SSH handshake on a new socket."""
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:  # pragma: no cover - not every socket allows it
                pass
        self._extra["peername"] = transport.get_extra_info("peername")
        self._extra["sockname"] = transport.get_extra_info("sockname")
        self._core.start()
        self._flush()

    def data_received(self, data: bytes) -> None:
        """Feed the core and act on what it reports."""
        self._last_received = self.loop.time()
        self._keepalive_outstanding = 0
        error: DisconnectError | None = None
        try:
            self._core.receive_data(data)
        except DisconnectError as exc:
            error = exc
        except Exception as exc:  # a bug on our side must not leave the peer hanging
            logger.exception("internal error while processing data")
            error = ProtocolError(f"internal error: {exc!r}")
            self._core.transport.fail(error)
        self._process_events()
        self._flush()
        if error is not None:
            self._terminate(error)

    def eof_received(self) -> bool:
        """The peer closed its end."""
        self._core.receive_eof()
        self._process_events()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        """The socket is gone."""
        if not self._core.closed:
            self._core.receive_eof()
            self._process_events()
        error = self._error or (ConnectionLost(f"connection lost: {exc}") if exc else None)
        self._finish(error)

    # -- output ------------------------------------------------------------

    def _flush(self) -> None:
        self._flush_scheduled = False
        core = self._core
        core.tick(self.loop.time())
        data = core.data_to_send()
        if data and self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)
        self._process_events()

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon(self._flush)

    # -- events --------------------------------------------------------------

    def _process_events(self) -> None:
        handlers = self._handlers
        while True:
            events = self._core.events_received()
            if not events:
                return
            for event in events:
                handler = handlers.get(type(event))
                if handler is not None:
                    try:
                        handler(event)
                    except DisconnectError as exc:
                        self._terminate(exc)
                        return
                    except Exception:  # user callbacks must not kill the connection silently
                        logger.exception("error handling %s", type(event).__name__)

    def _on_channel_data(self, event: ev.ChannelData) -> None:
        chan = self._channels.get(event.channel)
        if chan is not None:
            chan._on_data(event.data, event.datatype)  # noqa: SLF001

    def _on_channel_eof(self, event: ev.ChannelEOF) -> None:
        chan = self._channels.get(event.channel)
        if chan is not None:
            chan._on_eof()  # noqa: SLF001

    def _on_channel_closed(self, event: ev.ChannelClosed) -> None:
        chan = self._channels.pop(event.channel, None)
        if chan is not None:
            chan._on_closed(None)  # noqa: SLF001

    def _on_channel_request(self, event: ev.ChannelRequest) -> None:
        chan = self._channels.get(event.channel)
        answer = chan._on_request(event) if chan is not None else None  # noqa: SLF001
        if event.want_reply:
            self._core.channel_reply(event.channel, bool(answer))
            self._schedule_flush()

    def _on_channel_reply(self, event: ev.ChannelRequestReply) -> None:
        chan = self._channels.get(event.channel)
        if chan is not None:
            chan._on_reply(event.success)  # noqa: SLF001

    def _on_window_opened(self, event: ev.ChannelWindowOpened) -> None:
        chan = self._channels.get(event.channel)
        if chan is not None:
            chan._check_resume_writing()  # noqa: SLF001

    def _on_channel_opened(self, event: ev.ChannelOpened) -> None:
        fut = self._open_waiters.pop(event.channel, None)
        if fut is not None and not fut.done():
            fut.set_result(event.data)
        elif fut is None or fut.done():
            # Nobody waits any more (cancelled): close it again.
            self._core.channel_close(event.channel, flush=False)
            self._schedule_flush()

    def _on_channel_open_failed(self, event: ev.ChannelOpenFailed) -> None:
        from .channel import channel_open_error

        fut = self._open_waiters.pop(event.channel, None)
        if fut is not None and not fut.done():
            fut.set_exception(channel_open_error(event.code, event.reason))

    def _on_channel_open_request(self, event: ev.ChannelOpenRequest) -> None:
        """Pass the open to the opener registered for its type; refuse types nobody registered."""
        opener = self._channel_openers.get(event.kind)
        if opener is None:
            self._refuse_channel(event.channel, ChannelOpenFailure.UNKNOWN_CHANNEL_TYPE, f"{event.kind}: not allowed")
            return
        try:
            opener(event)
        except Exception:  # noqa: BLE001 - a broken handler refuses this channel only
            logger.exception("error handling a %s channel open", event.kind)
            if event.channel in self._core.channels and event.channel not in self._channels:
                self._refuse_channel(event.channel, ChannelOpenFailure.CONNECT_FAILED, "internal error")

    def _refuse_channel(self, chan_id: int, code: int, reason: str) -> None:
        """Refuse a channel the peer asked for (a no-op if it is gone already)."""
        if chan_id in self._core.channels and not self._core.closed:
            self._core.reject_channel(chan_id, code, reason)
            self._schedule_flush()

    def _on_global_request(self, event: ev.GlobalRequest) -> None:
        handler = self._global_handlers.get(event.name)
        result: Any = False
        if handler is not None:
            try:
                result = handler(event)
            except Exception:  # noqa: BLE001 - refused, and logged
                logger.exception("error handling global request %s", event.name)
                result = False
        if inspect.isawaitable(result):
            fut: asyncio.Future[GlobalReply] = asyncio.ensure_future(result, loop=self.loop)
            fut.add_done_callback(self._global_reply_ready)
            result = fut
        if event.want_reply:
            self._global_replies.append(result)
            self._send_global_replies()

    def _global_reply_ready(self, fut: asyncio.Future[GlobalReply]) -> None:
        if not fut.cancelled() and fut.exception() is not None:
            logger.error("global request handler failed", exc_info=fut.exception())
        self._send_global_replies()

    def _send_global_replies(self) -> None:
        """Send the answers that are ready, oldest first (a slow answer holds back later ones)."""
        replies = self._global_replies
        sent = False
        while replies:
            head = replies[0]
            if isinstance(head, asyncio.Future):
                if not head.done():
                    break
                value: Any = False if head.cancelled() or head.exception() is not None else head.result()
            else:
                value = head
            replies.popleft()
            if self._closed or self._core.closed:
                continue
            ok, data = value if isinstance(value, tuple) else (bool(value), b"")
            self._core.reply_global_request(bool(ok), data)
            sent = True
        if sent:
            self._schedule_flush()

    def _on_global_reply(self, event: ev.GlobalRequestReply) -> None:
        if self._global_waiters:
            fut = self._global_waiters.popleft()
            if fut is not None and not fut.done():
                fut.set_result((event.success, event.data))

    def _on_kex_complete(self, event: ev.KexComplete) -> None:
        if event.initial and not self._kex_waiter.done():
            self._kex_waiter.set_result(None)
        if not event.initial:
            waiters, self._rekey_waiters = self._rekey_waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
        neg = event.algorithms
        self._extra.update(
            kex=neg.kex,
            host_key_algorithm=neg.host_key,
            send_cipher=neg.cipher_s2c if self._core.is_server else neg.cipher_c2s,
            recv_cipher=neg.cipher_c2s if self._core.is_server else neg.cipher_s2c,
            send_mac=neg.mac_s2c if self._core.is_server else neg.mac_c2s,
            recv_mac=neg.mac_c2s if self._core.is_server else neg.mac_s2c,
            compression=neg.compression_c2s,
            strict_kex=self._core.transport.strict_kex,
        )

    def _on_debug(self, event: ev.DebugReceived) -> None:
        logger.debug("peer debug message: %s", event.message)

    def _on_connection_closed(self, event: ev.ConnectionClosed) -> None:
        if event.error is not None and self._error is None:
            self._error = event.error
        if self._transport is not None:
            self._flush_now_and_close()

    def _flush_now_and_close(self) -> None:
        data = self._core.transport.data_to_send()
        if self._transport is not None and not self._transport.is_closing():
            if data:
                self._transport.write(data)
            self._transport.close()

    # -- lifecycle ---------------------------------------------------------

    def _terminate(self, exc: BaseException) -> None:
        if self._error is None:
            self._error = exc
        if self._transport is not None and not self._transport.is_closing():
            self._flush_now_and_close()
        self._finish(self._error)

    def _finish(self, exc: BaseException | None) -> None:
        if self._closed:
            return
        self._closed = True
        if self._keepalive_handle is not None:
            self._keepalive_handle.cancel()
        failure = exc or ConnectionLost("connection closed")
        for fut in list(self._open_waiters.values()):
            if not fut.done():
                fut.set_exception(failure)
        self._open_waiters.clear()
        for gfut in self._global_waiters:
            if gfut is not None and not gfut.done():
                gfut.set_exception(failure)
        self._global_waiters.clear()
        if not self._kex_waiter.done():
            self._kex_waiter.set_exception(failure)
            self._kex_waiter.exception()
        for waiter in self._rekey_waiters:
            if not waiter.done():
                waiter.set_exception(failure)
                waiter.exception()
        self._rekey_waiters.clear()
        for reply in self._global_replies:
            if isinstance(reply, asyncio.Future):
                reply.cancel()
        self._global_replies.clear()
        for chan in list(self._channels.values()):
            chan._on_closed(exc)  # noqa: SLF001
        self._channels.clear()
        self._connection_finished(exc)
        if not self._closed_future.done():
            self._closed_future.set_result(None)

    def _connection_finished(self, exc: BaseException | None) -> None:
        """Hook for subclasses: the connection is over."""

    def is_closed(self) -> bool:
        """True once the connection has ended."""
        return self._closed or self._core.closed

    @property
    def error(self) -> BaseException | None:
        """Why the connection ended, if it ended abnormally."""
        return self._error

    def close(self) -> None:
        """Close the connection (sends DISCONNECT)."""
        if self._closed:
            return
        if not self._core.closed:
            self._core.disconnect(DisconnectReason.BY_APPLICATION, "disconnected by user")
            self._process_events()
        if self._transport is not None:
            self._flush_now_and_close()
        self._finish(self._error)

    def abort(self) -> None:
        """Drop the connection without a DISCONNECT message."""
        if self._transport is not None:
            self._transport.abort()
        self._finish(self._error or ConnectionLost("connection aborted"))

    async def wait_closed(self) -> None:
        """Wait until the connection is closed."""
        await asyncio.shield(self._closed_future)

    async def __aenter__(self) -> SSHConnection:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()
        await self.wait_closed()

    def disconnect(self, code: int, reason: str) -> None:
        """Send a DISCONNECT with a specific reason code and close."""
        if not self._core.closed:
            self._core.disconnect(code, reason)
            self._process_events()
        self.close()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """Connection details.

        Names: ``peername``, ``sockname``, ``client_version``, ``server_version``, ``kex``,
        ``host_key_algorithm``, ``send_cipher``, ``recv_cipher``, ``send_mac``, ``recv_mac``,
        ``compression``, ``strict_kex``.
        """
        if name == "client_version":
            t = self._core.transport
            return t.peer_version if self._core.is_server else t.local_version
        if name == "server_version":
            t = self._core.transport
            return t.local_version if self._core.is_server else t.peer_version
        return self._extra.get(name, default)

    def _check_open(self) -> None:
        if self.is_closed():
            raise self._error if isinstance(self._error, SSHException) else ConnectionLost("connection is closed")

    # -- channels ---------------------------------------------------------

    async def _open_channel(
        self,
        kind: str,
        extra: bytes,
        chan: Callable[[int], SSHChannel[Any]],
        *,
        window: int | None = None,
        max_packet: int | None = None,
        timeout: float | None = None,
    ) -> tuple[SSHChannel[Any], bytes]:
        self._check_open()
        chan_id = self._core.open_channel(kind, extra, window=window, max_packet=max_packet)
        # Registered before the confirmation arrives: data the peer sends right behind it is held
        # by the channel until its session is attached, never dropped.
        channel = chan(chan_id)
        self._channels[chan_id] = channel
        fut: asyncio.Future[bytes] = self.loop.create_future()
        self._open_waiters[chan_id] = fut
        self._schedule_flush()
        try:
            if timeout is None:
                data = await fut
            else:
                data = await asyncio.wait_for(fut, timeout)
        except BaseException as exc:
            self._open_waiters.pop(chan_id, None)
            if self._channels.get(chan_id) is channel:
                del self._channels[chan_id]
            if chan_id in self._core.channels and not self.is_closed() and not isinstance(exc, ChannelException):
                self._core.channel_close(chan_id, flush=False)
                self._schedule_flush()
            if isinstance(exc, asyncio.TimeoutError):
                raise SSHTimeoutError(f"opening a {kind} channel timed out after {timeout} s") from None
            raise
        return channel, data

    def _accept_env(self, name: str) -> bool:
        """Whether a server accepts an ``env`` request for ``name`` (servers override this)."""
        return False

    def _adopt_channel(self, channel: SSHChannel[Any]) -> None:
        self._channels[channel.id] = channel

    # -- global requests -------------------------------------------------

    async def global_request(self, name: str, data: bytes = b"") -> tuple[bool, bytes]:
        """Send a global request and wait for the answer ``(success, data)``."""
        self._check_open()
        fut: asyncio.Future[tuple[bool, bytes]] = self.loop.create_future()
        self._core.send_global_request(name, data, want_reply=True)
        self._global_waiters.append(fut)
        self._schedule_flush()
        return await fut

    def send_ignore(self, data: bytes = b"") -> None:
        """Send SSH_MSG_IGNORE (traffic the peer discards)."""
        self._check_open()
        self._core.transport.send_ignore(data)
        self._flush()

    # -- key re-exchange ---------------------------------------------------

    async def rekey(self) -> None:
        """Start a key re-exchange (or join the one under way) and wait until it completes."""
        self._check_open()
        fut: asyncio.Future[None] = self.loop.create_future()
        self._rekey_waiters.append(fut)
        try:
            self._core.rekey()
            self._flush()
            await fut
        finally:
            if fut in self._rekey_waiters:
                self._rekey_waiters.remove(fut)

    # -- keepalive --------------------------------------------------------

    def set_keepalive(self, interval: float = 0.0, count_max: int = 3) -> None:
        """Send ``keepalive@openssh.com`` after ``interval`` idle seconds; close after ``count_max`` misses."""
        if interval < 0 or count_max < 1:
            raise ValueError("keepalive interval must be >= 0 and count_max >= 1")
        self._keepalive_interval = interval
        self._keepalive_count_max = count_max
        if self._keepalive_handle is not None:
            self._keepalive_handle.cancel()
            self._keepalive_handle = None
        if interval > 0 and not self._closed:
            self._keepalive_handle = self.loop.call_later(interval, self._keepalive_fire)

    def _keepalive_fire(self) -> None:
        self._keepalive_handle = None
        if self.is_closed() or self._keepalive_interval <= 0:
            return
        idle = self.loop.time() - self._last_received
        if idle >= self._keepalive_interval * 0.99 and self._core.authenticated:
            if self._keepalive_outstanding >= self._keepalive_count_max:
                self._terminate(
                    ConnectionLost(
                        f"no answer to {self._keepalive_outstanding} keepalives"
                        f" ({self._keepalive_interval:g} s apart): peer is unreachable"
                    )
                )
                return
            self._keepalive_outstanding += 1
            try:
                self._core.send_global_request("keepalive@openssh.com", want_reply=True)
                self._global_waiters.append(None)
                self._flush()
            except (SSHException, ChannelClosedError):
                return
        self._keepalive_handle = self.loop.call_later(self._keepalive_interval, self._keepalive_fire)
