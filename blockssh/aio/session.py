"""Session handler base classes: subclass these and override what you need.

They mirror :class:`asyncio.Protocol`: the channel calls them on the event
loop thread, so they must not block. Every method has a do-nothing default.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from .channel import SSHChannel

__all__ = [
    "SSHSession",
    "SSHClientSession",
    "SSHServerSession",
    "SSHTCPSession",
    "SSHUNIXSession",
    "SSHTunTapSession",
]

AnyStr = TypeVar("AnyStr", bytes, str)


class SSHSession(Generic[AnyStr]):
    """Callbacks common to every kind of channel."""

    def connection_made(self, chan: SSHChannel[Any]) -> None:
        """The channel is open; ``chan`` is how to write to it."""

    def connection_lost(self, exc: BaseException | None) -> None:
        """The channel closed; ``exc`` is None for a normal close."""

    def session_started(self) -> None:
        """The session's shell, command or subsystem started (or a forwarded stream opened)."""

    def data_received(self, data: AnyStr, datatype: int | None) -> None:
        """Data arrived; ``datatype`` is None for normal data and 1 for stderr."""

    def eof_received(self) -> bool:
        """The peer sent EOF. Return True to keep our side open; otherwise we send EOF too."""
        return False

    def pause_writing(self) -> None:
        """Our queued output passed the high-water mark: stop writing for now."""

    def resume_writing(self) -> None:
        """Our queued output drained below the low-water mark."""


class SSHClientSession(SSHSession[AnyStr]):
    """Callbacks of a client session (shell, exec or subsystem)."""

    def xon_xoff_requested(self, client_can_do: bool) -> None:
        """The server says whether the client may do XON/XOFF flow control."""

    def exit_status_received(self, status: int) -> None:
        """The remote command exited with ``status``."""

    def exit_signal_received(self, signal: str, core_dumped: bool, msg: str, lang: str) -> None:
        """The remote command was killed by ``signal``."""


class SSHServerSession(SSHSession[AnyStr]):
    """Callbacks of a server session; the ``*_requested`` ones return True to allow."""

    def pty_requested(self, term_type: str, term_size: tuple[int, int, int, int], term_modes: dict[int, int]) -> bool:
        """The client wants a pseudo-terminal."""
        return False

    def terminal_size_changed(self, width: int, height: int, pixwidth: int, pixheight: int) -> None:
        """The client's terminal changed size."""

    def shell_requested(self) -> bool:
        """The client wants a shell."""
        return False

    def exec_requested(self, command: str) -> bool:
        """The client wants to run ``command``."""
        return False

    def subsystem_requested(self, subsystem: str) -> bool:
        """The client wants a subsystem (such as ``sftp``)."""
        return False

    def break_received(self, msec: int) -> bool:
        """The client sent a break of ``msec`` milliseconds; return True if handled."""
        return False

    def signal_received(self, signal: str) -> None:
        """The client asked to deliver ``signal`` to the process."""

    def soft_eof_received(self) -> None:
        """The line editor saw Ctrl-D on an empty line."""

    def x11_requested(self, single_connection: bool, auth_protocol: str, auth_cookie: str, screen_number: int) -> bool:
        """The client asks for X11 forwarding (``x11-req``); return True to accept.

        ``auth_cookie`` is the client's (fake) cookie in hex. An accepting session usually
        starts an X11 listener with :func:`blockssh.aio.x11.start_x11_listener` and sets
        ``DISPLAY`` for its program.
        """
        return False


class SSHTCPSession(SSHSession[AnyStr]):
    """Callbacks of a forwarded TCP connection."""


class SSHUNIXSession(SSHSession[AnyStr]):
    """Callbacks of a forwarded UNIX-domain socket connection."""


class SSHTunTapSession(SSHSession[bytes]):
    """Callbacks of a layer 2/3 tunnel (bytes only, one packet per ``data_received``)."""
