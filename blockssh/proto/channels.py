"""Channels of the connection protocol (RFC 4254 section 5), sans I/O.

:class:`ChannelMux` multiplexes channels over a transport: it allocates
channel ids, keeps each channel's state and both flow-control windows, queues
outgoing data until the peer's window allows it, and turns incoming channel
messages into events. Checks made here (each a protocol error): unknown or
closed recipient ids, data beyond the window we granted, data after EOF or
CLOSE, window adjustments past 2**32 - 1, replies nobody asked for.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Callable
from typing import Any

from ..exceptions import ChannelClosedError, ConfigurationError, PacketDecodeError, ProtocolError
from .constants import ChannelOpenFailure, Msg
from .events import (
    ChannelClosed,
    ChannelData,
    ChannelEOF,
    ChannelOpened,
    ChannelOpenFailed,
    ChannelOpenRequest,
    ChannelRequest,
    ChannelRequestReply,
    ChannelWindowOpened,
    Event,
)
from .wire import Reader, boolean, byte, string, uint32

__all__ = ["Channel", "ChannelMux", "DEFAULT_WINDOW", "DEFAULT_MAX_PACKET", "DEFAULT_MAX_CHANNELS"]

DEFAULT_WINDOW = 2 * 1024 * 1024
DEFAULT_MAX_PACKET = 32 * 1024
DEFAULT_MAX_CHANNELS = 1024
_MAX_WINDOW = 0xFFFFFFFF

_DATA_HEADER = struct.Struct(">BII")
_EXT_HEADER = struct.Struct(">BIII")
_U32_PAIR = struct.Struct(">II")
_pack_data = _DATA_HEADER.pack
_pack_ext = _EXT_HEADER.pack
_unpack_pair = _U32_PAIR.unpack_from

OPENING, OPEN, CLOSING = "opening", "open", "closing"


class Channel:
    """The protocol state of one channel."""

    __slots__ = (
        "local_id",
        "remote_id",
        "kind",
        "state",
        "outbound",
        "window_size",
        "recv_window",
        "recv_max_packet",
        "unacked",
        "send_window",
        "send_max_packet",
        "queue",
        "queued",
        "eof_pending",
        "eof_sent",
        "eof_received",
        "close_pending",
        "close_sent",
        "close_received",
        "requests_pending",
        "replies_owed",
    )

    def __init__(self, local_id: int, kind: str, window: int, max_packet: int, outbound: bool) -> None:
        self.local_id = local_id
        self.remote_id = -1
        self.kind = kind
        self.state = OPENING
        self.outbound = outbound  # we sent the CHANNEL_OPEN
        self.window_size = window
        self.recv_window = window
        self.recv_max_packet = max_packet
        self.unacked = 0  # consumed by the application, not yet granted back to the peer
        self.send_window = 0
        self.send_max_packet = 0
        self.queue: deque[tuple[int | None, memoryview]] = deque()
        self.queued = 0
        self.eof_pending = False
        self.eof_sent = False
        self.eof_received = False
        self.close_pending = False
        self.close_sent = False
        self.close_received = False
        self.requests_pending = 0
        self.replies_owed = 0


class ChannelMux:
    """All channels of one connection."""

    def __init__(
        self,
        send: Callable[..., None],
        can_send: Callable[[], bool],
        events: list[Event],
        *,
        max_channels: int = DEFAULT_MAX_CHANNELS,
        max_data_per_packet: int,
    ) -> None:
        self._send = send
        self._can_send = can_send
        self._events = events
        self._channels: dict[int, Channel] = {}
        self._next_id = 0
        self.max_channels = max_channels
        self._max_data = max_data_per_packet
        self.pending: set[Channel] = set()  # channels with output waiting for window or the end of a rekey

    # -- lookup ----------------------------------------------------------

    def get(self, local_id: int) -> Channel:
        """Return a channel by our id, or raise :class:`ChannelClosedError`."""
        ch = self._channels.get(local_id)
        if ch is None:
            raise ChannelClosedError(f"channel {local_id} is not open")
        return ch

    def __len__(self) -> int:
        return len(self._channels)

    def __contains__(self, local_id: object) -> bool:
        return local_id in self._channels

    def ids(self) -> list[int]:
        """Our ids of every live channel."""
        return list(self._channels)

    def _allocate(self, kind: str, window: int, max_packet: int, outbound: bool) -> Channel | None:
        if len(self._channels) >= self.max_channels:
            return None
        if not 0 < window <= _MAX_WINDOW or not 0 < max_packet <= self._max_data:
            raise ConfigurationError(f"invalid window {window} or max packet {max_packet}")
        local_id = self._next_id
        while local_id in self._channels:
            local_id = (local_id + 1) & 0xFFFFFFFF
        self._next_id = (local_id + 1) & 0xFFFFFFFF
        ch = Channel(local_id, kind, window, max_packet, outbound)
        self._channels[local_id] = ch
        return ch

    def _recipient(self, r: Reader) -> Channel:
        local_id = r.get_uint32()
        ch = self._channels.get(local_id)
        if ch is None:
            raise ProtocolError(f"message for unknown channel {local_id}")
        return ch

    # -- opening ---------------------------------------------------------

    def open(self, kind: str, extra: bytes = b"", *, window: int, max_packet: int) -> int:
        """Send CHANNEL_OPEN; returns our channel id."""
        ch = self._allocate(kind, window, max_packet, outbound=True)
        if ch is None:
            raise ChannelClosedError(f"too many channels (limit {self.max_channels})")
        header = byte(Msg.CHANNEL_OPEN) + string(kind) + uint32(ch.local_id)
        self._send(header + uint32(window) + uint32(max_packet) + extra)
        return ch.local_id

    def on_open(self, payload: memoryview | bytes) -> None:
        """Handle the peer's CHANNEL_OPEN."""
        r = Reader(payload, 1)
        kind = r.get_ascii()
        sender = r.get_uint32()
        window = r.get_uint32()
        max_packet = r.get_uint32()
        extra = r.get_remaining()
        if max_packet == 0:
            self._send_open_failure(sender, ChannelOpenFailure.CONNECT_FAILED, "invalid maximum packet size 0")
            return
        ch = self._allocate(kind, DEFAULT_WINDOW, min(DEFAULT_MAX_PACKET, self._max_data), outbound=False)
        if ch is None:
            self._send_open_failure(sender, ChannelOpenFailure.RESOURCE_SHORTAGE, "too many channels")
            return
        ch.remote_id = sender
        ch.send_window = window
        ch.send_max_packet = min(max_packet, self._max_data)
        self._events.append(ChannelOpenRequest(ch.local_id, kind, extra, window, max_packet))

    def _send_open_failure(self, remote_id: int, code: int, reason: str) -> None:
        self._send(byte(Msg.CHANNEL_OPEN_FAILURE) + uint32(remote_id) + uint32(code) + string(reason) + string(""))

    def accept(self, local_id: int, *, window: int, max_packet: int, extra: bytes = b"") -> None:
        """Confirm a channel the peer asked for."""
        ch = self.get(local_id)
        if ch.state != OPENING or ch.outbound:
            raise ChannelClosedError(f"channel {local_id} is not awaiting confirmation")
        if not 0 < window <= _MAX_WINDOW or not 0 < max_packet <= self._max_data:
            raise ConfigurationError(f"invalid window {window} or max packet {max_packet}")
        ch.window_size = ch.recv_window = window
        ch.recv_max_packet = max_packet
        ch.state = OPEN
        self._send(
            byte(Msg.CHANNEL_OPEN_CONFIRMATION)
            + uint32(ch.remote_id)
            + uint32(ch.local_id)
            + uint32(window)
            + uint32(max_packet)
            + extra
        )

    def reject(self, local_id: int, code: int, reason: str = "") -> None:
        """Refuse a channel the peer asked for."""
        ch = self.get(local_id)
        if ch.state != OPENING or ch.outbound:
            raise ChannelClosedError(f"channel {local_id} is not awaiting confirmation")
        del self._channels[local_id]
        self._send_open_failure(ch.remote_id, code, reason)

    def on_open_confirmation(self, payload: memoryview | bytes) -> None:
        """Handle CHANNEL_OPEN_CONFIRMATION for one of our opens."""
        r = Reader(payload, 1)
        ch = self._recipient(r)
        if ch.state != OPENING or not ch.outbound:
            raise ProtocolError(f"unexpected confirmation for channel {ch.local_id}")
        ch.remote_id = r.get_uint32()
        ch.send_window = r.get_uint32()
        max_packet = r.get_uint32()
        if max_packet == 0:
            raise ProtocolError("peer announced a maximum packet size of 0")
        ch.send_max_packet = min(max_packet, self._max_data)
        ch.state = OPEN
        self._events.append(ChannelOpened(ch.local_id, r.get_remaining()))
        if ch.close_pending:  # closed by us before the peer confirmed
            self._send_close(ch)

    def on_open_failure(self, payload: memoryview | bytes) -> None:
        """Handle CHANNEL_OPEN_FAILURE for one of our opens."""
        r = Reader(payload, 1)
        ch = self._recipient(r)
        if ch.state != OPENING or not ch.outbound:
            raise ProtocolError(f"unexpected open failure for channel {ch.local_id}")
        code = r.get_uint32()
        reason = r.get_string().decode("utf-8", "replace")
        lang = r.get_string().decode("utf-8", "replace") if r.remaining else ""
        del self._channels[ch.local_id]
        self.pending.discard(ch)
        self._events.append(ChannelOpenFailed(ch.local_id, code, reason, lang))

    # -- data out --------------------------------------------------------

    def write(self, local_id: int, data: bytes | bytearray | memoryview, datatype: int | None = None) -> None:
        """Queue data for the peer and send as much as the window allows."""
        ch = self.get(local_id)
        if ch.eof_pending or ch.eof_sent or ch.close_pending or ch.close_sent:
            raise ChannelClosedError(f"channel {local_id} is closed for writing")
        if not data:
            return
        # Copy mutable buffers: the caller may reuse them once write() returns.
        view = memoryview(data if isinstance(data, bytes) else bytes(data))
        ch.queue.append((datatype, view))
        ch.queued += len(view)
        if ch.state == OPEN:
            self._flush(ch)
        if ch.queued:
            self.pending.add(ch)

    def queued(self, local_id: int) -> int:
        """Bytes waiting in our queue for window space."""
        ch = self._channels.get(local_id)
        return ch.queued if ch is not None else 0

    def send_window(self, local_id: int) -> int:
        """The peer's remaining window on this channel."""
        ch = self._channels.get(local_id)
        return ch.send_window if ch is not None else 0

    def _flush(self, ch: Channel) -> None:
        if not self._can_send():
            return
        queue = ch.queue
        send = self._send
        remote = ch.remote_id
        limit = ch.send_max_packet
        while queue and ch.send_window > 0 and self._can_send():  # a rekey may start mid-flush
            datatype, view = queue[0]
            n = min(len(view), ch.send_window, limit)
            if n == len(view):
                queue.popleft()
                chunk = view
            else:
                chunk = view[:n]
                queue[0] = (datatype, view[n:])
            if datatype is None:
                send(_pack_data(Msg.CHANNEL_DATA, remote, n), chunk)
            else:
                send(_pack_ext(Msg.CHANNEL_EXTENDED_DATA, remote, datatype, n), chunk)
            ch.send_window -= n
            ch.queued -= n
        if queue:
            return
        self.pending.discard(ch)
        if ch.eof_pending and not ch.eof_sent:
            ch.eof_pending = False
            ch.eof_sent = True
            send(byte(Msg.CHANNEL_EOF) + uint32(remote))
        if ch.close_pending and not ch.close_sent:
            self._send_close(ch)

    def flush_all(self) -> None:
        """Send queued output of every channel that has window (e.g. after a rekey)."""
        for ch in list(self.pending):
            if ch.state == OPEN:
                self._flush(ch)

    def eof(self, local_id: int) -> None:
        """Send EOF once queued data has gone out (a no-op once the channel is closed or released)."""
        # Like close(): the driver may answer a ChannelEOF event after the same batch of input
        # already closed and released the channel.
        ch = self._channels.get(local_id)
        if ch is None or ch.eof_sent or ch.eof_pending or ch.close_sent:
            return
        ch.eof_pending = True
        if ch.state == OPEN:
            self._flush(ch)
        if ch.eof_pending:
            self.pending.add(ch)

    def close(self, local_id: int, *, flush: bool = True) -> None:
        """Close the channel, after queued data unless ``flush`` is False."""
        ch = self._channels.get(local_id)
        if ch is None or ch.close_sent:
            return
        if not flush:
            ch.queue.clear()
            ch.queued = 0
            ch.eof_pending = False
        ch.close_pending = True
        if ch.state == OPEN:
            self._flush(ch)
        elif ch.state == OPENING and not ch.outbound:
            self.reject(local_id, ChannelOpenFailure.ADMINISTRATIVELY_PROHIBITED, "closed")
            return
        if ch.close_pending and not ch.close_sent:
            self.pending.add(ch)

    def _send_close(self, ch: Channel) -> None:
        ch.close_pending = False
        ch.close_sent = True
        ch.state = CLOSING
        ch.queue.clear()
        ch.queued = 0
        self.pending.discard(ch)
        self._send(byte(Msg.CHANNEL_CLOSE) + uint32(ch.remote_id))
        if ch.close_received:
            self._release(ch)

    def _release(self, ch: Channel) -> None:
        self._channels.pop(ch.local_id, None)
        self.pending.discard(ch)
        self._events.append(ChannelClosed(ch.local_id))

    # -- data in ---------------------------------------------------------

    def _check_receiving(self, ch: Channel, what: str) -> None:
        if ch.state == OPENING or ch.eof_received or ch.close_received:
            raise ProtocolError(f"{what} on channel {ch.local_id} in state {ch.state}")

    def on_data(self, payload: memoryview | bytes) -> None:
        """Handle CHANNEL_DATA."""
        if len(payload) < 9:
            raise PacketDecodeError("truncated CHANNEL_DATA")
        local_id, n = _unpack_pair(payload, 1)
        if 9 + n != len(payload):
            raise PacketDecodeError("malformed CHANNEL_DATA")
        ch = self._channels.get(local_id)
        if ch is None:
            raise ProtocolError(f"data for unknown channel {local_id}")
        self._accept_data(ch, n, "data")
        if ch.close_sent:
            return  # we already closed: drop late data
        data = payload[9:] if isinstance(payload, memoryview) else memoryview(payload)[9:]
        self._events.append(ChannelData(local_id, data, None))

    def on_extended_data(self, payload: memoryview | bytes) -> None:
        """Handle CHANNEL_EXTENDED_DATA."""
        r = Reader(payload, 1)
        ch = self._recipient(r)
        datatype = r.get_uint32()
        n = r.get_uint32()
        if r.remaining != n:
            raise PacketDecodeError("malformed CHANNEL_EXTENDED_DATA")
        self._accept_data(ch, n, "extended data")
        if ch.close_sent:
            return
        data = memoryview(payload)[13:]
        self._events.append(ChannelData(ch.local_id, data, datatype))

    def _accept_data(self, ch: Channel, n: int, what: str) -> None:
        self._check_receiving(ch, what)
        if n > ch.recv_window:
            raise ProtocolError(f"peer sent {n} bytes on channel {ch.local_id} with a window of {ch.recv_window}")
        ch.recv_window -= n

    def consumed(self, local_id: int, n: int) -> None:
        """The application took ``n`` bytes; grant them back to the peer when worthwhile."""
        ch = self._channels.get(local_id)
        if ch is None or n <= 0:
            return
        ch.unacked += n
        if ch.unacked >= ch.window_size // 2 and not ch.close_sent and not ch.close_received:
            grant = min(ch.unacked, _MAX_WINDOW - ch.recv_window)
            ch.unacked -= grant
            ch.recv_window += grant
            self._send(byte(Msg.CHANNEL_WINDOW_ADJUST) + uint32(ch.remote_id) + uint32(grant))

    def on_window_adjust(self, payload: memoryview | bytes) -> None:
        """Handle CHANNEL_WINDOW_ADJUST."""
        r = Reader(payload, 1)
        ch = self._recipient(r)
        n = r.get_uint32()
        r.check_end()
        if ch.state == OPENING:
            raise ProtocolError(f"window adjust on unconfirmed channel {ch.local_id}")
        if ch.send_window + n > _MAX_WINDOW:
            raise ProtocolError(f"window adjust overflows the window of channel {ch.local_id}")
        ch.send_window += n
        if ch.state == OPEN:
            self._flush(ch)
        # Every adjust is reported: writers that keep data above the core (whole-packet tunnels)
        # wait for window space, not only for this queue to drain.
        self._events.append(ChannelWindowOpened(ch.local_id, ch.queued))

    def on_eof(self, payload: memoryview | bytes) -> None:
        """Handle CHANNEL_EOF."""
        r = Reader(payload, 1)
        ch = self._recipient(r)
        r.check_end()
        self._check_receiving(ch, "EOF")
        ch.eof_received = True
        self._events.append(ChannelEOF(ch.local_id))

    def on_close(self, payload: memoryview | bytes) -> None:
        """Handle CHANNEL_CLOSE: answer it (if we have not closed) and release the channel."""
        r = Reader(payload, 1)
        ch = self._recipient(r)
        r.check_end()
        if ch.state == OPENING or ch.close_received:
            raise ProtocolError(f"unexpected close of channel {ch.local_id}")
        ch.close_received = True
        if not ch.close_sent:
            self._send_close(ch)
        else:
            self._release(ch)

    # -- requests --------------------------------------------------------

    def request(self, local_id: int, name: str, data: bytes = b"", *, want_reply: bool = False) -> None:
        """Send CHANNEL_REQUEST; a reply, if asked for, arrives as :class:`ChannelRequestReply`."""
        ch = self.get(local_id)
        if ch.state != OPEN or ch.close_sent:
            raise ChannelClosedError(f"channel {local_id} is not open")
        if want_reply:
            ch.requests_pending += 1
        self._send(byte(Msg.CHANNEL_REQUEST) + uint32(ch.remote_id) + string(name) + boolean(want_reply) + data)

    def reply(self, local_id: int, success: bool) -> None:
        """Answer the peer's oldest request that wanted a reply."""
        ch = self._channels.get(local_id)
        if ch is None or ch.close_sent:
            return
        if ch.replies_owed <= 0:
            raise ChannelClosedError(f"no request awaiting a reply on channel {local_id}")
        ch.replies_owed -= 1
        self._send(byte(Msg.CHANNEL_SUCCESS if success else Msg.CHANNEL_FAILURE) + uint32(ch.remote_id))

    def on_request(self, payload: memoryview | bytes) -> None:
        """Handle CHANNEL_REQUEST."""
        r = Reader(payload, 1)
        ch = self._recipient(r)
        name = r.get_ascii()
        want_reply = r.get_boolean()
        data = r.get_remaining()
        if ch.state == OPENING or ch.close_received:
            raise ProtocolError(f"request on channel {ch.local_id} in state {ch.state}")
        if ch.close_sent:
            return
        if want_reply:
            ch.replies_owed += 1
        self._events.append(ChannelRequest(ch.local_id, name, want_reply, data))

    def on_reply(self, payload: memoryview | bytes) -> None:
        """Handle CHANNEL_SUCCESS / CHANNEL_FAILURE."""
        r = Reader(payload, 1)
        ch = self._recipient(r)
        r.check_end()
        if ch.requests_pending <= 0:
            raise ProtocolError(f"unsolicited request reply on channel {ch.local_id}")
        ch.requests_pending -= 1
        if not ch.close_sent:
            self._events.append(ChannelRequestReply(ch.local_id, payload[0] == Msg.CHANNEL_SUCCESS))

    def handlers(self) -> dict[int, Callable[[Any], None]]:
        """Message number -> handler, for the connection's dispatch table."""
        return {
            Msg.CHANNEL_OPEN: self.on_open,
            Msg.CHANNEL_OPEN_CONFIRMATION: self.on_open_confirmation,
            Msg.CHANNEL_OPEN_FAILURE: self.on_open_failure,
            Msg.CHANNEL_WINDOW_ADJUST: self.on_window_adjust,
            Msg.CHANNEL_DATA: self.on_data,
            Msg.CHANNEL_EXTENDED_DATA: self.on_extended_data,
            Msg.CHANNEL_EOF: self.on_eof,
            Msg.CHANNEL_CLOSE: self.on_close,
            Msg.CHANNEL_REQUEST: self.on_request,
            Msg.CHANNEL_SUCCESS: self.on_reply,
            Msg.CHANNEL_FAILURE: self.on_reply,
        }
