"""paramiko's agent API, blocking: :class:`Agent`, :class:`AgentKey`, :class:`AgentRequestHandler`.

``Agent()`` talks to the agent at ``$SSH_AUTH_SOCK`` over a plain blocking UNIX
socket (every request bounded by ``timeout``); with no agent it simply has no keys,
as paramiko's does. Its :class:`AgentKey` objects compare equal to file keys with
the same public key and can be passed wherever a :class:`~blockssh.PKey` is taken
(``SSHClient.connect(pkey=...)``, ``Transport.auth_publickey``): signatures are then
made by the agent, asynchronously, on blockssh's loop thread.

``AgentRequestHandler(channel)`` forwards the local agent to the server for that
session (what Fabric does with ``forward_agent``). Forwarding is never on by default.
"""

from __future__ import annotations

import os
import socket
import threading
from typing import TYPE_CHECKING, Any

from ..aio.agent import DEFAULT_AGENT_TIMEOUT, AgentError, SSHAgentKeyPair, default_agent_path, request_agent_forwarding
from ..exceptions import KeyImportError, SSHException
from ..keys import KeyPair, SSHKey
from ..keys.agent_codec import (
    DEFAULT_MAX_AGENT_MESSAGE,
    AgentMsg,
    decode_identities,
    decode_sign_response,
    encode_add_identity,
    encode_message,
    encode_remove_identity,
    encode_sign_request,
    message_length,
    sign_flags_for,
    split_message,
)
from ..keys.message import Message
from ..keys.pkey import PKey

if TYPE_CHECKING:
    from .channel import Channel

__all__ = ["Agent", "AgentKey", "AgentRequestHandler", "AgentError", "SSH2_AGENT_SIGN_RESPONSE"]

SSH2_AGENT_SIGN_RESPONSE = int(AgentMsg.SIGN_RESPONSE)  # paramiko's constant name


class Agent:
    """The local SSH agent (``$SSH_AUTH_SOCK``, or ``path``), blocking.

    With no agent, or one that cannot be reached, :meth:`get_keys` returns an empty
    tuple (paramiko's behaviour). ``timeout`` bounds each request (:data:`DEFAULT_AGENT_TIMEOUT`).
    Thread-safe; a context manager (closes on exit).
    """

    def __init__(
        self, path: str | os.PathLike[str] | None = None, timeout: float | None = DEFAULT_AGENT_TIMEOUT
    ) -> None:
        self._path = os.fspath(path) if path is not None else default_agent_path()
        self._timeout = timeout
        self._lock = threading.Lock()
        self._conn: socket.socket | None = None
        self._keys: tuple[AgentKey, ...] = ()
        if self._path:
            try:
                self._connect()
                self._keys = self._fetch_keys()
            except AgentError:
                self.close()
                self._keys = ()

    @property
    def path(self) -> str | None:
        """The agent's socket path (None without an agent)."""
        return self._path

    def __enter__(self) -> Agent:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- plumbing ----------------------------------------------------------------------------

    def _connect(self) -> socket.socket:
        if self._conn is not None:
            return self._conn
        if not self._path:
            raise AgentError("no SSH agent: SSH_AUTH_SOCK is not set")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self._timeout)
        try:
            sock.connect(self._path)
        except OSError as exc:
            sock.close()
            raise AgentError(f"cannot connect to the SSH agent at {self._path}: {exc.strerror or exc}") from None
        self._conn = sock
        return sock

    def _recv_exactly(self, sock: socket.socket, n: int) -> bytes:
        chunks = bytearray()
        while len(chunks) < n:
            data = sock.recv(n - len(chunks))
            if not data:
                raise AgentError("the SSH agent closed the connection")
            chunks += data
        return bytes(chunks)

    def _send_message(self, msg_type: int, body: bytes = b"") -> tuple[int, bytes]:
        """Send one request and return the answer ``(type, body)``."""
        with self._lock:
            sock = self._connect()
            try:
                sock.sendall(encode_message(msg_type, body))
                length = message_length(self._recv_exactly(sock, 4), max_size=DEFAULT_MAX_AGENT_MESSAGE)
                return split_message(self._recv_exactly(sock, length))
            except TimeoutError:
                self._drop()
                raise AgentError(f"the SSH agent did not answer within {self._timeout} s") from None
            except OSError as exc:
                self._drop()
                raise AgentError(f"SSH agent connection failed: {exc}") from None
            except AgentError:
                self._drop()
                raise

    def _drop(self) -> None:
        sock, self._conn = self._conn, None
        if sock is not None:
            sock.close()

    def _fetch_keys(self) -> tuple[AgentKey, ...]:
        answer, body = self._send_message(AgentMsg.REQUEST_IDENTITIES)
        if answer != AgentMsg.IDENTITIES_ANSWER:
            raise AgentError("could not get keys from ssh-agent")
        keys = []
        for identity in decode_identities(body):
            try:
                keys.append(AgentKey(self, identity.blob, identity.comment))
            except KeyImportError:
                continue  # a key type blockssh does not know (FIDO, DSA...): not usable here
        return tuple(keys)

    # -- paramiko API ------------------------------------------------------------------------

    def get_keys(self) -> tuple[AgentKey, ...]:
        """The agent's keys (as listed when the Agent was created; see :meth:`refresh`)."""
        return self._keys

    def close(self) -> None:
        """Close the connection to the agent."""
        with self._lock:
            self._drop()

    # -- blockssh extras ---------------------------------------------------------------------

    def refresh(self) -> tuple[AgentKey, ...]:
        """List the agent's keys again."""
        self._keys = self._fetch_keys()
        return self._keys

    def sign(self, key_blob: bytes, data: bytes, algorithm: str | None = None) -> bytes:
        """A signature blob of ``data`` by the key ``key_blob`` (``algorithm`` picks SHA-2 for RSA)."""
        answer, body = self._send_message(
            AgentMsg.SIGN_REQUEST, encode_sign_request(key_blob, data, sign_flags_for(algorithm))
        )
        if answer != AgentMsg.SIGN_RESPONSE:
            raise AgentError("key cannot be used for signing")
        return decode_sign_response(body, algorithm)

    def add_key(
        self,
        key: PKey | SSHKey | KeyPair,
        *,
        comment: str | None = None,
        lifetime: int | None = None,
        confirm: bool = False,
    ) -> None:
        """Add a private key (with its certificate, when it has one), optionally with constraints."""
        item: SSHKey | KeyPair = key.keypair if isinstance(key, PKey) else key
        msg_type, body = encode_add_identity(item, comment, lifetime=lifetime, confirm=confirm)
        if self._send_message(msg_type, body)[0] != AgentMsg.SUCCESS:
            raise AgentError("the SSH agent refused to add the key")

    def remove_key(self, key: PKey | SSHKey | bytes) -> None:
        """Remove a key (a key object or its public blob)."""
        blob = key if isinstance(key, bytes) else key.asbytes() if isinstance(key, PKey) else key.public_blob
        if self._send_message(AgentMsg.REMOVE_IDENTITY, encode_remove_identity(blob))[0] != AgentMsg.SUCCESS:
            raise AgentError("the SSH agent refused to remove the key")

    def remove_all(self) -> None:
        """Remove every key."""
        if self._send_message(AgentMsg.REMOVE_ALL_IDENTITIES)[0] != AgentMsg.SUCCESS:
            raise AgentError("the SSH agent refused to remove its keys")


