"""The asyncio API: connections, channels and session handlers."""

from __future__ import annotations

from .channel import (
    SSHChannel,
    SSHClientChannel,
    SSHServerChannel,
    SSHTCPChannel,
    SSHTunTapChannel,
    SSHUNIXChannel,
)
from .client import SSHClientConnection, SSHClientConnectionOptions, connect
from .connection import SSHConnection
from .editor import LineEditor
from .process import SSHCompletedProcess
from .server import (
    PQ_ONLY_ALGORITHMS,
    SERVER_DEFAULT_ALGORITHMS,
    SSHAcceptor,
    SSHServer,
    SSHServerConnection,
    SSHServerConnectionOptions,
    listen,
)
from .session import (
    SSHClientSession,
    SSHServerSession,
    SSHSession,
    SSHTCPSession,
    SSHTunTapSession,
    SSHUNIXSession,
)

__all__ = [
    "LineEditor",
    "PQ_ONLY_ALGORITHMS",
    "SERVER_DEFAULT_ALGORITHMS",
    "SSHAcceptor",
    "SSHChannel",
    "SSHClientChannel",
    "SSHClientConnection",
    "SSHClientConnectionOptions",
    "SSHClientSession",
    "SSHCompletedProcess",
    "SSHConnection",
    "SSHServer",
    "SSHServerChannel",
    "SSHServerConnection",
    "SSHServerConnectionOptions",
    "SSHServerSession",
    "SSHSession",
    "SSHTCPChannel",
    "SSHTCPSession",
    "SSHTunTapChannel",
    "SSHTunTapSession",
    "SSHUNIXChannel",
    "SSHUNIXSession",
    "connect",
    "listen",
]
