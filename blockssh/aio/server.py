"""The asyncio server: :func:`listen`, the :class:`SSHServer` callbacks and :class:`SSHServerConnection`.

:func:`listen` opens listening sockets and returns an :class:`SSHAcceptor`.
Each accepted connection gets its own :class:`SSHServer` object from
``server_factory``; its callbacks decide who may log in and which sessions
to open. Session channels are :class:`~blockssh.aio.channel.SSHServerChannel`
objects driving an :class:`~blockssh.aio.session.SSHServerSession`.

Limits, each with a named default: ``login_timeout`` (:data:`DEFAULT_LOGIN_TIMEOUT`,
OpenSSH's LoginGraceTime), ``max_auth_tries`` (:data:`DEFAULT_MAX_AUTH_TRIES`,
MaxAuthTries), ``max_unauthenticated`` (:data:`DEFAULT_MAX_UNAUTHENTICATED`:
when a new connection would pass it, the oldest unauthenticated connection,
preferring ones that have not even finished key exchange, is closed with
TOO_MANY_CONNECTIONS, so idle connections cannot lock legitimate clients
out), ``max_sessions`` (:data:`DEFAULT_MAX_SESSIONS`, MaxSessions), and the
protocol core's packet, window and channel limits.

Algorithms: by default the server offers :data:`SERVER_DEFAULT_ALGORITHMS`,
a set that ssh-audit passes without failures (only the classical
curve25519 key exchange draws a "not post-quantum" warning; it stays for
OpenSSH clients older than 9.9). ``pq_only=True`` selects
:data:`PQ_ONLY_ALGORITHMS`: ML-KEM hybrid key exchange only, ciphers with
256-bit keys only, EtM MACs, Ed25519 and RSA host keys.
"""

from __future__ import annotations

import asyncio
import fnmatch
import inspect
import logging
import os
import socket
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._version import __version__
from ..exceptions import ConfigurationError, DisconnectReason, KeyImportError
from ..keys import AuthorizedKeyEntry, AuthorizedKeys, SSHCertificate, SSHKey, read_private_key
from ..proto import events as ev
from ..proto.algorithms.policy import Algorithms
from ..proto.auth_server import DEFAULT_MAX_AUTH_TRIES
from ..proto.connection import CoreOptions, SSHConnectionCore
from ..proto.constants import DEFAULT_MAX_PACKET_LENGTH, ChannelOpenFailure
from ..proto.transport import TransportOptions, signature_algorithm_of
from ..proto.version import make_version_line
from .agent import AGENT_REQUEST, AgentListener
from .channel import SSHServerChannel
from .forward_server import ForwardingPolicy, SSHServerForwarding
from .server_auth import (
    KbdintChallenge,
    KeyListSource,
    PrincipalsLookup,
    ServerAuthenticator,
    maybe_await,
    principals_lookup,
    run_guarded,
)
from .session import SSHServerSession, SSHTCPSession, SSHTunTapSession, SSHUNIXSession

__all__ = [
    "listen",
    "SSHAcceptor",
    "SSHServer",
    "SSHServerConnection",
    "SSHServerConnectionOptions",
    "AuthorizedKeysSource",
    "KbdintChallenge",
    "server_algorithms",
    "SERVER_DEFAULT_ALGORITHMS",
    "PQ_ONLY_ALGORITHMS",
    "DEFAULT_LOGIN_TIMEOUT",
    "DEFAULT_MAX_AUTH_TRIES",
    "DEFAULT_MAX_UNAUTHENTICATED",
    "DEFAULT_MAX_SESSIONS",
    "DEFAULT_ACCEPT_ENV",
    "DEFAULT_BACKLOG",
]

logger = logging.getLogger("blockssh.server")

DEFAULT_LOGIN_TIMEOUT = 120.0  # seconds from accept to successful authentication (LoginGraceTime)
DEFAULT_MAX_UNAUTHENTICATED = 100  # connections still authenticating (MaxStartups' hard limit)
DEFAULT_MAX_SESSIONS = 10  # open session channels per connection (MaxSessions)
DEFAULT_ACCEPT_ENV: tuple[str, ...] = ("LANG", "LC_*")  # env requests admitted (AcceptEnv, as Debian ships it)
DEFAULT_BACKLOG = 128
MAX_AUTHORIZED_KEYS_FILE = 1 << 20

_SIGNATURES: tuple[str, ...] = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "rsa-sha2-512",
    "rsa-sha2-256",
)

#: What :func:`listen` offers by default: clean under ssh-audit (only the classical curve25519
#: methods draw a "not post-quantum" warning) and still open to OpenSSH clients back to 6.5.
#: ECDSA host key algorithms come last and are only offered when an ECDSA host key is loaded.
SERVER_DEFAULT_ALGORITHMS = Algorithms(
    kex=("mlkem768x25519-sha256", "curve25519-sha256", "curve25519-sha256@libssh.org"),
    host_key=(
        "ssh-ed25519",
        "rsa-sha2-512",
        "rsa-sha2-256",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
    ),
    ciphers=(
        "chacha20-poly1305@openssh.com",
        "aes128-gcm@openssh.com",
        "aes256-gcm@openssh.com",
        "aes128-ctr",
        "aes192-ctr",
        "aes256-ctr",
    ),
    macs=("hmac-sha2-256-etm@openssh.com", "hmac-sha2-512-etm@openssh.com"),
    compression=("none", "zlib@openssh.com"),
    signatures=_SIGNATURES,
)