class AgentKey(PKey):
    """A key held by the agent (paramiko's ``AgentKey``): public parts here, signatures by the agent.

    ``get_name``, ``asbytes``, ``fingerprint``, ``comment``, ``algorithm_name``, ``get_bits``
    and ``sign_ssh_data`` work as on file keys, and an AgentKey equals the file key with the
    same public key. A certificate the agent holds shows in ``public_blob``.
    """

    def __init__(self, agent: Agent, blob: bytes, comment: str = "") -> None:
        super().__init__(data=blob)
        self.agent = agent
        self.blob = bytes(blob)
        self._comment = comment

    @property
    def comment(self) -> str:
        """The comment the agent stores with the key."""
        return self._comment

    @property
    def inner_key(self) -> PKey:
        """The public key as a regular key object (paramiko's name)."""
        from ..keys.pkey import pkey_from_sshkey

        return pkey_from_sshkey(self.ssh_key)

    @property
    def agent_keypair(self) -> SSHAgentKeyPair:
        """What the asyncio client authenticates with: signs through the agent's socket from the loop."""
        return SSHAgentKeyPair(self.agent.path, self.blob, self._comment)

    def can_sign(self) -> bool:
        """True: the agent signs."""
        return True

    def sign_ssh_data(self, data: bytes, algorithm: str | None = None) -> Message:
        """Have the agent sign ``data`` (blocking); a Message holding the signature blob.

        As blockssh's file keys do (and unlike paramiko's AgentKey), an RSA key signs with
        ``rsa-sha2-512`` unless ``algorithm`` names another one.
        """
        if algorithm is None and self.get_name() == "ssh-rsa":
            algorithm = "rsa-sha2-512"
        return Message(self.agent.sign(self.blob, data, algorithm))

    def __repr__(self) -> str:
        fp = self.fingerprint
        return f"AgentKey(alg={self.algorithm_name}, bits={self.get_bits()}, fp={fp}, comment={self.comment!r})"


class AgentRequestHandler:
    """Forward the local agent to the server for one session channel (``paramiko.agent.AgentRequestHandler``).

    Sends ``auth-agent-req@openssh.com`` on ``chanRemote`` (before its command starts)
    and lets the connection relay the server's agent channels to ``$SSH_AUTH_SOCK``
    (or ``agent_path``). :meth:`close` is accepted for compatibility; the relay ends
    with the connection.
    """

    def __init__(self, chanRemote: Channel, agent_path: str | None = None) -> None:  # noqa: N803 - paramiko's name
        self._chan = chanRemote
        aio_chan: Any = chanRemote._chan  # noqa: SLF001 - the facade's own channel
        conn = aio_chan._conn  # noqa: SLF001
        path = agent_path or default_agent_path()
        if not path:
            raise SSHException("agent forwarding needs a local agent (SSH_AUTH_SOCK is not set)")

        def enable() -> None:
            conn.enable_agent_forwarding(path)
            request_agent_forwarding(aio_chan)

        chanRemote._portal.call(_run(enable), chanRemote._request_timeout(), what="agent forwarding request")  # noqa: SLF001
        self.agent_path = path

    def close(self) -> None:
        """Nothing to stop here: forwarded agent connections end with the SSH connection."""


async def _run(fn: Any) -> None:
    fn()
