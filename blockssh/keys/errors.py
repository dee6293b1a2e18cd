"""Key-handling errors (defined in :mod:`blockssh.exceptions`, re-exported here)."""

from __future__ import annotations

from ..exceptions import CertificateError, KeyUsageError

__all__ = ["CertificateError", "KeyUsageError"]
