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
from .process import SSHCompletedProcess
from .session import (
    SSHClientSession,
    SSHServerSession,
    SSHSession,
    SSHTCPSession,
    SSHTunTapSession,
    SSHUNIXSession,
)

__all__ = [
    "SSHChannel",
    "SSHClientChannel",
    "SSHClientConnection",
    "SSHClientConnectionOptions",
    "SSHClientSession",
    "SSHCompletedProcess",
    "SSHConnection",
    "SSHServerChannel",
    "SSHServerSession",
    "SSHSession",
    "SSHTCPChannel",
    "SSHTCPSession",
    "SSHTunTapChannel",
    "SSHTunTapSession",
    "SSHUNIXChannel",
    "SSHUNIXSession",
    "connect",
]
