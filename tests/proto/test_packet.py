"""The binary packet protocol: round trips for every cipher and MAC, and malformed input."""

from __future__ import annotations

import itertools
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blockssh.exceptions import CompressionError, MACError, PacketTooLargeError, ProtocolError, SSHException
from blockssh.proto.algorithms.cipher import CIPHER_ALGORITHMS, NoneProtector, PacketProtector, make_protector
from blockssh.proto.algorithms.compression import Compressor, Decompressor
from blockssh.proto.algorithms.mac import MAC_ALGORITHMS, Mac
from blockssh.proto.packet import PacketDecoder, PacketEncoder

COMBOS = [(c, None) for c, s in CIPHER_ALGORITHMS.items() if s.is_aead] + [
    (c, m) for c, m in itertools.product(CIPHER_ALGORITHMS, MAC_ALGORITHMS) if not CIPHER_ALGORITHMS[c].is_aead
]


def make_pair(cipher: str | None, mac: str | None) -> tuple[PacketEncoder, PacketDecoder]:
    enc, dec = PacketEncoder(), PacketDecoder()
    if cipher is None:
        return enc, dec
    spec = CIPHER_ALGORITHMS[cipher]
    key, iv = os.urandom(spec.key_size), os.urandom(spec.iv_size)
    mac_key = os.urandom(MAC_ALGORITHMS[mac].key_size) if mac else b""

    def build(encrypt: bool) -> PacketProtector:
        m = Mac(MAC_ALGORITHMS[mac], mac_key) if mac else None
        return make_protector(spec, key, iv, m, encrypt=encrypt)

    enc.set_protector(build(True), reset_seq=False)
    dec.set_protector(build(False), reset_seq=False)
    return enc, dec


def drain(dec: PacketDecoder) -> list[bytes]:
    out = []
    while (p := dec.next_payload()) is not None:
        out.append(bytes(p))
    return out


@pytest.mark.parametrize(("cipher", "mac"), COMBOS)
@settings(max_examples=15, deadline=None)
@given(payloads=st.lists(st.binary(min_size=1, max_size=3000), min_size=1, max_size=5), chunk=st.integers(1, 700))
def test_round_trip(cipher: str, mac: str | None, payloads: list[bytes], chunk: int) -> None:
    enc, dec = make_pair(cipher, mac)
    wire = b"".join(enc.encode(p) for p in payloads)
    received: list[bytes] = []
    for i in range(0, len(wire), chunk):  # arbitrary TCP segmentation
        dec.feed(wire[i : i + chunk])
        received += drain(dec)
    assert received == payloads
    assert dec.seq == enc.seq == len(payloads)


@pytest.mark.parametrize(("cipher", "mac"), COMBOS)
def test_padding_is_aligned_and_at_least_four(cipher: str, mac: str | None) -> None:
    enc, _ = make_pair(cipher, mac)
    for size in range(1, 80):
        wire = enc.encode(b"x" * size)
        p = enc.protector
        body = len(wire) - p.tag_size - (0 if p.length_in_alignment else 4)
        assert body % p.block_size == 0
        assert body >= (size + 1 + 4) - (0 if not p.length_in_alignment else -4) - 4


@pytest.mark.parametrize(("cipher", "mac"), [c for c in COMBOS if c[0] is not None])
def test_any_flipped_bit_is_caught(cipher: str, mac: str | None) -> None:
    enc, _ = make_pair(cipher, mac)
    wire = enc.encode(b"hello world" * 20)
    for pos in range(0, len(wire), max(1, len(wire) // 25)):
        enc2, dec2 = make_pair(cipher, mac)  # fresh keys each time
        wire2 = bytearray(enc2.encode(b"hello world" * 20))
        wire2[pos] ^= 0x01
        dec2.feed(bytes(wire2))
        with pytest.raises((MACError, PacketTooLargeError, ProtocolError)):
            drain(dec2)


def test_oversize_length_is_refused_before_buffering() -> None:
    dec = PacketDecoder(max_packet_length=256 * 1024)
    dec.feed((256 * 1024 + 8).to_bytes(4, "big") + b"\x04")
    with pytest.raises(PacketTooLargeError):
        dec.next_payload()


def test_too_short_length_is_refused() -> None:
    dec = PacketDecoder()
    dec.feed(b"\x00\x00\x00\x01\x00")
    with pytest.raises(PacketTooLargeError):
        dec.next_payload()


def test_misaligned_length_is_refused() -> None:
    dec = PacketDecoder()
    dec.feed((13).to_bytes(4, "big") + b"\x04" + bytes(12))
    with pytest.raises(ProtocolError):
        dec.next_payload()


def test_bad_padding_is_refused() -> None:
    dec = PacketDecoder()
    dec.feed((12).to_bytes(4, "big") + b"\x02" + bytes(11))  # padding below 4
    with pytest.raises(ProtocolError):
        dec.next_payload()
    dec = PacketDecoder()
    dec.feed((12).to_bytes(4, "big") + b"\x0c" + bytes(11))  # padding longer than the packet
    with pytest.raises(ProtocolError):
        dec.next_payload()


def test_truncated_packet_waits_for_more() -> None:
    enc, dec = make_pair("aes128-gcm@openssh.com", None)
    wire = enc.encode(b"x" * 100)
    dec.feed(wire[:-1])
    assert dec.next_payload() is None
    dec.feed(wire[-1:])
    assert bytes(dec.next_payload() or b"") == b"x" * 100


def test_compression_round_trip_and_bomb_limit() -> None:
    c, d = Compressor(), Decompressor(max_size=1000)
    assert d.decompress(c.compress(b"a" * 900)) == b"a" * 900
    assert d.decompress(c.compress(b"b" * 10)) == b"b" * 10  # shared stream continues
    with pytest.raises(CompressionError):
        d.decompress(c.compress(b"z" * 5000))
    with pytest.raises(CompressionError):
        Decompressor(100).decompress(b"not zlib at all")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600))
def test_garbage_raises_only_blockssh_errors(data: bytes) -> None:
    for cipher, mac in [(None, None), ("chacha20-poly1305@openssh.com", None), ("aes128-ctr", "hmac-sha1")]:
        _, dec = make_pair(cipher, mac)
        dec.feed(data)
        try:
            drain(dec)
        except SSHException:
            pass


def test_sequence_numbers_wrap() -> None:
    enc, dec = PacketEncoder(), PacketDecoder()
    enc.seq = dec.seq = 0xFFFFFFFF
    dec.feed(enc.encode(b"a") + enc.encode(b"b"))
    assert drain(dec) == [b"a", b"b"]
    assert enc.seq == dec.seq == 1 and enc.wrapped and dec.wrapped


def test_none_protector_is_the_initial_state() -> None:
    assert isinstance(PacketEncoder().protector, NoneProtector)
