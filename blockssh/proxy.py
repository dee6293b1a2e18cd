"""paramiko-compatible module path: ``from blockssh.proxy import ProxyCommand``."""

from __future__ import annotations

from .exceptions import ProxyCommandFailure
from .sync.proxy import ProxyCommand

__all__ = ["ProxyCommand", "ProxyCommandFailure"]
