"""Channels on the asyncio side: what session handlers write to.

A channel object is created by its connection and fed by the connection's
event dispatch. All methods must be called on the event loop thread.
"""

from __future__ import annotations

import asyncio
import codecs
import logging
from collections import deque
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from ..exceptions import ChannelClosedError, ChannelException
from ..proto import requests as rq
from ..proto.constants import ExtendedData
from ..proto.events import ChannelRequest
from ..proto.wire import Reader, boolean, string, uint32
from .editor import LineEditor
from .session import SSHClientSession, SSHServerSession, SSHSession
from .tuntap import DEFAULT_TUN_QUEUE, LAYER3, TunTapError, TunTapFramer

if TYPE_CHECKING:
    from .connection import SSHConnection

__all__ = [
    "SSHChannel",
    "SSHClientChannel",
    "SSHServerChannel",
    "SSHTCPChannel",
    "SSHUNIXChannel",
    "SSHTunTapChannel",
    "DEFAULT_WRITE_HIGH_WATER",
    "DEFAULT_WRITE_LOW_WATER",
    "DEFAULT_MAX_ENV_VARIABLES",
]

AnyStr = TypeVar("AnyStr", bytes, str)
logger = logging.getLogger("blockssh")

DEFAULT_WRITE_HIGH_WATER = 256 * 1024
DEFAULT_WRITE_LOW_WATER = 64 * 1024
DEFAULT_MAX_ENV_VARIABLES = 64  # env requests a server session accepts


