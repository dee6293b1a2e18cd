"""paramiko-compatible module path: ``from blockssh.message import Message``."""

from __future__ import annotations

from .keys.message import Message

__all__ = ["Message"]
