"""SFTP version 3: the sans-I/O codec, the asyncio client and the asyncio server.

The blocking, paramiko-style client is :mod:`blockssh.sync.sftp` (``blockssh.SFTPClient``).
"""

from __future__ import annotations

from ..exceptions import SFTPError
from .attrs import SFTPAttributes, SFTPVFSAttributes
from .client import SFTPClient, start_sftp_client
from .codec import FX, FXP, SFTPEOFError, SFTPLimits, SFTPNoSuchFile, SFTPPermissionDenied, SFTPStatusError
from .file import SFTPClientFile
from .server import SFTPServerSession, sftp_factory

__all__ = [
    "FX",
    "FXP",
    "SFTPAttributes",
    "SFTPClient",
    "SFTPClientFile",
    "SFTPEOFError",
    "SFTPError",
    "SFTPLimits",
    "SFTPNoSuchFile",
    "SFTPPermissionDenied",
    "SFTPServerSession",
    "SFTPStatusError",
    "SFTPVFSAttributes",
    "sftp_factory",
    "start_sftp_client",
]
