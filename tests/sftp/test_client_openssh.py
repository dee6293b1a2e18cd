"""blockssh's SFTP clients (blocking and asyncio) against OpenSSH's sftp server (the sshd fixture)."""

from __future__ import annotations

import asyncio
import io
import os
import stat
import uuid
from pathlib import Path
from typing import Any

import pytest
from sftp.helpers import connect_blocking

import blockssh.aio as aio
from blockssh.exceptions import SFTPError
from blockssh.sftp import SFTPClient as AsyncSFTPClient
from blockssh.sync.sftp import SFTP, SFTPAttributes, SFTPClient, SFTPFile

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]

Work = tuple[SFTPClient, str, Path]


def make(path: Path, data: bytes | str, mode: int = 0o644) -> Path:
    """Create a file on disk owned by the SFTP user (the owner of its directory)."""
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
    owner = os.stat(path.parent)
    os.chown(path, owner.st_uid, owner.st_gid)
    os.chmod(path, mode)
    return path


# -- the blocking client --------------------------------------------------------------------


def test_session_negotiates_openssh_limits(openssh_sftp: Work) -> None:
    sftp, _, _ = openssh_sftp
    assert sftp.limits is not None and sftp.limits.max_read_length == 261120
    assert sftp.aio.read_block_size == 261120 and sftp.aio.write_block_size == 261120
    assert "posix-rename@openssh.com" in sftp.extensions
    assert isinstance(sftp, SFTPClient) and issubclass(SFTP, SFTPClient)


def test_metadata_operations(openssh_sftp: Work) -> None:
    sftp, work, disk = openssh_sftp
    make(disk / "f.txt", b"hello")
    a = sftp.stat(f"{work}/f.txt")
    assert isinstance(a, SFTPAttributes)
    assert (a.st_size, stat.S_IMODE(a.st_mode or 0), stat.S_ISREG(a.st_mode or 0)) == (5, 0o644, True)
    sftp.chmod(f"{work}/f.txt", 0o600)
    assert stat.S_IMODE(os.stat(disk / "f.txt").st_mode) == 0o600
    sftp.utime(f"{work}/f.txt", (1_000_000, 2_000_000))
    assert os.stat(disk / "f.txt").st_mtime == 2_000_000
    sftp.truncate(f"{work}/f.txt", 2)
    assert (disk / "f.txt").read_bytes() == b"he"
    sftp.mkdir(f"{work}/d", 0o755)
    assert sftp.isdir(f"{work}/d") and not sftp.isfile(f"{work}/d") and sftp.exists(f"{work}/f.txt")
    sftp.rename(f"{work}/f.txt", f"{work}/d/g.txt")
    assert sftp.listdir(f"{work}/d") == ["g.txt"]
    entries = sftp.listdir_attr(f"{work}/d")
    assert entries[0].filename == "g.txt" and "g.txt" in entries[0].longname and entries[0].st_size == 2
    sftp.symlink("d/g.txt", f"{work}/link")
    assert sftp.readlink(f"{work}/link") == "d/g.txt"
    assert stat.S_ISLNK(sftp.lstat(f"{work}/link").st_mode or 0)
    assert sftp.stat(f"{work}/link").st_size == 2
    sftp.link(f"{work}/d/g.txt", f"{work}/hard")
    assert os.stat(disk / "hard").st_nlink == 2
    make(disk / "other", "x")
    sftp.posix_rename(f"{work}/other", f"{work}/hard")
    assert (disk / "hard").read_text() == "x"
    sftp.remove(f"{work}/hard")
    sftp.unlink(f"{work}/link")
    sftp.remove(f"{work}/d/g.txt")
    sftp.rmdir(f"{work}/d")
    assert sftp.listdir(work) == []
    assert sftp.normalize(f"{work}/./") == work
    vfs = sftp.statvfs(work)
    assert vfs.f_bsize > 0 and vfs.f_namemax >= 255
    assert sftp.expand_path("~") == str(sftp.normalize("."))


