"""The blocking facade: caller threads block here, and only here."""

from __future__ import annotations

from .channel import Channel
from .client import AutoAddPolicy, MissingHostKeyPolicy, RejectPolicy, SSHClient, WarningPolicy, connect
from .file import ChannelFile, ChannelStderrFile, ChannelStdinFile
from .transport import Transport

__all__ = [
    "AutoAddPolicy",
    "Channel",
    "ChannelFile",
    "ChannelStderrFile",
    "ChannelStdinFile",
    "MissingHostKeyPolicy",
    "RejectPolicy",
    "SSHClient",
    "Transport",
    "WarningPolicy",
    "connect",
]
