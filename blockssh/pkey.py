"""paramiko-compatible module path: ``from blockssh.pkey import PKey, PublicBlob``."""

from __future__ import annotations

from .exceptions import UnknownKeyType
from .keys.pkey import ECDSAKey, Ed25519Key, PKey, PublicBlob, RSAKey

__all__ = ["ECDSAKey", "Ed25519Key", "PKey", "PublicBlob", "RSAKey", "UnknownKeyType"]