def test_makedirs_rmtree_and_glob(openssh_sftp: Work) -> None:
    sftp, work, disk = openssh_sftp
    sftp.makedirs(f"{work}/a/b/c")
    sftp.makedirs(f"{work}/a/b/c", exist_ok=True)
    with pytest.raises(FileExistsError):
        sftp.makedirs(f"{work}/a/b")
    for name in ("a/one.txt", "a/b/two.txt", "a/b/c/three.log", "a/.hidden.txt"):
        (disk / name).write_text(name)
    assert sftp.glob(f"{work}/a/*.txt") == [f"{work}/a/one.txt"]
    assert sftp.glob(f"{work}/a/**/*.txt") == [f"{work}/a/b/two.txt", f"{work}/a/one.txt"]
    assert sftp.glob(f"{work}/a/?/c/*") == [f"{work}/a/b/c/three.log"]
    assert sftp.glob(f"{work}/nothing/*") == []
    sftp.rmtree(f"{work}/a")
    assert not (disk / "a").exists()


def test_chdir_and_relative_paths(openssh_sftp: Work) -> None:
    sftp, work, disk = openssh_sftp
    assert sftp.getcwd() is None
    make(disk / "f", "x")
    sftp.chdir(work)
    assert sftp.getcwd() == work
    assert sftp.listdir() == ["f"] and sftp.stat("f").st_size == 1
    with pytest.raises(SFTPError):
        sftp.chdir("f")
    sftp.chdir(None)
    assert sftp.getcwd() is None


def test_error_mapping(openssh_sftp: Work, sshd: Any) -> None:
    sftp, work, disk = openssh_sftp
    with pytest.raises(FileNotFoundError) as info:
        sftp.stat(f"{work}/missing")
    assert info.value.errno == 2 and info.value.filename == f"{work}/missing"
    with pytest.raises(FileNotFoundError):
        sftp.open(f"{work}/missing")
    with pytest.raises(FileNotFoundError):
        sftp.get(f"{work}/missing", str(disk.parent / f"never-{uuid.uuid4().hex}"))
    secret = disk / "secret"
    secret.write_text("no")
    if sshd.user != "root" and os.getuid() == 0:
        os.chmod(secret, 0o600)  # owned by root: the test user cannot read it
        with pytest.raises(PermissionError):
            sftp.open(f"{work}/secret")
    sftp.mkdir(f"{work}/full")
    make(disk / "full" / "x", "x")
    with pytest.raises(OSError) as failure:
        sftp.rmdir(f"{work}/full")
    assert not isinstance(failure.value, (FileNotFoundError, PermissionError))
    assert not isinstance(failure.value, SFTPError)


def test_get_put_and_fo_variants_with_progress(openssh_sftp: Work, tmp_path: Path) -> None:
    sftp, work, disk = openssh_sftp
    data = os.urandom(1_000_003)
    src = tmp_path / "src"
    src.write_bytes(data)
    calls: list[tuple[int, int]] = []
    attrs = sftp.put(str(src), f"{work}/up", callback=lambda a, b: calls.append((a, b)))
    assert attrs.st_size == len(data) and (disk / "up").read_bytes() == data
    assert calls[-1] == (len(data), len(data)) and all(b == len(data) for _, b in calls)
    assert [a for a, _ in calls] == sorted(a for a, _ in calls)
    calls.clear()
    assert sftp.get(f"{work}/up", str(tmp_path / "down"), callback=lambda a, b: calls.append((a, b))) is None
    assert (tmp_path / "down").read_bytes() == data and calls[-1] == (len(data), len(data))
    buf = io.BytesIO()
    assert sftp.getfo(f"{work}/up", buf) == len(data) and buf.getvalue() == data
    attrs = sftp.putfo(io.BytesIO(data[:1000]), f"{work}/fo", file_size=1000)
    assert attrs.st_size == 1000
    assert sftp.putfo(io.BytesIO(b""), f"{work}/empty").st_size == 0
    unconfirmed = sftp.putfo(io.BytesIO(b"abc"), f"{work}/nc", confirm=False)
    assert unconfirmed.st_size is None and (disk / "nc").read_bytes() == b"abc"


