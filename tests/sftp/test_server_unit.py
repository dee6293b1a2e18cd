"""SFTPServerSession driven in memory: confinement to the root, limits, malformed requests."""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

import pytest

from blockssh.proto.wire import Reader, string
from blockssh.sftp import codec
from blockssh.sftp.attrs import SFTPAttributes
from blockssh.sftp.codec import FX, FXP, OpenFlags
from blockssh.sftp.server import SFTPServerSession

pytestmark = pytest.mark.timeout(30)


class FakeChannel:
    def __init__(self) -> None:
        self.out = bytearray()
        self.closed = False
        self.paused = False

    def write(self, data: bytes) -> None:
        self.out += data

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False


class Driver:
    def __init__(self, root: Path, **options: Any) -> None:
        self.session = SFTPServerSession(root, **options)
        self.chan = FakeChannel()
        self.session.connection_made(self.chan)
        self.reader = codec.PacketReader()
        self.next_id = 1
        self.send_raw(codec.encode_init())
        (version,) = self.replies()
        assert codec.decode_version(version)[0] == 3

    def send_raw(self, data: bytes) -> None:
        self.session.data_received(data, None)

    def replies(self) -> list[bytes]:
        out = self.reader.feed(bytes(self.chan.out))
        self.chan.out.clear()
        return out

    def request(self, kind: int, *parts: bytes) -> bytes:
        rid = self.next_id
        self.next_id += 1
        self.send_raw(codec.packet(kind, rid, *parts))
        (reply,) = self.replies()
        assert struct.unpack_from(">I", reply, 1)[0] == rid
        return reply

    def status(self, kind: int, *parts: bytes) -> int:
        reply = self.request(kind, *parts)
        assert reply[0] == FXP.STATUS, codec.reply_type_name(reply[0])
        return codec.decode_status(reply)[0]

    def open(self, path: str, flags: int) -> bytes:
        reply = self.request(FXP.OPEN, string(path), struct.pack(">I", flags), SFTPAttributes().asbytes())
        assert reply[0] == FXP.HANDLE, codec.decode_status(reply)
        return codec.decode_handle(reply)

    def name(self, kind: int, path: str) -> str:
        reply = self.request(kind, string(path))
        assert reply[0] == FXP.NAME, codec.decode_status(reply)
        return codec.decode_names(reply)[0].filename


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "file.txt").write_text("inside")
    (tmp_path / "secret.txt").write_text("outside")
    os.symlink(str(tmp_path / "secret.txt"), root / "abs-escape")
    os.symlink("../secret.txt", root / "rel-escape")
    os.symlink(str(tmp_path), root / "dir-escape")
    os.symlink("sub/file.txt", root / "good-link")
    return root


def test_paths_are_relative_to_the_root(tree: Path) -> None:
    d = Driver(tree)
    assert d.name(FXP.REALPATH, ".") == "/"
    assert d.name(FXP.REALPATH, "/../../..") == "/"
    assert d.name(FXP.REALPATH, "sub/../sub") == "/sub"
    assert d.name(FXP.REALPATH, "good-link") == "/sub/file.txt"
    handle = d.open("/../../sub/file.txt", OpenFlags.READ)
    reply = d.request(FXP.READ, string(handle), struct.pack(">QI", 0, 100))
    assert bytes(codec.decode_data(reply)) == b"inside"


@pytest.mark.parametrize(
    "path", ["/abs-escape", "rel-escape", "/dir-escape/secret.txt", "dir-escape/root/../secret.txt"]
)
def test_symlink_escapes_are_refused(tree: Path, path: str) -> None:
    d = Driver(tree)
    reply = d.request(FXP.OPEN, string(path), struct.pack(">I", OpenFlags.READ), SFTPAttributes().asbytes())
    assert reply[0] == FXP.STATUS
    assert codec.decode_status(reply)[0] == FX.PERMISSION_DENIED
    assert d.status(FXP.STAT, string(path)) == FX.PERMISSION_DENIED
    assert d.status(FXP.REALPATH, string(path)) == FX.PERMISSION_DENIED


def test_escaping_writes_are_refused_and_nothing_is_created_outside(tree: Path) -> None:
    d = Driver(tree)
    flags = struct.pack(">I", OpenFlags.WRITE | OpenFlags.CREAT | OpenFlags.TRUNC)
    reply = d.request(FXP.OPEN, string("/dir-escape/new.txt"), flags, SFTPAttributes().asbytes())
    assert codec.decode_status(reply)[0] == FX.PERMISSION_DENIED
    assert d.status(FXP.MKDIR, string("/dir-escape/newdir"), SFTPAttributes().asbytes()) == FX.PERMISSION_DENIED
    assert d.status(FXP.REMOVE, string("/dir-escape/secret.txt")) == FX.PERMISSION_DENIED
    assert d.status(FXP.RENAME, string("/sub/file.txt"), string("/dir-escape/moved")) == FX.PERMISSION_DENIED
    assert not (tree.parent / "new.txt").exists() and not (tree.parent / "newdir").exists()
    assert (tree.parent / "secret.txt").read_text() == "outside"
    # The link itself (not its target) may be removed: it lives inside the root.
    assert d.status(FXP.REMOVE, string("/abs-escape")) == FX.OK
    assert (tree.parent / "secret.txt").exists()


