"""X11 forwarding (RFC 4254 section 6.3), client and server side.

Client: :meth:`SSHClientConnection.request_x11_forwarding` sends ``x11-req``
on a session channel with a *fake* MIT-MAGIC-COOKIE-1 made up for this
connection. The server then opens ``x11`` channels back to us; each one is
connected to the local display (``$DISPLAY``: ``:N`` is the UNIX socket
``/tmp/.X11-unix/XN``, ``host:N`` is TCP port 6000 + N), and the first
message the remote X client sends (its connection setup) must carry the
fake cookie, which is swapped for the real one from ``$XAUTHORITY`` (or
``~/.Xauthority``) before it reaches the X server. A wrong cookie closes
the channel, so a server cannot use the display without the cookie it was
given. ``x11`` channels that nobody asked for are refused.

Client, second mode (:class:`X11ChannelForwarding`, what paramiko's
``Channel.request_x11`` does): ``request_x11_forwarding(...,
session_factory=...)`` relays to no display; each ``x11`` channel is handed
to a session from the factory, raw (cookie check and relaying are its job).

Server: a session accepts ``x11-req`` in
:meth:`~blockssh.aio.session.SSHServerSession.x11_requested`, then
:func:`start_x11_listener` listens on the first free display number from
``display_offset`` (OpenSSH's X11DisplayOffset, 10) on 127.0.0.1 and opens
an ``x11`` channel to the client for each X client that connects; its
``display`` (``localhost:N.S``) goes into the program's ``DISPLAY``, and the
client's (fake) cookie into its xauth file.

Limits: :data:`MAX_SETUP_BYTES` for the X connection setup.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..exceptions import ConfigurationError, SSHException, X11Error
from ..proto.constants import ChannelOpenFailure
from ..proto.events import ChannelOpenRequest
from ..proto.wire import Reader, boolean, string, uint32
from .channel import SSHChannel, SSHTCPChannel
from .forward import (
    DEFAULT_CONNECT_TIMEOUT,
    SocketHalf,
    SSHForwardSession,
    SSHListener,
    SSHLocalListener,
    accept_by_connecting,
    accept_from_factory,
    local_opener,
    logger,
    peer_address,
    refuse_channel,
    spawn,
)

if TYPE_CHECKING:
    from .connection import SSHConnection

__all__ = [
    "MIT_COOKIE",
    "MAX_SETUP_BYTES",
    "DEFAULT_DISPLAY_OFFSET",
    "DEFAULT_MAX_DISPLAYS",
    "X11Display",
    "X11ChannelForwarding",
    "X11Forwarding",
    "X11ClientForwarding",
    "X11Listener",
    "X11Error",
    "parse_display",
    "read_xauthority",
    "start_x11_listener",
]

MIT_COOKIE = "MIT-MAGIC-COOKIE-1"
MAX_SETUP_BYTES = 64 * 1024  # an X connection setup message is a few dozen bytes
DEFAULT_DISPLAY_OFFSET = 10  # OpenSSH's X11DisplayOffset
DEFAULT_MAX_DISPLAYS = 1000  # OpenSSH's MAX_DISPLAYS
X11_BASE_PORT = 6000
X11_UNIX_DIR = "/tmp/.X11-unix"  # noqa: S108 - the X11 convention

# Xauthority address families
_FAMILY_INTERNET = 0
_FAMILY_INTERNET6 = 6
_FAMILY_LOCAL = 256
_FAMILY_WILD = 65535


@dataclass(frozen=True)
class X11Display:
    """A parsed ``DISPLAY``: UNIX socket path or TCP host, display number, screen."""

    host: str | None  # None: the local UNIX socket
    number: int
    screen: int
    path: str | None = None  # the UNIX socket path (host is None)

    @property
    def port(self) -> int:
        """The TCP port of a TCP display."""
        return X11_BASE_PORT + self.number


def parse_display(display: str) -> X11Display:
    """Parse ``[host]:number[.screen]`` (``unix:N`` and a path before the colon mean a UNIX socket)."""
    if not display or ":" not in display:
        raise X11Error(f"invalid X11 display {display!r}")
    host, _, rest = display.rpartition(":")
    number_text, _, screen_text = rest.partition(".")
    try:
        number = int(number_text)
        screen = int(screen_text) if screen_text else 0
    except ValueError:
        raise X11Error(f"invalid X11 display {display!r}") from None
    if not 0 <= number < 65536 - X11_BASE_PORT or screen < 0:
        raise X11Error(f"invalid X11 display {display!r}")
    if host.startswith("/"):  # a socket path (macOS launchd style)
        return X11Display(None, number, screen, host)
    if host in ("", "unix"):
        return X11Display(None, number, screen, f"{X11_UNIX_DIR}/X{number}")
    return X11Display(host, number, screen)


def read_xauthority(display: X11Display, path: str | None = None) -> tuple[str, bytes] | None:
    """The ``(protocol, cookie)`` for ``display`` from an Xauthority file, or None.

    ``path`` defaults to ``$XAUTHORITY`` or ``~/.Xauthority``. Only
    MIT-MAGIC-COOKIE-1 entries are considered; an entry for this machine or
    a wildcard entry with the display's number wins.
    """
    path = path or os.environ.get("XAUTHORITY") or os.path.expanduser("~/.Xauthority")
    try:
        with open(path, "rb") as f:
            data = f.read(1 << 20)
    except OSError:
        return None
    hostname = socket.gethostname().encode()
    wanted = str(display.number).encode()
    best: tuple[int, bytes] | None = None
    pos = 0
    while pos + 2 <= len(data):
        (family,) = struct.unpack_from(">H", data, pos)
        pos += 2
        fields = []
        for _ in range(4):
            if pos + 2 > len(data):
                return _result(best)
            (n,) = struct.unpack_from(">H", data, pos)
            fields.append(data[pos + 2 : pos + 2 + n])
            pos += 2 + n
        address, number, name, cookie = fields
        if name.decode("latin-1") != MIT_COOKIE or (number and number != wanted):
            continue
        if family == _FAMILY_WILD:
            rank = 1
        elif family == _FAMILY_LOCAL and address == hostname:
            rank = 3
        elif family in (_FAMILY_INTERNET, _FAMILY_INTERNET6) and display.host is not None:
            rank = 2
        else:
            rank = 0
        if best is None or rank > best[0]:
            best = (rank, bytes(cookie))
    return _result(best)


def _result(best: tuple[int, bytes] | None) -> tuple[str, bytes] | None:
    return None if best is None else (MIT_COOKIE, best[1])


def _pad4(n: int) -> int:
    return (4 - n % 4) % 4


def rewrite_setup(data: bytes, fake: tuple[str, bytes], real: tuple[str, bytes] | None) -> bytes | None:
    """Swap the fake cookie in an X connection setup for the real one.

    Returns None while ``data`` is shorter than the whole setup message, else the
    rewritten setup plus whatever followed it. Raises :class:`X11Error` when the
    message does not carry the fake cookie. With no real cookie, the
    authorization is removed (for X servers without access control).
    """
    if len(data) < 12:
        return None
    order = data[0]
    if order == 0x42:
        fmt = ">HH"
    elif order == 0x6C:
        fmt = "<HH"
    else:
        raise X11Error(f"bad X11 byte order mark {order:#x}")
    n, d = struct.unpack_from(fmt, data, 6)
    name_end = 12 + n + _pad4(n)
    end = name_end + d + _pad4(d)
    if len(data) < end:
        return None
    name = data[12 : 12 + n].decode("latin-1")
    cookie = data[name_end : name_end + d]
    if name != fake[0] or not secrets.compare_digest(cookie, fake[1]):
        raise X11Error("X11 connection with the wrong authentication cookie")
    if real is None:
        new_name, new_cookie = b"", b""
    else:
        new_name, new_cookie = real[0].encode("latin-1"), real[1]
    header = data[:6] + struct.pack(fmt, len(new_name), len(new_cookie)) + data[10:12]
    body = new_name + bytes(_pad4(len(new_name))) + new_cookie + bytes(_pad4(len(new_cookie)))
    return header + body + data[end:]


class X11AuthSession(SSHForwardSession):
    """The channel side of a forwarded X11 connection: checks and swaps the cookie, then pipes."""

    def __init__(self, sock: SocketHalf, fake: tuple[str, bytes], real: tuple[str, bytes] | None) -> None:
        super().__init__(sock)
        self._fake = fake
        self._real = real
        self._setup: bytearray | None = bytearray()

    def data_received(self, data: bytes, datatype: int | None) -> None:
        """The first message is the setup: check and rewrite it; the rest passes through."""
        if self._setup is None:
            super().data_received(data, datatype)
            return
        self._setup += data
        try:
            if len(self._setup) > MAX_SETUP_BYTES:
                raise X11Error("X11 connection setup too long")
            rewritten = rewrite_setup(bytes(self._setup), self._fake, self._real)
        except X11Error as exc:
            logger.warning("refusing an X11 connection: %s", exc)
            self._setup = None
            if self.chan is not None:
                self.chan.abort()
            self.sock.abort()
            return
        if rewritten is not None:
            self._setup = None
            super().data_received(rewritten, datatype)


class X11Forwarding:
    """Client side, both modes: the cookie the server is given, single-connection, accepting ``x11`` channels."""

    def __init__(self, auth: tuple[str, str], *, single_connection: bool, screen: int) -> None:
        self.auth = auth  # (protocol, hex cookie) as sent in x11-req
        self.single_connection = single_connection
        self.screen = screen
        self.used = False
        self.tasks: set[asyncio.Task[Any]] = set()

    def request_data(self, screen: int | None = None) -> bytes:
        """The data of our ``x11-req``."""
        number = self.screen if screen is None else screen
        return boolean(self.single_connection) + string(self.auth[0]) + string(self.auth[1]) + uint32(number)

    def on_channel_open(self, conn: SSHConnection, event: ChannelOpenRequest) -> None:
        """The server opened an ``x11`` channel: refuse it past a single connection, else accept it."""
        if self.single_connection and self.used:
            refuse_channel(conn, event.channel, ChannelOpenFailure.ADMINISTRATIVELY_PROHIBITED, "X11 already used")
            return
        self.used = True
        try:
            r = Reader(event.data)
            orig_host = r.get_text() if r.remaining else ""
            orig_port = r.get_uint32() if r.remaining else 0
        except SSHException:
            refuse_channel(conn, event.channel, ChannelOpenFailure.CONNECT_FAILED, "malformed x11 open")
            return

        def make(chan_id: int) -> SSHTCPChannel[Any]:
            chan: SSHTCPChannel[Any] = SSHTCPChannel(conn, chan_id, "x11")
            chan._extra["remote_peername"] = (orig_host, orig_port)  # noqa: SLF001
            return chan

        self._accept(conn, event.channel, make, orig_host, orig_port)

    def _accept(
        self, conn: SSHConnection, chan_id: int, make: Callable[[int], SSHChannel[Any]], orig_host: str, orig_port: int
    ) -> None:
        raise NotImplementedError


class X11ClientForwarding(X11Forwarding):
    """One connection's X11 forwarding to a local display (client side): the display, the real and the fake cookie."""

    def __init__(
        self,
        display: X11Display,
        real: tuple[str, bytes] | None,
        *,
        single_connection: bool = False,
        connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT,
    ) -> None:
        cookie_len = len(real[1]) if real is not None and real[1] else 16
        fake = (MIT_COOKIE, secrets.token_bytes(cookie_len))
        super().__init__((fake[0], fake[1].hex()), single_connection=single_connection, screen=display.screen)
        self.display = display
        self.real = real
        self.fake = fake
        self.connect_timeout = connect_timeout

    @classmethod
    def from_environment(
        cls, display: str | None = None, auth_path: str | None = None, *, single_connection: bool = False
    ) -> X11ClientForwarding:
        """Use ``display`` (default ``$DISPLAY``) and its cookie from ``auth_path`` (default ``$XAUTHORITY``)."""
        name = display if display is not None else os.environ.get("DISPLAY")
        if not name:
            raise X11Error("X11 forwarding needs a display: DISPLAY is not set")
        parsed = parse_display(name)
        return cls(parsed, read_xauthority(parsed, auth_path), single_connection=single_connection)

    def _accept(
        self, conn: SSHConnection, chan_id: int, make: Callable[[int], SSHChannel[Any]], orig_host: str, orig_port: int
    ) -> None:
        """Connect the channel to the display; the X client's setup must carry the fake cookie."""
        display = self.display

        async def connect(factory: Callable[[], SocketHalf]) -> Any:
            loop = asyncio.get_running_loop()
            if display.host is None:
                assert display.path is not None
                return await loop.create_unix_connection(factory, display.path)
            return await loop.create_connection(factory, display.host, display.port)

        spawn(
            self.tasks,
            accept_by_connecting(
                conn,
                chan_id,
                make,
                connect,
                what=f"X11 display {display.path or f'{display.host}:{display.number}'}",
                timeout=self.connect_timeout,
                session_factory=lambda sock: X11AuthSession(sock, self.fake, self.real),
            ),
        )


