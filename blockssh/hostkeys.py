"""paramiko-compatible module path: ``from blockssh.hostkeys import HostKeys, HostKeyEntry``."""

from __future__ import annotations

from .keys.hostkeys import HostKeyEntry, HostKeys

__all__ = ["HostKeyEntry", "HostKeys"]
