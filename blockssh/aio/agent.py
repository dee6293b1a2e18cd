"""The ssh-agent on asyncio: a client for ``SSH_AUTH_SOCK``, agent keys for authentication, agent forwarding.

:class:`SSHAgentClient` talks to a running agent (OpenSSH's ``ssh-agent``, or a
forwarded one): list, sign with (SHA-2 flags for RSA), add and remove keys.
:class:`SSHAgentKeyPair` is an agent-held key in the shape the client's
authentication expects (``public_blob``, ``sig_algorithms``, ``sign``; signing
is a coroutine).

Agent forwarding is off by default on both sides (a forwarded agent can be used
by anyone with root on the server for as long as the session lasts):

- client: :class:`AgentForwarder` answers the server's ``auth-agent@openssh.com``
  channels by relaying them to the local agent (or, with a ``session_factory``,
  by handing them to a session of the caller's: paramiko's
  ``Channel.request_forward_agent(handler)``); it exists only when the client
  asked for forwarding (``connect(agent_forwarding=True)``,
  ``enable_agent_forwarding``, ``accept_agent_channels``).
- server: :class:`AgentListener` is a UNIX socket in a private directory (0700,
  the socket 0600) whose connections become ``auth-agent@openssh.com`` channels
  to the client; sessions that requested forwarding see it as ``SSH_AUTH_SOCK``.

Limits: :data:`DEFAULT_AGENT_TIMEOUT` per request, :data:`DEFAULT_MAX_AGENT_MESSAGE`
per message, :data:`DEFAULT_AGENT_CONNECT_TIMEOUT` to reach the local agent for a
forwarded channel, :data:`DEFAULT_MAX_AGENT_CONNECTIONS` forwarded connections at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ..exceptions import KeyImportError
from ..keys import KeyPair, SSHCertificate, SSHKey, import_public_key_blob
from ..keys.agent_codec import (
    DEFAULT_MAX_AGENT_MESSAGE,
    AgentError,
    AgentIdentity,
    AgentMsg,
    decode_identities,
    decode_sign_response,
    encode_add_identity,
    encode_lock,
    encode_message,
    encode_remove_identity,
    encode_sign_request,
    message_length,
    sign_flags_for,
    split_message,
)
from ..proto import events as ev
from ..proto.constants import ChannelOpenFailure
from ..proto.wire import Reader, string
from .channel import SSHChannel
from .forward import accept_from_factory
from .session import SSHSession

if TYPE_CHECKING:
    from .connection import SSHConnection

__all__ = [
    "AgentError",
    "AgentForwarder",
    "AgentListener",
    "SSHAgentClient",
    "SSHAgentKeyPair",
    "DEFAULT_AGENT_TIMEOUT",
    "DEFAULT_AGENT_CONNECT_TIMEOUT",
    "DEFAULT_MAX_AGENT_CONNECTIONS",
    "DEFAULT_MAX_AGENT_MESSAGE",
    "AGENT_CHANNEL",
    "AGENT_REQUEST",
    "default_agent_path",
    "load_agent_keys",
]

logger = logging.getLogger("blockssh.agent")

DEFAULT_AGENT_TIMEOUT = 60.0  # seconds for one agent request (a confirm-constrained key may prompt the user)
DEFAULT_AGENT_CONNECT_TIMEOUT = 10.0  # seconds to reach the local agent socket
DEFAULT_MAX_AGENT_CONNECTIONS = 16  # forwarded agent connections open at once, per SSH connection

#: Channel type the server opens for each connection to a forwarded agent.
AGENT_CHANNEL = "auth-agent@openssh.com"
#: Session request asking the server to forward the client's agent.
AGENT_REQUEST = "auth-agent-req@openssh.com"


def default_agent_path() -> str | None:
    """``$SSH_AUTH_SOCK``, or None when it is unset or empty."""
    return os.environ.get("SSH_AUTH_SOCK") or None


# ---------------------------------------------------------------------------------------------
# the client
# ---------------------------------------------------------------------------------------------


class SSHAgentClient:
    """A connection to an SSH agent over its UNIX socket (``path``, default ``$SSH_AUTH_SOCK``).

    Requests are sent one at a time (the protocol has no request ids); each is bounded
    by ``timeout``. The socket is opened on first use and kept until :meth:`close`.
    Usable as ``async with SSHAgentClient() as agent``.

    Raises:
        AgentError: no agent, the agent refused a request, or it answered with garbage.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        timeout: float | None = DEFAULT_AGENT_TIMEOUT,
        connect_timeout: float | None = DEFAULT_AGENT_CONNECT_TIMEOUT,
        max_message: int = DEFAULT_MAX_AGENT_MESSAGE,
    ) -> None:
        chosen = os.fspath(path) if path is not None else default_agent_path()
        self.path: str | None = chosen
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.max_message = max_message
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._lock: asyncio.Lock | None = None
        self._closing: asyncio.StreamWriter | None = None

    def __repr__(self) -> str:
        state = "connected" if self._writer is not None else "idle"
        return f"<SSHAgentClient {self.path!r} {state}>"

    async def __aenter__(self) -> SSHAgentClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()
        await self.wait_closed()

    # -- plumbing ----------------------------------------------------------------------------

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is not None and self._writer is not None and not self._writer.is_closing():
            return self._reader, self._writer
        if not self.path:
            raise AgentError("no SSH agent: SSH_AUTH_SOCK is not set")
        try:
            opening = asyncio.open_unix_connection(self.path, limit=self.max_message + 8)
            if self.connect_timeout is None:
                reader, writer = await opening
            else:
                reader, writer = await asyncio.wait_for(opening, self.connect_timeout)
        except asyncio.TimeoutError:
            raise AgentError(f"the SSH agent at {self.path} did not accept within {self.connect_timeout:g} s") from None
        except OSError as exc:
            raise AgentError(f"cannot connect to the SSH agent at {self.path}: {exc.strerror or exc}") from None
        self._reader, self._writer = reader, writer
        return reader, writer

    async def _exchange(self, msg_type: int, body: bytes) -> tuple[int, bytes]:
        reader, writer = await self._connect()
        writer.write(encode_message(msg_type, body, max_size=self.max_message))
        await writer.drain()
        length = message_length(await reader.readexactly(4), max_size=self.max_message)
        return split_message(await reader.readexactly(length))

    async def request(self, msg_type: int, body: bytes = b"") -> tuple[int, bytes]:
        """Send one raw request and return the answer ``(type, body)``."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            try:
                if self.timeout is None:
                    return await self._exchange(msg_type, body)
                return await asyncio.wait_for(self._exchange(msg_type, body), self.timeout)
            except asyncio.TimeoutError:
                self.close()
                raise AgentError(f"the SSH agent did not answer within {self.timeout:g} s") from None
            except asyncio.IncompleteReadError:
                self.close()
                raise AgentError("the SSH agent closed the connection") from None
            except OSError as exc:
                self.close()
                raise AgentError(f"SSH agent connection failed: {exc}") from None
            except AgentError:
                self.close()  # a framing error leaves the stream unusable
                raise

    async def _simple(self, msg_type: int, body: bytes, what: str) -> None:
        answer, _ = await self.request(msg_type, body)
        if answer != AgentMsg.SUCCESS:
            raise AgentError(f"the SSH agent refused to {what}")

    # -- requests ----------------------------------------------------------------------------

    async def list_identities(self) -> list[AgentIdentity]:
        """The raw identities (public blob and comment), in the agent's order."""
        answer, body = await self.request(AgentMsg.REQUEST_IDENTITIES)
        if answer != AgentMsg.IDENTITIES_ANSWER:
            raise AgentError(f"unexpected answer {answer} to a key list request")
        return decode_identities(body)

    async def get_keys(self) -> list[SSHAgentKeyPair]:
        """The agent's keys (certificates included) that blockssh can use; others are skipped."""
        pairs = []
        for identity in await self.list_identities():
            try:
                pairs.append(SSHAgentKeyPair(self, identity.blob, identity.comment))
            except KeyImportError as exc:
                logger.debug("skipping agent key %r: %s", identity.comment, exc)
        return pairs

    async def sign(self, key_blob: bytes, data: bytes, algorithm: str | None = None) -> bytes:
        """Have the agent sign ``data`` with the key ``key_blob``; returns the signature blob.

        ``algorithm`` (``rsa-sha2-512``, ``rsa-sha2-256``, their certificate names, or the
        key's own type) selects the hash for RSA keys; the agent's answer is checked to use it.
        """
        request = encode_sign_request(key_blob, data, sign_flags_for(algorithm))
        answer, body = await self.request(AgentMsg.SIGN_REQUEST, request)
        if answer != AgentMsg.SIGN_RESPONSE:
            raise AgentError("the SSH agent refused to sign (key removed, locked, or confirmation denied)")
        return decode_sign_response(body, algorithm)

    async def add_keys(
        self,
        keys: Iterable[SSHKey | KeyPair],
        *,
        lifetime: int | None = None,
        confirm: bool = False,
    ) -> None:
        """Add private keys (a :class:`KeyPair` adds its certificate too), optionally constrained."""
        for key in keys:
            msg_type, body = encode_add_identity(key, lifetime=lifetime, confirm=confirm)
            await self._simple(msg_type, body, "add a key")

    async def remove_keys(self, keys: Iterable[SSHKey | SSHCertificate | KeyPair | SSHAgentKeyPair | bytes]) -> None:
        """Remove keys (given as objects or public blobs)."""
        for key in keys:
            blob = key if isinstance(key, bytes) else key.public_blob
            await self._simple(AgentMsg.REMOVE_IDENTITY, encode_remove_identity(blob), "remove a key")

    async def remove_all(self) -> None:
        """Remove every key."""
        await self._simple(AgentMsg.REMOVE_ALL_IDENTITIES, b"", "remove all keys")

    async def lock(self, passphrase: str | bytes) -> None:
        """Lock the agent with a passphrase (it refuses to sign until unlocked)."""
        await self._simple(AgentMsg.LOCK, encode_lock(passphrase), "lock")

    async def unlock(self, passphrase: str | bytes) -> None:
        """Unlock the agent."""
        await self._simple(AgentMsg.UNLOCK, encode_lock(passphrase), "unlock")

    async def query_extensions(self) -> list[str]:
        """Extension names the agent supports (the ``query`` extension); empty when it has none."""
        answer, body = await self.request(AgentMsg.EXTENSION, string("query"))
        if answer != AgentMsg.SUCCESS:
            return []
        reader = Reader(body)
        names: list[str] = []
        try:
            if reader.remaining and reader.get_ascii() != "query":
                return []
            while reader.remaining:
                names.append(reader.get_ascii())
        except Exception:  # noqa: BLE001 - a malformed optional answer just means "unknown"
            return names
        return names

    # -- closing -----------------------------------------------------------------------------

    def close(self) -> None:
        """Close the socket (it is reopened by the next request)."""
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            self._closing = writer

    async def wait_closed(self) -> None:
        """Wait for the socket to close."""
        writer, self._closing = self._closing, None
        if writer is not None:
            with contextlib.suppress(OSError):
                await writer.wait_closed()