#: The post-quantum-only policy (``listen(pq_only=True)``, ``serve --pq-only``): the ML-KEM-768 +
#: X25519 hybrid key exchange only, ciphers with 256-bit keys, SHA-2 EtM MACs, Ed25519 and RSA
#: host keys. Clients need mlkem768x25519-sha256 (OpenSSH 9.9 or later, blockssh).
PQ_ONLY_ALGORITHMS = Algorithms(
    kex=("mlkem768x25519-sha256",),
    host_key=("ssh-ed25519", "rsa-sha2-512", "rsa-sha2-256"),
    ciphers=("chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com", "aes256-ctr"),
    macs=("hmac-sha2-512-etm@openssh.com", "hmac-sha2-256-etm@openssh.com"),
    compression=("none", "zlib@openssh.com"),
    signatures=_SIGNATURES,
)


def server_algorithms(pq_only: bool = False) -> Algorithms:
    """The server's default algorithm policy, or the post-quantum-only one."""
    return PQ_ONLY_ALGORITHMS if pq_only else SERVER_DEFAULT_ALGORITHMS


# ---------------------------------------------------------------------------------------------
# the callbacks
# ---------------------------------------------------------------------------------------------


class SSHServer:
    """Per-connection server callbacks; subclass and override what you need.

    Every ``validate_*``/``get_*``/``begin_auth``/``change_password``/``session_requested``
    callback may return its result directly or an awaitable (define it with ``async def``).
    They run on the event loop: one that would block (a PAM call, a slow
    password hash) should be ``async`` and hand the work to ``loop.run_in_executor``.
    """

    def connection_made(self, conn: SSHServerConnection) -> None:
        """A client connected; ``conn`` is its connection."""

    def connection_lost(self, exc: BaseException | None) -> None:
        """The connection ended; ``exc`` is None for an orderly close."""

    def begin_auth(self, username: str) -> bool | Awaitable[bool]:
        """The client wants to log in as ``username``; return False to let it in without authentication."""
        return True

    def auth_method_chains(self, username: str) -> Sequence[Sequence[str]] | None:
        """Method sequences a client must complete, e.g. ``[["publickey", "password"]]``; None: any one method."""
        return None

    def auth_completed(self) -> None:
        """Authentication succeeded."""

    def password_auth_supported(self) -> bool:
        """Offer the ``password`` method."""
        return False

    def validate_password(self, username: str, password: str) -> bool | Awaitable[bool]:
        """Return True if ``password`` is right for ``username``."""
        return False

    def change_password(self, username: str, old_password: str, new_password: str) -> bool | Awaitable[bool]:
        """The client sent a password change; return True to accept it (and log the client in)."""
        return False

    def public_key_auth_supported(self) -> bool:
        """Offer the ``publickey`` method (it is offered anyway when ``authorized_client_keys`` was given)."""
        return False

    def validate_public_key(
        self, username: str, key: SSHKey | SSHCertificate
    ) -> bool | AuthorizedKeyEntry | None | Awaitable[bool | AuthorizedKeyEntry | None]:
        """Return True if ``key`` may log in as ``username`` (asked when ``authorized_client_keys`` did not admit it).

        The core has already checked the client's signature; this decides authorization only.
        Returning the :class:`AuthorizedKeyEntry` that admitted the key (instead of True) makes
        it ``conn.authorized_key_entry``, so sessions can apply its options.
        """
        return False

    def kbdint_auth_supported(self) -> bool:
        """Offer the ``keyboard-interactive`` method."""
        return False

    def get_kbdint_challenge(
        self, username: str, lang: str, submethods: str
    ) -> bool | KbdintChallenge | Awaitable[bool | KbdintChallenge]:
        """Start keyboard-interactive: ``(name, instruction, lang, [(prompt, echo), ...])``, or True/False."""
        return False

    def validate_kbdint_response(
        self, username: str, responses: list[str]
    ) -> bool | KbdintChallenge | Awaitable[bool | KbdintChallenge]:
        """Check the answers: True, False, or another challenge tuple."""
        return False

    def session_requested(self) -> SSHServerSession[Any] | None | bool | Awaitable[SSHServerSession[Any] | None]:
        """The client opened a session channel: return a session handler, or None/False to refuse."""
        return None

    def validate_ca_certificate(self, username: str, cert: SSHCertificate) -> bool | Awaitable[bool]:
        """A certificate from a ``trusted_user_ca_keys`` CA passed every check; return False to refuse it anyway."""
        return True

    def agent_forwarding_requested(self, chan: SSHServerChannel[Any]) -> bool:
        """A session asks for agent forwarding (only asked when ``listen(agent_forwarding=True)``); True allows.

        Allowed sessions find the forwarded agent's socket in ``chan.get_extra_info("agent_path")``.
        """
        return True

    # -- forwarding (blockssh/aio/forward_server.py dispatches these) ---------------------------
    # Each may return its answer or an awaitable of it. None, the default, leaves the decision to
    # the ForwardingPolicy given to listen(forwarding=...), which refuses everything by default.
    # The client key's authorized_keys restrictions are applied before any of them is asked.

    def connection_requested(
        self, dest_host: str, dest_port: int, orig_host: str, orig_port: int
    ) -> bool | SSHTCPSession[Any] | None | Awaitable[bool | SSHTCPSession[Any] | None]:
        """A ``direct-tcpip`` channel (``ssh -L``, ``-D``).

        True: the server connects to ``dest_host``:``dest_port`` and pipes the channel to it;
        an :class:`SSHTCPSession`: it serves the channel instead; False: refused; None: the policy decides.
        """
        return None

    def server_requested(self, listen_host: str, listen_port: int) -> Any:
        """A ``tcpip-forward`` request (``ssh -R``).

        True: the server listens (where ``gateway_ports`` allows; ``listen_port`` 0 picks a port)
        and forwards each connection to the client; a listener object (with ``get_port()`` and
        ``close()``) set up by the callback; False: refused; None: the policy decides.
        """
        return None

    def unix_connection_requested(
        self, dest_path: str
    ) -> bool | SSHUNIXSession[Any] | None | Awaitable[bool | SSHUNIXSession[Any] | None]:
        """A ``direct-streamlocal@openssh.com`` channel: True connects to ``dest_path`` (see connection_requested)."""
        return None

    def unix_server_requested(self, listen_path: str) -> Any:
        """A ``streamlocal-forward@openssh.com`` request: True listens on ``listen_path``; see ``server_requested``."""
        return None

    def tun_requested(self, unit: int | None) -> bool | SSHTunTapSession | None | Awaitable[Any]:
        """A layer 3 ``tun@openssh.com`` channel for tun device ``unit`` (None: any).

        True: the server opens the tun device (Linux, needs CAP_NET_ADMIN) and joins it to
        the channel; an :class:`SSHTunTapSession` gets the packets instead; False: refused.
        """
        return None

    def tap_requested(self, unit: int | None) -> bool | SSHTunTapSession | None | Awaitable[Any]:
        """A layer 2 ``tun@openssh.com`` channel (Ethernet frames); see :meth:`tun_requested`."""
        return None


