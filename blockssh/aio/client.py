"""The asyncio client: :func:`connect` and :class:`SSHClientConnection`."""

from __future__ import annotations

import asyncio
import functools
import getpass
import inspect
import os
import socket
import time
from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

from .._version import __version__
from ..exceptions import (
    AuthenticationException,
    BadHostKeyException,
    ChannelException,
    ConfigurationError,
    ConnectionLost,
    DisconnectReason,
    HostKeyNotVerifiable,
    KeyImportError,
    NoValidConnectionsError,
    PasswordRequiredException,
    SSHException,
    SSHTimeoutError,
)
from ..keys import HostKeyVerdict, KeyPair, KnownHosts, PKey, SSHCertificate, SSHKey, check_host_key, read_keypair
from ..proto import events as ev
from ..proto import requests as rq
from ..proto.algorithms.policy import Algorithms
from ..proto.connection import CoreOptions, SSHConnectionCore
from ..proto.transport import TransportOptions
from ..proto.wire import string
from .agent import (
    AGENT_CHANNEL,
    AgentForwarder,
    SSHAgentClient,
    SSHAgentKeyPair,
    default_agent_path,
    load_agent_keys,
    order_identities,
    request_agent_forwarding,
)
from .channel import SSHChannel, SSHClientChannel, SSHTCPChannel
from .client_auth import DEFAULT_PREFERRED_AUTH, ClientAuthenticator, KbdintHandler
from .connection import SSHConnection
from .forward_client import SSHClientForwarding
from .process import SSHCompletedProcess, collect_output
from .session import SSHClientSession

__all__ = [
    "connect",
    "connect_to",
    "SSHClientConnection",
    "SSHClientConnectionOptions",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_BANNER_TIMEOUT",
    "DEFAULT_HANDSHAKE_TIMEOUT",
    "DEFAULT_AUTH_TIMEOUT",
]

DEFAULT_CONNECT_TIMEOUT = 30.0  # TCP connect, per address
DEFAULT_BANNER_TIMEOUT = 15.0  # until the server's identification line
DEFAULT_HANDSHAKE_TIMEOUT = 15.0  # until the first key exchange completes
DEFAULT_AUTH_TIMEOUT = 30.0  # until authentication completes
DEFAULT_KEY_FILES = ("id_ed25519", "id_ecdsa", "id_rsa")

HostKeyChecker = Callable[[str, int, Any], bool | Awaitable[bool]]
_S = TypeVar("_S", bound=SSHClientSession[Any])
_P = ParamSpec("_P")
_DEFAULT = object()


def _software_version() -> str:
    return f"blockssh_{__version__}"


@dataclass
class SSHClientConnectionOptions:
    """Validated client settings (what :func:`connect` builds from its keywords)."""

    host: str
    port: int = 22
    username: str = field(default_factory=getpass.getuser)
    password: str | None = None
    client_keys: list[Any] = field(default_factory=list)  # KeyPair, SSHKey, paths, or (key, cert) pairs
    load_default_keys: bool = True
    passphrase: str | bytes | None = None
    known_hosts: KnownHosts | None = None
    host_key_checker: HostKeyChecker | None = None
    kbdint_handler: KbdintHandler | None = None
    preferred_auth: tuple[str, ...] = DEFAULT_PREFERRED_AUTH
    algorithms: Algorithms = field(default_factory=Algorithms)
    connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT
    banner_timeout: float | None = DEFAULT_BANNER_TIMEOUT
    handshake_timeout: float | None = DEFAULT_HANDSHAKE_TIMEOUT
    auth_timeout: float | None = DEFAULT_AUTH_TIMEOUT
    keepalive_interval: float = 0.0
    keepalive_count_max: int = 3
    rekey_bytes: int = 1 << 30
    rekey_seconds: float = 3600.0
    window: int = 2 * 1024 * 1024
    max_packet: int = 32 * 1024
    client_version: str = field(default_factory=_software_version)
    host_key_alias: str | None = None
    #: Leave authentication to the caller (the ``auth_*`` methods, one attempt each) instead of
    #: running the built-in strategy; :func:`connect_with_options` then returns once the server
    #: has accepted the ``ssh-userauth`` service.
    manual_auth: bool = False
    #: Jump host(s) to reach ``host`` through (see :mod:`blockssh.aio.proxy`): an open
    #: :class:`SSHClientConnection`, ``"[user@]host[:port][,...]"``, or a list of hops.
    tunnel: Any = None
    #: Speak SSH over this command's stdin/stdout (ProxyCommand; a str runs under ``$SHELL -c``).
    proxy_command: str | Sequence[str] | None = None
    #: The ssh-agent socket whose keys are offered first (None: no agent).
    agent_path: str | None = None
    #: Ask the server to forward our agent to every session (``auth-agent-req@openssh.com``).
    agent_forwarding: bool = False
    #: The agent forwarded (default: ``agent_path``, else ``$SSH_AUTH_SOCK``).
    agent_forward_path: str | None = None
    #: Use only agent keys that match ``client_keys`` (IdentitiesOnly).
    identities_only: bool = False

    @property
    def signature_algorithms(self) -> tuple[str, ...]:
        """Signature algorithms we may use for publickey authentication."""
        return self.algorithms.signatures

    def core_options(self) -> CoreOptions:
        """The protocol core's settings."""
        transport = TransportOptions(
            algorithms=self.algorithms,
            software_version=self.client_version,
            rekey_bytes=self.rekey_bytes,
            rekey_seconds=self.rekey_seconds,
        )
        return CoreOptions(transport=transport, window=self.window, max_packet=self.max_packet)