class SSHAgentKeyPair:
    """A key held by an agent, usable wherever the client takes a key pair.

    ``key`` is the public :class:`SSHKey`, ``certificate`` the certificate when the agent
    holds one; :meth:`sign` is a coroutine that asks the agent. ``agent`` is an
    :class:`SSHAgentClient`, or an agent socket path (a connection is then opened for
    each signature, which is what the blocking facade's keys do).
    """

    has_private = False  # the private key stays in the agent

    def __init__(self, agent: SSHAgentClient | str | os.PathLike[str] | None, blob: bytes, comment: str = "") -> None:
        parsed = import_public_key_blob(blob, comment)
        self.certificate: SSHCertificate | None = parsed if isinstance(parsed, SSHCertificate) else None
        self.key: SSHKey = parsed.key if isinstance(parsed, SSHCertificate) else parsed
        self.public_blob = bytes(blob)
        self._comment = comment
        self._agent = agent

    @property
    def algorithm(self) -> str:
        """The certificate type when this is a certificate, else the key type."""
        return self.certificate.algorithm if self.certificate else self.key.algorithm

    @property
    def sig_algorithms(self) -> tuple[str, ...]:
        """Signature algorithm names to offer, preferred first."""
        return self.certificate.sig_algorithms if self.certificate else self.key.sig_algorithms

    @property
    def comment(self) -> str:
        """The comment the agent stores with the key."""
        return self._comment

    async def sign(self, data: bytes, algorithm: str | None = None) -> bytes:
        """Ask the agent for a signature of ``data`` with ``algorithm``."""
        agent = self._agent
        if isinstance(agent, SSHAgentClient):
            return await agent.sign(self.public_blob, data, algorithm)
        async with SSHAgentClient(agent) as temporary:
            return await temporary.sign(self.public_blob, data, algorithm)

    def __repr__(self) -> str:
        cert = f" cert={self.certificate.key_id!r}" if self.certificate else ""
        return f"<SSHAgentKeyPair {self.algorithm} {self.key.fingerprint_sha256()}{cert} {self._comment!r}>"


