"""The blocking :class:`Transport`: one SSH connection, with paramiko's names.

An ``SSHClient`` creates one when it connects; scripts may also build one
from a socket, ``(host, port)`` or ``"host:port"`` and call
:meth:`Transport.connect` (the pysftp and sshtunnel pattern), or drive it step
by step: :meth:`Transport.start_client`, then the ``auth_*`` methods, which
return the list of methods the server still wants (non-empty only on partial
success), as paramiko's do.

Every blocking method is bounded by a timeout (``banner_timeout``,
``handshake_timeout``, ``auth_timeout``, ``channel_timeout`` or an explicit
argument) and raises ``socket.timeout`` (:class:`SSHTimeoutError`) past it.
"""

from __future__ import annotations

import getpass
import logging
import os
import socket
import threading
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..aio.client import DEFAULT_CONNECT_TIMEOUT, SSHClientConnection, SSHClientConnectionOptions, connect_with_options
from ..exceptions import (
    AuthenticationException,
    AuthenticationTimeout,
    BadAuthenticationType,
    ConfigurationError,
    DisconnectError,
    SSHException,
    SSHTimeoutError,
)
from ..keys.message import Message
from ..keys.pkey import PKey, RSAKey, pkey_from_sshkey
from ..proto import events as ev
from ..proto.algorithms.policy import Algorithms
from ..proto.wire import string, uint32
from ._bridge import ChannelBridge
from ._portal import LoopThread, portal
from .channel import Channel

if TYPE_CHECKING:
    from ..aio.channel import SSHChannel

__all__ = [
    "AuthenticationTimeout",
    "DEFAULT_CHANNEL_TIMEOUT",
    "DEFAULT_MAX_PACKET_SIZE",
    "DEFAULT_WINDOW_SIZE",
    "SecurityOptions",
    "Transport",
]

DEFAULT_CHANNEL_TIMEOUT = 3600.0  # paramiko's: the longest a channel open or request may take
DEFAULT_WINDOW_SIZE = 2 * 1024 * 1024
DEFAULT_MAX_PACKET_SIZE = 32 * 1024
_CLOSE_TIMEOUT = 5.0
_NEVER = 1 << 30  # keepalive count that never closes the connection

# A handler for keyboard-interactive prompts: (title, instructions, [(prompt, echo)]) -> answers.
InteractiveHandler = Callable[[str, str, list[tuple[str, bool]]], Sequence[str]]


class SecurityOptions:
    """paramiko's view of a transport's algorithm lists (settable before the handshake).

    ``ciphers``, ``digests`` (MACs), ``key_types`` (host key algorithms), ``kex`` and
    ``compression`` are tuples; assigning a tuple or list of supported names reorders
    or trims the offer. Unknown names raise ``ValueError``.
    """

    _FIELDS = {
        "ciphers": "ciphers",
        "digests": "macs",
        "key_types": "host_key",
        "kex": "kex",
        "compression": "compression",
    }

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def __repr__(self) -> str:
        return f"<blockssh.SecurityOptions for {self._transport!r}>"

    def _get(self, name: str) -> tuple[str, ...]:
        return tuple(getattr(self._transport._algorithms, self._FIELDS[name]))  # noqa: SLF001

    def _set(self, name: str, value: Iterable[str]) -> None:
        if isinstance(value, list):
            value = tuple(value)
        if not isinstance(value, tuple):
            raise TypeError("expected tuple or list")
        try:
            algorithms = self._transport._algorithms.edit(**{self._FIELDS[name]: list(value)})  # noqa: SLF001
        except ConfigurationError as exc:
            raise ValueError(f"unknown {name[:-1] if name.endswith('s') else name}: {exc}") from None
        self._transport._algorithms = algorithms  # noqa: SLF001

    @property
    def ciphers(self) -> tuple[str, ...]:
        """Symmetric ciphers, in preference order."""
        return self._get("ciphers")

    @ciphers.setter
    def ciphers(self, value: Iterable[str]) -> None:
        self._set("ciphers", value)

    @property
    def digests(self) -> tuple[str, ...]:
        """MAC algorithms, in preference order."""
        return self._get("digests")

    @digests.setter
    def digests(self, value: Iterable[str]) -> None:
        self._set("digests", value)

    @property
    def key_types(self) -> tuple[str, ...]:
        """Host key algorithms, in preference order."""
        return self._get("key_types")

    @key_types.setter
    def key_types(self, value: Iterable[str]) -> None:
        self._set("key_types", value)

    @property
    def kex(self) -> tuple[str, ...]:
        """Key exchange methods, in preference order."""
        return self._get("kex")

    @kex.setter
    def kex(self, value: Iterable[str]) -> None:
        self._set("kex", value)

    @property
    def compression(self) -> tuple[str, ...]:
        """Compression methods, in preference order."""
        return self._get("compression")

    @compression.setter
    def compression(self, value: Iterable[str]) -> None:
        self._set("compression", value)