# ---------------------------------------------------------------------------------------------
# options
# ---------------------------------------------------------------------------------------------


class AuthorizedKeysSource:
    """Client keys allowed to log in: a file (re-read when it changes, like sshd) or fixed entries."""

    def __init__(self, source: str | os.PathLike[str] | AuthorizedKeys | Iterable[str | os.PathLike[str]]) -> None:
        self._fixed: AuthorizedKeys | None = None
        self._paths: list[str] = []
        if isinstance(source, AuthorizedKeys):
            self._fixed = source
        elif isinstance(source, (str, os.PathLike)):
            self._paths = [os.path.expanduser(os.fspath(source))]
        else:
            self._paths = [os.path.expanduser(os.fspath(p)) for p in source]
        self._stamp: tuple[Any, ...] | None = None
        self._cached = AuthorizedKeys()

    @property
    def paths(self) -> list[str]:
        """The files read (empty for fixed entries)."""
        return list(self._paths)

    def load(self) -> AuthorizedKeys:
        """The current entries, re-reading the files if any changed since the last call."""
        if self._fixed is not None:
            return self._fixed
        stamp = tuple(_stat_stamp(p) for p in self._paths)
        if stamp != self._stamp:
            merged = AuthorizedKeys()
            for path in self._paths:
                loaded = _read_authorized_keys(path)
                merged.entries.extend(loaded.entries)
                merged.errors.extend(loaded.errors)
            self._cached = merged
            self._stamp = stamp
        return self._cached


def _stat_stamp(path: str) -> tuple[Any, ...]:
    try:
        st = os.stat(path)
    except OSError:
        return (None,)
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _read_authorized_keys(path: str) -> AuthorizedKeys:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_AUTHORIZED_KEYS_FILE + 1)
    except FileNotFoundError:
        return AuthorizedKeys()
    except OSError as exc:
        logger.warning("cannot read authorized keys %s: %s", path, exc)
        return AuthorizedKeys()
    if len(data) > MAX_AUTHORIZED_KEYS_FILE:
        logger.warning("authorized keys file %s is larger than %d bytes: ignored", path, MAX_AUTHORIZED_KEYS_FILE)
        return AuthorizedKeys()
    return AuthorizedKeys.from_text(data)


def _software_version() -> str:
    return f"blockssh_{__version__}"


