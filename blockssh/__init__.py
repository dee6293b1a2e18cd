"""blockssh: an SSH-2 client and server library with a blocking, paramiko-style API."""

from __future__ import annotations

from ._version import __version__
