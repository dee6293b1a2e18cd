"""The sans-I/O parts of forwarding: the SOCKS handshake, tunnel packet framing, X11 display and cookie handling."""

from __future__ import annotations

import os
import socket
import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from blockssh.aio.socks import SOCKSError, SOCKSParser, SOCKSRequest
from blockssh.aio.tuntap import (
    LAYER2,
    LAYER3,
    TUN_ANY_UNIT,
    TunTapError,
    TunTapFramer,
    decode_tun_open,
    encode_tun_open,
)
from blockssh.aio.x11 import X11Error, parse_display, read_xauthority, rewrite_setup
from blockssh.exceptions import ConfigurationError, SSHException

pytestmark = pytest.mark.timeout(30)

# -- SOCKS ----------------------------------------------------------------------------------------------


def feed_bytewise(parser: SOCKSParser, data: bytes) -> tuple[SOCKSRequest | None, bytes]:
    out = b""
    request = None
    for i in range(len(data)):
        request = parser.feed(data[i : i + 1])
        out += parser.data_to_send()
    return request, out


@pytest.mark.parametrize(
    ("data", "request_", "replies"),
    [
        (b"\x04\x01\x00\x50\x7f\x00\x00\x01alice\x00", SOCKSRequest(4, "127.0.0.1", 80), b""),
        (b"\x04\x01\x01\xbb\x00\x00\x00\x09\x00example.com\x00", SOCKSRequest(4, "example.com", 443), b""),
        (b"\x05\x01\x00\x05\x01\x00\x01\x0a\x00\x00\x01\x00\x16", SOCKSRequest(5, "10.0.0.1", 22), b"\x05\x00"),
        (b"\x05\x02\x02\x00\x05\x01\x00\x03\x04host\x1f\x90", SOCKSRequest(5, "host", 8080), b"\x05\x00"),
        (b"\x05\x01\x00\x05\x01\x00\x04" + bytes(15) + b"\x01\x00\x35", SOCKSRequest(5, "::1", 53), b"\x05\x00"),
    ],
)
def test_socks_requests(data: bytes, request_: SOCKSRequest, replies: bytes) -> None:
    # whole, and one byte at a time
    parser = SOCKSParser()
    assert parser.feed(data) == request_
    assert parser.data_to_send() == replies
    assert feed_bytewise(SOCKSParser(), data) == (request_, replies)


def test_socks_replies_and_leftover() -> None:
    parser = SOCKSParser()
    parser.feed(b"\x05\x01\x00\x05\x01\x00\x01\x7f\x00\x00\x01\x00\x50GET / HTTP/1.0\r\n")
    assert parser.leftover == b"GET / HTTP/1.0\r\n"
    assert parser.reply(True) == b"\x05\x00\x00\x01" + bytes(6)
    assert parser.reply(False, 5)[:2] == b"\x05\x05"
    v4 = SOCKSParser()
    v4.feed(b"\x04\x01\x00\x50\x7f\x00\x00\x01\x00")
    assert v4.reply(True) == b"\x00\x5a" + bytes(6) and v4.reply(False)[1] == 91
    parser.feed(b"more")
    assert parser.leftover.endswith(b"more")


@pytest.mark.parametrize(
    ("data", "reply", "message"),
    [
        (b"\x06", b"", "version 6"),
        (b"\x05\x01\x02", b"\x05\xff", "no method"),
        (b"\x05\x01\x00\x05\x02\x00\x01\x7f\x00\x00\x01\x00\x50", b"\x05\x00\x05\x07", "command 2"),
        (b"\x05\x01\x00\x05\x01\x00\x09", b"\x05\x00\x05\x08", "address type 9"),
        (b"\x04\x02\x00\x50\x7f\x00\x00\x01\x00", b"\x00\x5b", "command 2"),
        (b"\x04\x01\x00\x50\x00\x00\x00\x01\x00\xff\x00", b"", "not ASCII"),
        (b"\x05\x01\x00\x05\x01\x00\x03\x00\x00\x50", b"\x05\x00", "empty"),
        (b"\x04\x01\x00\x50\x7f\x00\x00\x01" + b"u" * 2000, b"", "longer than"),
    ],
)
def test_socks_errors(data: bytes, reply: bytes, message: str) -> None:
    parser = SOCKSParser()
    with pytest.raises(SOCKSError, match=message):
        parser.feed(data)
    assert parser.data_to_send()[: len(reply)] == reply
    assert issubclass(SOCKSError, SSHException)


# -- tunnels --------------------------------------------------------------------------------------------


def test_tun_open_data() -> None:
    assert encode_tun_open(LAYER3, None) == struct.pack(">II", 1, TUN_ANY_UNIT)
    assert decode_tun_open(encode_tun_open(LAYER2, 7)) == (LAYER2, 7)
    assert decode_tun_open(encode_tun_open(LAYER3, None)) == (LAYER3, None)
    for bad in (b"", struct.pack(">II", 3, 0), bytes(9)):
        with pytest.raises(TunTapError):
            decode_tun_open(bad)
    for unit in (-1, TUN_ANY_UNIT, "1", True):
        with pytest.raises(ConfigurationError):
            encode_tun_open(LAYER3, unit)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        encode_tun_open(4, None)


