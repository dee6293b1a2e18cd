"""paramiko-compatible module path: ``from blockssh.ecdsakey import ECDSAKey``."""

from __future__ import annotations

from .keys.pkey import ECDSAKey

__all__ = ["ECDSAKey"]