class SSHChannel(Generic[AnyStr]):
    """An open SSH channel, as seen by its session handler."""

    def __init__(
        self, conn: SSHConnection, chan_id: int, kind: str, *, encoding: str | None = None, errors: str = "strict"
    ) -> None:
        self._conn: SSHConnection = conn
        self._loop = conn.loop
        self._id = chan_id
        self._kind = kind
        self._encoding = encoding
        self._errors = errors
        self._decoders: dict[int | None, codecs.IncrementalDecoder] = {}
        self._session: SSHSession[Any] | None = None
        self._read_paused = False
        self._held: deque[tuple[bytes | memoryview | None, int | None]] = deque()  # None data marks EOF
        self._write_high = DEFAULT_WRITE_HIGH_WATER
        self._write_low = DEFAULT_WRITE_LOW_WATER
        self._writing_paused = False
        self._closing = False
        self._closed = False
        self._close_error: BaseException | None = None
        self._closed_future: asyncio.Future[None] = self._loop.create_future()
        self._replies: deque[asyncio.Future[bool]] = deque()
        self._eof_received = False
        self._raw_buffers = False
        self._extra: dict[str, Any] = {"connection": conn}

    # -- public API ------------------------------------------------------

    @property
    def id(self) -> int:
        """Our id for this channel."""
        return self._id

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """Information about the channel or its connection (``"connection"``, ``"peername"``, ...)."""
        if name in self._extra:
            return self._extra[name]
        return self._conn.get_extra_info(name, default)

    def _encode(self, data: AnyStr | bytes | bytearray | memoryview) -> bytes | bytearray | memoryview:
        if isinstance(data, str):
            if self._encoding is None:
                raise TypeError("this channel carries bytes; pass bytes or open it with an encoding")
            return data.encode(self._encoding, self._errors)
        return data

    def write(self, data: AnyStr | bytes, datatype: int | None = None) -> None:
        """Queue data for the peer (``datatype`` 1 sends it as stderr)."""
        if self._closing or self._closed:
            raise ChannelClosedError("channel is closing")
        payload = self._encode(data)
        if not payload:
            return
        core = self._conn._core  # noqa: SLF001 - channels are the connection's helpers
        core.channel_write(self._id, payload, datatype)
        self._conn._schedule_flush()  # noqa: SLF001
        if not self._writing_paused and core.channel_queued(self._id) > self._write_high:
            self._writing_paused = True
            if self._session is not None:
                self._session.pause_writing()

    def writelines(self, list_of_data: Iterable[AnyStr]) -> None:
        """Write each item in turn."""
        for data in list_of_data:
            self.write(data)

    def write_eof(self) -> None:
        """Send EOF once queued data has gone out."""
        if self._closed or self._id not in self._conn._core.channels:  # noqa: SLF001 - already released
            return
        self._conn._core.channel_eof(self._id)  # noqa: SLF001
        self._conn._schedule_flush()  # noqa: SLF001

    def can_write_eof(self) -> bool:
        """Channels always support a half close."""
        return True

    def close(self) -> None:
        """Close the channel after queued data has been sent."""
        if self._closing or self._closed:
            return
        self._closing = True
        if not self._conn.is_closed():
            self._conn._core.channel_close(self._id)  # noqa: SLF001
            self._conn._schedule_flush()  # noqa: SLF001

    def abort(self) -> None:
        """Close the channel now, discarding queued data."""
        if self._closed:
            return
        self._closing = True
        if not self._conn.is_closed():
            self._conn._core.channel_close(self._id, flush=False)  # noqa: SLF001
            self._conn._schedule_flush()  # noqa: SLF001

    def is_closing(self) -> bool:
        """True once :meth:`close` was called or the channel closed."""
        return self._closing or self._closed

    async def wait_closed(self) -> None:
        """Wait until the channel is fully closed."""
        await asyncio.shield(self._closed_future)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        """Set the queue sizes at which ``pause_writing``/``resume_writing`` are called."""
        if high is None:
            high = DEFAULT_WRITE_HIGH_WATER if low is None else 4 * low
        if low is None:
            low = high // 4
        if not 0 <= low <= high:
            raise ValueError(f"invalid write buffer limits high={high} low={low}")
        self._write_high, self._write_low = high, low
        self._check_resume_writing()

    def get_write_buffer_size(self) -> int:
        """Bytes queued and not yet sent (waiting for the peer's window)."""
        if self._closed:
            return 0
        return self._conn._core.channel_queued(self._id)  # noqa: SLF001

    def pause_reading(self) -> None:
        """Stop delivering data; the peer stops once the window we granted is used up."""
        self._read_paused = True

    def resume_reading(self) -> None:
        """Deliver held data and grant window again (the window adjusts go out right away)."""
        if not self._read_paused:
            return
        self._read_paused = False
        while self._held and not self._read_paused:
            data, datatype = self._held.popleft()
            if data is None:
                self._deliver_eof()
            else:
                self._deliver(data, datatype)
        if not self._closed:
            self._conn._schedule_flush()  # noqa: SLF001 - resumed outside the connection's input path

    # -- requests --------------------------------------------------------

    def _send_request(self, name: str, data: bytes = b"", *, want_reply: bool = False) -> asyncio.Future[bool] | None:
        if self._closing or self._closed:
            raise ChannelClosedError("channel is closed")
        self._conn._core.channel_request(self._id, name, data, want_reply=want_reply)  # noqa: SLF001
        self._conn._schedule_flush()  # noqa: SLF001
        if not want_reply:
            return None
        fut: asyncio.Future[bool] = self._loop.create_future()
        self._replies.append(fut)
        return fut

    async def request(self, name: str, data: bytes = b"") -> bool:
        """Send a channel request and wait for the peer's answer."""
        fut = self._send_request(name, data, want_reply=True)
        assert fut is not None
        return await fut

    # -- events from the connection ----------------------------------------

    def _set_session(self, session: SSHSession[Any]) -> None:
        self._session = session
        # Internal sessions (the blocking bridge) take memoryviews over immutable bytes and skip a copy.
        self._raw_buffers = bool(getattr(session, "accepts_buffers", False))
        session.connection_made(self)
        if self._held and not self._read_paused:  # data that arrived before the session was attached
            self._read_paused = True
            self.resume_reading()

    def _on_data(self, data: bytes | memoryview, datatype: int | None) -> None:
        if self._read_paused or self._session is None:
            self._held.append((data, datatype))
            return
        self._deliver(data, datatype)

    def _deliver(self, data: bytes | memoryview, datatype: int | None) -> None:
        n = len(data)
        session = self._session
        assert session is not None
        if self._encoding is not None:
            decoder = self._decoders.get(datatype)
            if decoder is None:
                decoder = self._decoders[datatype] = codecs.getincrementaldecoder(self._encoding)(self._errors)
            text = decoder.decode(data)
            if text:
                session.data_received(text, datatype)
        else:
            session.data_received(data if self._raw_buffers else bytes(data), datatype)
        if not self._closed:
            self._conn._core.channel_consumed(self._id, n)  # noqa: SLF001

    def _on_eof(self) -> None:
        self._eof_received = True
        if self._read_paused or self._session is None:
            self._held.append((None, None))
            return
        self._deliver_eof()

    def _deliver_eof(self) -> None:
        assert self._session is not None
        for datatype, decoder in list(self._decoders.items()):
            tail = decoder.decode(b"", final=True)
            if tail:
                self._session.data_received(tail, datatype)
        if not self._session.eof_received() and not self._closing and not self._closed:
            self.write_eof()

    def _on_request(self, event: ChannelRequest) -> bool | None:
        """Handle a request; return the answer (None when this class does not know it)."""
        return None

    def _on_reply(self, success: bool) -> None:
        if self._replies:
            fut = self._replies.popleft()
            if not fut.done():
                fut.set_result(success)

    def _check_resume_writing(self) -> None:
        if self._writing_paused and not self._closed and self.get_write_buffer_size() <= self._write_low:
            self._writing_paused = False
            if self._session is not None:
                self._session.resume_writing()

    def _on_closed(self, exc: BaseException | None = None) -> None:
        if self._closed:
            return
        self._closed = True
        self._closing = True
        self._close_error = exc
        while self._held and self._session is not None:  # deliver what was held
            data, datatype = self._held.popleft()
            if data is not None:
                self._read_paused = False
                self._deliver(data, datatype)
        for fut in self._replies:
            if not fut.done():
                fut.set_exception(exc if exc is not None else ChannelClosedError("channel closed"))
                fut.exception()  # mark retrieved: nobody may be waiting
        self._replies.clear()
        if self._session is not None:
            self._session.connection_lost(exc)
        if not self._closed_future.done():
            self._closed_future.set_result(None)


