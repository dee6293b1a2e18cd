"""The asyncio API: connections, channels and session handlers."""

from __future__ import annotations

from .agent import AgentError, SSHAgentClient, SSHAgentKeyPair
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
from .forward import ForwardingError, SSHListener, SSHLocalListener, SSHStreamWriter
from .forward_client import SSHRemoteListener, SSHTunnel
from .forward_server import ForwardingPolicy
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
    "AgentError",
    "SSHAgentClient",
    "SSHAgentKeyPair",
    "ForwardingError",
    "ForwardingPolicy",
    "SSHListener",
    "SSHLocalListener",
    "SSHRemoteListener",
    "SSHStreamWriter",
    "SSHTunnel",
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