def test_recursive_get_and_put(openssh_sftp: Work, tmp_path: Path) -> None:
    sftp, work, disk = openssh_sftp
    src = tmp_path / "tree"
    (src / "a" / "b").mkdir(parents=True)
    (src / "top.txt").write_text("top")
    (src / "a" / "mid.bin").write_bytes(os.urandom(300_000))
    (src / "a" / "b" / "deep.txt").write_text("deep")
    (src / "empty").mkdir()
    os.chmod(src / "a" / "mid.bin", 0o640)
    sftp.put(str(src), f"{work}/tree", recursive=True, preserve=True)
    assert (disk / "tree" / "a" / "b" / "deep.txt").read_text() == "deep"
    assert (disk / "tree" / "empty").is_dir()
    assert stat.S_IMODE(os.stat(disk / "tree" / "a" / "mid.bin").st_mode) == 0o640
    dst = tmp_path / "back"
    sftp.get(f"{work}/tree", str(dst), recursive=True)
    for rel in ("top.txt", "a/mid.bin", "a/b/deep.txt"):
        assert (dst / rel).read_bytes() == (src / rel).read_bytes()
    assert (dst / "empty").is_dir()


def test_resume_download(openssh_sftp: Work, tmp_path: Path) -> None:
    sftp, work, disk = openssh_sftp
    data = os.urandom(700_000)
    make(disk / "r", data)
    os.chmod(disk / "r", 0o644)
    local = tmp_path / "r"
    local.write_bytes(data[:300_001])
    calls: list[tuple[int, int]] = []
    sftp.get(f"{work}/r", str(local), callback=lambda a, b: calls.append((a, b)), resume=True)
    assert local.read_bytes() == data
    assert calls[0][0] == 300_001 and calls[-1] == (700_000, 700_000)
    local.write_bytes(b"x" * 800_000)  # longer than the remote file: start over
    sftp.get(f"{work}/r", str(local), resume=True)
    assert local.read_bytes() == data


# -- SFTPFile ------------------------------------------------------------------------------------


def test_sftpfile_sequential_small_reads_and_lines(openssh_sftp: Work) -> None:
    sftp, work, disk = openssh_sftp
    data = b"".join(b"line %d\n" % i for i in range(200_000))
    make(disk / "lines", data)
    os.chmod(disk / "lines", 0o644)
    with sftp.open(f"{work}/lines") as f:
        assert isinstance(f, SFTPFile)
        got = bytearray()
        while chunk := f.read(8192):
            got += chunk
        assert got == data and f.tell() == len(data)
        assert f.read(10) == b""
    with sftp.open(f"{work}/lines") as f:
        first = f.readline()
        assert first == "line 0\n" and isinstance(first, str)
        assert f.readline(3) == "lin"
        rest = list(f)
        assert len(rest) == 199_999 and rest[-1] == "line 199999\n"
    with sftp.open(f"{work}/lines", "rb") as f:
        assert f.readline() == b"line 0\n"
        assert f.readlines()[0] == b"line 1\n"


def test_sftpfile_seek_tell_read_all(openssh_sftp: Work) -> None:
    sftp, work, disk = openssh_sftp
    data = os.urandom(2_000_000)
    make(disk / "s", data)
    os.chmod(disk / "s", 0o644)
    with sftp.open(f"{work}/s", "rb") as f:
        assert f.seek(1_500_000) == 1_500_000 and f.read(10) == data[1_500_000:1_500_010]
        assert f.tell() == 1_500_010
        f.seek(-10, io.SEEK_CUR)
        assert f.read(10) == data[1_500_000:1_500_010]
        f.seek(-5, io.SEEK_END)
        assert f.read() == data[-5:]
        f.seek(100)
        assert f.read() == data[100:]
        f.seek(3_000_000)
        assert f.read(5) == b"" and f.read() == b""
        assert f.stat().st_size == len(data)
        assert [len(x) for x in f.readv([(0, 10), (1_999_990, 100), (500_000, 600_000)])] == [10, 10, 600_000]
        assert list(f.readv([(5, 5)])) == [data[5:10]]


