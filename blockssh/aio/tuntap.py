"""Layer 2 and 3 tunnels over SSH (OpenSSH's ``tun@openssh.com`` channels).

Wire format (OpenSSH's PROTOCOL, section "Tunnel forward extension"): the
channel-open data is ``uint32 mode`` (1 = layer 3 point-to-point, 2 = layer 2
Ethernet) and ``uint32 unit`` (``0x7fffffff``: any). The channel is a
datagram channel: each ``SSH_MSG_CHANNEL_DATA`` carries exactly one packet
(the data string's length is the packet length). At layer 3 the packet
starts with a ``uint32`` address family in OpenBSD's numbering (2 = IPv4,
24 = IPv6, whatever the local OS numbers them); at layer 2 it is the
Ethernet frame. A packet is never split: it waits until the peer's window
and maximum packet size let it go whole (OpenSSH does the same), and one
larger than the peer's maximum packet size is dropped.
:class:`TunTapFramer` adds and strips the address family, so sessions see
exactly one packet per ``data_received`` and write one per ``write``.

On Linux :func:`open_tun_device` opens ``/dev/net/tun`` (``TUNSETIFF``,
``IFF_NO_PI``) and :class:`TunTapDeviceSession` copies packets between such
a device and a channel: what ``SSHClientConnection.forward_tun`` and a
server allowing tunnels (``tun_requested`` returning True) use. Creating a
tun device needs ``CAP_NET_ADMIN``.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import logging
import os
import struct
import sys
from typing import TYPE_CHECKING, Any

from ..exceptions import ConfigurationError, TunTapError
from .session import SSHTunTapSession

if TYPE_CHECKING:
    from .channel import SSHChannel

__all__ = [
    "LAYER2",
    "LAYER3",
    "TUN_ANY_UNIT",
    "DEFAULT_MAX_TUN_PACKET",
    "DEFAULT_TUN_QUEUE",
    "TunTapError",
    "TunTapFramer",
    "TunTapDeviceSession",
    "encode_tun_open",
    "decode_tun_open",
    "open_tun_device",
]

logger = logging.getLogger("blockssh.forward")

LAYER3 = 1  # SSH_TUNMODE_POINTOPOINT: IP packets
LAYER2 = 2  # SSH_TUNMODE_ETHERNET: Ethernet frames
TUN_ANY_UNIT = 0x7FFFFFFF  # SSH_TUNID_ANY
DEFAULT_MAX_TUN_PACKET = 65536 + 64  # the largest packet a framer accepts (OpenSSH: 256 KiB on input)
MAX_UNIT = 0x7FFFFFFE

_AF_INET_WIRE = 2
_AF_INET6_WIRE = 24
_U32 = struct.Struct(">I")
_U32x2 = struct.Struct(">II")
DEFAULT_TUN_QUEUE = 256 * 1024  # bytes of packets a tunnel channel holds while waiting for the peer's window

# Linux <linux/if_tun.h>
_TUNSETIFF = 0x400454CA
_IFF_TUN = 0x0001
_IFF_TAP = 0x0002
_IFF_NO_PI = 0x1000


def encode_tun_open(layer: int, unit: int | None) -> bytes:
    """The channel-open data of ``tun@openssh.com``."""
    if layer not in (LAYER2, LAYER3):
        raise ConfigurationError(f"tunnel mode must be {LAYER3} (layer 3) or {LAYER2} (layer 2), not {layer!r}")
    return _U32x2.pack(layer, check_unit(unit))


def decode_tun_open(data: bytes) -> tuple[int, int | None]:
    """``(mode, unit or None for any)`` from ``tun@openssh.com`` open data; raise :class:`TunTapError`."""
    if len(data) != 8:
        raise TunTapError("malformed tun@openssh.com open request")
    mode, unit = _U32x2.unpack(data)
    if mode not in (LAYER2, LAYER3):
        raise TunTapError(f"unknown tunnel mode {mode}")
    return mode, None if unit == TUN_ANY_UNIT else unit


def check_unit(unit: int | None) -> int:
    """A unit number for the wire (None: any); raise :class:`ConfigurationError` for a bad one."""
    if unit is None:
        return TUN_ANY_UNIT
    if isinstance(unit, bool) or not isinstance(unit, int) or not 0 <= unit <= MAX_UNIT:
        raise ConfigurationError(f"tunnel unit must be None or an integer from 0 to {MAX_UNIT}, not {unit!r}")
    return unit


class TunTapFramer:
    """Sans-I/O packet framing of a tunnel channel: one SSH data message per packet."""

    def __init__(self, layer: int, max_packet: int = DEFAULT_MAX_TUN_PACKET) -> None:
        if layer not in (LAYER2, LAYER3):
            raise ConfigurationError(f"invalid tunnel layer {layer!r}")
        self.layer = layer
        self.max_packet = max_packet

    def encode(self, packet: bytes | bytearray | memoryview) -> bytes:
        """One packet as the data of one SSH data message."""
        n = len(packet)
        if n == 0 or n > self.max_packet:
            raise TunTapError(f"tunnel packet of {n} bytes (1 to {self.max_packet} allowed)")
        if self.layer == LAYER2:
            return bytes(packet)
        version = packet[0] >> 4
        if version == 4:
            family = _AF_INET_WIRE
        elif version == 6:
            family = _AF_INET6_WIRE
        else:
            raise TunTapError(f"not an IPv4 or IPv6 packet (version {version})")
        return _U32.pack(family) + bytes(packet)

    def decode(self, message: bytes | bytearray | memoryview) -> bytes:
        """The packet in one SSH data message (the address family removed at layer 3)."""
        n = len(message)
        header = 4 if self.layer == LAYER3 else 0
        if n <= header or n > self.max_packet + header:
            raise TunTapError(f"bad tunnel packet of {n} bytes")
        return bytes(message[header:])


# ---------------------------------------------------------------------------------------------
# local devices (Linux)
# ---------------------------------------------------------------------------------------------


def open_tun_device(unit: int | None, layer: int = LAYER3, *, name: str | None = None) -> tuple[int, str]:
    """Open (creating if needed) tun/tap interface ``tun<unit>``/``tap<unit>``; returns ``(fd, ifname)``.

    ``unit=None`` lets the kernel pick the number. The file descriptor is
    non-blocking. Raises :class:`TunTapError` when the platform has no
    ``/dev/net/tun`` or the caller lacks ``CAP_NET_ADMIN``.
    """
    if not sys.platform.startswith("linux"):
        raise TunTapError(f"tun/tap devices are supported on Linux only, not {sys.platform}")
    prefix = "tap" if layer == LAYER2 else "tun"
    if name is None:
        name = f"{prefix}%d" if unit is None else f"{prefix}{check_unit(unit)}"
    encoded = name.encode()
    if len(encoded) >= 16 or not encoded or b"/" in encoded:
        raise ConfigurationError(f"invalid interface name {name!r}")
    try:
        fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
    except OSError as exc:
        raise TunTapError(f"cannot open /dev/net/tun: {exc.strerror or exc}") from exc
    flags = (_IFF_TAP if layer == LAYER2 else _IFF_TUN) | _IFF_NO_PI
    try:
        result = fcntl.ioctl(fd, _TUNSETIFF, struct.pack("16sH22x", encoded, flags))
    except OSError as exc:
        os.close(fd)
        hint = " (needs CAP_NET_ADMIN)" if exc.errno in (errno.EPERM, errno.EACCES) else ""
        raise TunTapError(f"cannot create interface {name}: {exc.strerror or exc}{hint}") from exc
    os.set_blocking(fd, False)
    ifname = bytes(result[:16]).rstrip(b"\0").decode()
    return fd, ifname


class TunTapDeviceSession(SSHTunTapSession):
    """Copies packets between a local tun/tap device and a tunnel channel.

    Reading the device pauses while the channel's output queue is full; a
    packet that cannot be written to the device at once is dropped, as a
    full device queue drops packets anyway (IP above retransmits).
    """

    READ_SIZE = 65536 + 64
    MAX_READS_PER_EVENT = 64  # packets read per readiness callback before yielding to the loop

    def __init__(self, fd: int, ifname: str, *, close_fd: bool = True) -> None:
        self.fd = fd
        self.ifname = ifname
        self._close_fd = close_fd
        self._chan: SSHChannel[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reading = False
        self._writing_paused = False
        self.packets_in = 0  # device -> channel
        self.packets_out = 0  # channel -> device
        self.dropped = 0
        self._done: asyncio.Future[None] | None = None

    def connection_made(self, chan: SSHChannel[Any]) -> None:
        """Remember the channel (reading starts once it is open)."""
        self._chan = chan
        self._loop = asyncio.get_running_loop()
        self._done = self._loop.create_future()

    def session_started(self) -> None:
        """The channel is open: read the device."""
        self._start_reading()

    def _start_reading(self) -> None:
        if not self._reading and self._loop is not None and self.fd >= 0 and not self._writing_paused:
            self._reading = True
            self._loop.add_reader(self.fd, self._read_ready)

    def _stop_reading(self) -> None:
        if self._reading and self._loop is not None:
            self._reading = False
            self._loop.remove_reader(self.fd)

    def _read_ready(self) -> None:
        chan = self._chan
        for _ in range(self.MAX_READS_PER_EVENT):
            try:
                packet = os.read(self.fd, self.READ_SIZE)
            except BlockingIOError:
                return
            except OSError as exc:
                logger.info("reading %s failed: %s", self.ifname, exc)
                self._stop_reading()
                if chan is not None:
                    chan.close()
                return
            if not packet or chan is None or chan.is_closing():
                return
            try:
                chan.write(packet)
            except TunTapError as exc:
                logger.debug("%s: packet not forwarded: %s", self.ifname, exc)
                continue
            self.packets_in += 1
            if self._writing_paused:
                return

    def data_received(self, data: bytes, datatype: int | None) -> None:
        """A packet from the peer goes to the device."""
        if self.fd < 0:
            return
        try:
            os.write(self.fd, data)
            self.packets_out += 1
        except (BlockingIOError, OSError) as exc:
            self.dropped += 1
            if not isinstance(exc, BlockingIOError):
                logger.debug("%s: writing a packet failed: %s", self.ifname, exc)

    def pause_writing(self) -> None:
        """The channel's queue is full: stop reading the device."""
        self._writing_paused = True
        self._stop_reading()

    def resume_writing(self) -> None:
        """Read the device again."""
        self._writing_paused = False
        self._start_reading()

    def connection_lost(self, exc: BaseException | None) -> None:
        """The tunnel closed: stop and close the device."""
        self._stop_reading()
        if self._close_fd and self.fd >= 0:
            os.close(self.fd)
        self.fd = -1
        if self._done is not None and not self._done.done():
            self._done.set_result(None)

    async def wait_closed(self) -> None:
        """Wait until the tunnel is closed."""
        if self._done is not None:
            await asyncio.shield(self._done)
