"""paramiko's ``common`` constants that scripts import (window sizes, result codes, modes)."""

from __future__ import annotations

from logging import CRITICAL, DEBUG, ERROR, INFO, WARNING

from .proto.constants import ChannelOpenFailure, Msg
from .sync.transport import DEFAULT_MAX_PACKET_SIZE, DEFAULT_WINDOW_SIZE

__all__ = [
    "AUTH_FAILED",
    "AUTH_PARTIALLY_SUCCESSFUL",
    "AUTH_SUCCESSFUL",
    "CRITICAL",
    "DEBUG",
    "DEFAULT_MAX_PACKET_SIZE",
    "DEFAULT_WINDOW_SIZE",
    "ERROR",
    "INFO",
    "MAX_WINDOW_SIZE",
    "MIN_PACKET_SIZE",
    "MIN_WINDOW_SIZE",
    "OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED",
    "OPEN_FAILED_CONNECT_FAILED",
    "OPEN_FAILED_RESOURCE_SHORTAGE",
    "OPEN_FAILED_UNKNOWN_CHANNEL_TYPE",
    "OPEN_SUCCEEDED",
    "WARNING",
    "io_sleep",
    "o600",
    "o644",
    "o660",
    "o666",
    "o70",
    "o700",
    "o777",
]

# Server-side authentication results (what ServerInterface.check_auth_* return).
AUTH_SUCCESSFUL, AUTH_PARTIALLY_SUCCESSFUL, AUTH_FAILED = range(3)

# Channel open results.
OPEN_SUCCEEDED = 0
OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED = int(ChannelOpenFailure.ADMINISTRATIVELY_PROHIBITED)
OPEN_FAILED_CONNECT_FAILED = int(ChannelOpenFailure.CONNECT_FAILED)
OPEN_FAILED_UNKNOWN_CHANNEL_TYPE = int(ChannelOpenFailure.UNKNOWN_CHANNEL_TYPE)
OPEN_FAILED_RESOURCE_SHORTAGE = int(ChannelOpenFailure.RESOURCE_SHORTAGE)

MAX_WINDOW_SIZE = 2**32 - 1
MIN_WINDOW_SIZE = 2**15
MIN_PACKET_SIZE = 2**12

# File modes, as paramiko spells them.
o777 = 0o777
o700 = 0o700
o70 = 0o70
o666 = 0o666
o660 = 0o660
o644 = 0o644
o600 = 0o600

io_sleep = 0.01

# Message numbers: MSG_DISCONNECT, MSG_CHANNEL_DATA, ...
for _msg in Msg:
    globals()["MSG_" + _msg.name] = int(_msg)
del _msg
MSG_CHANNEL_OPEN_SUCCESS = int(Msg.CHANNEL_OPEN_CONFIRMATION)
