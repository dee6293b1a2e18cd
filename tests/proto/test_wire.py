"""SSH data types against RFC 4251's examples, and malformed input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from blockssh.exceptions import PacketDecodeError
from blockssh.proto.wire import Reader, boolean, byte, mpint, name_list, string, uint32, uint64

# RFC 4251 section 5, "mpint" examples.
MPINT_VECTORS = [
    (0, "00000000"),
    (0x9A378F9B2E332A7, "0000000809a378f9b2e332a7"),
    (0x80, "000000020080"),
    (-0x1234, "00000002edcc"),
    (-0xDEADBEEF, "00000005ff21524111"),
]


@pytest.mark.parametrize(("value", "hexed"), MPINT_VECTORS)
def test_mpint_matches_rfc_examples(value: int, hexed: str) -> None:
    assert mpint(value).hex() == hexed
    assert Reader(bytes.fromhex(hexed)).get_mpint() == value


def test_fixed_size_encodings() -> None:
    assert byte(7) == b"\x07"
    assert boolean(True) == b"\x01" and boolean(False) == b"\x00"
    assert uint32(0x29B7F4AA) == bytes.fromhex("29b7f4aa")
    assert uint64(2**64 - 1) == b"\xff" * 8
    assert string("testing") == bytes.fromhex("0000000774657374696e67")
    # RFC 4251 name-list examples
    assert name_list([]) == bytes.fromhex("00000000")
    assert name_list(["zlib"]) == bytes.fromhex("000000047a6c6962")
    assert name_list(["zlib", "none"]) == bytes.fromhex("000000097a6c69622c6e6f6e65")


def test_reader_reads_a_sequence_and_checks_the_end() -> None:
    data = byte(5) + boolean(True) + uint32(7) + uint64(9) + string(b"ab") + name_list(["x", "y"]) + mpint(-5)
    r = Reader(data)
    assert r.get_byte() == 5
    assert r.get_boolean() is True
    assert r.get_uint32() == 7
    assert r.get_uint64() == 9
    assert r.get_string() == b"ab"
    assert r.get_name_list() == ["x", "y"]
    assert r.get_mpint() == -5
    r.check_end()


@pytest.mark.parametrize(
    "bad",
    [
        b"",  # nothing at all
        b"\x00\x00\x00",  # short length
        b"\x00\x00\x00\x05abc",  # string longer than the data
        b"\xff\xff\xff\xffabc",  # absurd length
    ],
)
def test_truncated_strings_raise_decode_error(bad: bytes) -> None:
    with pytest.raises(PacketDecodeError):
        Reader(bad).get_string()


def test_trailing_bytes_are_refused() -> None:
    r = Reader(uint32(1) + b"x")
    r.get_uint32()
    with pytest.raises(PacketDecodeError):
        r.check_end()


@pytest.mark.parametrize("bad", [b"a,,b", b",a", b"a,", b"a b", b"caf\xc3\xa9"])
def test_malformed_name_lists_are_refused(bad: bytes) -> None:
    with pytest.raises(PacketDecodeError):
        Reader(string(bad)).get_name_list()


def test_invalid_utf8_text_is_refused() -> None:
    with pytest.raises(PacketDecodeError):
        Reader(string(b"\xff\xfe")).get_text()


@given(st.integers(min_value=-(2**2048), max_value=2**2048))
def test_mpint_round_trip(value: int) -> None:
    encoded = mpint(value)
    assert Reader(encoded).get_mpint() == value
    body = encoded[4:]
    # minimal: no redundant leading 0x00 / 0xff byte
    if len(body) > 1:
        assert not (body[0] == 0 and body[1] < 0x80)
        assert not (body[0] == 0xFF and body[1] >= 0x80)


@given(st.binary(max_size=64))
def test_reader_never_raises_anything_but_decode_error(data: bytes) -> None:
    r = Reader(data)
    for getter in (r.get_string, r.get_name_list, r.get_mpint, r.get_uint64, r.get_text, r.get_byte):
        try:
            getter()
        except PacketDecodeError:
            pass
