"""paramiko-compatible module path: ``from blockssh.client import SSHClient, AutoAddPolicy``."""

from __future__ import annotations

from .sync.client import AutoAddPolicy, MissingHostKeyPolicy, RejectPolicy, SSHClient, WarningPolicy

SSH_PORT = 22

__all__ = ["SSH_PORT", "AutoAddPolicy", "MissingHostKeyPolicy", "RejectPolicy", "SSHClient", "WarningPolicy"]
