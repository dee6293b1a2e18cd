"""The binary packet protocol (RFC 4253 section 6): framing, padding, sequence numbers.

:class:`PacketEncoder` and :class:`PacketDecoder` each own one direction. The
decoder checks a packet's length before it buffers the packet, so a peer
cannot make us allocate more than ``max_packet_length`` plus what it already
sent.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable

from ..exceptions import PacketTooLargeError, ProtocolError
from .algorithms.cipher import NoneProtector, PacketProtector
from .algorithms.compression import Compressor, Decompressor
from .constants import DEFAULT_MAX_PACKET_LENGTH

__all__ = ["PacketDecoder", "PacketEncoder", "MIN_PADDING"]

MIN_PADDING = 4
PADDING_POOL_SIZE = 4096  # random padding is drawn from the rng in blocks this big
_U32 = struct.Struct(">I")
_pack_u32 = _U32.pack
_SEQ_MASK = 0xFFFFFFFF


class PacketEncoder:
    """Frames, pads, compresses and protects outgoing payloads."""

    def __init__(self, rng: Callable[[int], bytes] = os.urandom) -> None:
        self._rng = rng
        self.protector: PacketProtector = NoneProtector()
        self.compressor: Compressor | None = None
        self.seq = 0
        self.wrapped = False  # the sequence number went past 2**32 - 1 at least once
        self.bytes_since_rekey = 0
        self.packets_since_rekey = 0
        self._pad_pool = b""
        self._pad_pos = 0

    def set_protector(self, protector: PacketProtector, *, reset_seq: bool) -> None:
        """Switch to new keys (after sending NEWKEYS)."""
        self.protector = protector
        self.bytes_since_rekey = 0
        self.packets_since_rekey = 0
        if reset_seq:
            self.seq = 0

    def _padding(self, n: int) -> bytes:
        pos = self._pad_pos
        if pos + n > len(self._pad_pool):
            self._pad_pool = self._rng(PADDING_POOL_SIZE)
            pos = 0
        self._pad_pos = pos + n
        return self._pad_pool[pos : pos + n]

    def encode(self, payload: bytes, tail: bytes | memoryview = b"") -> bytes | bytearray:
        """Return the wire bytes of one packet carrying ``payload`` followed by ``tail``.

        Passing channel data as ``tail`` saves joining it to its header first.
        """
        if self.compressor is not None:
            payload = self.compressor.compress(payload + tail if tail else payload)
            tail = b""
        p = self.protector
        bs = p.block_size
        body_len = 1 + len(payload) + len(tail)
        padlen = bs - ((body_len + 4) % bs if p.length_in_alignment else body_len % bs)
        if padlen < MIN_PADDING:
            padlen += bs
        length = body_len + padlen
        body = b"".join((bytes((padlen,)), payload, tail, self._padding(padlen)))
        seq = self.seq
        wire = p.seal(seq, _pack_u32(length), body)
        seq = (seq + 1) & _SEQ_MASK
        if seq == 0:
            self.wrapped = True
        self.seq = seq
        self.bytes_since_rekey += len(wire)
        self.packets_since_rekey += 1
        return wire


class PacketDecoder:
    """Buffers incoming bytes and returns whole, verified, decrypted payloads."""

    def __init__(self, max_packet_length: int = DEFAULT_MAX_PACKET_LENGTH) -> None:
        self.protector: PacketProtector = NoneProtector()
        self.decompressor: Decompressor | None = None
        self.max_packet_length = max_packet_length
        self.seq = 0
        self.wrapped = False
        self.bytes_since_rekey = 0
        self.packets_since_rekey = 0
        self._buf: bytes | bytearray = b""
        self._pos = 0
        self._length: int | None = None

    def set_protector(self, protector: PacketProtector, *, reset_seq: bool) -> None:
        """Switch to new keys (after receiving NEWKEYS)."""
        self.protector = protector
        self.bytes_since_rekey = 0
        self.packets_since_rekey = 0
        if reset_seq:
            self.seq = 0

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as packets."""
        return len(self._buf) - self._pos

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Add bytes received from the peer (copied unless ``data`` is immutable ``bytes``)."""
        if not data:
            return
        buf = self._buf
        if self._pos >= len(buf):
            # Nothing pending: work on the caller's bytes directly (never on a buffer it may reuse).
            self._buf = data if type(data) is bytes else bytes(data)
            self._pos = 0
            return
        # A fresh buffer rather than resizing the old one in place: a payload handed out earlier
        # may still export a view of it.
        rest = bytearray(memoryview(buf)[self._pos :])
        rest += data
        self._buf = rest
        self._pos = 0

    def take_remaining(self) -> bytes:
        """Remove and return every buffered byte (used after the version line)."""
        rest = bytes(memoryview(self._buf)[self._pos :])
        self._buf = b""
        self._pos = 0
        return rest

    def next_payload(self) -> memoryview | bytes | None:
        """Return the next payload, or None until more bytes arrive.

        Raises :class:`PacketTooLargeError` for a bad length, :class:`MACError`
        for a failed integrity check and :class:`ProtocolError` for bad padding.
        """
        buf = self._buf
        pos = self._pos
        avail = len(buf) - pos
        p = self.protector
        length = self._length
        if length is None:
            if avail < p.head_size:
                return None
            with memoryview(buf) as view:
                length = p.open_length(self.seq, view[pos : pos + p.head_size])
            if length < 5 or length > self.max_packet_length:
                raise PacketTooLargeError(f"bad packet length {length}")
            bs = p.block_size
            if (length + 4 if p.length_in_alignment else length) % bs:
                raise ProtocolError(f"packet length {length} is not a multiple of the block size {bs}")
            self._length = length
        total = 4 + length + p.tag_size
        if avail < total:
            return None
        with memoryview(buf) as view:
            packet = view[pos : pos + total]
            try:
                body = p.open(self.seq, packet, length)
            finally:
                packet.release()
        self._pos = pos + total
        self._length = None
        padlen = body[0]
        if padlen < MIN_PADDING or padlen >= length:
            raise ProtocolError(f"invalid padding length {padlen}")
        seq = (self.seq + 1) & _SEQ_MASK
        if seq == 0:
            self.wrapped = True
        self.seq = seq
        self.bytes_since_rekey += total
        self.packets_since_rekey += 1
        if self.decompressor is not None:
            return self.decompressor.decompress(body[1 : length - padlen])
        return memoryview(body)[1 : length - padlen]
