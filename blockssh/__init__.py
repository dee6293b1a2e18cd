"""blockssh: an SSH-2 client and server library with a blocking, paramiko-style API.

``import blockssh`` gives the blocking API (paramiko's names); ``blockssh.aio``
is the asyncio API underneath it.
"""

from __future__ import annotations

from ._version import __version__
from .aio.process import SSHCompletedProcess
from .config import SSHConfig, SSHConfigDict
from .exceptions import (
    AuthenticationException,
    BadAuthenticationType,
    BadHostKeyException,
    ChannelException,
    ConfigParseError,
    CouldNotCanonicalize,
    IncompatiblePeer,
    MessageOrderError,
    NoValidConnectionsError,
    PartialAuthentication,
    PasswordRequiredException,
    ProcessError,
    ProxyCommandFailure,
    SFTPError,
    SSHError,
    SSHException,
    SSHTimeoutError,
    UnableToAuthenticate,
    UnknownKeyType,
)
from .keys import HostKeys, Message
from .keys.pkey import ECDSAKey, Ed25519Key, PKey, PublicBlob, RSAKey
from .sync import (
    AutoAddPolicy,
    Channel,
    ChannelFile,
    ChannelStderrFile,
    ChannelStdinFile,
    MissingHostKeyPolicy,
    RejectPolicy,
    SSHClient,
    Transport,
    WarningPolicy,
    connect,
)

__all__ = [
    "AuthenticationException",
    "AutoAddPolicy",
    "BadAuthenticationType",
    "BadHostKeyException",
    "Channel",
    "ChannelException",
    "ChannelFile",
    "ChannelStderrFile",
    "ChannelStdinFile",
    "ConfigParseError",
    "CouldNotCanonicalize",
    "ECDSAKey",
    "Ed25519Key",
    "HostKeys",
    "IncompatiblePeer",
    "Message",
    "MessageOrderError",
    "MissingHostKeyPolicy",
    "NoValidConnectionsError",
    "PKey",
    "PartialAuthentication",
    "PasswordRequiredException",
    "ProcessError",
    "ProxyCommandFailure",
    "PublicBlob",
    "RSAKey",
    "RejectPolicy",
    "SFTPError",
    "SSHClient",
    "SSHCompletedProcess",
    "SSHConfig",
    "SSHConfigDict",
    "SSHError",
    "SSHException",
    "SSHTimeoutError",
    "Transport",
    "UnableToAuthenticate",
    "UnknownKeyType",
    "WarningPolicy",
    "__version__",
    "connect",
]