class X11ChannelForwarding(X11Forwarding):
    """X11 forwarding that hands each ``x11`` channel to a session instead of a display (paramiko's model).

    ``session_factory(orig_host, orig_port)`` returns the session for one channel (or an
    awaitable of one; None refuses it). The session sees the X client's raw stream, its
    connection setup and cookie included: checking the cookie is up to it. The server is
    given ``auth_protocol`` and ``auth_cookie`` (hex text; default: 16 random bytes).
    """

    def __init__(
        self,
        session_factory: Callable[[str, int], Any],
        auth_protocol: str = MIT_COOKIE,
        auth_cookie: str | None = None,
        *,
        single_connection: bool = False,
        screen: int = 0,
    ) -> None:
        if not isinstance(auth_protocol, str) or not auth_protocol:
            raise ConfigurationError(f"invalid X11 authentication protocol {auth_protocol!r}")
        cookie = secrets.token_hex(16) if auth_cookie is None else auth_cookie
        if not isinstance(cookie, str) or not cookie:
            raise ConfigurationError("the X11 authentication cookie must be non-empty text (hex)")
        super().__init__((auth_protocol, cookie), single_connection=single_connection, screen=screen)
        self.session_factory = session_factory

    def _accept(
        self, conn: SSHConnection, chan_id: int, make: Callable[[int], SSHChannel[Any]], orig_host: str, orig_port: int
    ) -> None:
        spawn(self.tasks, accept_from_factory(conn, chan_id, make, self.session_factory, orig_host, orig_port))