@dataclass
class SSHServerConnectionOptions:
    """Validated server settings, shared by every connection of one :class:`SSHAcceptor`."""

    host_keys: tuple[SSHKey, ...]
    server_factory: Callable[[], SSHServer] = SSHServer
    algorithms: Algorithms = SERVER_DEFAULT_ALGORITHMS
    authorized_client_keys: AuthorizedKeysSource | None = None
    login_timeout: float | None = DEFAULT_LOGIN_TIMEOUT
    max_auth_tries: int = DEFAULT_MAX_AUTH_TRIES
    max_unauthenticated: int = DEFAULT_MAX_UNAUTHENTICATED
    max_sessions: int = DEFAULT_MAX_SESSIONS
    auth_banner: str | None = None
    accept_env: tuple[str, ...] = DEFAULT_ACCEPT_ENV
    line_editor: bool = False
    encoding: str | None = None
    errors: str = "strict"
    window: int = 2 * 1024 * 1024
    max_packet: int = 32 * 1024
    rekey_bytes: int = 1 << 30
    rekey_seconds: float = 3600.0
    keepalive_interval: float = 0.0
    keepalive_count_max: int = 3
    server_version: str = field(default_factory=_software_version)
    forwarding: ForwardingPolicy = field(default_factory=ForwardingPolicy)
    #: Accept ``auth-agent-req@openssh.com`` (AllowAgentForwarding; off by default).
    agent_forwarding: bool = False
    #: Where forwarded agent sockets are made (a private 0700 directory each; default: the temp dir).
    agent_socket_dir: str | None = None
    #: CA keys whose user certificates may log in (TrustedUserCAKeys).
    trusted_user_ca_keys: KeyListSource | None = None
    #: Principals a user's certificate must name (AuthorizedPrincipalsFile); None: the user name.
    authorized_principals: PrincipalsLookup | None = None
    #: Keys (and certificates) refused for authentication (RevokedKeys; an unreadable file refuses every key).
    revoked_keys: KeyListSource | None = None

    def core_options(self) -> CoreOptions:
        """The protocol core's settings."""
        transport = TransportOptions(
            algorithms=self.algorithms,
            software_version=self.server_version,
            rekey_bytes=self.rekey_bytes,
            rekey_seconds=self.rekey_seconds,
            host_keys=self.host_keys,
            server_sig_algs=self.algorithms.signatures,
        )
        return CoreOptions(
            transport=transport, window=self.window, max_packet=self.max_packet, max_auth_tries=self.max_auth_tries
        )


# ---------------------------------------------------------------------------------------------
# the connection
# ---------------------------------------------------------------------------------------------


