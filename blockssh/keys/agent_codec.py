"""The ssh-agent protocol (draft-miller-ssh-agent, OpenSSH's PROTOCOL.agent) as pure functions over bytes.

No sockets here: :mod:`blockssh.aio.agent` (asyncio) and :mod:`blockssh.sync.agent`
(blocking, paramiko's names) carry these messages over ``SSH_AUTH_SOCK``.

A message on the wire is ``uint32 length, byte type, contents``. Every decoder
is bounds-checked and raises :class:`AgentError` on malformed input; messages
longer than :data:`DEFAULT_MAX_AGENT_MESSAGE` (256 KiB, OpenSSH's own limit)
are refused before they are buffered.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from ..exceptions import PacketDecodeError, SSHException
from ..proto.wire import Reader, byte, string, uint32
from . import algorithms as alg
from .certificate import KeyPair, SSHCertificate
from .formats import import_public_key_blob
from .keytypes import handler_for_key
from .sshkey import SSHKey

__all__ = [
    "DEFAULT_MAX_AGENT_MESSAGE",
    "MAX_AGENT_IDENTITIES",
    "AgentError",
    "AgentIdentity",
    "AgentMsg",
    "SSH_AGENT_RSA_SHA2_256",
    "SSH_AGENT_RSA_SHA2_512",
    "decode_identities",
    "decode_sign_response",
    "encode_add_identity",
    "encode_lock",
    "encode_message",
    "encode_remove_identity",
    "encode_sign_request",
    "key_blobs",
    "message_length",
    "sign_flags_for",
    "split_message",
]

#: Largest agent message accepted or sent (OpenSSH's AGENT_MAX_LEN).
DEFAULT_MAX_AGENT_MESSAGE = 256 * 1024
#: Most identities decoded from one answer (an agent listing more is treated as hostile).
MAX_AGENT_IDENTITIES = 2048

#: Signature flags of SSH_AGENTC_SIGN_REQUEST: use SHA-2 with an RSA key.
SSH_AGENT_RSA_SHA2_256 = 0x02
SSH_AGENT_RSA_SHA2_512 = 0x04

_CONSTRAIN_LIFETIME = 1
_CONSTRAIN_CONFIRM = 2


class AgentError(SSHException):
    """The agent refused a request, answered with something malformed, or could not be reached."""


class AgentMsg(enum.IntEnum):
    """Message numbers of the agent protocol."""

    FAILURE = 5
    SUCCESS = 6
    REQUEST_IDENTITIES = 11
    IDENTITIES_ANSWER = 12
    SIGN_REQUEST = 13
    SIGN_RESPONSE = 14
    ADD_IDENTITY = 17
    REMOVE_IDENTITY = 18
    REMOVE_ALL_IDENTITIES = 19
    LOCK = 22
    UNLOCK = 23
    ADD_ID_CONSTRAINED = 25
    EXTENSION = 27
    EXTENSION_FAILURE = 28


@dataclass(frozen=True)
class AgentIdentity:
    """One key the agent holds: its public blob (a certificate blob for certificates) and comment."""

    blob: bytes
    comment: str

    def parse(self) -> SSHKey | SSHCertificate:
        """The public key or certificate; :class:`KeyImportError` for types blockssh does not know."""
        return import_public_key_blob(self.blob, self.comment)


def encode_message(msg_type: int, body: bytes = b"", *, max_size: int = DEFAULT_MAX_AGENT_MESSAGE) -> bytes:
    """Frame one message: ``uint32 length || byte type || body``."""
    if 1 + len(body) > max_size:
        raise AgentError(f"agent message of {1 + len(body)} bytes exceeds the {max_size}-byte limit")
    return uint32(1 + len(body)) + byte(msg_type) + body


def message_length(header: bytes, *, max_size: int = DEFAULT_MAX_AGENT_MESSAGE) -> int:
    """The payload length announced by a 4-byte header, checked against ``max_size``."""
    if len(header) != 4:
        raise AgentError("truncated agent message header")
    length = int.from_bytes(header, "big")
    if length == 0:
        raise AgentError("empty agent message")
    if length > max_size:
        raise AgentError(f"agent message of {length} bytes exceeds the {max_size}-byte limit")
    return length


def split_message(payload: bytes) -> tuple[int, bytes]:
    """``(type, body)`` of a payload (the bytes after the length header)."""
    if not payload:
        raise AgentError("empty agent message")
    return payload[0], payload[1:]


def decode_identities(body: bytes) -> list[AgentIdentity]:
    """Decode the body of SSH_AGENT_IDENTITIES_ANSWER."""
    try:
        reader = Reader(body)
        count = reader.get_uint32()
        if count > MAX_AGENT_IDENTITIES:
            raise AgentError(f"agent lists {count} identities (limit {MAX_AGENT_IDENTITIES})")
        identities = []
        for _ in range(count):
            blob = reader.get_string()
            comment = reader.get_string().decode("utf-8", "replace")
            identities.append(AgentIdentity(blob, comment))
        reader.check_end()
    except PacketDecodeError as exc:
        raise AgentError(f"malformed identities answer from the agent: {exc}") from None
    return identities


def sign_flags_for(algorithm: str | None) -> int:
    """The SIGN_REQUEST flags that make the agent sign with ``algorithm`` (certificate names included)."""
    if algorithm is None:
        return 0
    plain = alg.plain_signature_algorithm(algorithm)
    if plain == alg.RSA_SHA512:
        return SSH_AGENT_RSA_SHA2_512
    if plain == alg.RSA_SHA256:
        return SSH_AGENT_RSA_SHA2_256
    return 0


def encode_sign_request(key_blob: bytes, data: bytes, flags: int = 0) -> bytes:
    """The body of SSH_AGENTC_SIGN_REQUEST."""
    return string(key_blob) + string(data) + uint32(flags)


def decode_sign_response(body: bytes, expected_algorithm: str | None = None) -> bytes:
    """The signature blob of SSH_AGENT_SIGN_RESPONSE, checked to use ``expected_algorithm`` (plain name)."""
    try:
        reader = Reader(body)
        signature = reader.get_string()
        reader.check_end()
        sig_name = Reader(signature).get_ascii()
    except PacketDecodeError as exc:
        raise AgentError(f"malformed signature from the agent: {exc}") from None
    if expected_algorithm is not None:
        wanted = alg.plain_signature_algorithm(expected_algorithm)
        if sig_name != wanted:
            raise AgentError(f"the agent signed with {sig_name} instead of {wanted} (agent too old for SHA-2?)")
    return signature


def _cert_private_fields(key: SSHKey) -> bytes:
    """Private fields after the certificate blob (PROTOCOL.certkeys / the agent draft, per key type)."""
    private = key.private_key
    assert private is not None
    full = handler_for_key(private).private_fields(private)
    reader = Reader(full)
    if key.algorithm == alg.RSA:
        reader.get_mpint()  # n
        reader.get_mpint()  # e
    elif key.algorithm.startswith("ecdsa-sha2-"):
        reader.get_string()  # curve name
        reader.get_string()  # public point
    return full[reader.position :]


def encode_add_identity(
    key: SSHKey | KeyPair,
    comment: str | None = None,
    *,
    lifetime: int | None = None,
    confirm: bool = False,
) -> tuple[int, bytes]:
    """``(message type, body)`` adding a private key (with its certificate, for a :class:`KeyPair`).

    ``lifetime`` (seconds) and ``confirm`` become constraints (SSH_AGENTC_ADD_ID_CONSTRAINED).
    """
    cert = key.certificate if isinstance(key, KeyPair) else None
    plain = key.key if isinstance(key, KeyPair) else key
    private = plain.private_key
    if private is None:
        raise AgentError("only private keys can be added to an agent")
    text = plain.comment if comment is None else comment
    if cert is not None:
        body = string(cert.algorithm) + string(cert.public_blob) + _cert_private_fields(plain)
    else:
        body = string(plain.algorithm) + handler_for_key(private).private_fields(private)
    body += string(text)
    constraints = b""
    if lifetime is not None:
        if not 0 < lifetime <= 0xFFFFFFFF:
            raise AgentError(f"invalid agent key lifetime {lifetime}")
        constraints += byte(_CONSTRAIN_LIFETIME) + uint32(lifetime)
    if confirm:
        constraints += byte(_CONSTRAIN_CONFIRM)
    if constraints:
        return AgentMsg.ADD_ID_CONSTRAINED, body + constraints
    return AgentMsg.ADD_IDENTITY, body


def encode_remove_identity(key_blob: bytes) -> bytes:
    """The body of SSH_AGENTC_REMOVE_IDENTITY."""
    return string(key_blob)


def encode_lock(passphrase: str | bytes) -> bytes:
    """The body of SSH_AGENTC_LOCK / SSH_AGENTC_UNLOCK."""
    return string(passphrase)


def key_blobs(keys: Sequence[SSHKey | SSHCertificate | KeyPair | bytes]) -> list[bytes]:
    """Public blobs of keys given as objects or blobs."""
    out = []
    for key in keys:
        out.append(key if isinstance(key, bytes) else key.public_blob)
    return out
