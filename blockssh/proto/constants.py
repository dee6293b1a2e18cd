"""Message numbers, reason codes and other protocol constants (RFC 4250)."""

from __future__ import annotations

import enum

from ..exceptions import DisconnectReason

__all__ = [
    "ChannelOpenFailure",
    "DisconnectReason",
    "ExtendedData",
    "Msg",
    "PTY_OPCODES",
    "DEFAULT_MAX_PACKET_LENGTH",
]


class Msg(enum.IntEnum):
    """SSH message numbers."""

    DISCONNECT = 1
    IGNORE = 2
    UNIMPLEMENTED = 3
    DEBUG = 4
    SERVICE_REQUEST = 5
    SERVICE_ACCEPT = 6
    EXT_INFO = 7
    NEWCOMPRESS = 8
    KEXINIT = 20
    NEWKEYS = 21
    KEX_FIRST = 30  # method-specific kex messages occupy 30..49
    KEX_LAST = 49
    USERAUTH_REQUEST = 50
    USERAUTH_FAILURE = 51
    USERAUTH_SUCCESS = 52
    USERAUTH_BANNER = 53
    USERAUTH_METHOD_FIRST = 60  # method-specific auth messages occupy 60..79
    USERAUTH_METHOD_LAST = 79
    GLOBAL_REQUEST = 80
    REQUEST_SUCCESS = 81
    REQUEST_FAILURE = 82
    CHANNEL_OPEN = 90
    CHANNEL_OPEN_CONFIRMATION = 91
    CHANNEL_OPEN_FAILURE = 92
    CHANNEL_WINDOW_ADJUST = 93
    CHANNEL_DATA = 94
    CHANNEL_EXTENDED_DATA = 95
    CHANNEL_EOF = 96
    CHANNEL_CLOSE = 97
    CHANNEL_REQUEST = 98
    CHANNEL_SUCCESS = 99
    CHANNEL_FAILURE = 100


# Method-specific numbers, named for readability where they are used.
MSG_KEXDH_INIT = 30
MSG_KEXDH_REPLY = 31
MSG_KEX_DH_GEX_REQUEST_OLD = 30
MSG_KEX_DH_GEX_GROUP = 31
MSG_KEX_DH_GEX_INIT = 32
MSG_KEX_DH_GEX_REPLY = 33
MSG_KEX_DH_GEX_REQUEST = 34
MSG_USERAUTH_PK_OK = 60
MSG_USERAUTH_PASSWD_CHANGEREQ = 60
MSG_USERAUTH_INFO_REQUEST = 60
MSG_USERAUTH_INFO_RESPONSE = 61


class ChannelOpenFailure(enum.IntEnum):
    """SSH_MSG_CHANNEL_OPEN_FAILURE reason codes (RFC 4254 section 5.1)."""

    ADMINISTRATIVELY_PROHIBITED = 1
    CONNECT_FAILED = 2
    UNKNOWN_CHANNEL_TYPE = 3
    RESOURCE_SHORTAGE = 4


class ExtendedData(enum.IntEnum):
    """Extended data type codes (RFC 4254 section 5.2)."""

    STDERR = 1


# Largest packet we accept from a peer, before anything is allocated for it:
# OpenSSH's PACKET_MAX_SIZE.
DEFAULT_MAX_PACKET_LENGTH = 256 * 1024

# Encoded terminal modes (RFC 4254 section 8): opcode -> name.
PTY_OPCODES: dict[int, str] = {
    1: "VINTR",
    2: "VQUIT",
    3: "VERASE",
    4: "VKILL",
    5: "VEOF",
    6: "VEOL",
    7: "VEOL2",
    8: "VSTART",
    9: "VSTOP",
    10: "VSUSP",
    11: "VDSUSP",
    12: "VREPRINT",
    13: "VWERASE",
    14: "VLNEXT",
    15: "VFLUSH",
    16: "VSWTCH",
    17: "VSTATUS",
    18: "VDISCARD",
    30: "IGNPAR",
    31: "PARMRK",
    32: "INPCK",
    33: "ISTRIP",
    34: "INLCR",
    35: "IGNCR",
    36: "ICRNL",
    37: "IUCLC",
    38: "IXON",
    39: "IXANY",
    40: "IXOFF",
    41: "IMAXBEL",
    42: "IUTF8",
    50: "ISIG",
    51: "ICANON",
    52: "XCASE",
    53: "ECHO",
    54: "ECHOE",
    55: "ECHOK",
    56: "ECHONL",
    57: "NOFLSH",
    58: "TOSTOP",
    59: "IEXTEN",
    60: "ECHOCTL",
    61: "ECHOKE",
    62: "PENDIN",
    70: "OPOST",
    71: "OLCUC",
    72: "ONLCR",
    73: "OCRNL",
    74: "ONOCR",
    75: "ONLRET",
    90: "CS7",
    91: "CS8",
    92: "PARENB",
    93: "PARODD",
    128: "TTY_OP_ISPEED",
    129: "TTY_OP_OSPEED",
}
PTY_OP_END = 0