class SSHClientChannel(SSHChannel[AnyStr]):
    """A client session channel (shell, exec or subsystem)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._exit_status: int | None = None
        self._exit_signal: rq.ExitSignal | None = None

    def get_exit_status(self) -> int | None:
        """The remote command's exit status, once known."""
        return self._exit_status

    def get_exit_signal(self) -> tuple[str, bool, str, str] | None:
        """``(signal, core_dumped, message, lang)`` if the command was killed by a signal."""
        sig = self._exit_signal
        return None if sig is None else (sig.signal, sig.core_dumped, sig.message, sig.lang)

    def send_signal(self, signal: str) -> None:
        """Ask the server to deliver a signal (name without "SIG", e.g. ``"TERM"``)."""
        self._send_request("signal", string(signal.removeprefix("SIG")))

    def terminate(self) -> None:
        """Send SIGTERM."""
        self.send_signal("TERM")

    def kill(self) -> None:
        """Send SIGKILL."""
        self.send_signal("KILL")

    def send_break(self, msec: int) -> None:
        """Send a break of ``msec`` milliseconds (RFC 4335)."""
        self._send_request("break", uint32(msec))

    def change_terminal_size(self, width: int, height: int, pixwidth: int = 0, pixheight: int = 0) -> None:
        """Tell the server the terminal size changed."""
        self._send_request("window-change", rq.encode_window_change(width, height, pixwidth, pixheight))

    def set_environment(self, env: Mapping[str, str]) -> None:
        """Send ``env`` requests (silently refused by servers without a matching AcceptEnv)."""
        for name, value in env.items():
            self._send_request("env", rq.encode_env(str(name), str(value)))

    async def request_pty(
        self,
        term_type: str = "xterm",
        width: int = 80,
        height: int = 24,
        pixwidth: int = 0,
        pixheight: int = 0,
        modes: Mapping[int, int] | None = None,
    ) -> bool:
        """Ask for a pseudo-terminal; True if the server allocated one."""
        data = rq.encode_pty_request(term_type, width, height, pixwidth, pixheight, modes)
        return await self.request("pty-req", data)

    async def request_shell(self) -> bool:
        """Start the user's shell; True if the server started it."""
        return await self.request("shell")

    async def request_exec(self, command: str) -> bool:
        """Run ``command``; True if the server started it."""
        return await self.request("exec", string(command))

    async def request_subsystem(self, subsystem: str) -> bool:
        """Start a subsystem (such as ``sftp``); True if the server started it."""
        return await self.request("subsystem", string(subsystem))

    def _on_request(self, event: ChannelRequest) -> bool | None:
        session = self._session
        name = event.request
        if name == "exit-status":
            r = Reader(event.data)
            self._exit_status = r.get_uint32()
            if isinstance(session, SSHClientSession):
                session.exit_status_received(self._exit_status)
            return True
        if name == "exit-signal":
            self._exit_signal = rq.decode_exit_signal(event.data)
            if isinstance(session, SSHClientSession):
                sig = self._exit_signal
                session.exit_signal_received(sig.signal, sig.core_dumped, sig.message, sig.lang)
            return True
        if name == "xon-xoff":
            allowed = Reader(event.data).get_boolean()
            if isinstance(session, SSHClientSession):
                session.xon_xoff_requested(allowed)
            return True
        return None


