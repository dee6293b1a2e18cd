"""Events the protocol core reports to its driver (see ``SSHConnectionCore.events_received``).

Events are plain slotted dataclasses. ``ChannelData.data`` may be a
memoryview over an immutable ``bytes`` object: it is safe to keep.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..exceptions import DisconnectError

__all__ = [
    "Event",
    "HostKeyReceived",
    "KexComplete",
    "ExtInfoReceived",
    "DebugReceived",
    "ConnectionClosed",
    "AuthReady",
    "AuthBanner",
    "AuthFailure",
    "AuthSuccess",
    "AuthPublicKeyOk",
    "AuthPasswordChangeRequired",
    "AuthInfoRequest",
    "AuthRequest",
    "AuthInfoResponse",
    "GlobalRequest",
    "GlobalRequestReply",
    "ChannelOpenRequest",
    "ChannelOpened",
    "ChannelOpenFailed",
    "ChannelData",
    "ChannelEOF",
    "ChannelClosed",
    "ChannelRequest",
    "ChannelRequestReply",
    "ChannelWindowOpened",
]


class Event:
    """Base class of every core event."""

    __slots__ = ()


# -- transport ---------------------------------------------------------------


@dataclass(slots=True)
class HostKeyReceived(Event):
    """Client: the server proved possession of this host key; accept or reject it.

    Input processing pauses until the driver calls ``accept_host_key()`` or
    ``reject_host_key()``.
    """

    key: Any  # blockssh.keys SSHKey or SSHCertificate
    algorithm: str


@dataclass(slots=True)
class KexComplete(Event):
    """A key exchange finished; ``initial`` is True for the first one."""

    initial: bool
    algorithms: Any  # kex.negotiate.Negotiated


@dataclass(slots=True)
class ExtInfoReceived(Event):
    """The peer sent SSH_MSG_EXT_INFO (RFC 8308)."""

    extensions: dict[str, bytes]


@dataclass(slots=True)
class DebugReceived(Event):
    """The peer sent SSH_MSG_DEBUG."""

    always_display: bool
    message: str
    lang: str


@dataclass(slots=True)
class ConnectionClosed(Event):
    """The connection is over; ``error`` is None for an orderly close by either side."""

    error: DisconnectError | None


# -- user authentication, client side ----------------------------------------


@dataclass(slots=True)
class AuthReady(Event):
    """Client: the server accepted the ssh-userauth service; authentication may start."""


@dataclass(slots=True)
class AuthBanner(Event):
    """The server's SSH_MSG_USERAUTH_BANNER."""

    message: str
    lang: str


@dataclass(slots=True)
class AuthFailure(Event):
    """The last request failed (or partially succeeded); ``methods`` may continue."""

    methods: list[str]
    partial: bool


@dataclass(slots=True)
class AuthSuccess(Event):
    """Authentication finished; the connection protocol may start."""


@dataclass(slots=True)
class AuthPublicKeyOk(Event):
    """The server would accept a signature from this key (SSH_MSG_USERAUTH_PK_OK)."""

    algorithm: str
    key_blob: bytes


@dataclass(slots=True)
class AuthPasswordChangeRequired(Event):
    """The server wants a new password (SSH_MSG_USERAUTH_PASSWD_CHANGEREQ)."""

    prompt: str
    lang: str


@dataclass(slots=True)
class AuthInfoRequest(Event):
    """Keyboard-interactive prompts (SSH_MSG_USERAUTH_INFO_REQUEST)."""

    name: str
    instruction: str
    lang: str
    prompts: list[tuple[str, bool]]


# -- user authentication, server side ----------------------------------------


@dataclass(slots=True)
class AuthRequest(Event):
    """Server: a client asks to authenticate.

    For ``publickey``, ``signature_valid`` is None for a query (no signature)
    and otherwise tells whether the signature checked out; the core has
    already verified it. ``key`` is the parsed key or certificate.
    """

    username: str
    method: str
    password: str | None = None
    new_password: str | None = None
    key_algorithm: str | None = None
    key_blob: bytes | None = None
    key: Any = None
    signature_valid: bool | None = None
    submethods: str | None = None


@dataclass(slots=True)
class AuthInfoResponse(Event):
    """Server: answers to our keyboard-interactive prompts."""

    responses: list[str]


# -- connection protocol -----------------------------------------------------


@dataclass(slots=True)
class GlobalRequest(Event):
    """The peer sent SSH_MSG_GLOBAL_REQUEST; reply with ``reply_global_request`` if ``want_reply``."""

    name: str
    want_reply: bool
    data: bytes


@dataclass(slots=True)
class GlobalRequestReply(Event):
    """The answer to our oldest outstanding global request."""

    success: bool
    data: bytes


@dataclass(slots=True)
class ChannelOpenRequest(Event):
    """The peer wants a channel; answer with ``accept_channel`` or ``reject_channel``."""

    channel: int
    kind: str
    data: bytes
    peer_window: int
    peer_max_packet: int


@dataclass(slots=True)
class ChannelOpened(Event):
    """Our channel-open request was confirmed."""

    channel: int
    data: bytes = b""


@dataclass(slots=True)
class ChannelOpenFailed(Event):
    """Our channel-open request was refused."""

    channel: int
    code: int
    reason: str
    lang: str = ""


@dataclass(slots=True)
class ChannelData(Event):
    """Data arrived; ``datatype`` is None for normal data, 1 for stderr."""

    channel: int
    data: bytes | memoryview
    datatype: int | None


@dataclass(slots=True)
class ChannelEOF(Event):
    """The peer will send no more data on this channel."""

    channel: int


@dataclass(slots=True)
class ChannelClosed(Event):
    """The channel is closed on both sides; its id is free again."""

    channel: int


@dataclass(slots=True)
class ChannelRequest(Event):
    """The peer sent a channel request; reply with ``channel_reply`` if ``want_reply``."""

    channel: int
    request: str
    want_reply: bool
    data: bytes


@dataclass(slots=True)
class ChannelRequestReply(Event):
    """The answer to our oldest outstanding request on this channel."""

    channel: int
    success: bool


@dataclass(slots=True)
class ChannelWindowOpened(Event):
    """The peer granted window space; queued output may have drained."""

    channel: int
    buffered: int = field(default=0)
