"""The blocking facade: caller threads block here, and only here."""

from __future__ import annotations

from .channel import Channel
from .client import AutoAddPolicy, MissingHostKeyPolicy, RejectPolicy, SSHClient, WarningPolicy, connect
from .file import BufferedFile, ChannelFile, ChannelStderrFile, ChannelStdinFile
from .transport import AuthenticationTimeout, SecurityOptions, Transport

__all__ = [
    "AuthenticationTimeout",
    "AutoAddPolicy",
    "BufferedFile",
    "Channel",
    "ChannelFile",
    "ChannelStderrFile",
    "ChannelStdinFile",
    "MissingHostKeyPolicy",
    "RejectPolicy",
    "SSHClient",
    "SecurityOptions",
    "Transport",
    "WarningPolicy",
    "connect",
]