async def load_agent_keys(
    path: str | None,
    errors: list[tuple[str, BaseException, bool]],
    *,
    explicit: bool = False,
) -> tuple[SSHAgentClient | None, list[SSHAgentKeyPair]]:
    """Connect to the agent at ``path`` and list its keys for authentication.

    Failures are appended to ``errors`` (as ``(what, exception, explicit)``) and give no keys:
    an unreachable agent must not stop authentication with other methods.
    """
    if not path:
        return None, []
    client = SSHAgentClient(path)
    try:
        return client, await client.get_keys()
    except AgentError as exc:
        client.close()
        errors.append((f"agent {path}", exc, explicit))
        return None, []


def order_identities(
    agent_keys: Sequence[SSHAgentKeyPair], file_keys: Sequence[Any], *, identities_only: bool
) -> list[Any]:
    """OpenSSH's order: agent keys that match a key file first, other agent keys, then key files.

    With ``identities_only`` only agent keys matching a key file (or its ``.pub``) are used.
    """
    file_blobs = {k.public_blob for k in file_keys} | {getattr(k, "key", k).public_blob for k in file_keys}
    matching = [k for k in agent_keys if k.public_blob in file_blobs or k.key.public_blob in file_blobs]
    others = [] if identities_only else [k for k in agent_keys if k not in matching]
    offered = {k.public_blob for k in (*matching, *others)}
    rest = [k for k in file_keys if k.public_blob not in offered]
    return [*matching, *others, *rest]


