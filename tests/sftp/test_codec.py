"""The sans-I/O SFTP codec: framing, attributes, replies, status mapping, and malformed input."""

from __future__ import annotations

import errno
import io
import os
import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from blockssh.exceptions import SFTPError
from blockssh.proto.wire import Reader, string
from blockssh.sftp import codec
from blockssh.sftp.attrs import SFTPAttributes, SFTPVFSAttributes, decode_attrs, format_longname
from blockssh.sftp.codec import FX, FXP, OpenFlags, PacketReader

pytestmark = pytest.mark.timeout(30)


def frame(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


# -- framing ---------------------------------------------------------------------------------


def test_reader_splits_packets_across_arbitrary_chunk_boundaries() -> None:
    packets = [bytes([FXP.STATUS]) + os.urandom(n) for n in (4, 100, 70000, 5)]
    stream = b"".join(frame(p) for p in packets)
    for step in (1, 3, 7, 1000, 32768, len(stream)):
        reader = PacketReader()
        out: list[bytes] = []
        for i in range(0, len(stream), step):
            out += reader.feed(memoryview(stream)[i : i + step])
        assert out == packets
        assert reader.buffered == 0


def test_reader_refuses_an_oversize_length_before_buffering() -> None:
    reader = PacketReader(max_length=1000)
    with pytest.raises(SFTPError, match="outside"):
        reader.feed(b"\xff\xff\xff\xff")
    with pytest.raises(SFTPError):
        PacketReader().feed(struct.pack(">I", codec.DEFAULT_MAX_PACKET_LENGTH + 1))


def test_reader_refuses_a_zero_length() -> None:
    with pytest.raises(SFTPError):
        PacketReader().feed(b"\x00\x00\x00\x00")


def test_reader_keeps_a_partial_packet() -> None:
    reader = PacketReader()
    assert reader.feed(frame(b"\x65abcdef")[:6]) == []
    assert reader.buffered == 2
    assert reader.feed(b"bcdef") == [b"\x65abcdef"]


# -- attributes --------------------------------------------------------------------------------


def test_attrs_round_trip_every_field() -> None:
    a = SFTPAttributes()
    a.st_size, a.st_uid, a.st_gid, a.st_mode = 1 << 40, 1000, 1001, 0o100644
    a.st_atime, a.st_mtime = 1_700_000_000, 1_700_000_001
    a.attr = {"user.x": b"\x00\x01"}
    b = decode_attrs(Reader(a.asbytes()))
    assert b == a
    assert b._flags == 0x8000000F


def test_attrs_only_send_set_fields() -> None:
    a = SFTPAttributes()
    a.st_mode = 0o755
    assert a.asbytes() == struct.pack(">II", SFTPAttributes.FLAG_PERMISSIONS, 0o755)
    assert SFTPAttributes().asbytes() == b"\x00\x00\x00\x00"
    a.st_atime = 5  # mtime missing: times are not sent
    assert len(a.asbytes()) == 8


def test_attrs_from_stat_and_str() -> None:
    st = os.stat(__file__)
    a = SFTPAttributes.from_stat(st, "x.py")
    assert (a.st_size, a.st_mode, a.st_uid) == (st.st_size, st.st_mode, st.st_uid)
    assert a.filename == "x.py"
    text = str(a)
    assert text.startswith("-rw") and text.endswith(" x.py")
    assert "SFTPAttributes" in repr(a)


def test_truncated_attrs_raise_sftp_error() -> None:
    a = SFTPAttributes()
    a.st_size = 5
    with pytest.raises(SFTPError):
        decode_attrs(Reader(a.asbytes()[:-1]))


def test_extended_attribute_count_is_bounded() -> None:
    with pytest.raises(SFTPError, match="too many"):
        decode_attrs(Reader(struct.pack(">II", SFTPAttributes.FLAG_EXTENDED, 10**6)))


def test_longname_and_dates() -> None:
    a = SFTPAttributes()
    a.st_mode, a.st_size, a.st_mtime = 0o040755, 4096, 0
    line = format_longname(a, "d", owner="root", group="wheel", nlink=2, now=0)
    assert line.split() == ["drwxr-xr-x", "2", "root", "wheel", "4096", "Jan", "1", "00:00", "d"]
    old = format_longname(a, "d", now=400 * 86400)
    assert "1970" in old
    a.st_mtime = 951782400  # 2000-02-29
    assert "Feb 29" in format_longname(a, "d")


def test_statvfs_round_trip() -> None:
    v = SFTPVFSAttributes.from_statvfs(os.statvfs("/"))
    assert SFTPVFSAttributes.decode(Reader(v.encode())) == v
    with pytest.raises(SFTPError):
        SFTPVFSAttributes.decode(Reader(v.encode()[:-3]))


# -- replies ----------------------------------------------------------------------------------


def test_version_round_trip_and_errors() -> None:
    body = codec.encode_version(3, [("limits@openssh.com", b"1")])
    version, ext = codec.decode_version(body[4:])
    assert version == 3 and ext == {"limits@openssh.com": b"1"}
    with pytest.raises(SFTPError, match="expected SSH_FXP_VERSION"):
        codec.decode_version(bytes([FXP.STATUS]) + b"\x00\x00\x00\x03")
    with pytest.raises(SFTPError, match="malformed"):
        codec.decode_version(bytes([FXP.VERSION]) + b"\x00\x00")
    with pytest.raises(SFTPError, match="malformed"):
        codec.decode_version(bytes([FXP.VERSION]) + b"\x00\x00\x00\x03" + string("x"))


def test_status_old_servers_without_message() -> None:
    payload = bytes([FXP.STATUS]) + struct.pack(">II", 7, FX.EOF)
    assert codec.decode_status(payload) == (FX.EOF, "", "")


def test_names_bounds() -> None:
    payload = bytes([FXP.NAME]) + struct.pack(">II", 1, 1000)
    with pytest.raises(SFTPError):
        codec.decode_names(payload)
    ok = codec.encode_names(9, [("a", "-rw a", SFTPAttributes())])[4:]
    (entry,) = codec.decode_names(ok)
    assert (entry.filename, entry.longname) == ("a", "-rw a")


def test_data_reply_length_must_match() -> None:
    good = codec.data_header(FXP.DATA, 1, b"", 3)[4:] + b"abc"
    assert bytes(codec.decode_data(good)) == b"abc"
    with pytest.raises(SFTPError):
        codec.decode_data(good + b"x")
    with pytest.raises(SFTPError):
        codec.decode_data(good[:8])


def test_handle_length_is_bounded() -> None:
    with pytest.raises(SFTPError):
        codec.decode_handle(bytes([FXP.HANDLE]) + b"\x00\x00\x00\x01" + string(b"h" * 300))


def test_write_header_then_data_is_a_write_request() -> None:
    packet = codec.write_request_header(5, b"HH", 1 << 33, 4) + b"data"
    (length,) = struct.unpack(">I", packet[:4])
    assert length == len(packet) - 4
    r = Reader(packet, 9)
    assert (r.get_string(), r.get_uint64(), r.get_string()) == (b"HH", 1 << 33, b"data")


# -- errors -----------------------------------------------------------------------------------


def test_status_error_mapping_is_paramikos() -> None:
    nf = codec.status_error(FX.NO_SUCH_FILE, "No such file", "/x")
    assert isinstance(nf, FileNotFoundError) and nf.errno == errno.ENOENT and nf.filename == "/x"
    assert not isinstance(nf, SFTPError)
    pd = codec.status_error(FX.PERMISSION_DENIED, "Permission denied")
    assert isinstance(pd, PermissionError) and pd.errno == errno.EACCES
    other = codec.status_error(FX.FAILURE, "Failure")
    assert type(other) is codec.SFTPStatusError and isinstance(other, OSError) and other.errno is None
    assert str(other) == "Failure" and other.code == FX.FAILURE
    assert isinstance(codec.status_error(FX.EOF), EOFError)
    unsupported = codec.status_error(FX.OP_UNSUPPORTED, "")
    assert "unsupported" in str(unsupported).lower()


@pytest.mark.parametrize(
    ("mode", "flags"),
    [
        ("r", OpenFlags.READ),
        ("rb", OpenFlags.READ),
        ("w", OpenFlags.WRITE | OpenFlags.CREAT | OpenFlags.TRUNC),
        ("a", OpenFlags.WRITE | OpenFlags.CREAT | OpenFlags.APPEND),
        ("x", OpenFlags.WRITE | OpenFlags.CREAT | OpenFlags.EXCL),
        ("r+", OpenFlags.READ | OpenFlags.WRITE),
        ("w+", OpenFlags.READ | OpenFlags.WRITE | OpenFlags.CREAT | OpenFlags.TRUNC),
        ("a+", OpenFlags.READ | OpenFlags.WRITE | OpenFlags.CREAT | OpenFlags.APPEND),
    ],
)
def test_open_flags(mode: str, flags: int) -> None:
    assert codec.open_flags_for_mode(mode) == flags


@pytest.mark.parametrize("mode", ["", "rw", "q", "r+w", "ww"])
def test_bad_modes(mode: str) -> None:
    with pytest.raises(ValueError):
        codec.open_flags_for_mode(mode)


# -- fuzz: malformed input only ever raises SFTPError -------------------------------------------


@given(st.binary(max_size=200))
def test_decoders_raise_only_sftp_error(data: bytes) -> None:
    for kind in (FXP.STATUS, FXP.HANDLE, FXP.DATA, FXP.NAME, FXP.ATTRS, FXP.EXTENDED_REPLY):
        payload = bytes([kind]) + b"\x00\x00\x00\x01" + data
        for decode in (
            codec.decode_status,
            codec.decode_handle,
            codec.decode_data,
            codec.decode_names,
            codec.decode_attrs_reply,
            codec.decode_limits,
            codec.decode_statvfs,
        ):
            try:
                decode(payload)
            except SFTPError:
                pass


@given(st.lists(st.binary(min_size=1, max_size=50), max_size=20))
def test_reader_never_crashes(chunks: list[bytes]) -> None:
    reader = PacketReader(max_length=64)
    try:
        for chunk in chunks:
            for packet in reader.feed(chunk):
                assert 1 <= len(packet) <= 64
    except SFTPError:
        pass


# -- zero-copy DATA replies and upload pieces ------------------------------------------------------


@pytest.mark.parametrize("step", [1, 3, 9, 100, 40000, 1 << 20])
def test_large_data_replies_come_back_as_views(step: int) -> None:
    data = os.urandom(100_000)
    packet = codec.data_header(FXP.DATA, 7, b"", len(data)) + data
    status = codec.encode_status(8, FX.OK)
    stream = packet + status
    reader = PacketReader(zero_copy_min=16 * 1024)
    out: list[Any] = []
    for i in range(0, len(stream), step):
        out += reader.feed(stream[i : i + step])
    big, small = out
    assert isinstance(big, codec.Pieces) and isinstance(small, bytes)
    assert big.join()[0] == FXP.DATA
    assert b"".join(codec.data_pieces(big)) == data
    assert codec.decode_status(small)[0] == FX.OK


def test_data_pieces_checks_the_length() -> None:
    good = (codec.data_header(FXP.DATA, 1, b"", 5) + b"abcde")[4:]  # the payload, without its length
    pieces = codec.Pieces([memoryview(good[:10]), memoryview(good[10:])])
    assert b"".join(codec.data_pieces(pieces)) == b"abcde"
    bad = codec.Pieces([memoryview(good), memoryview(b"x")])
    with pytest.raises(SFTPError):
        codec.data_pieces(bad)


def test_small_data_replies_stay_bytes() -> None:
    packet = codec.data_header(FXP.DATA, 1, b"", 3) + b"abc"
    (payload,) = PacketReader(zero_copy_min=16 * 1024).feed(packet)
    assert isinstance(payload, bytes)


def test_read_block_splits_off_the_head_piece() -> None:
    from blockssh.sftp.transfer import HEAD_PIECE, read_block

    src = io.BytesIO(bytes(range(256)) * 2000)
    block = read_block(src.read, 261120)
    assert isinstance(block, list) and [len(p) for p in block] == [HEAD_PIECE, 261120 - HEAD_PIECE]
    assert read_block(io.BytesIO(b"short").read, 261120) == b"short"
    assert read_block(io.BytesIO(b"x" * 100).read, 10) == b"x" * 10


def test_writev_all_handles_partial_writes(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    from blockssh.sftp import bulk

    calls: list[int] = []
    real = os.writev

    def short_writev(fd: int, bufs: Any) -> int:
        total = sum(len(b) for b in bufs)
        n = real(fd, [bytes(b"".join(bufs)[: max(1, total // 3)])])
        calls.append(n)
        return n

    monkeypatch.setattr(bulk.os, "writev", short_writev)
    data = os.urandom(10_000)
    views = [memoryview(data)[i : i + 999] for i in range(0, len(data), 999)]
    with open(tmp_path / "f", "wb", buffering=0) as f:
        bulk.writev_all(f.fileno(), views)
    assert (tmp_path / "f").read_bytes() == data and len(calls) > 3
