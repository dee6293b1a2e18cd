"""Dynamic forwarding: a local SOCKS4, SOCKS4a and SOCKS5 server whose connections go over SSH.

:class:`SOCKSParser` is the sans-I/O server side of the handshake
(``CONNECT`` only, no authentication, as OpenSSH's ``ssh -D``): feed it the
client's bytes, send what :meth:`SOCKSParser.data_to_send` returns, and once
:attr:`SOCKSParser.request` is set open a ``direct-tcpip`` channel to it and
answer with :meth:`SOCKSParser.reply`. :func:`socks_listener` wires it to an
:class:`~blockssh.aio.forward.SSHLocalListener` (what
``SSHClientConnection.forward_socks`` returns).

Limits: :data:`DEFAULT_SOCKS_HANDSHAKE_TIMEOUT` seconds for a client to
complete the handshake, :data:`MAX_HANDSHAKE_BYTES` of handshake.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..exceptions import ChannelException, SOCKSError, SSHException
from ..proto.constants import ChannelOpenFailure
from ..proto.wire import string, uint32
from .channel import SSHTCPChannel
from .forward import (
    DEFAULT_MAX_LISTENER_CONNECTIONS,
    DEFAULT_OPEN_TIMEOUT,
    SocketHalf,
    SSHForwardSession,
    SSHLocalListener,
    open_channel_with_session,
    peer_address,
)

if TYPE_CHECKING:
    from .connection import SSHConnection

__all__ = [
    "DEFAULT_SOCKS_HANDSHAKE_TIMEOUT",
    "MAX_HANDSHAKE_BYTES",
    "SOCKSError",
    "SOCKSParser",
    "SOCKSRequest",
    "socks_listener",
]

logger = logging.getLogger("blockssh.forward")

DEFAULT_SOCKS_HANDSHAKE_TIMEOUT = 30.0  # seconds from accept to a complete CONNECT request
MAX_HANDSHAKE_BYTES = 1024  # a SOCKS4a user id and host name, or SOCKS5 greeting and request, fit easily

# SOCKS4 reply codes
_S4_GRANTED = 90
_S4_REJECTED = 91
# SOCKS5 reply codes (RFC 1928 section 6)
S5_SUCCEEDED = 0
S5_GENERAL_FAILURE = 1
S5_NOT_ALLOWED = 2
S5_NETWORK_UNREACHABLE = 3
S5_HOST_UNREACHABLE = 4
S5_CONNECTION_REFUSED = 5
S5_COMMAND_NOT_SUPPORTED = 7
S5_ADDRESS_TYPE_NOT_SUPPORTED = 8

_NEED_MORE = object()


@dataclass(frozen=True)
class SOCKSRequest:
    """A CONNECT request: where the client wants to go, and which SOCKS version asked."""

    version: int  # 4 (SOCKS4 and 4a) or 5
    host: str
    port: int


class SOCKSParser:
    """The server side of one SOCKS handshake, sans I/O."""

    def __init__(self, max_bytes: int = MAX_HANDSHAKE_BYTES) -> None:
        self._buf = bytearray()
        self._out = bytearray()
        self._max = max_bytes
        self._seen = 0
        self._stage = "start"  # start -> (v5) request -> done
        self.version = 0
        self.request: SOCKSRequest | None = None
        self.leftover = b""  # bytes after the request (a client that did not wait for the reply)

    def data_to_send(self) -> bytes:
        """Bytes to write to the client now."""
        out = bytes(self._out)
        self._out.clear()
        return out

    def feed(self, data: bytes) -> SOCKSRequest | None:
        """Add client bytes; returns the request once complete. Raises :class:`SOCKSError` (a reply may be queued)."""
        if self.request is not None:
            self.leftover += data
            return self.request
        self._seen += len(data)
        self._buf += data
        if self._seen > self._max:
            raise SOCKSError(f"SOCKS handshake longer than {self._max} bytes")
        while True:
            result: object
            if self._stage == "start":
                if not self._buf:
                    return None
                self.version = self._buf[0]
                if self.version == 4:
                    result = self._parse_v4()
                elif self.version == 5:
                    result = self._parse_v5_greeting()
                else:
                    raise SOCKSError(f"unsupported SOCKS version {self.version}")
            else:
                result = self._parse_v5_request()
            if result is _NEED_MORE:
                return None
            if isinstance(result, SOCKSRequest):
                break
        self.request = result
        self.leftover = bytes(self._buf)
        self._buf.clear()
        return result

    def _parse_v4(self) -> object:
        buf = self._buf
        if len(buf) < 9:
            return _NEED_MORE
        command, port = buf[1], struct.unpack_from(">H", buf, 2)[0]
        ip = bytes(buf[4:8])
        user_end = buf.find(b"\0", 8)
        if user_end < 0:
            return _NEED_MORE
        pos = user_end + 1
        if ip[:3] == b"\0\0\0" and ip[3] != 0:  # SOCKS4a: the host name follows
            host_end = buf.find(b"\0", pos)
            if host_end < 0:
                return _NEED_MORE
            host = self._text(buf[pos:host_end])
            pos = host_end + 1
        else:
            host = str(ipaddress.IPv4Address(ip))
        if command != 1:
            self._out += self._v4_reply(_S4_REJECTED)
            raise SOCKSError(f"SOCKS4 command {command} is not supported (CONNECT only)")
        del buf[:pos]
        return SOCKSRequest(4, host, port)

    def _parse_v5_greeting(self) -> object:
        buf = self._buf
        if len(buf) < 2 or len(buf) < 2 + buf[1]:
            return _NEED_MORE
        methods = bytes(buf[2 : 2 + buf[1]])
        del buf[: 2 + len(methods)]
        if 0 not in methods:
            self._out += b"\x05\xff"
            raise SOCKSError("the SOCKS5 client offers no method without authentication")
        self._out += b"\x05\x00"
        self._stage = "request"
        return None

    def _parse_v5_request(self) -> object:
        buf = self._buf
        if len(buf) < 4:
            return _NEED_MORE
        if buf[0] != 5:
            raise SOCKSError(f"SOCKS5 request with version {buf[0]}")
        command, atyp = buf[1], buf[3]
        if atyp == 1:
            end = 4 + 4
        elif atyp == 3:
            if len(buf) < 5:
                return _NEED_MORE
            end = 5 + buf[4]
        elif atyp == 4:
            end = 4 + 16
        else:
            self._out += self._v5_reply(S5_ADDRESS_TYPE_NOT_SUPPORTED)
            raise SOCKSError(f"unknown SOCKS5 address type {atyp}")
        if len(buf) < end + 2:
            return _NEED_MORE
        if command != 1:
            self._out += self._v5_reply(S5_COMMAND_NOT_SUPPORTED)
            raise SOCKSError(f"SOCKS5 command {command} is not supported (CONNECT only)")
        if atyp == 1:
            host = str(ipaddress.IPv4Address(bytes(buf[4:8])))
        elif atyp == 4:
            host = str(ipaddress.IPv6Address(bytes(buf[4:20])))
        else:
            host = self._text(buf[5:end])
        port = struct.unpack_from(">H", buf, end)[0]
        del buf[: end + 2]
        return SOCKSRequest(5, host, port)

    @staticmethod
    def _text(raw: bytes | bytearray) -> str:
        try:
            host = bytes(raw).decode("ascii")
        except UnicodeDecodeError:
            raise SOCKSError("SOCKS host name is not ASCII") from None
        if not host or "\0" in host:
            raise SOCKSError("empty SOCKS host name")
        return host

    @staticmethod
    def _v4_reply(code: int) -> bytes:
        return bytes([0, code]) + bytes(6)

    @staticmethod
    def _v5_reply(code: int) -> bytes:
        return bytes([5, code, 0, 1]) + bytes(6)

    def reply(self, ok: bool, code: int = S5_GENERAL_FAILURE) -> bytes:
        """The answer to the request: success, or failure with a SOCKS5 reply ``code``."""
        if self.version == 4:
            return self._v4_reply(_S4_GRANTED if ok else _S4_REJECTED)
        return self._v5_reply(S5_SUCCEEDED if ok else code)


def reply_code_for(exc: BaseException) -> int:
    """The SOCKS5 reply code for why a channel could not be opened."""
    if isinstance(exc, ChannelException):
        if exc.code == ChannelOpenFailure.ADMINISTRATIVELY_PROHIBITED:
            return S5_NOT_ALLOWED
        if exc.code == ChannelOpenFailure.CONNECT_FAILED:
            return S5_CONNECTION_REFUSED if "refused" in str(exc).lower() else S5_HOST_UNREACHABLE
    return S5_GENERAL_FAILURE


class SOCKSSocketHalf(SocketHalf):
    """An accepted SOCKS client: the handshake first, then a pipe like any forwarded socket."""

    keep_open_on_failure = True

    def __init__(self) -> None:
        super().__init__()
        self.parser = SOCKSParser()
        self.requested: asyncio.Future[SOCKSRequest] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Read the handshake (the base class would hold the input until a channel is attached)."""
        self.requested = asyncio.get_running_loop().create_future()
        super().connection_made(transport)
        if not self.reject:
            self.resume("open")

    def data_received(self, data: bytes) -> None:
        """Handshake bytes, until the request is complete."""
        if self.requested is None or self.requested.done():
            super().data_received(data)
            return
        parser = self.parser
        try:
            request = parser.feed(data)
        except SOCKSError as exc:
            self._send(parser.data_to_send())
            self.requested.set_exception(exc)
            return
        self._send(parser.data_to_send())
        if request is not None:
            self.pause("open")
            if parser.leftover:
                self._pending.append(parser.leftover)
            self.requested.set_result(request)

    def eof_received(self) -> bool:
        """EOF in the middle of the handshake ends it."""
        if self.requested is not None and not self.requested.done():
            self.requested.set_exception(SOCKSError("client closed the connection during the SOCKS handshake"))
            return False
        return super().eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        """Fail a handshake still under way."""
        if self.requested is not None and not self.requested.done():
            self.requested.set_exception(SOCKSError("client went away during the SOCKS handshake"))
        super().connection_lost(exc)

    def _send(self, data: bytes) -> None:
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)


