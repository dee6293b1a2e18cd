"""paramiko-compatible module path: ``from blockssh.ed25519key import Ed25519Key``."""

from __future__ import annotations

from .keys.pkey import Ed25519Key

__all__ = ["Ed25519Key"]