# ---------------------------------------------------------------------------------------------
# server side
# ---------------------------------------------------------------------------------------------


class X11Listener(SSHListener):
    """A server-side X11 display whose clients are forwarded to the SSH client (see :func:`start_x11_listener`)."""

    def __init__(self, inner: SSHLocalListener, number: int, screen: int, auth: tuple[str, str]) -> None:
        super().__init__()
        self._inner = inner
        self.display_number = number
        self.screen = screen
        self.auth_protocol, self.auth_cookie = auth

    @property
    def display(self) -> str:
        """The ``DISPLAY`` value for programs: ``localhost:N.S``."""
        return f"localhost:{self.display_number}.{self.screen}"

    def get_port(self) -> int:
        """The TCP port (6000 + display number)."""
        return self._inner.get_port()

    def _do_close(self) -> None:
        self._inner.close()

    async def wait_closed(self) -> None:
        """Wait until the listener is closed."""
        await self._inner.wait_closed()


async def start_x11_listener(
    conn: SSHConnection,
    auth_protocol: str,
    auth_cookie: str,
    screen: int = 0,
    *,
    single_connection: bool = False,
    display_offset: int = DEFAULT_DISPLAY_OFFSET,
    max_displays: int = DEFAULT_MAX_DISPLAYS,
    host: str = "127.0.0.1",
) -> X11Listener:
    """Listen on the first free X11 display from ``display_offset``; forward its clients to the SSH client.

    Each X client that connects gets an ``x11`` channel to the client
    (originator address and port in the open request). With
    ``single_connection`` it stops listening after the first one. Raises
    :class:`X11Error` when no display number is free.
    """
    if not 0 <= display_offset < max_displays <= 65536 - X11_BASE_PORT:
        raise ConfigurationError(f"invalid X11 display range {display_offset}..{max_displays}")

    def make(chan_id: int) -> SSHChannel[Any]:
        return SSHTCPChannel(conn, chan_id, "x11")

    def extra_for(sock: SocketHalf) -> bytes:
        orig_host, orig_port = peer_address(sock)
        if single_connection:  # no more X clients; this one's channel is being opened (close() would drop it)
            inner.stop_accepting()
        return string(orig_host) + uint32(orig_port)

    inner = SSHLocalListener(local_opener(conn, "x11", extra_for, make), what="X11 connection")
    for number in range(display_offset, max_displays):
        try:
            await inner.listen_tcp(host, X11_BASE_PORT + number)
        except SSHException:
            continue
        return X11Listener(inner, number, screen, (auth_protocol, auth_cookie))
    raise X11Error(f"no free X11 display from {display_offset} to {max_displays - 1}")