def test_sftpfile_prefetch(openssh_sftp: Work) -> None:
    sftp, work, disk = openssh_sftp
    data = os.urandom(3_000_000)
    make(disk / "p", data)
    os.chmod(disk / "p", 0o644)
    with sftp.open(f"{work}/p", "rb") as f:
        f.prefetch()
        assert f.read(100) == data[:100]
        assert f.read() == data[100:]
    with sftp.open(f"{work}/p", "rb") as f:
        f.prefetch(len(data))
        got = bytearray()
        while chunk := f.read(32768):
            got += chunk
        assert got == data
    with sftp.open(f"{work}/p", "rb") as f:
        f.prefetch()
        f.seek(2_000_000)  # seeking away abandons the prefetch
        assert f.read(10) == data[2_000_000:2_000_010]


def test_sftpfile_writes_modes(openssh_sftp: Work) -> None:
    sftp, work, disk = openssh_sftp
    data = os.urandom(1_000_000)
    with sftp.open(f"{work}/w", "w") as f:
        assert not f.readable() and f.writable()
        f.write(data[:10])
        f.write(data[10:])
        with pytest.raises(OSError, match="not open for reading"):
            f.read()
    assert (disk / "w").read_bytes() == data
    with sftp.open(f"{work}/w", "a") as f:
        assert f.tell() == len(data)
        f.write("tail")
    assert (disk / "w").read_bytes() == data + b"tail"
    with sftp.open(f"{work}/w", "r+") as f:
        f.seek(5)
        f.write(b"XY")
        f.seek(0)
        assert f.read(8) == data[:5] + b"XY" + data[7:8]
    with pytest.raises(OSError):
        sftp.open(f"{work}/w", "x")
    with sftp.open(f"{work}/new", "x") as f:
        f.write(b"fresh")
    with sftp.open(f"{work}/new", "w+") as f:
        f.write(b"abc")
        f.seek(0)
        assert f.read() == b"abc"
        f.truncate(1)
    assert (disk / "new").read_bytes() == b"a"


def test_sftpfile_pipelined_writes_report_errors_at_close(openssh_sftp: Work, sshd: Any) -> None:
    sftp, work, disk = openssh_sftp
    with sftp.open(f"{work}/pipe", "wb") as f:
        f.set_pipelined(True)
        for _ in range(40):
            f.write(b"z" * 100_000)
    assert (disk / "pipe").stat().st_size == 4_000_000
    f = sftp.open(f"{work}/pipe", "rb")
    f.close()
    f.close()  # a second close does nothing
    with pytest.raises(OSError, match="closed"):
        f.read()


def test_sftpclient_from_an_open_channel(sshd: Any) -> None:
    client = connect_blocking(sshd)
    try:
        chan = client.get_transport().open_session()
        chan.invoke_subsystem("sftp")
        sftp = SFTPClient(chan)
        assert sftp.normalize(".").startswith("/")
        assert sftp.get_channel().get_transport() is client.get_transport()
        sftp.close()
    finally:
        client.close()


def test_open_sftp_from_sshclient(sshd: Any) -> None:
    client = connect_blocking(sshd)
    try:
        sftp = client.open_sftp()
        assert type(sftp).__name__ == "SFTPClient" and sftp.listdir(str(sshd.scratch_dir)) is not None
        sftp.close()
    finally:
        client.close()


# -- the asyncio client ----------------------------------------------------------------------


def read_file(path: str) -> bytes:
    return Path(path).read_bytes()


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 50))