# ---------------------------------------------------------------------------------------------
# relaying a stream socket and an SSH channel
# ---------------------------------------------------------------------------------------------


class _ChannelSide(SSHSession[bytes]):
    """The SSH channel's session: what arrives goes to the socket; flow control both ways."""

    def __init__(self, relay: _Relay) -> None:
        self._relay = relay

    def connection_made(self, chan: SSHChannel[Any]) -> None:
        self._relay.chan = chan

    def data_received(self, data: bytes, datatype: int | None) -> None:
        transport = self._relay.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    def eof_received(self) -> bool:
        transport = self._relay.transport
        if transport is not None and transport.can_write_eof() and not transport.is_closing():
            transport.write_eof()
        return True  # the socket side closes the channel when it is done

    def pause_writing(self) -> None:
        if self._relay.transport is not None:
            self._relay.transport.pause_reading()

    def resume_writing(self) -> None:
        if self._relay.transport is not None and not self._relay.transport.is_closing():
            self._relay.transport.resume_reading()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._relay.chan = None
        transport = self._relay.transport
        if transport is not None:
            transport.close()
        self._relay.finished()


class _SocketSide(asyncio.Protocol):
    """The UNIX socket's protocol: what arrives goes to the channel."""

    def __init__(self, relay: _Relay) -> None:
        self._relay = relay

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._relay.transport = transport
        if self._relay.chan is None:
            transport.pause_reading()  # until the channel is open

    def data_received(self, data: bytes) -> None:
        chan = self._relay.chan
        if chan is not None and not chan.is_closing():
            chan.write(data)

    def eof_received(self) -> bool:
        chan = self._relay.chan
        if chan is not None and not chan.is_closing():
            chan.write_eof()
        return True  # half-open: the agent's answer may still come back; the channel's close ends it

    def pause_writing(self) -> None:
        if self._relay.chan is not None:
            self._relay.chan.pause_reading()

    def resume_writing(self) -> None:
        if self._relay.chan is not None:
            self._relay.chan.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self._relay.transport = None
        chan = self._relay.chan
        if chan is not None:
            chan.close()
        self._relay.finished()


