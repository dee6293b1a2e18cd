"""The blocking :class:`Transport`: one SSH connection, with paramiko's names.

An ``SSHClient`` creates one when it connects; scripts may also build one
from ``(host, port)`` and call :meth:`Transport.connect` (the pysftp and
sshtunnel pattern).
"""

from __future__ import annotations

import getpass
import socket
from collections.abc import Mapping, Sequence
from typing import Any

from ..aio.client import SSHClientConnection, SSHClientConnectionOptions, connect_with_options
from ..aio.session import SSHClientSession
from ..exceptions import ConnectionLost, SSHException
from ..keys.pkey import PKey, pkey_from_sshkey
from ..proto.algorithms.policy import Algorithms
from ._bridge import ChannelBridge
from ._portal import LoopThread, portal
from .channel import Channel

__all__ = ["Transport", "DEFAULT_CHANNEL_TIMEOUT"]

DEFAULT_CHANNEL_TIMEOUT = 3600.0  # paramiko's: the longest a channel open or request may take
DEFAULT_WINDOW_SIZE = 2 * 1024 * 1024
DEFAULT_MAX_PACKET_SIZE = 32 * 1024


class Transport:
    """An SSH connection that channels are opened on."""

    def __init__(
        self,
        sock: Any = None,
        default_window_size: int = DEFAULT_WINDOW_SIZE,
        default_max_packet_size: int = DEFAULT_MAX_PACKET_SIZE,
        disabled_algorithms: Mapping[str, Sequence[str]] | None = None,
        **_ignored: Any,
    ) -> None:
        self._portal: LoopThread = portal()
        self._conn: SSHClientConnection | None = None
        self._sock = sock
        self.default_window_size = default_window_size
        self.default_max_packet_size = default_max_packet_size
        self.disabled_algorithms = dict(disabled_algorithms or {})
        self.channel_timeout: float | None = DEFAULT_CHANNEL_TIMEOUT
        self.banner_timeout: float | None = 15.0
        self.handshake_timeout: float | None = 15.0
        self.auth_timeout: float | None = 30.0
        self.hostname: str | None = None
        self._keepalive = 0.0

    @classmethod
    def _wrap(cls, conn: SSHClientConnection, loop_thread: LoopThread) -> Transport:
        t = cls.__new__(cls)
        t._portal = loop_thread
        t._conn = conn
        t._sock = None
        t.default_window_size = conn.options.window
        t.default_max_packet_size = conn.options.max_packet
        t.disabled_algorithms = {}
        t.channel_timeout = DEFAULT_CHANNEL_TIMEOUT
        t.banner_timeout = conn.options.banner_timeout
        t.handshake_timeout = conn.options.handshake_timeout
        t.auth_timeout = conn.options.auth_timeout
        t.hostname = conn.options.host
        t._keepalive = 0.0
        loop_thread.register_closer(t)
        return t

    def __repr__(self) -> str:
        if self._conn is None:
            return "<blockssh.Transport (unconnected)>"
        state = "active" if self.is_active() else "closed"
        cipher = self._conn.get_extra_info("send_cipher")
        return f"<blockssh.Transport at {self._conn.options.host}:{self._conn.options.port} ({state}, {cipher})>"

    # -- paramiko's connect flow -------------------------------------------

    def _target(self) -> tuple[str, int]:
        sock = self._sock
        if isinstance(sock, tuple):
            return str(sock[0]), int(sock[1])
        if isinstance(sock, str):
            host, _, port = sock.rpartition(":")
            return (host or sock), int(port or 22)
        if isinstance(sock, socket.socket):
            peer = sock.getpeername()
            return str(peer[0]), int(peer[1])
        raise SSHException("Transport needs a socket, (host, port) or 'host:port'")

    def connect(
        self,
        hostkey: PKey | None = None,
        username: str = "",
        password: str | None = None,
        pkey: PKey | None = None,
        **_ignored: Any,
    ) -> None:
        """Negotiate and authenticate (paramiko's ``Transport.connect``).

        Like paramiko, the host key is checked only when ``hostkey`` is given.
        """
        if self._conn is not None:
            raise SSHException("transport is already connected")
        host, port = self._target()
        self.hostname = host

        def check(_host: str, _port: int, key: Any) -> bool:
            return hostkey is None or pkey_from_sshkey(key) == hostkey

        options = SSHClientConnectionOptions(
            host=host,
            port=port,
            username=username or getpass.getuser(),
            password=password,
            client_keys=[pkey] if pkey is not None else [],
            load_default_keys=False,
            known_hosts=None,
            host_key_checker=check,
            algorithms=Algorithms().without(self.disabled_algorithms),
            banner_timeout=self.banner_timeout,
            handshake_timeout=self.handshake_timeout,
            auth_timeout=self.auth_timeout,
            window=self.default_window_size,
            max_packet=self.default_max_packet_size,
            preferred_auth=("publickey", "password", "keyboard-interactive"),
        )
        sock = self._sock if isinstance(self._sock, socket.socket) else None
        conn = self._portal.call(connect_with_options(options, sock=sock), None, what="connect")
        self._conn = conn
        self._portal.register_closer(self)
        if self._keepalive:
            self.set_keepalive(self._keepalive)

    # -- state -------------------------------------------------------------

    def _require(self) -> SSHClientConnection:
        if self._conn is None:
            raise SSHException("transport is not connected")
        return self._conn

    @property
    def active(self) -> bool:
        """True while the connection is up (paramiko's attribute)."""
        return self._conn is not None and not self._conn.is_closed()

    def is_active(self) -> bool:
        """True while the connection is up."""
        return self.active

    def is_authenticated(self) -> bool:
        """True once authentication succeeded and the connection is up."""
        return self.active and bool(self._conn and self._conn._core.authenticated)  # noqa: SLF001

    def get_exception(self) -> BaseException | None:
        """Why the connection ended, if it ended abnormally."""
        return None if self._conn is None else self._conn.error

    def getpeername(self) -> Any:
        """The server's address."""
        return self._require().get_extra_info("peername")

    def get_remote_server_key(self) -> PKey:
        """The server's host key."""
        conn = self._require()
        if conn.server_host_key is None:
            raise SSHException("no host key yet")
        key = conn.server_host_key
        return pkey_from_sshkey(getattr(key, "key", key))

    def get_username(self) -> str | None:
        """The user name we authenticated as."""
        return None if self._conn is None else self._conn.options.username

    def get_banner(self) -> bytes | None:
        """The server's authentication banner, if it sent one."""
        if self._conn is None or self._conn.auth_banner is None:
            return None
        return self._conn.auth_banner.encode("utf-8")

    @property
    def remote_version(self) -> str | None:
        """The server's identification string."""
        return None if self._conn is None else self._conn.get_extra_info("server_version")

    @property
    def local_version(self) -> str | None:
        """Our identification string."""
        return None if self._conn is None else self._conn.get_extra_info("client_version")

    @property
    def session_id(self) -> bytes | None:
        """The session identifier from the first key exchange."""
        return None if self._conn is None else self._conn._core.transport.session_id  # noqa: SLF001

    def set_keepalive(self, interval: float, count_max: int = 3) -> None:
        """Send keepalives after ``interval`` idle seconds; close after ``count_max`` unanswered ones (0 disables)."""
        self._keepalive = interval
        if self._conn is not None:
            self._portal.call_soon(self._conn.set_keepalive, float(interval), int(count_max))

    def renegotiate_keys(self) -> None:
        """Start a new key exchange now."""
        conn = self._require()

        def rekey() -> None:
            conn._core.rekey()  # noqa: SLF001
            conn._flush()  # noqa: SLF001

        self._portal.call_soon(rekey)

    # -- channels ----------------------------------------------------------

    def open_session(
        self, window_size: int | None = None, max_packet_size: int | None = None, timeout: float | None = None
    ) -> Channel:
        """Open a session channel (then call ``exec_command``, ``invoke_shell``, ...)."""
        conn = self._require()
        if not self.active:
            raise ConnectionLost("transport is closed") if conn.error is None else conn.error
        loop_thread = self._portal
        bridge = ChannelBridge(loop_thread)

        def factory() -> SSHClientSession[Any]:
            return bridge

        wait = timeout if timeout is not None else self.channel_timeout
        chan, _ = loop_thread.call(
            conn.open_session(
                factory,
                window=window_size or self.default_window_size,
                max_packet=max_packet_size or self.default_max_packet_size,
                timeout=wait,
            ),
            None,
            what="open_session",
        )
        return Channel(self, chan, bridge)

    def close(self) -> None:
        """Close the connection (sends DISCONNECT). Never blocks for long."""
        conn = self._conn
        if conn is None or conn.is_closed():
            return
        if self._portal.in_loop_thread():
            conn.close()
            return
        try:
            self._portal.call(_close(conn), 5.0, what="close")
        except SSHException:
            pass

    def _close_at_exit(self) -> None:
        if self._conn is not None and not self._conn.is_closed():
            self._conn.close()

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


async def _close(conn: SSHClientConnection) -> None:
    conn.close()