def _connect_tuple(hostname: str, port: int, timeout: float | None) -> socket.socket:
    """Paramiko's constructor behaviour: try each address; SSHException if none answers."""
    reason = "No suitable address family"
    try:
        infos = socket.getaddrinfo(hostname, port, socket.AF_UNSPEC, socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise SSHException(f"Unable to connect to {hostname}: {exc}") from exc
    for family, socktype, proto, _, addr in infos:
        if socktype != socket.SOCK_STREAM:
            continue
        sock = socket.socket(family, socket.SOCK_STREAM, proto)
        sock.settimeout(timeout)
        try:
            sock.connect(addr)
        except OSError as exc:
            sock.close()
            reason = str(exc) or type(exc).__name__
            continue
        return sock
    raise SSHException(f"Unable to connect to {hostname}: {reason}")


class Transport:
    """An SSH connection that channels are opened on (paramiko's ``Transport``, client side).

    Args:
        sock: a connected ``socket.socket``, a ``(host, port)`` tuple or a ``"host[:port]"``
            string (the constructor then connects, trying every address); or what SSH can run
            over: a :class:`Channel` of another connection (``open_channel("direct-tcpip", ...)``,
            a jump host), a :class:`~blockssh.ProxyCommand`, any object with ``send``/``recv``.
        default_window_size: the receive window of new channels.
        default_max_packet_size: the largest data packet we accept on new channels.
        disabled_algorithms: paramiko's ``{"ciphers": [...], "kex": [...], ...}`` mapping.
        server_sig_algs: accepted for compatibility (blockssh always honours ``server-sig-algs``).
        strict_kex: accepted for compatibility (blockssh always offers strict key exchange).
        packetizer_class: accepted for compatibility and ignored.
        gss_kex: must be false (GSS-API is not supported).
        gss_deleg_creds: ignored.
    """

    def __init__(
        self,
        sock: Any,
        default_window_size: int = DEFAULT_WINDOW_SIZE,
        default_max_packet_size: int = DEFAULT_MAX_PACKET_SIZE,
        disabled_algorithms: Mapping[str, Iterable[str]] | None = None,
        server_sig_algs: bool = True,
        strict_kex: bool = True,
        packetizer_class: Any = None,
        gss_kex: bool = False,
        gss_deleg_creds: bool = True,
    ) -> None:
        if gss_kex:
            raise SSHException("GSS-API key exchange is not supported")
        self._portal: LoopThread = portal()
        self._conn: SSHClientConnection | None = None
        self._lock = threading.Lock()
        self._saved_exception: BaseException | None = None
        self._username: str | None = None
        self._keepalive: tuple[float, int] = (0.0, 3)
        self._log_name = "blockssh.transport"
        self.hostname: str | None = None
        self.default_window_size = default_window_size
        self.default_max_packet_size = default_max_packet_size
        self.disabled_algorithms = dict(disabled_algorithms or {})
        self.server_sig_algs = server_sig_algs
        self.advertise_strict_kex = strict_kex
        self.banner_timeout: float | None = 15.0
        self.handshake_timeout: float | None = 15.0
        self.auth_timeout: float | None = 30.0
        self.channel_timeout: float | None = DEFAULT_CHANNEL_TIMEOUT
        self.server_extensions: dict[str, Any] = {}
        self._algorithms = Algorithms().without(self.disabled_algorithms)
        if isinstance(sock, str):
            name, _, port_text = sock.partition(":")
            sock = (name, int(port_text) if port_text else 22)
        if isinstance(sock, tuple):
            self.hostname = str(sock[0])
            sock = _connect_tuple(self.hostname, int(sock[1]), DEFAULT_CONNECT_TIMEOUT)
        self.sock: Any = sock

    def __repr__(self) -> str:
        conn = self._conn
        ident = hex(id(self) & 0xFFFFFFFF)
        if conn is None or conn.is_closed():
            return f"<blockssh.Transport at {ident} (unconnected)>"
        cipher = conn.get_extra_info("send_cipher")
        state = "active" if conn.authenticated else "connected; awaiting auth"
        return f"<blockssh.Transport at {ident} (cipher {cipher}) ({state})>"

    # -- algorithms ----------------------------------------------------------

    def get_security_options(self) -> SecurityOptions:
        """The algorithm lists offered in the handshake (settable before :meth:`start_client`)."""
        return SecurityOptions(self)

    @property
    def preferred_ciphers(self) -> tuple[str, ...]:
        """Ciphers we offer."""
        return self._algorithms.ciphers

    @property
    def preferred_macs(self) -> tuple[str, ...]:
        """MACs we offer."""
        return self._algorithms.macs

    @property
    def preferred_keys(self) -> tuple[str, ...]:
        """Host key algorithms we accept."""
        return self._algorithms.host_key

    @property
    def preferred_pubkeys(self) -> tuple[str, ...]:
        """Signature algorithms we use for publickey authentication."""
        return self._algorithms.signatures

    @property
    def preferred_kex(self) -> tuple[str, ...]:
        """Key exchange methods we offer."""
        return self._algorithms.kex

    @property
    def preferred_compression(self) -> tuple[str, ...]:
        """Compression methods we offer."""
        return self._algorithms.compression

    def use_compression(self, compress: bool = True) -> None:
        """Offer zlib compression (before :meth:`start_client`)."""
        names = ["zlib@openssh.com", "zlib", "none"] if compress else ["none"]
        self._algorithms = self._algorithms.edit(compression=names)

    # -- handshake -----------------------------------------------------------

    def _options(self, handshake_timeout: float | None) -> SSHClientConnectionOptions:
        peer = self.sock.getpeername() if isinstance(self.sock, socket.socket) else ("", 22)
        host = self.hostname or str(peer[0])
        return SSHClientConnectionOptions(
            host=host,
            port=int(peer[1]),
            username=getpass.getuser(),
            client_keys=[],
            load_default_keys=False,
            known_hosts=None,
            host_key_checker=None,  # accept here; SSHClient and connect(hostkey=) check afterwards
            algorithms=self._algorithms.validate(),
            banner_timeout=self.banner_timeout,
            handshake_timeout=handshake_timeout,
            auth_timeout=self.auth_timeout,
            window=self.default_window_size,
            max_packet=self.default_max_packet_size,
            manual_auth=True,
        )

    def start_client(self, event: threading.Event | None = None, timeout: float | None = None) -> None:
        """Negotiate keys with the server (no authentication yet).

        With ``event``, return at once and set the event when negotiation ends (check
        :meth:`is_active` and :meth:`get_exception` then). ``timeout`` bounds the key
        exchange (default :attr:`handshake_timeout`); unlike paramiko, running past it raises
        ``socket.timeout`` instead of returning with the negotiation unfinished.
        """
        from .proxy import aio_sock

        with self._lock:
            if self._conn is not None:
                raise SSHException("the transport has already been started")
        self._portal.check_not_loop_thread("Transport.start_client")
        options = self._options(timeout if timeout is not None else self.handshake_timeout)
        # A socket, a blockssh Channel (a jump host's direct-tcpip channel), a ProxyCommand, or
        # any object with send/recv: see blockssh.sync.proxy.aio_sock.
        coro = connect_with_options(options, sock=aio_sock(self.sock))
        if event is not None:
            future = self._portal.submit(coro)

            def done(fut: Any) -> None:
                try:
                    self._started(fut.result())
                except BaseException as exc:  # noqa: BLE001 - stored for get_exception()
                    self._saved_exception = exc
                event.set()

            future.add_done_callback(done)
            return
        # ``timeout`` bounds the whole negotiation (banner included), as paramiko's does.
        self._started(self._portal.call(coro, timeout, what="SSH negotiation"))

    def _started(self, conn: SSHClientConnection) -> None:
        with self._lock:
            self._conn = conn
        self._portal.register_closer(self)
        interval, count = self._keepalive
        if interval > 0:
            self._portal.call_soon(conn.set_keepalive, interval, count)

    def connect(
        self,
        hostkey: PKey | None = None,
        username: str = "",
        password: str | None = None,
        pkey: PKey | None = None,
        gss_host: str | None = None,
        gss_auth: bool = False,
        gss_kex: bool = False,
        gss_deleg_creds: bool = True,
        gss_trust_dns: bool = True,
    ) -> None:
        """Negotiate, check the host key (only when ``hostkey`` is given) and authenticate.

        Authenticates with ``pkey`` if given, else with ``password`` if given (else not at
        all, as paramiko). An empty ``username`` means the local user.
        """
        if gss_auth or gss_kex:
            raise SSHException("GSS-API authentication is not supported")
        if hostkey is not None:
            options = self.get_security_options()
            if isinstance(hostkey, RSAKey):
                options.key_types = ("rsa-sha2-512", "rsa-sha2-256")
            else:
                options.key_types = (hostkey.get_name(),)
        self.start_client()
        try:
            if hostkey is not None:
                key = self.get_remote_server_key()
                if key.get_name() != hostkey.get_name() or key.asbytes() != hostkey.asbytes():
                    raise SSHException("Bad host key from server")
            user = username or getpass.getuser()
            if pkey is not None:
                self.auth_publickey(user, pkey)
            elif password is not None:
                self.auth_password(user, password)
        except BaseException:
            self.close()
            raise

    # -- state -----------------------------------------------------------------

    def _require(self) -> SSHClientConnection:
        conn = self._conn
        if conn is None or conn.is_closed():
            raise SSHException("No existing session")
        return conn

    @property
    def active(self) -> bool:
        """True while the connection is up (paramiko's attribute)."""
        conn = self._conn
        return conn is not None and not conn.is_closed()

    def is_active(self) -> bool:
        """True while the connection is up."""
        return self.active

    def is_authenticated(self) -> bool:
        """True once authentication succeeded and the connection is up."""
        conn = self._conn
        return conn is not None and not conn.is_closed() and conn.authenticated

    def get_exception(self) -> BaseException | None:
        """Why the connection ended, if it ended abnormally (cleared once read, as paramiko)."""
        exc = self._saved_exception
        if exc is None and self._conn is not None:
            exc = self._conn.error
        self._saved_exception = None
        return exc

    def getpeername(self) -> Any:
        """The server's address."""
        conn = self._conn
        if conn is not None:
            peer = conn.get_extra_info("peername")
            if peer is not None:
                return peer
        getter = getattr(self.sock, "getpeername", None)
        return getter() if getter is not None else ("unknown", 0)

    def get_remote_server_key(self) -> PKey:
        """The server's host key (after :meth:`start_client`)."""
        conn = self._require()
        key = conn.server_host_key
        if key is None:
            raise SSHException("No existing session")
        return pkey_from_sshkey(getattr(key, "key", key))

    @property
    def host_key(self) -> PKey | None:
        """The server's host key, or None before the handshake."""
        try:
            return self.get_remote_server_key()
        except SSHException:
            return None

    @property
    def host_key_type(self) -> str | None:
        """The negotiated host key algorithm."""
        return None if self._conn is None else self._conn.get_extra_info("host_key_algorithm")

    def get_username(self) -> str | None:
        """The user name we authenticated as."""
        return self._username if self.active else None

    def get_banner(self) -> bytes | None:
        """The server's authentication banner, if it sent one."""
        if self._conn is None or self._conn.auth_banner is None:
            return None
        return self._conn.auth_banner.encode("utf-8")

    @property
    def remote_version(self) -> str:
        """The server's identification string."""
        return "" if self._conn is None else str(self._conn.get_extra_info("server_version") or "")

    @property
    def local_version(self) -> str:
        """Our identification string."""
        if self._conn is None:
            return ""
        return str(self._conn.get_extra_info("client_version") or "")

    @property
    def session_id(self) -> bytes | None:
        """The session identifier from the first key exchange."""
        return None if self._conn is None else self._conn._core.transport.session_id  # noqa: SLF001

    @property
    def agreed_on_strict_kex(self) -> bool:
        """True when both sides use strict key exchange (the Terrapin countermeasure)."""
        return bool(self._conn is not None and self._conn.get_extra_info("strict_kex"))

    # -- authentication ------------------------------------------------------

    def _auth_step(self, coro: Coroutine[Any, Any, ev.Event], what: str) -> ev.Event:
        try:
            return self._portal.call(coro, self.auth_timeout, what=what)
        except SSHTimeoutError:
            raise AuthenticationTimeout("Authentication timeout.") from None
        except DisconnectError as exc:
            if isinstance(exc, AuthenticationException):
                raise
            raise AuthenticationException(f"Authentication failed: transport shut down ({exc})") from exc

    def _auth_result(self, reply: ev.Event, method: str, username: str) -> list[str]:
        if isinstance(reply, ev.AuthSuccess):
            self._username = username
            return []
        if isinstance(reply, ev.AuthFailure):
            if reply.partial:
                return list(reply.methods)
            if method not in reply.methods:
                raise BadAuthenticationType("Bad authentication type", list(reply.methods))
            raise AuthenticationException("Authentication failed.", list(reply.methods))
        if isinstance(reply, ev.AuthPasswordChangeRequired):
            raise AuthenticationException("Authentication failed: the server requires a password change")
        raise AuthenticationException(f"Authentication failed: unexpected {type(reply).__name__}")

    def _in_background(self, event: threading.Event, fn: Callable[[], Any]) -> list[str]:
        def run() -> None:
            try:
                fn()
            except BaseException as exc:  # noqa: BLE001 - stored for get_exception()
                self._saved_exception = exc
            event.set()

        threading.Thread(target=run, name="blockssh-auth", daemon=True).start()
        return []

    def auth_none(self, username: str) -> list[str]:
        """Try the ``none`` method; raises :class:`BadAuthenticationType` listing what the server allows."""
        conn = self._require()
        return self._auth_result(self._auth_step(conn.auth_none(username), "auth_none"), "none", username)

    def auth_password(
        self, username: str, password: str, event: threading.Event | None = None, fallback: bool = True
    ) -> list[str]:
        """Authenticate with a password; returns the methods still required (partial success).

        With ``fallback``, a server that does not allow ``password`` but allows
        ``keyboard-interactive`` is answered through that method with the same password.
        """
        if event is not None:
            return self._in_background(event, lambda: self.auth_password(username, password, None, fallback))
        conn = self._require()
        reply = self._auth_step(conn.auth_password(username, password), "auth_password")
        try:
            return self._auth_result(reply, "password", username)
        except BadAuthenticationType as exc:
            if not fallback or "keyboard-interactive" not in exc.allowed_types:
                raise

            def handler(title: str, instructions: str, fields: list[tuple[str, bool]]) -> list[str]:
                if len(fields) > 1:
                    raise SSHException("Fallback authentication failed.")
                return [password] if fields else []

            try:
                return self.auth_interactive(username, handler)
            except SSHException:
                raise exc from None

    def auth_publickey(self, username: str, key: Any, event: threading.Event | None = None) -> list[str]:
        """Authenticate with a private key (a :class:`PKey`); returns the methods still required."""
        if event is not None:
            return self._in_background(event, lambda: self.auth_publickey(username, key))
        conn = self._require()
        return self._auth_result(
            self._auth_step(conn.auth_publickey(username, key), "auth_publickey"), "publickey", username
        )

    def auth_interactive(self, username: str, handler: InteractiveHandler, submethods: str = "") -> list[str]:
        """Keyboard-interactive authentication; ``handler(title, instructions, [(prompt, echo)])`` answers.

        The handler runs in the calling thread (it may prompt the user).
        """
        conn = self._require()
        reply = self._auth_step(conn.auth_kbdint(username, submethods), "auth_interactive")
        while isinstance(reply, ev.AuthInfoRequest):
            answers = list(handler(reply.name, reply.instruction, list(reply.prompts)))
            reply = self._auth_step(conn.auth_kbdint_respond(answers), "auth_interactive")
        return self._auth_result(reply, "keyboard-interactive", username)

    def auth_interactive_dumb(
        self, username: str, handler: InteractiveHandler | None = None, submethods: str = ""
    ) -> list[str]:
        """Keyboard-interactive authentication answered on the terminal (``input()``) by default."""
        if handler is None:

            def handler(title: str, instructions: str, prompts: list[tuple[str, bool]]) -> list[str]:
                if title:
                    print(title.strip())  # noqa: T201 - this method talks to the terminal
                if instructions:
                    print(instructions.strip())  # noqa: T201
                answers = []
                for prompt, _echo in prompts:
                    print(prompt.strip(), end=" ")  # noqa: T201
                    answers.append(input())
                return answers

        return self.auth_interactive(username, handler, submethods)

    # -- channels -------------------------------------------------------------

    def _check_active(self) -> SSHClientConnection:
        conn = self._conn
        if conn is None or conn.is_closed():
            error = None if conn is None else conn.error
            if isinstance(error, SSHException):
                raise error
            raise SSHException("SSH session not active")
        return conn

    def _new_bridge(self) -> ChannelBridge:
        return ChannelBridge(self._portal)

    def open_session(
        self, window_size: int | None = None, max_packet_size: int | None = None, timeout: float | None = None
    ) -> Channel:
        """Open a session channel (then call ``exec_command``, ``invoke_shell``, ...)."""
        return self.open_channel("session", window_size=window_size, max_packet_size=max_packet_size, timeout=timeout)

    def open_channel(
        self,
        kind: str,
        dest_addr: tuple[str, int] | None = None,
        src_addr: tuple[str, int] | None = None,
        window_size: int | None = None,
        max_packet_size: int | None = None,
        timeout: float | None = None,
    ) -> Channel:
        """Open a channel of type ``kind`` (``session``, ``direct-tcpip``, ``x11``, ...).

        ``timeout`` (default :attr:`channel_timeout`) bounds the wait for the server's answer;
        a refusal raises :class:`ChannelException`.
        """
        conn = self._check_active()
        extra = b""
        if kind in ("direct-tcpip", "forwarded-tcpip"):
            if dest_addr is None or src_addr is None:
                raise ValueError(f"{kind} channels need dest_addr and src_addr")
            extra = string(dest_addr[0]) + uint32(int(dest_addr[1])) + string(src_addr[0]) + uint32(int(src_addr[1]))
        elif kind == "x11" and src_addr is not None:
            extra = string(src_addr[0]) + uint32(int(src_addr[1]))
        bridge = self._new_bridge()
        wait = timeout if timeout is not None else self.channel_timeout
        # The timeout is applied on the loop, so a timed-out open has been withdrawn when this raises.
        chan, _ = self._portal.call(
            conn.open_raw_channel(
                kind,
                extra,
                lambda: bridge,
                window=window_size or self.default_window_size,
                max_packet=max_packet_size or self.default_max_packet_size,
                timeout=wait,
            ),
            None,
            what=f"opening a {kind} channel",
        )
        return Channel(self, chan, bridge)

    def _open_exec(
        self,
        command: str,
        *,
        get_pty: bool,
        environment: Mapping[str, str] | None,
        timeout: float | None,
    ) -> Channel:
        """``open_session`` + ``get_pty`` + ``update_environment`` + ``exec_command`` in one trip to the loop."""
        conn = self._check_active()
        bridge = self._new_bridge()
        wait = timeout if timeout is not None else self.channel_timeout
        window, max_packet = self.default_window_size, self.default_max_packet_size

        async def start() -> SSHChannel[Any]:
            chan, _ = await conn.open_raw_channel(
                "session", b"", lambda: bridge, window=window, max_packet=max_packet, timeout=wait
            )
            from ..aio.agent import request_agent_forwarding
            from ..aio.channel import SSHClientChannel

            assert isinstance(chan, SSHClientChannel)
            try:
                if conn.agent_forwarding:  # ForwardAgent from ssh_config
                    request_agent_forwarding(chan)
                if get_pty and not await chan.request_pty("vt100", 80, 24, 0, 0):
                    raise SSHException("the server refused the pty request")
                if environment:
                    chan.set_environment(environment)
                if not await chan.request_exec(command):
                    raise SSHException("the server refused to execute the command")
            except BaseException:
                chan.close()
                raise
            return chan

        chan = self._portal.call(start(), wait, what="exec_command")
        channel = Channel(self, chan, bridge)
        channel.settimeout(timeout)
        return channel

    # -- keepalive, rekey, global requests --------------------------------------

    def set_keepalive(self, interval: float, count_max: int = 3) -> None:
        """Send a keepalive after ``interval`` idle seconds (0 turns keepalives off).

        Unlike paramiko, blockssh counts unanswered keepalives: after ``count_max`` of them
        in a row (OpenSSH's ServerAliveCountMax) the connection is closed and blocked calls
        raise :class:`ConnectionLost`; ``count_max=0`` never gives up.
        """
        interval = float(interval)
        if interval < 0:
            raise ValueError("keepalive interval must be >= 0")
        count = int(count_max) if count_max > 0 else _NEVER
        self._keepalive = (interval, count)
        conn = self._conn
        if conn is not None:
            self._portal.call_soon(conn.set_keepalive, interval, count)

    def renegotiate_keys(self) -> None:
        """Run a new key exchange now and wait for it (bounded by :attr:`handshake_timeout`)."""
        conn = self._check_active()
        try:
            self._portal.call(conn.rekey(), self.handshake_timeout, what="renegotiate_keys")
        except DisconnectError as exc:
            raise SSHException(f"Negotiation failed. ({exc})") from exc

    def send_ignore(self, byte_count: int | None = None) -> None:
        """Send an SSH_MSG_IGNORE of ``byte_count`` random bytes (10-41 by default)."""
        conn = self._check_active()
        count = byte_count if byte_count is not None else 10 + os.urandom(1)[0] % 32
        self._portal.call_soon(conn.send_ignore, os.urandom(count))

    def global_request(self, kind: str, data: Sequence[Any] | None = None, wait: bool = True) -> Message | None:
        """Send a global request; with ``wait``, return the reply's :class:`Message` (None if refused).

        The wait is bounded by :attr:`channel_timeout`.
        """
        conn = self._check_active()
        payload = Message()
        if data is not None:
            payload.add(*data)
        body = payload.asbytes()
        if not wait:

            def send() -> None:
                conn._core.send_global_request(kind, body, want_reply=False)  # noqa: SLF001
                conn._flush()  # noqa: SLF001

            self._portal.call_soon(send)
            return None
        ok, response = self._portal.call(conn.global_request(kind, body), self.channel_timeout, what="global_request")
        return Message(response) if ok else None

    # -- port forwarding (blockssh/sync/forward.py) ---------------------------------

    def request_port_forward(self, address: str, port: int, handler: Callable[..., Any] | None = None) -> int:
        """Ask the server to listen on ``address``:``port`` (0: it picks); returns the bound port.

        Each connection to it arrives as a :class:`Channel`: passed to
        ``handler(channel, (origin_addr, origin_port), (server_addr, server_port))`` on a
        worker thread (never the loop thread), or, without a handler, queued for
        :meth:`accept`. A refusal raises :class:`SSHException`.
        """
        from .forward import remote_forwarding

        return remote_forwarding(self).request(address, port, handler)

    def cancel_port_forward(self, address: str, port: int) -> None:
        """Ask the server to stop listening on ``address``:``port`` (what :meth:`request_port_forward` set up)."""
        from .forward import remote_forwarding

        remote_forwarding(self).cancel(address, port)

    def accept(self, timeout: float | None = None) -> Channel | None:
        """The next channel from a remote forward or an X11 request without a handler.

        Returns None after ``timeout`` seconds or once the transport is closed.
        """
        from .forward import remote_forwarding

        return remote_forwarding(self).accept(timeout)

    # -- SFTP ------------------------------------------------------------------

    def open_sftp_client(self) -> Any:
        """An SFTP client on a new channel (``SFTPClient.from_transport(self)``)."""
        try:
            from .sftp import SFTPClient  # type: ignore[import-not-found,unused-ignore]
        except ImportError as exc:
            raise SSHException("SFTP is not available in this build of blockssh yet") from exc
        return SFTPClient.from_transport(self)

    # -- logging -----------------------------------------------------------------

    def set_log_channel(self, name: str) -> None:
        """Log through the logger ``name``."""
        self._log_name = name

    def get_log_channel(self) -> str:
        """The logger name."""
        return self._log_name

    def set_hexdump(self, hexdump: bool) -> None:
        """Accepted for compatibility (blockssh does not dump packets)."""

    def get_hexdump(self) -> bool:
        """Always False."""
        return False

    def _log(self, level: int, msg: Any, *args: Any) -> None:
        logger = logging.getLogger(self._log_name)
        for line in msg if isinstance(msg, list) else [msg]:
            logger.log(level, line, *args)

    # -- closing -----------------------------------------------------------------

    def close(self) -> None:
        """Close the connection (sends DISCONNECT). Never blocks for long; idempotent."""
        conn = self._conn
        if conn is None:
            close = getattr(self.sock, "close", None)
            if close is not None:  # a socket, a Channel or a ProxyCommand that never carried SSH
                close()
            return
        if conn.is_closed():
            return
        if self._portal.in_loop_thread():
            conn.close()
            return
        try:
            self._portal.call(_close(conn), _CLOSE_TIMEOUT, what="close")
        except SSHException:
            pass

    def stop_thread(self) -> None:
        """Close the connection (paramiko's name)."""
        self.close()

    def atfork(self) -> None:
        """In a forked child: drop this connection without touching the parent's session."""
        sock = self.sock
        if isinstance(sock, socket.socket):
            sock.close()
        self._conn = None

    def _close_at_exit(self) -> None:
        if self._conn is not None and not self._conn.is_closed():
            self._conn.close()

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


async def _close(conn: SSHClientConnection) -> None:
    conn.close()