def test_async_client_end_to_end(sshd: Any, tmp_path: Path) -> None:
    async def main() -> None:
        async with aio.connect(
            sshd.host,
            sshd.port,
            username=sshd.user,
            client_keys=[sshd.client_keys["ed25519"]],
            known_hosts=sshd.known_hosts,
        ) as conn:
            sftp = await conn.start_sftp_client()
            assert isinstance(sftp, AsyncSFTPClient)
            work = f"{sshd.scratch_dir}/a-{uuid.uuid4().hex[:8]}"
            await sftp.mkdir(work)
            data = os.urandom(1_234_567)
            (tmp_path / "src").write_bytes(data)
            seen: list[tuple[int, int]] = []
            await sftp.put(tmp_path / "src", f"{work}/x", callback=lambda a, b: seen.append((a, b)))
            assert seen[-1] == (len(data), len(data))
            assert await sftp.get(f"{work}/x", tmp_path / "dst") == len(data)
            assert (tmp_path / "dst").read_bytes() == data
            async with await sftp.open(f"{work}/x", "rb") as f:
                assert await f.read(5) == data[:5] and f.tell() == 5
                assert await f.pread(1_000_000, 10) == data[1_000_000:1_000_010]
                assert await f.read() == data[5:]
                assert (await f.stat()).st_size == len(data)
                await f.seek(-3, io.SEEK_END)
                assert await f.read() == data[-3:]
                parts = await f.readv([(0, 3), (1_234_560, 100)])
                assert parts == [data[:3], data[-7:]]
            async with await sftp.open(f"{work}/y", "w") as f:
                assert await f.write(data) == len(data)
                await f.fsync()
                assert (await f.statvfs()).f_bsize > 0
            assert read_file(f"{work}/y") == data
            await sftp.remote_copy(f"{work}/y", f"{work}/z")
            assert read_file(f"{work}/z") == data
            attrs = SFTPAttributes()
            attrs.st_mode = 0o600
            await sftp.lsetstat(f"{work}/z", attrs)
            assert stat.S_IMODE(os.stat(f"{work}/z").st_mode) == 0o600
            limits = await sftp.get_limits()
            assert limits.max_write_length == 261120
            assert sorted(await sftp.listdir(work)) == ["x", "y", "z"]
            await sftp.rmtree(work)
            sftp.close()
            await sftp.wait_closed()
            with pytest.raises(Exception):  # noqa: B017 - any closed-session error
                await sftp.stat("/")

    run(main())


def test_async_concurrent_requests_share_a_session(sshd: Any) -> None:
    async def main() -> None:
        async with aio.connect(
            sshd.host,
            sshd.port,
            username=sshd.user,
            client_keys=[sshd.client_keys["ed25519"]],
            known_hosts=sshd.known_hosts,
        ) as conn:
            sftp = await conn.start_sftp_client()
            results = await asyncio.gather(*(sftp.stat("/") for _ in range(200)))
            assert all(stat.S_ISDIR(a.st_mode or 0) for a in results)
            errors = await asyncio.gather(*(sftp.stat(f"/nope{i}") for i in range(20)), return_exceptions=True)
            assert all(isinstance(e, FileNotFoundError) for e in errors)
            sftp.close()

    run(main())


def test_sftpfile_write_visibility_and_buffering(openssh_sftp: Work) -> None:
    sftp, work, disk = openssh_sftp
    with sftp.open(f"{work}/u", "w") as f:  # unbuffered, like paramiko: visible at once
        f.write(b"abc")
        assert sftp.stat(f"{work}/u").st_size == 3
        for _ in range(1000):
            f.write(b"x" * 100)
        assert (disk / "u").stat().st_size == 100_003
    with sftp.open(f"{work}/b", "w", bufsize=1 << 20) as f:  # buffered: sent at 1 MiB, flush or close
        f.write(b"abc")
        assert sftp.stat(f"{work}/b").st_size == 0
        f.flush()
        assert sftp.stat(f"{work}/b").st_size == 3
    with sftp.open(f"{work}/l", "w", bufsize=1) as f:  # line buffered
        f.write("no newline yet")
        assert sftp.stat(f"{work}/l").st_size == 0
        f.write("\n")
        assert sftp.stat(f"{work}/l").st_size == 15


@pytest.mark.parametrize("slow", [False, True])
def test_local_io_moves_to_a_thread_when_the_disk_is_slow(
    openssh_sftp: Work, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, slow: bool
) -> None:
    from blockssh.sftp import bulk

    sftp, work, disk = openssh_sftp
    workers: list[Any] = []
    real = bulk._LocalWorker

    class Counting(real):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            super().__init__()
            workers.append(self)

    monkeypatch.setattr(bulk, "_LocalWorker", Counting)
    if slow:
        monkeypatch.setattr(bulk, "SLOW_LOCAL_IO", 0.0)  # every local call counts as slow: hand over at once
    data = os.urandom(3_000_000)
    (tmp_path / "src").write_bytes(data)
    sftp.put(str(tmp_path / "src"), f"{work}/s")
    sftp.get(f"{work}/s", str(tmp_path / "dst"))
    assert (tmp_path / "dst").read_bytes() == data and (disk / "s").read_bytes() == data
    if slow:
        assert len(workers) == 2  # one for the upload's reads, one for the download's writes
