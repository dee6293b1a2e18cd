"""paramiko-compatible module path: ``from blockssh.transport import Transport``."""

from __future__ import annotations

from .sync.transport import DEFAULT_MAX_PACKET_SIZE, DEFAULT_WINDOW_SIZE, SecurityOptions, Transport

#: paramiko's variant used with AuthStrategy; blockssh's Transport already behaves that way.
ServiceRequestingTransport = Transport

__all__ = [
    "DEFAULT_MAX_PACKET_SIZE",
    "DEFAULT_WINDOW_SIZE",
    "SecurityOptions",
    "ServiceRequestingTransport",
    "Transport",
]