class SSHServerConnection(SSHServerForwarding):
    """One client's connection: runs authentication through :class:`SSHServer`, then hosts its sessions."""

    def __init__(
        self,
        options: SSHServerConnectionOptions,
        acceptor: SSHAcceptor | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(SSHConnectionCore(is_server=True, options=options.core_options()), loop)
        self.options = options
        self._acceptor = acceptor
        self._server = options.server_factory()
        self._authenticator = ServerAuthenticator(self)
        self._tasks: set[asyncio.Task[None]] = set()
        self._login_timer: asyncio.TimerHandle | None = None
        self._pending_sessions = 0
        self._reading_paused = False
        self._server_notified = False  # connection_made was called, so connection_lost will be
        self._close_waiters: set[asyncio.Future[Any]] = set()
        self._handlers[ev.AuthRequest] = self._on_auth_request
        self._handlers[ev.AuthInfoResponse] = self._on_auth_info_response
        self._agent_listener: AgentListener | None = None  # made on the first agent forwarding request

    # -- public API ----------------------------------------------------------

    @property
    def server(self) -> SSHServer:
        """This connection's :class:`SSHServer` (what ``server_factory`` returned)."""
        return self._server

    @property
    def username(self) -> str | None:
        """The user name the client authenticates (or authenticated) as."""
        return self._authenticator.username

    @property
    def authenticated(self) -> bool:
        """True once the client has logged in."""
        return bool(self._core.authenticated)

    @property
    def auth_methods_used(self) -> list[str]:
        """The methods the client passed, in order (with partial successes)."""
        return list(self._authenticator.completed)

    @property
    def authorized_key_entry(self) -> AuthorizedKeyEntry | None:
        """The ``authorized_client_keys`` line that admitted the client's key: its options still apply."""
        entry = self._authenticator.key_entry
        return entry if isinstance(entry, AuthorizedKeyEntry) else None

    @property
    def client_key(self) -> SSHKey | SSHCertificate | None:
        """The key or certificate the client logged in with (publickey only)."""
        key = self._authenticator.key
        return key if isinstance(key, (SSHKey, SSHCertificate)) else None

    def add_close_waiter(self, waiter: asyncio.Future[Any]) -> None:
        """Make :meth:`wait_closed` also wait for ``waiter`` (e.g. a session's process still exiting)."""
        self._close_waiters.add(waiter)
        waiter.add_done_callback(self._close_waiters.discard)

    async def wait_closed(self) -> None:
        """Wait until the connection is closed and every close waiter is done."""
        await super().wait_closed()
        while self._close_waiters:
            await asyncio.wait(list(self._close_waiters))

    def send_auth_banner(self, message: str) -> None:
        """Send an authentication banner (only before authentication succeeds)."""
        self._core.auth_banner(message)
        self._schedule_flush()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """As for every connection, plus ``"username"`` once known."""
        if name == "username":
            return self.username if self.username is not None else default
        return super().get_extra_info(name, default)

    # -- lifecycle -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Start the handshake, the login timer, and tell the server callbacks."""
        super().connection_made(transport)
        timeout = self.options.login_timeout
        if timeout is not None and timeout > 0:
            self._login_timer = self.loop.call_later(timeout, self._login_timeout_expired)
        if self._acceptor is not None:
            self._acceptor._register(self)  # noqa: SLF001
        if self._closed:
            return
        self._server_notified = True
        try:
            self._server.connection_made(self)
        except Exception:  # noqa: BLE001 - a broken callback ends this connection only
            logger.exception("SSHServer.connection_made failed")
            self.disconnect(DisconnectReason.BY_APPLICATION, "internal server error")

    def _login_timeout_expired(self) -> None:
        self._login_timer = None
        if self._closed or self.authenticated:
            return
        timeout = self.options.login_timeout
        logger.info("login grace time of %g s exceeded for %s", timeout, self._extra.get("peername"))
        self.disconnect(DisconnectReason.CONNECTION_LOST, f"login grace time of {timeout:g} s exceeded")

    def _connection_finished(self, exc: BaseException | None) -> None:
        if self._login_timer is not None:
            self._login_timer.cancel()
            self._login_timer = None
        for task in list(self._tasks):
            task.cancel()
        if self._agent_listener is not None:
            self._agent_listener.close()
        if self._acceptor is not None:
            self._acceptor._remove(self)  # noqa: SLF001
        if not self._server_notified:
            return
        try:
            self._server.connection_lost(exc)
        except Exception:  # noqa: BLE001
            logger.exception("SSHServer.connection_lost failed")

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro, loop=self.loop)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- agent forwarding ----------------------------------------------------------

    def _on_channel_request(self, event: ev.ChannelRequest) -> None:
        if event.request != AGENT_REQUEST:
            super()._on_channel_request(event)
            return
        ok = self._agent_forwarding_requested(event.channel)
        if event.want_reply:
            self._core.channel_reply(event.channel, ok)
            self._schedule_flush()

    def _agent_forwarding_requested(self, chan_id: int) -> bool:
        """``auth-agent-req@openssh.com``: allowed by ``agent_forwarding``, the key's options and the callback."""
        chan = self._channels.get(chan_id)
        if not isinstance(chan, SSHServerChannel) or not self.options.agent_forwarding:
            return False
        entry = self.authorized_key_entry
        if entry is not None and not entry.permit_agent_forwarding:
            return False
        key = self.client_key
        if isinstance(key, SSHCertificate) and "permit-agent-forwarding" not in key.extensions:
            return False
        try:
            if not self._server.agent_forwarding_requested(chan):
                return False
        except Exception:  # noqa: BLE001 - a broken callback refuses
            logger.exception("SSHServer.agent_forwarding_requested failed")
            return False
        if self._agent_listener is None:
            self._agent_listener = AgentListener(self, directory=self.options.agent_socket_dir)
        try:
            path = self._agent_listener.start()
        except OSError as exc:
            logger.warning("cannot create a forwarded agent socket: %s", exc)
            return False
        chan._extra["agent_path"] = path  # noqa: SLF001 - what get_extra_info("agent_path") returns
        return True

    @property
    def agent_path(self) -> str | None:
        """The forwarded agent's socket (``SSH_AUTH_SOCK`` for sessions that asked), once a session asked."""
        return self._agent_listener.path if self._agent_listener is not None else None

    # -- authentication ----------------------------------------------------------

    def _pause_socket(self) -> None:
        if not self._reading_paused and self._transport is not None and not self._transport.is_closing():
            self._reading_paused = True
            self._transport.pause_reading()

    def _resume_socket(self) -> None:
        if self._reading_paused and self._transport is not None and not self._transport.is_closing():
            self._reading_paused = False
            self._transport.resume_reading()

    def _on_auth_request(self, event: ev.AuthRequest) -> None:
        self._pause_socket()
        self._spawn(run_guarded(self, self._authenticator.on_request(event)))

    def _on_auth_info_response(self, event: ev.AuthInfoResponse) -> None:
        self._pause_socket()
        self._spawn(run_guarded(self, self._authenticator.on_info_response(event)))

    def _after_auth_step(self) -> None:
        if self._closed:
            return
        self._process_events()
        self._flush()
        if not self._closed and not self._authenticator.awaiting_answer:
            self._resume_socket()

    def _auth_succeeded(self) -> None:
        if self._login_timer is not None:
            self._login_timer.cancel()
            self._login_timer = None
        self._extra["username"] = self.username
        if self._acceptor is not None:
            self._acceptor._authenticated(self)  # noqa: SLF001
        if self.options.keepalive_interval > 0:
            self.set_keepalive(self.options.keepalive_interval, self.options.keepalive_count_max)
        try:
            self._server.auth_completed()
        except Exception:  # noqa: BLE001
            logger.exception("SSHServer.auth_completed failed")

    # -- sessions ----------------------------------------------------------------

    def _accept_env(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.options.accept_env)

    def _session_count(self) -> int:
        return self._pending_sessions + sum(isinstance(c, SSHServerChannel) for c in self._channels.values())

    def _on_channel_open_request(self, event: ev.ChannelOpenRequest) -> None:
        if event.kind != "session":
            super()._on_channel_open_request(event)  # forwarding and other registered channel types
            return
        if self._session_count() >= self.options.max_sessions:
            self._refuse_channel(
                event.channel, ChannelOpenFailure.RESOURCE_SHORTAGE, f"at most {self.options.max_sessions} sessions"
            )
            return
        try:
            result = self._server.session_requested()
        except Exception:  # noqa: BLE001
            logger.exception("SSHServer.session_requested failed")
            self._refuse_channel(event.channel, ChannelOpenFailure.CONNECT_FAILED, "session failed")
            return
        if inspect.isawaitable(result):
            self._pending_sessions += 1
            self._spawn(self._finish_session_async(event.channel, result))
            return
        self._finish_session(event.channel, result)

    async def _finish_session_async(self, chan_id: int, pending: Awaitable[Any]) -> None:
        try:
            result = await maybe_await(pending)
        except Exception:  # noqa: BLE001
            logger.exception("SSHServer.session_requested failed")
            result = None
        finally:
            self._pending_sessions -= 1
        if not self._closed:
            self._finish_session(chan_id, result)

    def _finish_session(self, chan_id: int, result: Any) -> None:
        if chan_id not in self._core.channels:
            return
        if not isinstance(result, SSHServerSession):
            self._refuse_channel(chan_id, ChannelOpenFailure.ADMINISTRATIVELY_PROHIBITED, "session refused")
            return
        self._core.accept_channel(chan_id)
        chan: SSHServerChannel[Any] = SSHServerChannel(
            self, chan_id, "session", encoding=self.options.encoding, errors=self.options.errors
        )
        chan._allow_line_editor(self.options.line_editor)  # noqa: SLF001
        self._adopt_channel(chan)
        self._schedule_flush()
        chan._set_session(result)  # noqa: SLF001

    def _refuse_channel(self, chan_id: int, code: int, reason: str) -> None:
        self._core.reject_channel(chan_id, code, reason)
        self._schedule_flush()