# -- forwarding ----------------------------------------------------------------------------------
# create_connection, open_connection, forward_local_port, forward_remote_port, create_server,
# the UNIX-socket, SOCKS, TUN/TAP and X11 methods: inherited from SSHClientForwarding
# (blockssh/aio/forward_client.py), which also answers the server's forwarded-tcpip,
# forwarded-streamlocal@openssh.com and x11 channel opens.


class SSHClientConnection(SSHClientForwarding):
    """A client connection: authenticates, then opens sessions and forwards (see :class:`SSHClientForwarding`)."""

    def __init__(self, options: SSHClientConnectionOptions, loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(SSHConnectionCore(is_server=False, options=options.core_options()), loop)
        self.options = options
        self._version_waiter: asyncio.Future[None] = self.loop.create_future()
        self._auth_waiter: asyncio.Future[None] = self.loop.create_future()
        self._authenticator = ClientAuthenticator(self)
        self._auth_task: asyncio.Task[None] | None = None
        self._host_key_task: asyncio.Task[None] | None = None
        self.auth_banner: str | None = None
        self.server_host_key: Any = None
        self._auth_ready: asyncio.Future[None] = self.loop.create_future()
        self._manual_replies: asyncio.Queue[ev.Event | None] = asyncio.Queue()
        self._manual_lock = asyncio.Lock()
        on_auth_event = self._manual_replies.put_nowait if options.manual_auth else self._authenticator.on_event
        for kind in (
            ev.AuthFailure,
            ev.AuthSuccess,
            ev.AuthPublicKeyOk,
            ev.AuthInfoRequest,
            ev.AuthPasswordChangeRequired,
        ):
            self._handlers[kind] = on_auth_event
        self._handlers[ev.AuthSuccess] = self._on_auth_success
        self._handlers[ev.AuthReady] = self._on_auth_ready
        self._handlers[ev.AuthBanner] = self._on_auth_banner
        self._handlers[ev.HostKeyReceived] = self._on_host_key
        self._agent_client: SSHAgentClient | None = None  # the agent used for authentication
        self._agent_forwarder: AgentForwarder | None = None
        self._agent_for_sessions = False  # new sessions send auth-agent-req (enable_agent_forwarding)
        self._jump_connections: list[SSHClientConnection] = []  # jump hosts opened for tunnel=; closed with us
        if options.agent_forwarding:
            self.enable_agent_forwarding(options.agent_forward_path or options.agent_path)

    # -- agent ---------------------------------------------------------------

    def enable_agent_forwarding(self, path: str | None = None) -> None:
        """Relay the server's agent channels to the agent at ``path`` (default ``$SSH_AUTH_SOCK``).

        Sessions created afterwards ask the server to forward the agent. Off by default:
        whoever has root on the server can use a forwarded agent while the session lasts.
        """
        forwarder = self._agent_channels()
        if path is not None or forwarder.session_factory is not None:
            forwarder.path = path or default_agent_path()
        forwarder.session_factory = None
        self._agent_for_sessions = True

    def accept_agent_channels(self, session_factory: Callable[[], Any]) -> None:
        """Hand the server's agent channels to ``session_factory()``'s sessions instead of the local agent.

        The session (or an awaitable of one; None refuses the channel) speaks the agent
        protocol itself. Unlike :meth:`enable_agent_forwarding`, new sessions do not ask
        for forwarding: send ``auth-agent-req@openssh.com`` on the channels that should
        have it. Replaces a relay set up by :meth:`enable_agent_forwarding` (and back).
        """
        self._agent_channels().session_factory = session_factory

    def _agent_channels(self) -> AgentForwarder:
        if self._agent_forwarder is None:
            self._agent_forwarder = AgentForwarder(self, default_agent_path())
            self._channel_openers[AGENT_CHANNEL] = self._agent_forwarder.channel_requested
        return self._agent_forwarder

    @property
    def agent_forwarding(self) -> bool:
        """True when sessions ask the server to forward our agent."""
        return self._agent_for_sessions

    async def _gather_client_keys(self, errors: list[tuple[str, BaseException, bool]]) -> list[Any]:
        """The identities to offer: agent keys (OpenSSH's order, see :func:`order_identities`), then key files."""
        file_keys = self._load_client_keys(errors)
        path = self.options.agent_path
        if not path:
            return file_keys
        self._agent_client, agent_keys = await load_agent_keys(path, errors)
        return order_identities(agent_keys, file_keys, identities_only=self.options.identities_only)

    async def wait_closed(self) -> None:
        """Wait until the connection is closed, and the jump hosts it opened (``tunnel=``) with it."""
        await super().wait_closed()
        for jump in list(self._jump_connections):
            await jump.wait_closed()

    def _close_agent(self) -> None:
        agent, self._agent_client = self._agent_client, None
        if agent is not None:
            agent.close()

    # -- handshake ---------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        """Feed the core; note when the server's identification line has arrived."""
        super().data_received(data)
        if not self._version_waiter.done() and self._core.transport.peer_version is not None:
            self._version_waiter.set_result(None)

    def _on_host_key(self, event: ev.HostKeyReceived) -> None:
        self.server_host_key = event.key
        self._host_key_task = self.loop.create_task(self._check_host_key(event.key))

    async def _check_host_key(self, key: Any) -> None:
        try:
            trusted = await self._verify_host_key(key)
        except BaseException as exc:  # noqa: BLE001 - any failure means the key is not trusted
            error = exc if isinstance(exc, SSHException) else HostKeyNotVerifiable(f"host key check failed: {exc!r}")
            self._reject_host_key(error)
            if not isinstance(exc, Exception):
                raise
            return
        if trusted:
            try:
                self._core.accept_host_key()
            except SSHException as exc:
                self._terminate(exc)
                return
            self._process_events()
            self._flush()
        else:
            self._reject_host_key(HostKeyNotVerifiable(f"Host key is not trusted for host {self._host_label()}"))

    def _host_label(self) -> str:
        o = self.options
        return o.host if o.port == 22 else f"[{o.host}]:{o.port}"

    def _reject_host_key(self, error: SSHException) -> None:
        self._error = error
        self._core.reject_host_key(str(error))
        self._process_events()
        self._terminate(error)

    async def _verify_host_key(self, key: Any) -> bool:
        o = self.options
        host = o.host_key_alias or o.host
        if o.known_hosts is not None:
            addr = (self._extra.get("peername") or (None,))[0]
            verdict = check_host_key(o.known_hosts, host, o.port, key, time.time(), addr=addr)
            if verdict is HostKeyVerdict.TRUSTED:
                return True
            if verdict is HostKeyVerdict.REVOKED:
                raise HostKeyNotVerifiable(f"host key for {self._host_label()} is revoked")
            if verdict is HostKeyVerdict.MISMATCH:
                expected = o.known_hosts.match(host, o.port, addr).trusted_keys
                raise BadHostKeyException(self._host_label(), key, expected[0] if expected else None)
        elif o.host_key_checker is None:
            return True  # known_hosts=None and no checker: checking is off
        if o.host_key_checker is None:
            return False
        result = o.host_key_checker(host, o.port, key)
        if inspect.isawaitable(result):
            result = await result
        return bool(result)

    def _on_auth_ready(self, event: ev.AuthReady) -> None:
        if not self._auth_ready.done():
            self._auth_ready.set_result(None)
        if not self.options.manual_auth:
            self._auth_task = self.loop.create_task(self._authenticate())

    def _on_auth_banner(self, event: ev.AuthBanner) -> None:
        self.auth_banner = (self.auth_banner or "") + event.message

    async def _authenticate(self) -> None:
        try:
            await self._authenticator.run()
        except AuthenticationException as exc:
            if not self._auth_waiter.done():
                self._auth_waiter.set_exception(exc)
            self.disconnect(DisconnectReason.NO_MORE_AUTH_METHODS_AVAILABLE, "no more authentication methods")
        except Exception as exc:  # noqa: BLE001 - reported to the waiter
            if not self._auth_waiter.done():
                self._auth_waiter.set_exception(exc)
            self.close()
        finally:
            self._close_agent()

    def _on_auth_success(self, event: ev.AuthSuccess) -> None:
        if self.options.manual_auth:
            self._manual_replies.put_nowait(event)
        else:
            self._authenticator.on_event(event)
        if not self._auth_waiter.done():
            self._auth_waiter.set_result(None)
        if self.options.keepalive_interval > 0:
            self.set_keepalive(self.options.keepalive_interval, self.options.keepalive_count_max)

    def _connection_finished(self, exc: BaseException | None) -> None:
        failure = exc or ConnectionLost("connection closed")
        for waiter in (self._version_waiter, self._auth_waiter, self._auth_ready):
            if not waiter.done():
                waiter.set_exception(failure)
                waiter.exception()
        self._manual_replies.put_nowait(None)  # wakes a manual auth step: the connection is over
        self._close_agent()
        if self._agent_forwarder is not None:
            self._agent_forwarder.close()
        for jump in self._jump_connections:
            jump.close()
        for task in (self._auth_task, self._host_key_task):
            if task is not None and not task.done():
                task.cancel()

    def _load_client_keys(self, errors: list[tuple[str, BaseException, bool]]) -> list[KeyPair | SSHAgentKeyPair]:
        """The identities to offer, loading files now.

        Errors are collected as ``(what, exception, explicit)``, not raised: ``explicit`` is True for
        keys the caller named (their failures are reported if authentication fails).
        """
        o = self.options
        out: list[KeyPair | SSHAgentKeyPair] = []
        seen: set[bytes] = set()
        sources: list[Any] = list(o.client_keys)
        if o.load_default_keys and not o.client_keys:
            home = os.path.expanduser("~/.ssh")
            sources += [
                os.path.join(home, name) for name in DEFAULT_KEY_FILES if os.path.exists(os.path.join(home, name))
            ]
        explicit = len(o.client_keys)
        for index, source in enumerate(sources):
            try:
                pair = _to_keypair(source, o.passphrase)
            except (PasswordRequiredException, KeyImportError, OSError) as exc:
                what = os.fspath(source) if isinstance(source, (str, os.PathLike)) else type(source).__name__
                errors.append((what, exc, index < explicit))
                continue
            if pair.public_blob not in seen:
                seen.add(pair.public_blob)
                out.append(pair)
        return out

    async def wait_established(self) -> None:
        """Wait for the banner, key exchange and authentication, each with its timeout.

        With ``manual_auth``, wait until authentication may start instead of for its end.
        """
        o = self.options
        label = f"{o.host}:{o.port}"
        await _step(self._version_waiter, o.banner_timeout, f"no SSH identification string from {label}", self)
        await _step(self._kex_waiter, o.handshake_timeout, f"key exchange with {label} did not complete", self)
        if o.manual_auth:
            await _step(self._auth_ready, o.handshake_timeout, f"{label} did not accept ssh-userauth", self)
        else:
            await _step(self._auth_waiter, o.auth_timeout, f"authentication with {label} did not complete", self)

    # -- step-by-step authentication (manual_auth) ---------------------------

    @property
    def authenticated(self) -> bool:
        """True once the server accepted our authentication."""
        return bool(self._core.authenticated)

    async def _auth_exchange(self, send: Callable[[], Awaitable[None] | None]) -> ev.Event:
        """Send one authentication request and return the server's answer (one attempt, no retries).

        The answer is :class:`~blockssh.proto.events.AuthSuccess`, ``AuthFailure``, ``AuthInfoRequest``
        or ``AuthPasswordChangeRequired``. Cancelling (a timeout) leaves the exchange in an unknown
        state, so the connection is closed then.
        """
        if not self.options.manual_auth:
            raise ConfigurationError("step-by-step authentication needs manual_auth=True")
        async with self._manual_lock:
            await asyncio.shield(self._auth_ready)
            self._check_open()
            if self._core.authenticated:
                return ev.AuthSuccess()
            try:
                sent = send()
                if sent is not None:
                    await sent
                self._flush()
                while True:
                    reply = await self._manual_replies.get()
                    if reply is None:  # the connection ended
                        self._check_open()
                        continue
                    if isinstance(reply, ev.AuthPublicKeyOk):
                        continue  # we never send queries; ignore a stray PK_OK
                    return reply
            except asyncio.CancelledError:
                self.abort()
                raise

    async def auth_none(self, username: str) -> ev.Event:
        """Try the ``none`` method (it succeeds only on servers that want no authentication)."""
        return await self._auth_exchange(lambda: self._core.auth_none(username))

    async def auth_password(self, username: str, password: str) -> ev.Event:
        """Try one password."""
        return await self._auth_exchange(lambda: self._core.auth_password(username, password))

    async def auth_publickey(self, username: str, key: Any) -> ev.Event:
        """Try one key (a :class:`PKey`, :class:`SSHKey`, :class:`KeyPair` or a path), signed with the best algorithm.

        RSA keys sign with the SHA-2 algorithm the server lists in ``server-sig-algs``.
        """
        pair = _to_keypair(key, self.options.passphrase)

        async def send() -> None:
            algorithms = self._authenticator._signature_algorithms(pair)  # noqa: SLF001 - connect()'s choice
            if not algorithms:
                raise AuthenticationException(f"no acceptable signature algorithm for a {pair.key.algorithm} key")
            algorithm = algorithms[0]
            data = self._core.auth_publickey_data(username, algorithm, pair.public_blob)
            signature = await _maybe_await(pair.sign(data, algorithm))
            self._core.auth_publickey(username, algorithm, pair.public_blob, signature)

        return await self._auth_exchange(send)

    async def auth_kbdint(self, username: str, submethods: str = "") -> ev.Event:
        """Start keyboard-interactive authentication; answer prompts with :meth:`auth_kbdint_respond`."""
        return await self._auth_exchange(lambda: self._core.auth_kbdint(username, submethods))

    async def auth_kbdint_respond(self, answers: Sequence[str]) -> ev.Event:
        """Answer the prompts of the last ``AuthInfoRequest``."""
        return await self._auth_exchange(lambda: self._core.auth_kbdint_respond([str(a) for a in answers]))

    # -- raw channels and key re-exchange ------------------------------------

    async def open_raw_channel(
        self,
        kind: str,
        extra: bytes,
        session_factory: Callable[[], _S],
        *,
        window: int | None = None,
        max_packet: int | None = None,
        timeout: float | None = None,
    ) -> tuple[SSHChannel[Any], _S]:
        """Open a channel of any type with type-specific data ``extra`` (paramiko's ``open_channel``).

        ``session`` channels get an :class:`SSHClientChannel`, ``direct-tcpip`` and
        ``forwarded-tcpip`` an :class:`SSHTCPChannel`, others a plain :class:`SSHChannel`.
        The channel and its session exist before the open is sent, so data the peer sends
        right behind its confirmation (a forwarded server's banner, say) reaches the session.
        A timeout or cancellation withdraws the open (a late confirmation is answered with a close).
        """
        self._check_open()
        chan_id = self._core.open_channel(kind, extra, window=window, max_packet=max_packet)
        chan: SSHChannel[Any]
        if kind == "session":
            chan = SSHClientChannel(self, chan_id, kind)
        elif kind in ("direct-tcpip", "forwarded-tcpip"):
            chan = SSHTCPChannel(self, chan_id, kind)
        else:
            chan = SSHChannel(self, chan_id, kind)
        session = session_factory()
        chan._set_session(session)  # noqa: SLF001
        self._channels[chan_id] = chan
        fut: asyncio.Future[bytes] = self.loop.create_future()
        self._open_waiters[chan_id] = fut
        self._schedule_flush()
        try:
            if timeout is None:
                await fut
            else:
                await asyncio.wait_for(fut, timeout)
        except BaseException as exc:
            self._open_waiters.pop(chan_id, None)
            if self._channels.get(chan_id) is chan:
                del self._channels[chan_id]
            if chan_id in self._core.channels and not isinstance(exc, ChannelException) and not self.is_closed():
                self._core.channel_close(chan_id, flush=False)
                self._schedule_flush()
            if isinstance(exc, asyncio.TimeoutError):
                error = SSHTimeoutError(f"opening a {kind} channel timed out after {timeout} s")
                chan._on_closed(error)  # noqa: SLF001
                raise error from None
            chan._on_closed(exc if isinstance(exc, Exception) else None)  # noqa: SLF001
            raise
        return chan, session

    # -- sessions ----------------------------------------------------------

    async def create_session(
        self,
        session_factory: Callable[[], _S],
        command: str | None = None,
        *,
        subsystem: str | None = None,
        env: Mapping[str, str] | None = None,
        term_type: str | None = None,
        term_size: tuple[int, int] | tuple[int, int, int, int] | None = None,
        term_modes: Mapping[int, int] | None = None,
        encoding: str | None = None,
        errors: str = "strict",
        window: int | None = None,
        max_packet: int | None = None,
        timeout: float | None = None,
    ) -> tuple[SSHClientChannel[Any], _S]:
        """Open a session channel and start a command, a subsystem or (with neither) a shell."""
        chan, session = await self.open_session(
            session_factory, encoding=encoding, errors=errors, window=window, max_packet=max_packet, timeout=timeout
        )
        try:
            if self._agent_for_sessions:
                request_agent_forwarding(chan)
            if env:
                chan.set_environment(env)
            if term_type is not None:
                w, h, pw, ph = (tuple(term_size) + (0, 0))[:4] if term_size else (80, 24, 0, 0)
                ok = await _reply(chan, "pty-req", rq.encode_pty_request(term_type, w, h, pw, ph, term_modes), timeout)
                if not ok:
                    raise SSHException("the server refused to allocate a pseudo-terminal")
            if subsystem is not None:
                ok = await _reply(chan, "subsystem", string(subsystem), timeout)
                what = f"subsystem {subsystem!r}"
            elif command is not None:
                ok = await _reply(chan, "exec", string(command), timeout)
                what = "command"
            else:
                ok = await _reply(chan, "shell", b"", timeout)
                what = "shell"
            if not ok:
                raise SSHException(f"the server refused to start the {what}")
        except BaseException:
            chan.abort()
            raise
        session.session_started()
        return chan, session

    async def open_session(
        self,
        session_factory: Callable[[], _S],
        *,
        encoding: str | None = None,
        errors: str = "strict",
        window: int | None = None,
        max_packet: int | None = None,
        timeout: float | None = None,
    ) -> tuple[SSHClientChannel[Any], _S]:
        """Open a session channel without starting anything in it (see ``SSHClientChannel.request_*``)."""

        def make(chan_id: int) -> SSHClientChannel[Any]:
            return SSHClientChannel(self, chan_id, "session", encoding=encoding, errors=errors)

        chan, _ = await self._open_channel("session", b"", make, window=window, max_packet=max_packet, timeout=timeout)
        assert isinstance(chan, SSHClientChannel)
        session = session_factory()
        chan._set_session(session)  # noqa: SLF001
        return chan, session

    async def run(
        self,
        command: str | None = None,
        *,
        input: str | bytes | None = None,  # noqa: A002 - subprocess's name
        check: bool = False,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
        term_type: str | None = None,
        term_size: tuple[int, int] | None = None,
        subsystem: str | None = None,
        encoding: str | None = "utf-8",
        errors: str = "strict",
    ) -> SSHCompletedProcess:
        """Run a command to completion and collect its output (like :func:`subprocess.run`)."""
        return await collect_output(
            self,
            command,
            input=input,
            check=check,
            timeout=timeout,
            env=env,
            term_type=term_type,
            term_size=term_size,
            subsystem=subsystem,
            encoding=encoding,
            errors=errors,
        )

    async def start_sftp_client(self, **kwargs: Any) -> Any:
        """Open an SFTP session: a :class:`blockssh.sftp.SFTPClient`.

        Keywords are :func:`blockssh.sftp.start_sftp_client`'s.
        """
        from ..sftp.client import start_sftp_client

        return await start_sftp_client(self, **kwargs)


async def _reply(chan: SSHClientChannel[Any], name: str, data: bytes, timeout: float | None) -> bool:
    fut = chan._send_request(name, data, want_reply=True)  # noqa: SLF001
    assert fut is not None
    if timeout is None:
        return await fut
    try:
        return await asyncio.wait_for(fut, timeout)
    except asyncio.TimeoutError:
        raise SSHTimeoutError(f"no reply to {name} request within {timeout} s") from None


async def _step(waiter: asyncio.Future[None], timeout: float | None, what: str, conn: SSHConnection) -> None:
    try:
        if timeout is None:
            await asyncio.shield(waiter)
        else:
            await asyncio.wait_for(asyncio.shield(waiter), timeout)
    except asyncio.TimeoutError:
        conn.abort()
        raise SSHTimeoutError(f"{what} within {timeout:g} s") from None


async def _maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


def _to_keypair(source: Any, passphrase: str | bytes | None) -> KeyPair | SSHAgentKeyPair:
    if isinstance(source, (KeyPair, SSHAgentKeyPair)):
        return source
    agent_pair = getattr(source, "agent_keypair", None)  # a key the agent holds (blockssh.sync.agent.AgentKey)
    if isinstance(agent_pair, SSHAgentKeyPair):
        return agent_pair
    if isinstance(source, SSHKey):
        return KeyPair(source)
    if isinstance(source, tuple) and len(source) == 2:
        key, cert = source
        key_pair = _to_keypair(key, passphrase)
        if isinstance(cert, (str, os.PathLike)):
            from ..keys import read_public_key

            cert = read_public_key(cert)
        if not isinstance(cert, SSHCertificate):
            raise KeyImportError("the second item of a (key, certificate) pair must be a certificate")
        return KeyPair(key_pair.key, cert)
    if isinstance(source, PKey):  # the paramiko-style key classes
        return source.keypair
    if isinstance(source, (str, os.PathLike)):
        return read_keypair(os.path.expanduser(os.fspath(source)), passphrase)
    raise ConfigurationError(f"cannot use {type(source).__name__} as a client key")


def _load_known_hosts(value: Any) -> KnownHosts | None:
    if value is None:
        return None
    if value is _DEFAULT:
        return KnownHosts.from_file(os.path.expanduser("~/.ssh/known_hosts"))
    if isinstance(value, KnownHosts):
        return value
    if isinstance(value, (str, os.PathLike)):
        return KnownHosts.from_file(os.path.expanduser(os.fspath(value)))
    if isinstance(value, Iterable):
        merged = KnownHosts()
        for item in value:
            loaded = _load_known_hosts(item)
            if loaded is not None:
                merged.entries.extend(loaded.entries)
        return merged
    raise ConfigurationError(f"known_hosts must be a path, a list of paths, KnownHosts or None, not {value!r}")


async def _open_socket(
    host: str, port: int, timeout: float | None, local_addr: tuple[str, int] | None
) -> socket.socket:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    errors: dict[tuple[Any, ...], Exception] = {}
    for family, type_, proto, _, addr in infos:
        sock = socket.socket(family, type_, proto)
        sock.setblocking(False)
        try:
            if local_addr is not None:
                sock.bind(local_addr)
            if timeout is None:
                await loop.sock_connect(sock, addr)
            else:
                await asyncio.wait_for(loop.sock_connect(sock, addr), timeout)
            return sock
        except asyncio.TimeoutError:
            sock.close()
            errors[addr] = SSHTimeoutError(f"connecting to {addr[0]!s} port {addr[1]!s} timed out after {timeout:g} s")
        except OSError as exc:
            sock.close()
            errors[addr] = exc
        except BaseException:
            sock.close()
            raise
    if len(errors) == 1:
        only = next(iter(errors.values()))
        if isinstance(only, SSHTimeoutError):
            raise only
    raise NoValidConnectionsError(errors)


class _Connecting:
    """What :func:`connect` returns: await it, or use it with ``async with`` (closes on exit)."""

    def __init__(self, coro: Coroutine[Any, Any, SSHClientConnection]) -> None:
        self._coro = coro
        self._conn: SSHClientConnection | None = None

    def __await__(self) -> Generator[Any, None, SSHClientConnection]:
        return self._coro.__await__()

    async def __aenter__(self) -> SSHClientConnection:
        self._conn = await self._coro
        return self._conn

    async def __aexit__(self, *exc_info: object) -> None:
        if self._conn is not None:
            self._conn.close()
            await self._conn.wait_closed()


async def connect_to(
    host: str,
    port: int | None = None,
    *,
    username: str | None = None,
    password: str | None = None,
    client_keys: Sequence[Any] | None = None,
    passphrase: str | bytes | None = None,
    known_hosts: Any = _DEFAULT,
    host_key_checker: HostKeyChecker | None = None,
    kbdint_handler: KbdintHandler | None = None,
    preferred_auth: Sequence[str] | str | None = None,
    algorithms: Algorithms | None = None,
    kex_algs: str | Sequence[str] | None = None,
    encryption_algs: str | Sequence[str] | None = None,
    mac_algs: str | Sequence[str] | None = None,
    compression_algs: str | Sequence[str] | None = None,
    signature_algs: str | Sequence[str] | None = None,
    server_host_key_algs: str | Sequence[str] | None = None,
    disabled_algorithms: Mapping[str, Iterable[str]] | None = None,
    connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT,
    banner_timeout: float | None = DEFAULT_BANNER_TIMEOUT,
    handshake_timeout: float | None = DEFAULT_HANDSHAKE_TIMEOUT,
    auth_timeout: float | None = DEFAULT_AUTH_TIMEOUT,
    keepalive_interval: float = 0.0,
    keepalive_count_max: int = 3,
    rekey_bytes: int = 1 << 30,
    rekey_seconds: float = 3600.0,
    window: int = 2 * 1024 * 1024,
    max_packet: int = 32 * 1024,
    sock: Any = None,
    local_addr: tuple[str, int] | None = None,
    host_key_alias: str | None = None,
    client_version: str | None = None,
    tunnel: Any = None,
    proxy_command: str | Sequence[str] | None = None,
    agent_path: Any = _DEFAULT,
    agent_forwarding: bool | str = False,
    identities_only: bool = False,
    config: Any = None,
) -> SSHClientConnection:
    """Connect to an SSH server, check its host key and authenticate.

    ``known_hosts`` defaults to ``~/.ssh/known_hosts``; pass ``None`` to skip
    host key checking (or a ``host_key_checker(host, port, key) -> bool`` to
    decide about keys known_hosts does not list). ``client_keys=None`` offers
    the default ``~/.ssh/id_*`` keys; ``()`` offers none. Timeouts: see the
    ``DEFAULT_*_TIMEOUT`` constants; each raises :class:`SSHTimeoutError`.

    Jump hosts and proxies (docs/jump-hosts-and-agent.md): ``tunnel`` is an open
    :class:`SSHClientConnection`, ``"[user@]host[:port][,...]"`` (``ssh -J``) or a list of
    hops; jump hosts opened here use the same keys and host key checks and are closed
    with this connection. ``proxy_command`` runs a command (``"ssh -W %h:%p jump"`` after
    your own expansion) and speaks SSH over its stdin/stdout. ``sock`` may also be an
    SSH channel or an object with blocking ``send``/``recv``.

    Agent: ``agent_path`` is the agent whose keys are offered first (default
    ``$SSH_AUTH_SOCK`` when ``client_keys`` is None, else no agent; None: never).
    ``agent_forwarding=True`` (or an agent path) forwards it to sessions; off by default.
    ``identities_only`` limits agent keys to the ones matching ``client_keys``.

    ``config`` applies ssh_config (docs/ssh-config.md): an :class:`~blockssh.config.SSHConfig`,
    a path, or True for ``~/.ssh/config``. Keywords left at their defaults take the config's
    values; explicit ones win. ``host`` is then looked up as ssh does (``Host`` aliases).
    """
    if config is not None and config is not False:
        arguments = dict(locals())  # every keyword, before any other local exists
        del arguments["config"]
        from .client_config import connect_with_config

        return await connect_with_config(config, arguments)
    if port is None:
        port = 22
    if tunnel is not None and proxy_command:
        raise ConfigurationError("give either tunnel or proxy_command, not both")
    if agent_path is _DEFAULT:
        agent_path = default_agent_path() if client_keys is None else None
    elif agent_path is not None:
        agent_path = os.fspath(agent_path)
    algs = algorithms or Algorithms()
    algs = algs.edit(
        kex=kex_algs,
        ciphers=encryption_algs,
        macs=mac_algs,
        compression=compression_algs,
        signatures=signature_algs,
        host_key=server_host_key_algs,
    ).without(disabled_algorithms)
    known = _load_known_hosts(known_hosts)
    cert_authorities = False
    if known is not None:
        found = known.match(host_key_alias or host, port)
        algs = _prefer_known_types(algs, [k.algorithm for k in found.trusted_keys])
        cert_authorities = bool(found.ca_keys)
    algs = algs.validate()
    if cert_authorities:
        algs = _prefer_host_certificates(algs)
    if isinstance(preferred_auth, str):
        preferred_auth = [m.strip() for m in preferred_auth.split(",") if m.strip()]
    options = SSHClientConnectionOptions(
        host=host,
        port=port,
        username=username or getpass.getuser(),
        password=password,
        client_keys=list(client_keys or ()),
        load_default_keys=client_keys is None,
        passphrase=passphrase if passphrase is not None else password,
        known_hosts=known,
        host_key_checker=host_key_checker,
        kbdint_handler=kbdint_handler,
        preferred_auth=tuple(preferred_auth or DEFAULT_PREFERRED_AUTH),
        algorithms=algs,
        connect_timeout=connect_timeout,
        banner_timeout=banner_timeout,
        handshake_timeout=handshake_timeout,
        auth_timeout=auth_timeout,
        keepalive_interval=keepalive_interval,
        keepalive_count_max=keepalive_count_max,
        rekey_bytes=rekey_bytes,
        rekey_seconds=rekey_seconds,
        window=window,
        max_packet=max_packet,
        client_version=client_version or _software_version(),
        host_key_alias=host_key_alias,
        tunnel=tunnel,
        proxy_command=proxy_command,
        agent_path=agent_path,
        agent_forwarding=bool(agent_forwarding),
        agent_forward_path=agent_forwarding if isinstance(agent_forwarding, str) else None,
        identities_only=identities_only,
    )
    return await connect_with_options(options, sock=sock, local_addr=local_addr)


def _awaitable_or_context(
    fn: Callable[_P, Coroutine[Any, Any, SSHClientConnection]],
) -> Callable[_P, _Connecting]:
    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _Connecting:
        return _Connecting(fn(*args, **kwargs))

    return wrapper


#: Connect to an SSH server: ``conn = await connect(...)`` or ``async with connect(...) as conn``
#: (the connection is closed when the block ends). Keywords as :func:`connect_to`.
connect = _awaitable_or_context(connect_to)


async def connect_with_options(
    options: SSHClientConnectionOptions, *, sock: Any = None, local_addr: tuple[str, int] | None = None
) -> SSHClientConnection:
    """Connect with a prepared :class:`SSHClientConnectionOptions`.

    ``sock`` may be a connected socket, or anything :func:`blockssh.aio.proxy.connect_over`
    runs SSH over (an SSH channel, a proxy process, an object with ``send``/``recv``).
    Without ``sock``, ``options.proxy_command`` or ``options.tunnel`` are used when set.
    """
    loop = asyncio.get_running_loop()
    if sock is None and (options.tunnel is not None or options.proxy_command):
        from .proxy import connect_tunneled

        return await connect_tunneled(options)
    if sock is not None and not isinstance(sock, socket.socket):
        from .proxy import connect_over

        return await connect_over(options, sock)
    if sock is None:
        sock = await _open_socket(options.host, options.port, options.connect_timeout, local_addr)
    try:
        _, conn = await loop.create_connection(lambda: SSHClientConnection(options), sock=sock)
    except BaseException:
        sock.close()
        raise
    try:
        await conn.wait_established()
    except BaseException:
        conn.abort()
        raise
    return conn


#: Host certificate algorithms offered (first) when known_hosts has an ``@cert-authority`` line for the host.
#: RSA certificates are left out until the protocol core accepts rsa-sha2-* certificate signatures.
HOST_CERTIFICATE_ALGORITHMS: dict[str, str] = {
    name: name + "-cert-v01@openssh.com"
    for name in ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521")
}


def _prefer_host_certificates(algs: Algorithms) -> Algorithms:
    """Put the certificate variants of the offered host key algorithms first (as ssh does with a known CA)."""
    from dataclasses import replace

    certs = [HOST_CERTIFICATE_ALGORITHMS[a] for a in algs.host_key if a in HOST_CERTIFICATE_ALGORITHMS]
    return replace(algs, host_key=tuple(certs + [a for a in algs.host_key if a not in certs]))


def _prefer_known_types(algs: Algorithms, known_types: list[str]) -> Algorithms:
    if not known_types:
        return algs
    wanted: list[str] = []
    for key_type in known_types:
        candidates = ("rsa-sha2-512", "rsa-sha2-256") if key_type == "ssh-rsa" else (key_type,)
        wanted += [a for a in algs.host_key if a in candidates and a not in wanted]
    rest = [a for a in algs.host_key if a not in wanted]
    from dataclasses import replace

    return replace(algs, host_key=tuple(wanted + rest))
