"""Encoders and decoders for session channel requests (RFC 4254 section 6)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..exceptions import PacketDecodeError
from .constants import PTY_OP_END
from .wire import Reader, boolean, byte, string, uint32

__all__ = [
    "PtyRequest",
    "ExitSignal",
    "encode_pty_request",
    "decode_pty_request",
    "encode_terminal_modes",
    "decode_terminal_modes",
    "encode_window_change",
    "decode_window_change",
    "encode_exit_signal",
    "decode_exit_signal",
    "encode_env",
    "decode_env",
]

MAX_TERMINAL_MODES = 256


@dataclass(frozen=True)
class PtyRequest:
    """A decoded ``pty-req``."""

    term: str
    width: int
    height: int
    pixel_width: int
    pixel_height: int
    modes: dict[int, int]


@dataclass(frozen=True)
class ExitSignal:
    """A decoded ``exit-signal``: signal name without "SIG", core dump flag, message, language."""

    signal: str
    core_dumped: bool
    message: str
    lang: str


def encode_terminal_modes(modes: Mapping[int, int] | None) -> bytes:
    """Encode terminal modes: opcode byte and uint32 value each, then TTY_OP_END."""
    out = b"".join(byte(op) + uint32(value) for op, value in (modes or {}).items() if 0 < op < 160)
    return out + byte(PTY_OP_END)


def decode_terminal_modes(data: bytes) -> dict[int, int]:
    """Decode terminal modes, stopping at TTY_OP_END or an opcode we cannot size (160+)."""
    r = Reader(data)
    modes: dict[int, int] = {}
    while r.remaining:
        op = r.get_byte()
        if op == PTY_OP_END or op >= 160:
            break
        modes[op] = r.get_uint32()
        if len(modes) > MAX_TERMINAL_MODES:
            raise PacketDecodeError("too many terminal modes")
    return modes


def encode_pty_request(
    term: str,
    width: int,
    height: int,
    pixel_width: int = 0,
    pixel_height: int = 0,
    modes: Mapping[int, int] | None = None,
) -> bytes:
    """The request-specific data of ``pty-req``."""
    return (
        string(term)
        + uint32(width)
        + uint32(height)
        + uint32(pixel_width)
        + uint32(pixel_height)
        + string(encode_terminal_modes(modes))
    )


def decode_pty_request(data: bytes) -> PtyRequest:
    """Parse the data of ``pty-req``."""
    r = Reader(data)
    term = r.get_text()
    w, h, pw, ph = r.get_uint32(), r.get_uint32(), r.get_uint32(), r.get_uint32()
    modes = decode_terminal_modes(r.get_string())
    r.check_end()
    return PtyRequest(term, w, h, pw, ph, modes)


def encode_window_change(width: int, height: int, pixel_width: int = 0, pixel_height: int = 0) -> bytes:
    """The data of ``window-change``."""
    return uint32(width) + uint32(height) + uint32(pixel_width) + uint32(pixel_height)


def decode_window_change(data: bytes) -> tuple[int, int, int, int]:
    """Parse ``window-change``: (width, height, pixel width, pixel height)."""
    r = Reader(data)
    size = (r.get_uint32(), r.get_uint32(), r.get_uint32(), r.get_uint32())
    r.check_end()
    return size


def encode_exit_signal(signal: str, core_dumped: bool = False, message: str = "", lang: str = "") -> bytes:
    """The data of ``exit-signal``."""
    return string(signal) + boolean(core_dumped) + string(message) + string(lang)


def decode_exit_signal(data: bytes) -> ExitSignal:
    """Parse ``exit-signal``."""
    r = Reader(data)
    signal = r.get_text()
    core = r.get_boolean()
    message = r.get_text() if r.remaining else ""
    lang = r.get_text() if r.remaining else ""
    return ExitSignal(signal, core, message, lang)


def encode_env(name: str, value: str | bytes) -> bytes:
    """The data of ``env``."""
    return string(name) + string(value)


def decode_env(data: bytes) -> tuple[str, str]:
    """Parse ``env``: (name, value)."""
    r = Reader(data)
    name = r.get_text()
    value = r.get_string().decode("utf-8", "surrogateescape")
    r.check_end()
    return name, value