def test_layer3_framing_matches_openssh() -> None:
    """One packet per data message; at layer 3 an OpenBSD address family (2, 24) in front, as ssh -w sends."""
    framer = TunTapFramer(LAYER3)
    ipv4 = b"\x45" + bytes(19)
    ipv6 = b"\x60" + bytes(39)
    assert framer.encode(ipv4) == struct.pack(">I", 2) + ipv4
    assert framer.encode(ipv6) == struct.pack(">I", 24) + ipv6
    assert framer.decode(struct.pack(">I", 24) + ipv6) == ipv6
    assert framer.decode(struct.pack(">I", 10) + ipv6) == ipv6  # a Linux AF_INET6 from a sloppy peer: fine
    with pytest.raises(TunTapError):
        framer.encode(b"\x10abc")
    with pytest.raises(TunTapError):
        framer.encode(b"")
    with pytest.raises(TunTapError):
        framer.decode(b"\0\0\0\x02")  # a family and no packet
    layer2 = TunTapFramer(LAYER2)
    assert layer2.encode(b"frame") == b"frame" and layer2.decode(b"frame") == b"frame"


@given(packets=st.lists(st.binary(min_size=1, max_size=300), min_size=1, max_size=20), layer=st.sampled_from([2, 1]))
def test_framing_round_trip(packets: list[bytes], layer: int) -> None:
    if layer == LAYER3:
        packets = [bytes([0x45]) + p for p in packets]
    framer = TunTapFramer(layer)
    assert [framer.decode(framer.encode(p)) for p in packets] == packets


def test_framing_rejects_bad_sizes() -> None:
    with pytest.raises(TunTapError):
        TunTapFramer(LAYER2, max_packet=100).decode(bytes(101))
    with pytest.raises(TunTapError):
        TunTapFramer(LAYER2, max_packet=10).encode(bytes(11))
    with pytest.raises(TunTapError):
        TunTapFramer(LAYER2).decode(b"")


# -- X11 ------------------------------------------------------------------------------------------------


def test_parse_display() -> None:
    d = parse_display(":0")
    assert (d.host, d.number, d.screen, d.path) == (None, 0, 0, "/tmp/.X11-unix/X0")
    d = parse_display("localhost:10.2")
    assert (d.host, d.number, d.screen, d.port) == ("localhost", 10, 2, 6010)
    assert parse_display("unix:3").path == "/tmp/.X11-unix/X3"
    assert parse_display("/private/tmp/launch-x/org.xquartz:0").path == "/private/tmp/launch-x/org.xquartz"
    for bad in ("", "0", ":x", "host:1.y", ":70000"):
        with pytest.raises(X11Error):
            parse_display(bad)


def _entry(family: int, address: bytes, number: bytes, cookie: bytes, name: bytes = b"MIT-MAGIC-COOKIE-1") -> bytes:
    return struct.pack(">H", family) + b"".join(struct.pack(">H", len(f)) + f for f in (address, number, name, cookie))


def test_read_xauthority(tmp_path: Path) -> None:
    path = tmp_path / "auth"
    local, wild, other = os.urandom(16), os.urandom(16), os.urandom(16)
    path.write_bytes(
        _entry(256, b"elsewhere", b"5", other)
        + _entry(65535, b"", b"5", wild)
        + _entry(256, socket.gethostname().encode(), b"5", local)
        + _entry(256, socket.gethostname().encode(), b"6", other, b"XDM-AUTHORIZATION-1")
    )
    assert read_xauthority(parse_display(":5"), str(path)) == ("MIT-MAGIC-COOKIE-1", local)
    assert read_xauthority(parse_display(":6"), str(path)) is None
    assert read_xauthority(parse_display(":5"), str(tmp_path / "missing")) is None
    path.write_bytes(_entry(65535, b"", b"5", wild) + b"\x01")  # a truncated record at the end
    assert read_xauthority(parse_display(":5"), str(path)) == ("MIT-MAGIC-COOKIE-1", wild)


def _setup(order: bytes, name: bytes, cookie: bytes) -> bytes:
    fmt = ">" if order == b"B" else "<"

    def pad(b: bytes) -> bytes:
        return b + bytes((4 - len(b) % 4) % 4)

    return order + b"\0" + struct.pack(fmt + "HHHH", 11, 0, len(name), len(cookie)) + b"\0\0" + pad(name) + pad(cookie)


@pytest.mark.parametrize("order", [b"B", b"l"])
def test_rewrite_setup(order: bytes) -> None:
    fake = ("MIT-MAGIC-COOKIE-1", os.urandom(16))
    real = ("MIT-MAGIC-COOKIE-1", os.urandom(16))
    message = _setup(order, fake[0].encode(), fake[1])
    for cut in range(len(message)):
        assert rewrite_setup(message[:cut], fake, real) is None
    assert rewrite_setup(message + b"tail", fake, real) == _setup(order, real[0].encode(), real[1]) + b"tail"
    assert rewrite_setup(message, fake, None) == _setup(order, b"", b"")
    with pytest.raises(X11Error, match="wrong"):
        rewrite_setup(_setup(order, fake[0].encode(), os.urandom(16)), fake, real)
    with pytest.raises(X11Error, match="wrong"):
        rewrite_setup(_setup(order, b"XDM-AUTHORIZATION-1", fake[1]), fake, real)
    with pytest.raises(X11Error, match="byte order"):
        rewrite_setup(b"X" + message[1:], fake, real)
