"""paramiko-compatible module path: ``from blockssh.file import BufferedFile``."""

from __future__ import annotations

from .sync.file import BufferedFile

__all__ = ["BufferedFile"]