class _Relay:
    """One agent connection: a stream socket joined to an SSH channel."""

    def __init__(self, owner: set[_Relay]) -> None:
        self.chan: SSHChannel[Any] | None = None
        self.transport: asyncio.Transport | None = None
        self._owner = owner
        owner.add(self)

    def attach_channel(self, chan: SSHChannel[Any]) -> None:
        chan._set_session(_ChannelSide(self))  # noqa: SLF001 - the relay is the channel's session
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def finished(self) -> None:
        if self.chan is None and self.transport is None:
            self._owner.discard(self)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()
        if self.chan is not None:
            self.chan.abort()
        self._owner.discard(self)


# ---------------------------------------------------------------------------------------------
# client side of agent forwarding
# ---------------------------------------------------------------------------------------------


class AgentForwarder:
    """Client side: relays the server's ``auth-agent@openssh.com`` channels to the local agent at ``path``."""

    def __init__(
        self,
        conn: SSHConnection,
        path: str | None,
        *,
        session_factory: Callable[[], Any] | None = None,
        connect_timeout: float | None = DEFAULT_AGENT_CONNECT_TIMEOUT,
        max_connections: int = DEFAULT_MAX_AGENT_CONNECTIONS,
    ) -> None:
        self._conn = conn
        self.path = path
        #: When set, channels are not relayed to ``path``: each is accepted with ``session_factory()``'s
        #: session (or an awaitable of one; None refuses it), which speaks the agent protocol itself.
        self.session_factory = session_factory
        self.connect_timeout = connect_timeout
        self.max_connections = max_connections
        self._relays: set[_Relay] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def channel_requested(self, event: ev.ChannelOpenRequest) -> None:
        """Answer one ``auth-agent@openssh.com`` open: connect to the agent (or ask the factory), then confirm."""
        conn = self._conn
        core = conn._core  # noqa: SLF001 - the forwarder is the connection's helper
        factory = self.session_factory
        if self._closed or (not self.path and factory is None):
            core.reject_channel(event.channel, ChannelOpenFailure.ADMINISTRATIVELY_PROHIBITED, "agent forwarding off")
            self._conn._schedule_flush()  # noqa: SLF001
            return
        if len(self._relays) + len(self._tasks) >= self.max_connections:
            core.reject_channel(event.channel, ChannelOpenFailure.RESOURCE_SHORTAGE, "too many agent connections")
            self._conn._schedule_flush()  # noqa: SLF001
            return
        if factory is not None:

            def make(chan_id: int) -> SSHChannel[Any]:
                return SSHChannel(conn, chan_id, AGENT_CHANNEL)

            task = conn.loop.create_task(accept_from_factory(conn, event.channel, make, factory))
        else:
            task = conn.loop.create_task(self._open(event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _open(self, event: ev.ChannelOpenRequest) -> None:
        conn = self._conn
        core = conn._core  # noqa: SLF001
        relay = _Relay(self._relays)
        try:
            opening = conn.loop.create_unix_connection(lambda: _SocketSide(relay), self.path)
            if self.connect_timeout is None:
                await opening
            else:
                await asyncio.wait_for(opening, self.connect_timeout)
        except (OSError, asyncio.TimeoutError) as exc:
            relay.abort()
            logger.info("cannot reach the local agent at %s for a forwarded connection: %r", self.path, exc)
            if not conn.is_closed() and event.channel in core.channels:
                core.reject_channel(event.channel, ChannelOpenFailure.CONNECT_FAILED, "cannot reach the agent")
                conn._schedule_flush()  # noqa: SLF001
            return
        except asyncio.CancelledError:
            relay.abort()
            raise
        if conn.is_closed() or event.channel not in core.channels:
            relay.abort()
            return
        core.accept_channel(event.channel)
        chan: SSHChannel[bytes] = SSHChannel(conn, event.channel, AGENT_CHANNEL)
        conn._adopt_channel(chan)  # noqa: SLF001
        conn._schedule_flush()  # noqa: SLF001
        relay.attach_channel(chan)

    def close(self) -> None:
        """Stop accepting agent channels and drop the open ones."""
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        for relay in list(self._relays):
            relay.abort()


def request_agent_forwarding(chan: SSHChannel[Any]) -> None:
    """Send ``auth-agent-req@openssh.com`` on a session channel (no reply is asked, as OpenSSH does)."""
    chan._send_request(AGENT_REQUEST)  # noqa: SLF001


# ---------------------------------------------------------------------------------------------
# server side of agent forwarding
# ---------------------------------------------------------------------------------------------


class AgentListener:
    """Server side: a private UNIX socket; each connection to it becomes an agent channel to the client.

    The socket lives in a new directory (mode 0700) under ``directory`` (default: the
    system temporary directory) and has mode 0600. :meth:`start` binds it and returns
    its path; :meth:`close` removes both.
    """

    def __init__(
        self,
        conn: SSHConnection,
        *,
        directory: str | None = None,
        max_connections: int = DEFAULT_MAX_AGENT_CONNECTIONS,
        open_timeout: float | None = DEFAULT_AGENT_CONNECT_TIMEOUT,
    ) -> None:
        self._conn = conn
        self._directory = directory
        self.max_connections = max_connections
        self.open_timeout = open_timeout
        self.path: str | None = None
        self._tmpdir: str | None = None
        self._server: asyncio.AbstractServer | None = None
        self._start_task: asyncio.Task[None] | None = None
        self._relays: set[_Relay] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def start(self) -> str:
        """Create and bind the socket (synchronously: the path is usable at once); return its path."""
        if self.path is not None:
            return self.path
        tmpdir = tempfile.mkdtemp(prefix="blockssh-agent-", dir=self._directory)  # mode 0700
        path = os.path.join(tmpdir, f"agent.{os.getpid()}")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            # No umask games (the umask is process-wide): the 0700 directory keeps others out
            # until the socket's own mode is set.
            sock.bind(path)
            os.chmod(path, 0o600)
            sock.listen(self.max_connections)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            shutil.rmtree(tmpdir, ignore_errors=True)
            raise
        self._tmpdir, self.path = tmpdir, path
        self._start_task = self._conn.loop.create_task(self._serve(sock))
        return path

    async def _serve(self, sock: socket.socket) -> None:
        try:
            self._server = await self._conn.loop.create_unix_server(self._accepted, sock=sock)
        except BaseException:
            sock.close()
            raise
        if self._closed:
            self._server.close()

    def _accepted(self) -> asyncio.Protocol:
        full = len(self._relays) >= self.max_connections
        relay = _Relay(self._relays)
        protocol = _SocketSide(relay)
        if self._closed or full or self._conn.is_closed():
            self._conn.loop.call_soon(relay.abort)
            return protocol
        task = self._conn.loop.create_task(self._open_channel(relay))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return protocol

    async def _open_channel(self, relay: _Relay) -> None:
        conn = self._conn
        try:
            chan, _ = await conn._open_channel(  # noqa: SLF001
                AGENT_CHANNEL,
                b"",
                lambda chan_id: SSHChannel(conn, chan_id, AGENT_CHANNEL),
                timeout=self.open_timeout,
            )
        except Exception as exc:  # noqa: BLE001 - the client refused or went away: drop this socket
            logger.info("the client refused a forwarded agent channel: %s", exc)
            relay.abort()
            return
        if relay.transport is None:  # the local program gave up meanwhile
            chan.close()
            relay.finished()
            return
        relay.attach_channel(chan)

    def close(self) -> None:
        """Stop listening, drop open agent connections, remove the socket and its directory."""
        if self._closed:
            return
        self._closed = True
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for relay in list(self._relays):
            relay.abort()
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