# ---------------------------------------------------------------------------------------------
# the acceptor
# ---------------------------------------------------------------------------------------------


class SSHAcceptor:
    """What :func:`listen` returns: the listening sockets and the connections they accepted.

    Use as an async context manager, or call :meth:`close` then :meth:`wait_closed`.
    """

    def __init__(self, options: SSHServerConnectionOptions) -> None:
        self.options = options
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[SSHServerConnection] = set()
        self._unauthenticated: OrderedDict[SSHServerConnection, None] = OrderedDict()
        self._lingering: set[SSHServerConnection] = set()
        self._closing = False

    def _make_connection(self) -> SSHServerConnection:
        return SSHServerConnection(self.options, self)

    # -- public API ----------------------------------------------------------

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        """The listening sockets."""
        if self._server is None:
            return ()
        return tuple(getattr(self._server, "sockets", ()) or ())

    def get_port(self) -> int:
        """The port of the first listening socket (useful after ``port=0``)."""
        for sock in self.sockets:
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                return int(sock.getsockname()[1])
        return 0

    @property
    def connections(self) -> frozenset[SSHServerConnection]:
        """The live connections."""
        return frozenset(self._connections)

    @property
    def unauthenticated_count(self) -> int:
        """Connections that have not logged in yet."""
        return len(self._unauthenticated)

    def is_serving(self) -> bool:
        """True while the sockets accept connections."""
        return self._server is not None and self._server.is_serving()

    def close(self) -> None:
        """Stop listening and disconnect every connection."""
        self._closing = True
        if self._server is not None:
            self._server.close()
        for conn in list(self._connections):
            conn.disconnect(DisconnectReason.BY_APPLICATION, "server shutting down")

    async def wait_closed(self) -> None:
        """Wait until the sockets and every connection are closed (and their sessions' processes gone)."""
        if self._server is not None:
            await self._server.wait_closed()
        for conn in list(self._connections | self._lingering):
            await conn.wait_closed()
        self._lingering = {c for c in self._lingering if c._close_waiters}  # noqa: SLF001

    async def __aenter__(self) -> SSHAcceptor:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()
        await self.wait_closed()

    # -- bookkeeping (called by the connections) ---------------------------------

    def _register(self, conn: SSHServerConnection) -> None:
        if self._closing:
            conn.disconnect(DisconnectReason.BY_APPLICATION, "server shutting down")
            return
        self._connections.add(conn)
        self._unauthenticated[conn] = None
        limit = self.options.max_unauthenticated
        while len(self._unauthenticated) > limit:
            victim = self._choose_victim(conn)
            if victim is None:
                break
            self._unauthenticated.pop(victim, None)
            logger.info(
                "too many unauthenticated connections (limit %d): closing %s", limit, victim._extra.get("peername")
            )  # noqa: SLF001
            victim.disconnect(DisconnectReason.TOO_MANY_CONNECTIONS, "too many unauthenticated connections")

    def _choose_victim(self, newcomer: SSHServerConnection) -> SSHServerConnection | None:
        candidates = [c for c in self._unauthenticated if c is not newcomer]
        if not candidates:
            return None
        for conn in candidates:  # oldest first: prefer connections that have not finished key exchange
            if not conn._kex_waiter.done():  # noqa: SLF001
                return conn
        return candidates[0]

    def _authenticated(self, conn: SSHServerConnection) -> None:
        self._unauthenticated.pop(conn, None)

    def _remove(self, conn: SSHServerConnection) -> None:
        self._connections.discard(conn)
        self._unauthenticated.pop(conn, None)
        # A closed connection may still have work finishing (a process exiting): wait_closed() waits for it.
        self._lingering = {c for c in self._lingering if c._close_waiters}  # noqa: SLF001
        if conn._close_waiters:  # noqa: SLF001
            self._lingering.add(conn)