class SSHServerChannel(SSHChannel[AnyStr]):
    """A server session channel."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._env: dict[str, str] = {}
        self._command: str | None = None
        self._subsystem: str | None = None
        self._term_type: str | None = None
        self._term_size = (0, 0, 0, 0)
        self._term_modes: dict[int, int] = {}
        self._started = False
        self._exited = False
        self._max_env = DEFAULT_MAX_ENV_VARIABLES
        self._editor_allowed = False  # set by the server connection (its line_editor option)
        self._editor: LineEditor | None = None
        self._editor_in: codecs.IncrementalDecoder | None = None
        self._editor_out: codecs.IncrementalDecoder | None = None
        self._x11_request: tuple[bool, str, str, int] | None = None

    # -- line editor (server side, pty sessions only) -----------------------

    def _allow_line_editor(self, allowed: bool) -> None:
        """Let a pty request switch the line editor on (the connection's ``line_editor`` option)."""
        self._editor_allowed = allowed

    @property
    def line_editor(self) -> LineEditor | None:
        """The line editor echoing and editing input, when one is active."""
        return self._editor

    def set_line_mode(self, line_mode: bool) -> None:
        """With the line editor active: edit whole lines (True) or pass keys through as typed (False)."""
        if self._editor is not None:
            self._editor.set_line_mode(line_mode)

    def set_echo(self, echo: bool) -> None:
        """With the line editor active: echo input (True) or not (False, e.g. while reading a password)."""
        if self._editor is not None:
            self._write_raw(self._editor.set_echo(echo))

    def _editor_text_out(self, data: Any) -> str:
        if isinstance(data, str):
            return data
        if self._editor_out is None:
            self._editor_out = codecs.getincrementaldecoder(self._encoding or "utf-8")("replace")
        return self._editor_out.decode(bytes(data))

    def _write_raw(self, text: str, datatype: int | None = None) -> None:
        if not text or self._closing or self._closed:
            return
        encoding = self._encoding or "utf-8"
        SSHChannel.write(self, text.encode(encoding, "surrogateescape"), datatype)

    def write(self, data: AnyStr | bytes, datatype: int | None = None) -> None:
        """Queue data for the peer; with the line editor active, newlines become CR LF."""
        editor = self._editor
        if editor is None:
            super().write(cast(Any, data), datatype)
            return
        if self._closing or self._closed:
            raise ChannelClosedError("channel is closing")
        self._write_raw(editor.render_output(self._editor_text_out(data)), datatype)

    def _deliver(self, data: bytes | memoryview, datatype: int | None) -> None:
        editor = self._editor
        if editor is None or datatype is not None:
            super()._deliver(data, datatype)
            return
        n = len(data)
        session = self._session
        assert isinstance(session, SSHServerSession)
        if self._editor_in is None:
            errors = "surrogateescape" if self._encoding is None else self._errors
            self._editor_in = codecs.getincrementaldecoder(self._encoding or "utf-8")(errors)
        result = editor.feed(self._editor_in.decode(bytes(data)))
        self._write_raw(result.echo)
        for kind, text in result.items:
            if kind == "data":
                line: Any = text if self._encoding is not None else text.encode("utf-8", "surrogateescape")
                session.data_received(line, None)
            elif kind == "eof":
                session.soft_eof_received()
            else:
                session.signal_received(text)
        if not self._closed:
            self._conn._core.channel_consumed(self._id, n)  # noqa: SLF001

    def _session_started(self) -> None:
        session = self._session
        if session is None or self._closed:
            return
        try:
            session.session_started()
        except Exception:  # a broken handler must not leave the client waiting forever
            logger.exception("session_started failed; closing the channel")
            self.abort()

    def write_stderr(self, data: AnyStr | bytes) -> None:
        """Write to the client's stderr."""
        self.write(data, ExtendedData.STDERR)

    def exit(self, status: int) -> None:
        """Report the exit status, send EOF and close."""
        if self._exited or self._closed:
            return
        self._exited = True
        self._send_request("exit-status", uint32(status & 0xFFFFFFFF))
        self.write_eof()
        self.close()

    def exit_with_signal(self, signal: str, core_dumped: bool = False, msg: str = "", lang: str = "") -> None:
        """Report death by a signal, send EOF and close."""
        if self._exited or self._closed:
            return
        self._exited = True
        self._send_request("exit-signal", rq.encode_exit_signal(signal.removeprefix("SIG"), core_dumped, msg, lang))
        self.write_eof()
        self.close()

    def set_xon_xoff(self, client_can_do: bool) -> None:
        """Tell the client whether it may handle XON/XOFF itself."""
        self._send_request("xon-xoff", boolean(client_can_do))

    def get_terminal_type(self) -> str | None:
        """The terminal type from ``pty-req``, or None without a pty."""
        return self._term_type

    def get_terminal_size(self) -> tuple[int, int, int, int]:
        """``(width, height, pixel width, pixel height)``."""
        return self._term_size

    def get_terminal_mode(self, mode: int) -> int | None:
        """One terminal mode value sent by the client."""
        return self._term_modes.get(mode)

    def get_terminal_modes(self) -> dict[int, int]:
        """All terminal modes sent by the client."""
        return dict(self._term_modes)

    def get_environment(self) -> dict[str, str]:
        """Environment variables the client sent and the server accepted."""
        return dict(self._env)

    def get_command(self) -> str | None:
        """The command of an exec request."""
        return self._command

    def get_subsystem(self) -> str | None:
        """The subsystem requested."""
        return self._subsystem

    def _on_request(self, event: ChannelRequest) -> bool | None:
        session = self._session
        if not isinstance(session, SSHServerSession):
            return False
        name = event.request
        if self._started and name in ("shell", "exec", "subsystem", "pty-req"):
            return False
        if name == "pty-req":
            pty = rq.decode_pty_request(event.data)
            size = (pty.width, pty.height, pty.pixel_width, pty.pixel_height)
            ok = bool(session.pty_requested(pty.term, size, pty.modes))
            if ok:
                self._term_type = pty.term
                self._term_size = (pty.width, pty.height, pty.pixel_width, pty.pixel_height)
                self._term_modes = pty.modes
                if self._editor_allowed and self._editor is None:
                    self._editor = LineEditor()
            return ok
        if name == "env":
            key, value = rq.decode_env(event.data)
            if len(self._env) >= self._max_env and key not in self._env:
                return False
            if self._conn._accept_env(key):  # noqa: SLF001
                self._env[key] = value
                return True
            return False
        if name == "window-change":
            self._term_size = rq.decode_window_change(event.data)
            session.terminal_size_changed(*self._term_size)
            return True
        if name == "signal":
            session.signal_received(Reader(event.data).get_text())
            return True
        if name == "break":
            return bool(session.break_received(Reader(event.data).get_uint32()))
        if name == "x11-req":
            return self._on_x11_request(session, event.data)
        if name in ("shell", "exec", "subsystem"):
            ok = self._start(session, name, event.data)
            if ok:
                self._started = True
                self._loop.call_soon(self._session_started)
            return ok
        return None

    def _on_x11_request(self, session: SSHServerSession[Any], data: bytes) -> bool:
        entry = getattr(self._conn, "authorized_key_entry", None)
        if self._x11_request is not None or (entry is not None and not entry.permit_x11_forwarding):
            return False
        r = Reader(data)
        single = r.get_boolean()
        protocol = r.get_text()
        cookie = r.get_text()
        screen = r.get_uint32()
        r.check_end()
        ok = bool(session.x11_requested(single, protocol, cookie, screen))
        if ok:
            self._x11_request = (single, protocol, cookie, screen)
        return ok

    def get_x11_request(self) -> tuple[bool, str, str, int] | None:
        """``(single_connection, auth_protocol, auth_cookie_hex, screen)`` of an accepted ``x11-req``."""
        return self._x11_request

    def _start(self, session: SSHServerSession[Any], name: str, data: bytes) -> bool:
        if name == "shell":
            return bool(session.shell_requested())
        r = Reader(data)
        if name == "exec":
            self._command = r.get_string().decode("utf-8", "surrogateescape")
            return bool(session.exec_requested(self._command))
        self._subsystem = r.get_text()
        return bool(session.subsystem_requested(self._subsystem))


class SSHTCPChannel(SSHChannel[AnyStr]):
    """A forwarded TCP connection (``direct-tcpip`` or ``forwarded-tcpip``).

    ``get_extra_info``: ``"local_peername"`` and ``"remote_peername"`` (``(host, port)``
    of each end as the channel-open request named them) besides the connection's names.
    """


class SSHUNIXChannel(SSHChannel[AnyStr]):
    """A forwarded UNIX-domain socket connection (``direct-streamlocal``/``forwarded-streamlocal``).

    ``get_extra_info("path")`` is the socket path the channel-open request named.
    """


class SSHTunTapChannel(SSHChannel[bytes]):
    """A layer 2/3 tunnel (``tun@openssh.com``): one packet per :meth:`write` and per ``data_received``.

    Each packet travels whole in one SSH data message (the address family is added and
    removed at layer 3). Packets wait here until the peer's window takes them whole; past
    :data:`~blockssh.aio.tuntap.DEFAULT_TUN_QUEUE` bytes waiting, new packets are dropped
    (``dropped`` counts them), as a full device queue would. A malformed packet from the
    peer is dropped too.
    """

    def __init__(self, *args: Any, layer: int = LAYER3, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._layer = layer
        self._framer = TunTapFramer(layer)
        self._pending: deque[bytes] = deque()
        self._pending_bytes = 0
        self.max_queue = DEFAULT_TUN_QUEUE
        self.dropped = 0
        self._retry: asyncio.TimerHandle | None = None

    @property
    def layer(self) -> int:
        """3 for IP packets (a tun device), 2 for Ethernet frames (a tap device)."""
        return 3 if self._layer == LAYER3 else 2

    def write(self, data: bytes | bytearray | memoryview, datatype: int | None = None) -> None:
        """Send one packet (an IP packet at layer 3, an Ethernet frame at layer 2)."""
        if datatype is not None:
            raise ValueError("tunnel channels carry no extended data")
        if self._closing or self._closed:
            raise ChannelClosedError("channel is closing")
        message = self._framer.encode(data)
        if self._pending_bytes + len(message) > self.max_queue:
            self._pump()
        if self._pending_bytes + len(message) > self.max_queue:
            self.dropped += 1
            return
        self._pending.append(message)
        self._pending_bytes += len(message)
        self._pump()
        if not self._writing_paused and self.get_write_buffer_size() > self._write_high:
            self._writing_paused = True
            if self._session is not None:
                self._session.pause_writing()

    # A packet waiting for window space: the core reports window adjusts only while its own queue
    # holds data (ours is held here), so look again after this long.
    WINDOW_RETRY = 0.02

    def _pump(self) -> None:
        """Hand packets to the core only when each can go out whole, in one data message."""
        self._retry = None
        core = self._conn._core  # noqa: SLF001
        if self._closed or self._id not in core.channels:
            self._pending.clear()
            self._pending_bytes = 0
            return
        state = core.channels.get(self._id)
        wrote = False
        while self._pending and core.channel_queued(self._id) == 0:
            message = self._pending[0]
            if len(message) > state.send_max_packet:
                self._pending.popleft()
                self._pending_bytes -= len(message)
                self.dropped += 1
                continue
            if len(message) > state.send_window:
                if self._retry is None:
                    self._retry = self._loop.call_later(self.WINDOW_RETRY, self._pump)
                break
            self._pending.popleft()
            self._pending_bytes -= len(message)
            core.channel_write(self._id, message)
            wrote = True
        if wrote:
            self._conn._schedule_flush()  # noqa: SLF001

    def get_write_buffer_size(self) -> int:
        """Bytes of packets waiting for the peer's window."""
        return super().get_write_buffer_size() + self._pending_bytes

    def _check_resume_writing(self) -> None:
        self._pump()
        super()._check_resume_writing()

    def _deliver(self, data: bytes | memoryview, datatype: int | None) -> None:
        session = self._session
        assert session is not None
        n = len(data)
        packet = None
        if datatype is None:
            try:
                packet = self._framer.decode(data)
            except TunTapError as exc:
                logger.debug("tunnel channel %d: %s; dropped", self._id, exc)
        if packet is not None:
            session.data_received(packet, None)
        if not self._closed:
            self._conn._core.channel_consumed(self._id, n)  # noqa: SLF001


def channel_open_error(code: int, reason: str) -> ChannelException:
    """The exception for a refused channel."""
    return ChannelException(code, reason or "channel open failed")
