"""paramiko-compatible module path: ``from blockssh.rsakey import RSAKey``."""

from __future__ import annotations

from .keys.pkey import RSAKey

__all__ = ["RSAKey"]