def socks_opener(
    conn: SSHConnection,
    *,
    handshake_timeout: float | None = DEFAULT_SOCKS_HANDSHAKE_TIMEOUT,
    open_timeout: float | None = DEFAULT_OPEN_TIMEOUT,
) -> Callable[[SocketHalf], Awaitable[Any]]:
    """For each accepted SOCKS client: handshake, open ``direct-tcpip``, answer, then pipe."""

    async def opener(sock: SocketHalf) -> None:
        assert isinstance(sock, SOCKSSocketHalf) and sock.requested is not None
        try:
            request = await asyncio.wait_for(asyncio.shield(sock.requested), handshake_timeout)
        except asyncio.TimeoutError:
            raise SOCKSError(f"SOCKS handshake not completed within {handshake_timeout:g} s") from None
        orig_host, orig_port = peer_address(sock)
        extra = string(request.host) + uint32(request.port) + string(orig_host) + uint32(orig_port)
        session = SSHForwardSession(sock)
        session.auto_attach = False

        def make(chan_id: int) -> SSHTCPChannel[Any]:
            chan: SSHTCPChannel[Any] = SSHTCPChannel(conn, chan_id, "direct-tcpip")
            chan._extra.update(  # noqa: SLF001
                remote_peername=(request.host, request.port), local_peername=(orig_host, orig_port)
            )
            return chan

        try:
            chan = await open_channel_with_session(conn, "direct-tcpip", extra, make, session, timeout=open_timeout)
        except (SSHException, OSError) as exc:
            sock._send(sock.parser.reply(False, reply_code_for(exc)))  # noqa: SLF001
            if sock.transport is not None:
                sock.transport.close()
            logger.info("SOCKS connect to %s:%d refused: %s", request.host, request.port, exc)
            return
        sock.attach(chan, sock.parser.reply(True))

    return opener


def socks_listener(
    conn: SSHConnection,
    *,
    handshake_timeout: float | None = DEFAULT_SOCKS_HANDSHAKE_TIMEOUT,
    max_connections: int = DEFAULT_MAX_LISTENER_CONNECTIONS,
) -> SSHLocalListener:
    """A listener (not yet bound) serving SOCKS4/4a/5 CONNECT through ``conn``."""
    return SSHLocalListener(
        socks_opener(conn, handshake_timeout=handshake_timeout),
        protocol_factory=SOCKSSocketHalf,
        max_connections=max_connections,
        what="SOCKS connection",
    )
