"""paramiko-compatible module path: ``from blockssh.ssh_exception import SSHException, ...``.

The classes are blockssh's own exception tree (:mod:`blockssh.exceptions`), where paramiko's
names live; catching them catches what blockssh raises.
"""

from __future__ import annotations

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
    ProxyCommandFailure,
    SSHException,
    UnableToAuthenticate,
)

__all__ = [
    "AuthenticationException",
    "BadAuthenticationType",
    "BadHostKeyException",
    "ChannelException",
    "ConfigParseError",
    "CouldNotCanonicalize",
    "IncompatiblePeer",
    "MessageOrderError",
    "NoValidConnectionsError",
    "PartialAuthentication",
    "PasswordRequiredException",
    "ProxyCommandFailure",
    "SSHException",
    "UnableToAuthenticate",
]
