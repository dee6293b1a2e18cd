"""paramiko-compatible module path: ``from blockssh.channel import Channel, ChannelFile``."""

from __future__ import annotations

from .sync.channel import Channel
from .sync.file import ChannelFile, ChannelStderrFile, ChannelStdinFile

__all__ = ["Channel", "ChannelFile", "ChannelStderrFile", "ChannelStdinFile"]