def test_symlinks_made_by_clients_stay_inside(tree: Path) -> None:
    d = Driver(tree)
    assert d.status(FXP.SYMLINK, string("/sub/file.txt"), string("/abs-link")) == FX.OK
    assert os.readlink(tree / "abs-link") == str(tree / "sub" / "file.txt")
    assert d.name(FXP.READLINK, "/abs-link") == "/sub/file.txt"
    assert d.status(FXP.SYMLINK, string("/../../etc/passwd"), string("/passwd-link")) == FX.OK
    assert d.status(FXP.STAT, string("/passwd-link")) == FX.NO_SUCH_FILE  # maps to <root>/etc/passwd
    assert d.status(FXP.SYMLINK, string("../../../../etc/passwd"), string("/rel-link")) == FX.OK
    assert d.status(FXP.STAT, string("/rel-link")) == FX.PERMISSION_DENIED


def test_handle_limit(tree: Path) -> None:
    d = Driver(tree, max_handles=3)
    handles = [d.open("/sub/file.txt", OpenFlags.READ) for _ in range(3)]
    reply = d.request(FXP.OPEN, string("/sub/file.txt"), struct.pack(">I", 1), SFTPAttributes().asbytes())
    assert codec.decode_status(reply)[0] == FX.FAILURE
    assert d.status(FXP.CLOSE, string(handles[0])) == FX.OK
    d.open("/sub/file.txt", OpenFlags.READ)
    assert d.status(FXP.CLOSE, string(b"nonsense")) == FX.FAILURE


def test_reads_are_capped_and_end_with_eof(tree: Path) -> None:
    (tree / "big").write_bytes(b"x" * 5000)
    d = Driver(tree, max_read_length=1024)
    handle = d.open("/big", OpenFlags.READ)
    reply = d.request(FXP.READ, string(handle), struct.pack(">QI", 0, 1 << 20))
    assert len(codec.decode_data(reply)) == 1024
    assert d.status(FXP.READ, string(handle), struct.pack(">QI", 5000, 10)) == FX.EOF
    limits = d.request(FXP.EXTENDED, string("limits@openssh.com"))
    assert codec.decode_limits(limits).max_read_length == 1024


def test_malformed_and_unknown_requests_get_status_replies(tree: Path) -> None:
    d = Driver(tree)
    assert d.status(FXP.STAT) == FX.BAD_MESSAGE  # no path at all
    assert d.status(FXP.OPEN, string("/x")) == FX.BAD_MESSAGE  # pflags missing
    assert d.status(99) == FX.OP_UNSUPPORTED
    assert d.status(FXP.EXTENDED, string("nope@example.com")) == FX.OP_UNSUPPORTED
    assert d.status(FXP.STAT, string(b"a\x00b")) == FX.BAD_MESSAGE
    assert not d.chan.closed


def test_oversize_packet_closes_the_session(tree: Path) -> None:
    d = Driver(tree)
    d.send_raw(b"\xff\xff\xff\xff")
    assert d.chan.closed


def test_request_before_init_closes(tree: Path) -> None:
    session = SFTPServerSession(tree)
    chan = FakeChannel()
    session.connection_made(chan)
    session.data_received(codec.packet(FXP.STAT, 1, string("/")), None)
    assert chan.closed


def test_readonly(tree: Path) -> None:
    d = Driver(tree, readonly=True)
    flags = struct.pack(">I", OpenFlags.WRITE | OpenFlags.CREAT)
    reply = d.request(FXP.OPEN, string("/new"), flags, SFTPAttributes().asbytes())
    assert codec.decode_status(reply)[0] == FX.PERMISSION_DENIED
    assert d.status(FXP.REMOVE, string("/sub/file.txt")) == FX.PERMISSION_DENIED
    assert d.status(FXP.SETSTAT, string("/sub"), SFTPAttributes().asbytes()) == FX.PERMISSION_DENIED
    d.open("/sub/file.txt", OpenFlags.READ)


def test_v3_rename_refuses_existing_target_posix_rename_replaces(tree: Path) -> None:
    (tree / "a").write_text("A")
    (tree / "b").write_text("B")
    d = Driver(tree)
    assert d.status(FXP.RENAME, string("/a"), string("/b")) == FX.FAILURE
    assert d.status(FXP.EXTENDED, string("posix-rename@openssh.com"), string("/a"), string("/b")) == FX.OK
    assert (tree / "b").read_text() == "A"


def test_rmdir_of_root_is_refused(tree: Path) -> None:
    d = Driver(tree)
    assert d.status(FXP.RMDIR, string("/")) == FX.PERMISSION_DENIED
    assert tree.is_dir()


def test_replies_backing_up_pause_reading(tree: Path) -> None:
    d = Driver(tree)
    d.session.pause_writing()
    assert d.chan.paused
    d.session.resume_writing()
    assert not d.chan.paused


def test_readdir_lists_with_longnames(tree: Path) -> None:
    d = Driver(tree)
    reply = d.request(FXP.OPENDIR, string("/sub"))
    handle = codec.decode_handle(reply)
    names = codec.decode_names(d.request(FXP.READDIR, string(handle)))
    by_name = {n.filename: n for n in names}
    assert set(by_name) == {".", "..", "file.txt"}
    assert by_name["file.txt"].longname.startswith("-rw")
    assert by_name["file.txt"].longname.endswith(" file.txt")
    assert d.status(FXP.READDIR, string(handle)) == FX.EOF
    r = Reader(codec.packet(FXP.READDIR, 1, string(handle)), 9)
    assert r.get_string() == handle