# ---------------------------------------------------------------------------------------------
# listen()
# ---------------------------------------------------------------------------------------------


def _load_host_keys(keys: Any, passphrase: str | bytes | None) -> tuple[SSHKey, ...]:
    if keys is None:
        raise ConfigurationError("server_host_keys is required (paths or private keys)")
    if isinstance(keys, (str, os.PathLike, SSHKey)) or hasattr(keys, "_sshkey"):
        keys = [keys]
    out: list[SSHKey] = []
    for item in keys:
        if isinstance(item, SSHKey):
            key = item
        elif hasattr(item, "_sshkey"):  # a paramiko-style PKey
            key = item._sshkey  # noqa: SLF001
        elif isinstance(item, (str, os.PathLike)):
            path = os.path.expanduser(os.fspath(item))
            try:
                key = read_private_key(path, passphrase)
            except OSError as exc:
                raise ConfigurationError(f"cannot read host key {path!r}: {exc}") from None
            except KeyImportError as exc:
                raise ConfigurationError(f"cannot load host key {path!r}: {exc}") from None
        else:
            raise ConfigurationError(f"cannot use {type(item).__name__} as a host key")
        if not isinstance(key, SSHKey) or not key.has_private:
            raise ConfigurationError("host keys must be private keys")
        if all(key.public_blob != k.public_blob for k in out):
            out.append(key)
    if not out:
        raise ConfigurationError("at least one host key is required")
    return tuple(out)


def _usable_host_key_algorithms(algs: Algorithms, keys: Sequence[SSHKey]) -> list[str]:
    usable = []
    for name in algs.host_key:
        sig = signature_algorithm_of(name)
        if any(sig in key.sig_algorithms and name in (key.algorithm, sig) for key in keys):
            usable.append(name)
    return usable


