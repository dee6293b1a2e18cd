"""The protocol core: one SSH connection, client or server, with no I/O.

Contract (also in docs/sansio.md): after any ``receive_*`` call or any
``send``-like method, the driver **must** write out :meth:`data_to_send` and
**should** handle :meth:`events_received`. Time comes in through
:meth:`tick`; randomness through the ``rng`` argument. Errors caused by the
peer are raised from :meth:`receive_data` as :class:`DisconnectError`
subclasses, after a DISCONNECT message has been queued.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..exceptions import (
    ConnectionLost,
    DisconnectError,
    DisconnectReason,
    MessageOrderError,
    ProtocolError,
    ServiceNotAvailable,
)
from .auth import SERVICE_USERAUTH, ClientAuth
from .auth_server import DEFAULT_MAX_AUTH_TRIES, ServerAuth
from .channels import DEFAULT_MAX_CHANNELS, DEFAULT_MAX_PACKET, DEFAULT_WINDOW, ChannelMux
from .constants import Msg
from .events import AuthReady, Event, GlobalRequest, GlobalRequestReply
from .transport import Transport, TransportOptions
from .wire import Reader, boolean, byte, string

__all__ = ["CoreOptions", "SSHConnectionCore"]

_PACKET_OVERHEAD = 1024  # room for headers, padding and MAC around channel data


@dataclass
class CoreOptions:
    """Everything the core needs to know; each limit has a default."""

    transport: TransportOptions = field(default_factory=TransportOptions)
    window: int = DEFAULT_WINDOW
    max_packet: int = DEFAULT_MAX_PACKET
    max_channels: int = DEFAULT_MAX_CHANNELS
    max_auth_tries: int = DEFAULT_MAX_AUTH_TRIES  # server only
    max_pending_global_requests: int = 64


class SSHConnectionCore:
    """One side of an SSH connection: bytes in, bytes and events out."""

    def __init__(
        self, *, is_server: bool, options: CoreOptions | None = None, rng: Callable[[int], bytes] = os.urandom
    ) -> None:
        self.is_server = is_server
        self.options = options = options or CoreOptions()
        self._events: list[Event] = []
        self.transport = Transport(
            is_server=is_server, options=options.transport, events=self._events, upper=self._on_message, rng=rng
        )
        self.transport.on_kex_complete = self._on_kex_complete
        max_data = options.transport.max_packet_length - _PACKET_OVERHEAD
        self.channels = ChannelMux(
            self.transport.send,
            lambda: not self.transport.kex_in_progress,
            self._events,
            max_channels=options.max_channels,
            max_data_per_packet=max_data,
        )
        self.client_auth: ClientAuth | None = None
        self.server_auth: ServerAuth | None = None
        if is_server:
            self.server_auth = ServerAuth(
                self.transport.send,
                self._events,
                self._session_id,
                self.transport.pause,
                self.transport.resume,
                signature_algorithms=options.transport.algorithms.signatures,
                max_auth_tries=options.max_auth_tries,
            )
        else:
            self.client_auth = ClientAuth(self.transport.send, self._events, self._session_id)
        self._service_requested = False
        self._service_accepted = False
        self.authenticated = False
        self._global_requests_pending = 0
        self._global_replies_owed = 0
        self._handlers: dict[int, Callable[[Any], None]] = self.channels.handlers()
        self._handlers[Msg.GLOBAL_REQUEST] = self._on_global_request
        self._handlers[Msg.REQUEST_SUCCESS] = self._on_global_reply
        self._handlers[Msg.REQUEST_FAILURE] = self._on_global_reply

    # -- driver API ------------------------------------------------------

    def start(self) -> None:
        """Queue the identification line and first KEXINIT."""
        self.transport.start()

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the peer."""
        self.transport.receive_data(data)
        self._flush_channels()

    def receive_eof(self) -> None:
        """The peer closed the byte stream."""
        self.transport.receive_eof()

    def tick(self, now: float) -> None:
        """Pass the current time (monotonic seconds)."""
        self.transport.tick(now)

    def data_to_send(self) -> bytes:
        """Bytes to write to the peer (empty when there are none)."""
        self._flush_channels()
        return self.transport.data_to_send()

    def events_received(self) -> list[Event]:
        """Events since the last call, oldest first."""
        if not self._events:
            return []
        events = self._events[:]
        self._events.clear()
        return events

    @property
    def closed(self) -> bool:
        """True once the connection is over."""
        return self.transport.closed

    def disconnect(self, code: int = DisconnectReason.BY_APPLICATION, reason: str = "") -> None:
        """Send DISCONNECT and stop."""
        self.transport.disconnect(code, reason)

    def rekey(self) -> None:
        """Start a key re-exchange now."""
        self.transport.start_kex()

    def _session_id(self) -> bytes:
        sid = self.transport.session_id
        if sid is None:
            raise MessageOrderError("no session id before the first key exchange")
        return sid

    def _flush_channels(self) -> None:
        if self.channels.pending and not self.transport.kex_in_progress and not self.transport.closed:
            self.channels.flush_all()

    def _guard(self, fn: Callable[[], None]) -> None:
        try:
            fn()
        except DisconnectError as exc:
            self.transport.fail(exc)
            raise

    # -- dispatch --------------------------------------------------------

    def _on_kex_complete(self, initial: bool) -> None:
        if initial and not self.is_server and not self._service_requested:
            self._service_requested = True
            self.transport.send(byte(Msg.SERVICE_REQUEST) + string(SERVICE_USERAUTH))

    def _on_message(self, msg: int, payload: memoryview | bytes) -> None:
        if msg >= Msg.GLOBAL_REQUEST:
            if not self.authenticated:
                raise MessageOrderError(f"connection message {msg} before authentication")
            handler = self._handlers.get(msg)
            if handler is None:
                self.transport.send_unimplemented()
                return
            handler(payload)
            return
        if msg == Msg.SERVICE_REQUEST:
            self._on_service_request(payload)
        elif msg == Msg.SERVICE_ACCEPT:
            self._on_service_accept(payload)
        elif Msg.USERAUTH_REQUEST <= msg <= Msg.USERAUTH_METHOD_LAST:
            if not self._service_accepted:
                raise MessageOrderError(f"authentication message {msg} before the service was accepted")
            if self.server_auth is not None:
                self.server_auth.handle(msg, payload)
            else:
                assert self.client_auth is not None
                if msg == Msg.USERAUTH_REQUEST:
                    raise ProtocolError("server sent USERAUTH_REQUEST")
                self.client_auth.handle(msg, payload)
                if self.client_auth.done and not self.authenticated:
                    self._authenticated()
        else:
            self.transport.send_unimplemented()

    def _on_service_request(self, payload: memoryview | bytes) -> None:
        if not self.is_server:
            raise ProtocolError("server sent SERVICE_REQUEST")
        name = Reader(payload, 1).get_ascii()
        if self._service_accepted or name != SERVICE_USERAUTH:
            raise ServiceNotAvailable(f"service {name!r} not available")
        self._service_accepted = True
        self.transport.send(byte(Msg.SERVICE_ACCEPT) + string(name))

    def _on_service_accept(self, payload: memoryview | bytes) -> None:
        if self.is_server or not self._service_requested or self._service_accepted:
            raise MessageOrderError("unexpected SERVICE_ACCEPT")
        r = Reader(payload, 1)
        name = r.get_ascii() if r.remaining else SERVICE_USERAUTH
        if name != SERVICE_USERAUTH:
            raise ServiceNotAvailable(f"server accepted unexpected service {name!r}")
        self._service_accepted = True
        self.transport.allow_ext_info_in_auth = True
        self._events.append(AuthReady())

    def _authenticated(self) -> None:
        self.authenticated = True
        self.transport.allow_ext_info_in_auth = False
        self.transport.set_authenticated()

    # -- global requests -------------------------------------------------

    def _on_global_request(self, payload: memoryview | bytes) -> None:
        r = Reader(payload, 1)
        name = r.get_ascii()
        want_reply = r.get_boolean()
        data = r.get_remaining()
        if name.startswith("keepalive@") and self._global_replies_owed == 0:
            # Answered here only when no earlier request still awaits its (in-order) reply.
            if want_reply:
                self.transport.send(byte(Msg.REQUEST_FAILURE))
            return
        if want_reply:
            if self._global_replies_owed >= self.options.max_pending_global_requests:
                raise ProtocolError("too many unanswered global requests")
            self._global_replies_owed += 1
        self._events.append(GlobalRequest(name, want_reply, data))

    def _on_global_reply(self, payload: memoryview | bytes) -> None:
        if self._global_requests_pending <= 0:
            raise ProtocolError("unsolicited global request reply")
        self._global_requests_pending -= 1
        self._events.append(GlobalRequestReply(payload[0] == Msg.REQUEST_SUCCESS, bytes(payload[1:])))

    def send_global_request(self, name: str, data: bytes = b"", *, want_reply: bool = True) -> None:
        """Send SSH_MSG_GLOBAL_REQUEST; a reply arrives as :class:`GlobalRequestReply`."""
        self._require_authenticated()
        if want_reply:
            self._global_requests_pending += 1
        self.transport.send(byte(Msg.GLOBAL_REQUEST) + string(name) + boolean(want_reply) + data)

    def reply_global_request(self, success: bool, data: bytes = b"") -> None:
        """Answer the peer's oldest global request that wanted a reply."""
        if self._global_replies_owed <= 0:
            raise MessageOrderError("no global request awaits a reply")
        self._global_replies_owed -= 1
        self.transport.send(byte(Msg.REQUEST_SUCCESS if success else Msg.REQUEST_FAILURE) + (data if success else b""))

    @property
    def global_requests_pending(self) -> int:
        """Our global requests still waiting for a reply (keepalives included)."""
        return self._global_requests_pending

    def _require_authenticated(self) -> None:
        if self.transport.closed:
            raise ConnectionLost("connection is closed")
        if not self.authenticated:
            raise MessageOrderError("not authenticated yet")

    # -- host key (client) -------------------------------------------------

    def accept_host_key(self) -> None:
        """Trust the key reported by :class:`HostKeyReceived`."""
        self._guard(self.transport.accept_host_key)
        self._flush_channels()

    def reject_host_key(self, reason: str = "host key not trusted") -> None:
        """Refuse the server's key; the connection ends."""
        self.transport.reject_host_key(reason)

    # -- user authentication, client ---------------------------------------

    def _client(self) -> ClientAuth:
        if self.client_auth is None:
            raise MessageOrderError("not a client connection")
        if not self._service_accepted:
            raise MessageOrderError("authentication has not started")
        return self.client_auth

    def auth_none(self, username: str) -> None:
        """Request the "none" method."""
        self._client().request_none(username)

    def auth_password(self, username: str, password: str, new_password: str | None = None) -> None:
        """Request password authentication (or answer a password change)."""
        self._client().request_password(username, password, new_password)

    def auth_publickey_query(self, username: str, algorithm: str, key_blob: bytes) -> None:
        """Ask whether this key would be accepted."""
        self._client().query_publickey(username, algorithm, key_blob)

    def auth_publickey_data(self, username: str, algorithm: str, key_blob: bytes) -> bytes:
        """The bytes to sign for a publickey request."""
        return self._client().publickey_data_to_sign(username, algorithm, key_blob)

    def auth_publickey(self, username: str, algorithm: str, key_blob: bytes, signature: bytes) -> None:
        """Send a signed publickey request."""
        self._client().request_publickey(username, algorithm, key_blob, signature)

    def auth_kbdint(self, username: str, submethods: str = "") -> None:
        """Start keyboard-interactive authentication."""
        self._client().request_kbdint(username, submethods)

    def auth_kbdint_respond(self, responses: Sequence[str]) -> None:
        """Answer keyboard-interactive prompts."""
        self._client().respond_kbdint(responses)

    @property
    def server_sig_algs(self) -> list[str] | None:
        """Signature algorithms the server accepts for publickey auth (EXT_INFO), if it said."""
        return self.transport.peer_server_sig_algs

    # -- user authentication, server ---------------------------------------

    def _server(self) -> ServerAuth:
        if self.server_auth is None:
            raise MessageOrderError("not a server connection")
        return self.server_auth

    def auth_accept(self) -> None:
        """Let the client in."""
        auth = self._server()

        def accept() -> None:
            auth.accept()
            self._authenticated()
            self.transport.resume()

        self._guard(accept)
        self._flush_channels()

    def auth_reject(self, methods: Sequence[str] | None = None, *, partial: bool = False) -> None:
        """Refuse the current request; ``methods`` may continue."""
        auth = self._server()
        self._guard(lambda: auth.reject(methods, partial=partial))

    def auth_pk_ok(self, algorithm: str, key_blob: bytes) -> None:
        """Answer a publickey query positively."""
        auth = self._server()
        self._guard(lambda: auth.pk_ok(algorithm, key_blob))

    def auth_info_request(self, name: str, instruction: str, prompts: Sequence[tuple[str, bool]]) -> None:
        """Send keyboard-interactive prompts."""
        auth = self._server()
        self._guard(lambda: auth.info_request(name, instruction, prompts))

    def auth_password_change_request(self, prompt: str) -> None:
        """Ask the client to change its password."""
        auth = self._server()
        self._guard(lambda: auth.password_change_request(prompt))

    def auth_banner(self, message: str) -> None:
        """Send an authentication banner."""
        self._server().banner(message)

    def set_auth_methods(self, methods: Sequence[str]) -> None:
        """Server: the methods listed in failure replies by default."""
        self._server().set_methods(methods)

    # -- channels ----------------------------------------------------------

    def open_channel(
        self, kind: str, extra: bytes = b"", *, window: int | None = None, max_packet: int | None = None
    ) -> int:
        """Open a channel; returns our channel id (see :class:`ChannelOpened`)."""
        self._require_authenticated()
        return self.channels.open(
            kind, extra, window=window or self.options.window, max_packet=max_packet or self.options.max_packet
        )

    def accept_channel(
        self, channel: int, *, window: int | None = None, max_packet: int | None = None, extra: bytes = b""
    ) -> None:
        """Confirm a channel the peer opened."""
        self.channels.accept(
            channel,
            window=window or self.options.window,
            max_packet=max_packet or self.options.max_packet,
            extra=extra,
        )

    def reject_channel(self, channel: int, code: int, reason: str = "") -> None:
        """Refuse a channel the peer opened."""
        self.channels.reject(channel, code, reason)

    def channel_write(self, channel: int, data: bytes | bytearray | memoryview, datatype: int | None = None) -> None:
        """Queue data (or extended data) on a channel."""
        self.channels.write(channel, data, datatype)

    def channel_eof(self, channel: int) -> None:
        """Send EOF after queued data."""
        self.channels.eof(channel)

    def channel_close(self, channel: int, *, flush: bool = True) -> None:
        """Close a channel."""
        self.channels.close(channel, flush=flush)

    def channel_request(self, channel: int, name: str, data: bytes = b"", *, want_reply: bool = False) -> None:
        """Send a channel request."""
        self.channels.request(channel, name, data, want_reply=want_reply)

    def channel_reply(self, channel: int, success: bool) -> None:
        """Answer the peer's oldest channel request."""
        self.channels.reply(channel, success)

    def channel_consumed(self, channel: int, nbytes: int) -> None:
        """The application took ``nbytes`` of received data: reopen the window."""
        self.channels.consumed(channel, nbytes)

    def channel_queued(self, channel: int) -> int:
        """Bytes queued on a channel, waiting for window space."""
        return self.channels.queued(channel)