async def listen(
    host: str | Sequence[str] | None,
    port: int = 22,
    *,
    server_factory: Callable[[], SSHServer] = SSHServer,
    server_host_keys: Any = None,
    passphrase: str | bytes | None = None,
    authorized_client_keys: str | os.PathLike[str] | AuthorizedKeys | Sequence[str | os.PathLike[str]] | None = None,
    pq_only: bool = False,
    algorithms: Algorithms | None = None,
    kex_algs: str | Sequence[str] | None = None,
    encryption_algs: str | Sequence[str] | None = None,
    mac_algs: str | Sequence[str] | None = None,
    compression_algs: str | Sequence[str] | None = None,
    signature_algs: str | Sequence[str] | None = None,
    server_host_key_algs: str | Sequence[str] | None = None,
    disabled_algorithms: Mapping[str, Iterable[str]] | None = None,
    login_timeout: float | None = DEFAULT_LOGIN_TIMEOUT,
    max_auth_tries: int = DEFAULT_MAX_AUTH_TRIES,
    max_unauthenticated: int = DEFAULT_MAX_UNAUTHENTICATED,
    max_sessions: int = DEFAULT_MAX_SESSIONS,
    auth_banner: str | None = None,
    accept_env: Sequence[str] = DEFAULT_ACCEPT_ENV,
    line_editor: bool = False,
    encoding: str | None = None,
    errors: str = "strict",
    window: int = 2 * 1024 * 1024,
    max_packet: int = 32 * 1024,
    rekey_bytes: int = 1 << 30,
    rekey_seconds: float = 3600.0,
    keepalive_interval: float = 0.0,
    keepalive_count_max: int = 3,
    server_version: str | None = None,
    forwarding: ForwardingPolicy | None = None,
    agent_forwarding: bool = False,
    agent_socket_dir: str | None = None,
    trusted_user_ca_keys: Any = None,
    authorized_principals: Any = None,
    revoked_keys: Any = None,
    backlog: int = DEFAULT_BACKLOG,
    reuse_address: bool = True,
    sock: socket.socket | None = None,
) -> SSHAcceptor:
    """Listen for SSH clients on ``host``:``port`` (``port=0`` picks a free port; see :meth:`SSHAcceptor.get_port`).

    ``server_host_keys`` are private keys or paths to them (required).
    ``authorized_client_keys`` (an authorized_keys path, several, or an
    :class:`AuthorizedKeys`) lets matching keys log in, with the file's
    ``from=`` and ``expiry-time`` options applied and the matching line kept
    as ``conn.authorized_key_entry``. Algorithms default to
    :data:`SERVER_DEFAULT_ALGORITHMS` (``pq_only=True``:
    :data:`PQ_ONLY_ALGORITHMS`); ``algorithms`` replaces that base and the
    ``*_algs`` arguments edit it OpenSSH-style (``"+name"``, ``"-name"``,
    ``"^name"``). ``accept_env`` lists the environment variable patterns
    admitted from ``env`` requests. With ``line_editor=True``, sessions that
    request a pty get a :class:`~blockssh.aio.editor.LineEditor`.
    ``forwarding`` (a :class:`~blockssh.aio.forward_server.ForwardingPolicy`)
    says which forwarding requests the default ``SSHServer`` callbacks allow:
    none unless given.

    Certificates and agents (docs/certificates.md, docs/jump-hosts-and-agent.md):
    ``trusted_user_ca_keys`` (a file of CA public keys, keys, or their text; OpenSSH's
    TrustedUserCAKeys) admits user certificates those CAs signed, when valid now, of type
    user, with known critical options only, a ``source-address`` matching the client, and
    a principal that is the user name -- or one ``authorized_principals`` lists (a
    ``username -> names`` callable, or a file path with ``%u``/``%%``, AuthorizedPrincipalsFile).
    ``revoked_keys`` (a file or keys; RevokedKeys, plain key list) refuses those keys, and
    certificates of them or signed by them; an unreadable file refuses every key.
    ``agent_forwarding=True`` accepts ``auth-agent-req@openssh.com``: the session's channel
    then has ``get_extra_info("agent_path")``, a socket (0600, in a private 0700 directory
    under ``agent_socket_dir``) relayed to the client's agent. Raises
    :class:`ConfigurationError` for invalid settings.
    """
    host_keys = _load_host_keys(server_host_keys, passphrase)
    algs = (
        (algorithms or server_algorithms(pq_only))
        .edit(
            kex=kex_algs,
            ciphers=encryption_algs,
            macs=mac_algs,
            compression=compression_algs,
            signatures=signature_algs,
            host_key=server_host_key_algs,
        )
        .without(disabled_algorithms)
    )
    algs = algs.validate()
    if not _usable_host_key_algorithms(algs, host_keys):
        types = ", ".join(sorted({k.algorithm for k in host_keys}))
        raise ConfigurationError(
            f"none of the host keys ({types}) can be used with the host key algorithms {', '.join(algs.host_key)}"
        )
    for name, value in (
        ("max_auth_tries", max_auth_tries),
        ("max_unauthenticated", max_unauthenticated),
        ("max_sessions", max_sessions),
        ("backlog", backlog),
    ):
        if value < 1:
            raise ConfigurationError(f"{name} must be at least 1, not {value}")
    if login_timeout is not None and login_timeout < 0:
        raise ConfigurationError("login_timeout must be >= 0 (or None for no limit)")
    if not 0 < window <= 0xFFFFFFFF or not 0 < max_packet <= DEFAULT_MAX_PACKET_LENGTH - 1024:
        raise ConfigurationError(f"invalid window {window} or max_packet {max_packet}")
    if keepalive_interval < 0 or keepalive_count_max < 1:
        raise ConfigurationError("keepalive_interval must be >= 0 and keepalive_count_max >= 1")
    if isinstance(accept_env, str):
        accept_env = [p.strip() for p in accept_env.split(",") if p.strip()]
    options = SSHServerConnectionOptions(
        host_keys=host_keys,
        server_factory=server_factory,
        algorithms=algs,
        authorized_client_keys=None if authorized_client_keys is None else AuthorizedKeysSource(authorized_client_keys),
        login_timeout=login_timeout,
        max_auth_tries=max_auth_tries,
        max_unauthenticated=max_unauthenticated,
        max_sessions=max_sessions,
        auth_banner=auth_banner,
        accept_env=tuple(accept_env),
        line_editor=line_editor,
        encoding=encoding,
        errors=errors,
        window=window,
        max_packet=max_packet,
        rekey_bytes=rekey_bytes,
        rekey_seconds=rekey_seconds,
        keepalive_interval=keepalive_interval,
        keepalive_count_max=keepalive_count_max,
        server_version=server_version or _software_version(),
        forwarding=forwarding if forwarding is not None else ForwardingPolicy(),
        agent_forwarding=agent_forwarding,
        agent_socket_dir=agent_socket_dir,
        trusted_user_ca_keys=None if trusted_user_ca_keys is None else KeyListSource(trusted_user_ca_keys, "CA keys"),
        authorized_principals=principals_lookup(authorized_principals),
        revoked_keys=None if revoked_keys is None else KeyListSource(revoked_keys, "revoked keys", fail_closed=True),
    )
    try:
        make_version_line(options.server_version)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None
    return await listen_with_options(options, host, port, backlog=backlog, reuse_address=reuse_address, sock=sock)


async def listen_with_options(
    options: SSHServerConnectionOptions,
    host: str | Sequence[str] | None = None,
    port: int = 22,
    *,
    backlog: int = DEFAULT_BACKLOG,
    reuse_address: bool = True,
    sock: socket.socket | None = None,
) -> SSHAcceptor:
    """Listen with a prepared :class:`SSHServerConnectionOptions`."""
    loop = asyncio.get_running_loop()
    acceptor = SSHAcceptor(options)
    if sock is not None:
        server = await loop.create_server(acceptor._make_connection, sock=sock, backlog=backlog)  # noqa: SLF001
    else:
        server = await loop.create_server(
            acceptor._make_connection,  # noqa: SLF001
            host,
            port,
            backlog=backlog,
            reuse_address=reuse_address,
        )
    acceptor._server = server  # noqa: SLF001
    return acceptor
