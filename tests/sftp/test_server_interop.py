"""blockssh's SFTP server against real clients: OpenSSH's sftp in batch mode, paramiko, and blockssh."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import subprocess
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sftp.helpers import RunningServer, connect_blocking

from blockssh.sync.sftp import SFTPClient

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]

SFTP_BIN = shutil.which("sftp")


@pytest.fixture
def workdir(sftp_server: RunningServer) -> Iterator[tuple[str, Path]]:
    name = f"i-{uuid.uuid4().hex[:8]}"
    path = sftp_server.root / name
    path.mkdir()
    yield "/" + name, path
    shutil.rmtree(path, ignore_errors=True)


def run_sftp_batch(server: RunningServer, commands: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    batch = tmp_path / f"batch-{uuid.uuid4().hex[:6]}"
    batch.write_text(commands)
    return subprocess.run(
        [
            str(SFTP_BIN),
            "-b",
            str(batch),
            "-P",
            str(server.port),
            "-i",
            str(server.client_key_path),
            "-F",
            "/dev/null",
            "-o",
            f"UserKnownHostsFile={server.known_hosts}",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            f"{server.user}@{server.host}",
        ],
        capture_output=True,
        text=True,
        timeout=40,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.skipif(SFTP_BIN is None, reason="OpenSSH's sftp client is not installed")
def test_openssh_sftp_batch_against_our_server(
    sftp_server: RunningServer, workdir: tuple[str, Path], tmp_path: Path
) -> None:
    remote, disk = workdir
    data = os.urandom(3_000_000)
    local = tmp_path / "local.bin"
    local.write_bytes(data)
    (tmp_path / "partial.bin").write_bytes(data[:1_000_000])  # reget resumes it
    commands = f"""
cd {remote}
mkdir sub
put {local} sub/up.bin
ls -l sub
get sub/up.bin {tmp_path}/down.bin
rename sub/up.bin sub/renamed.bin
chmod 600 sub/renamed.bin
ln -s renamed.bin sub/link.bin
get sub/link.bin {tmp_path}/via-link.bin
mkdir gone
rmdir gone
put {local} victim
rm victim
reget sub/renamed.bin {tmp_path}/partial.bin
ls
pwd
df .
"""
    result = run_sftp_batch(sftp_server, commands, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "down.bin").read_bytes() == data
    assert (tmp_path / "via-link.bin").read_bytes() == data
    assert (tmp_path / "partial.bin").read_bytes() == data
    assert (disk / "sub" / "renamed.bin").read_bytes() == data
    assert stat.S_IMODE(os.stat(disk / "sub" / "renamed.bin").st_mode) == 0o600
    assert os.readlink(disk / "sub" / "link.bin") == "renamed.bin"
    assert not (disk / "gone").exists() and not (disk / "victim").exists()
    assert "up.bin" in result.stdout  # ls -l of sub
    assert f"Remote working directory: {remote}" in result.stdout


@pytest.mark.skipif(SFTP_BIN is None, reason="OpenSSH's sftp client is not installed")
def test_openssh_sftp_cannot_escape_the_root(
    sftp_server: RunningServer, workdir: tuple[str, Path], tmp_path: Path
) -> None:
    remote, disk = workdir
    outside = sftp_server.root.parent / f"outside-{uuid.uuid4().hex[:6]}"
    outside.write_text("secret")
    os.symlink(str(outside), disk / "escape")
    result = run_sftp_batch(sftp_server, f"get {remote}/escape {tmp_path}/stolen\n", tmp_path)
    assert result.returncode != 0
    assert not (tmp_path / "stolen").exists()
    result = run_sftp_batch(sftp_server, f"cd /../../..\npwd\nget ../{outside.name} {tmp_path}/stolen2\n", tmp_path)
    assert "Remote working directory: /\n" in result.stdout
    assert not (tmp_path / "stolen2").exists()


def paramiko_sftp(server: RunningServer) -> tuple[Any, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import paramiko
    client = paramiko.SSHClient()
    client.load_host_keys(str(server.known_hosts))
    client.connect(
        server.host,
        server.port,
        username=server.user,
        key_filename=str(server.client_key_path),
        look_for_keys=False,
        allow_agent=False,
    )
    return client, client.open_sftp()


def test_paramiko_against_our_server(sftp_server: RunningServer, workdir: tuple[str, Path], tmp_path: Path) -> None:
    remote, disk = workdir
    client, sftp = paramiko_sftp(sftp_server)
    try:
        data = os.urandom(2_000_000)
        (tmp_path / "src").write_bytes(data)
        attrs = sftp.put(str(tmp_path / "src"), f"{remote}/p.bin")
        assert attrs.st_size == len(data) and (disk / "p.bin").read_bytes() == data
        sftp.get(f"{remote}/p.bin", str(tmp_path / "dst"))
        assert (tmp_path / "dst").read_bytes() == data
        with sftp.open(f"{remote}/p.bin", "rb") as f:
            f.prefetch()
            assert f.read() == data
        with sftp.open(f"{remote}/p.bin", "rb") as f:
            assert [len(c) for c in f.readv([(0, 5), (1_000_000, 70_000)])] == [5, 70_000]
        sftp.mkdir(f"{remote}/d")
        sftp.rename(f"{remote}/p.bin", f"{remote}/d/q.bin")
        assert sftp.listdir(f"{remote}/d") == ["q.bin"]
        entry = sftp.listdir_attr(f"{remote}/d")[0]
        assert entry.filename == "q.bin" and entry.st_size == len(data) and "q.bin" in entry.longname
        sftp.symlink("q.bin", f"{remote}/d/l")
        assert sftp.readlink(f"{remote}/d/l") == "q.bin"
        sftp.chmod(f"{remote}/d/q.bin", 0o640)
        assert stat.S_IMODE(sftp.stat(f"{remote}/d/q.bin").st_mode) == 0o640
        sftp.posix_rename(f"{remote}/d/q.bin", f"{remote}/d/r.bin")
        assert sftp.normalize(f"{remote}/d/../d") == f"{remote}/d"
        with pytest.raises(FileNotFoundError):
            sftp.stat(f"{remote}/missing")
        with pytest.raises(IOError):
            sftp.rmdir(f"{remote}/d")
        sftp.remove(f"{remote}/d/l")
        sftp.remove(f"{remote}/d/r.bin")
        sftp.rmdir(f"{remote}/d")
        assert sftp.listdir(remote) == []
        with pytest.raises(IOError):
            sftp.stat("/../../etc/passwd")  # maps inside the root: no such file
    finally:
        sftp.close()
        client.close()


def test_blockssh_client_against_our_server(our_sftp: tuple[SFTPClient, str, Path], tmp_path: Path) -> None:
    sftp, remote, disk = our_sftp
    data = os.urandom(1_500_001)
    (tmp_path / "src").write_bytes(data)
    assert sftp.limits is not None and sftp.limits.max_read_length == 261120
    sftp.put(str(tmp_path / "src"), f"{remote}/b")
    sftp.get(f"{remote}/b", str(tmp_path / "dst"))
    assert (tmp_path / "dst").read_bytes() == data
    with sftp.open(f"{remote}/b") as f:
        f.seek(1_000_000)
        assert f.read(10) == data[1_000_000:1_000_010]
    sftp.link(f"{remote}/b", f"{remote}/hard")
    assert os.stat(disk / "hard").st_nlink == 2
    sftp.remote_copy(f"{remote}/b", f"{remote}/copy")
    assert (disk / "copy").read_bytes() == data
    assert sftp.expand_path("~/x") == "/x"
    with sftp.open(f"{remote}/b", "r+") as f:
        f.fsync()
        assert f.statvfs().f_bsize > 0
    assert sftp.glob(f"{remote}/*") == [f"{remote}/b", f"{remote}/copy", f"{remote}/hard"]
    sftp.rmtree(remote)
    assert not disk.exists()
    disk.mkdir()


def test_plugged_into_the_ready_server_subsystem_table(server_keys: Any, tmp_path: Path) -> None:
    """The ready server (blockssh.server, sessions as processes) serves SFTP through ``sftp_factory``."""
    from blockssh.keys import read_private_key
    from blockssh.sftp import sftp_factory
    from blockssh.sync.serve import serve

    root = tmp_path / "root"
    root.mkdir()
    handle = serve(
        "127.0.0.1",
        0,
        server_host_keys=[read_private_key(str(server_keys.host_key_path))],
        authorized_keys=str(server_keys.authorized_keys),
        subsystems={"sftp": sftp_factory(root)},
    )
    with handle:
        known = tmp_path / "known_hosts"
        known.write_text(handle.known_hosts_line() + "\n")
        server = RunningServer("127.0.0.1", handle.port, root, server_keys, known)
        client = connect_blocking(server)
        try:
            sftp = client.open_sftp()
            data = os.urandom(700_000)
            with sftp.open("/x.bin", "wb") as f:
                f.write(data)
            assert (root / "x.bin").read_bytes() == data
            assert sftp.listdir("/") == ["x.bin"]
            with pytest.raises(PermissionError):
                os.symlink("/etc", root / "etc-link")
                sftp.listdir("/etc-link")
            sftp.close()
        finally:
            client.close()
        if SFTP_BIN is not None:
            (tmp_path / "up.txt").write_text("via the ready server\n")
            result = run_sftp_batch(server, f"put {tmp_path}/up.txt /up.txt\nls /\n", tmp_path)
            assert result.returncode == 0, result.stderr
            assert (root / "up.txt").read_text() == "via the ready server\n"


def test_asyncssh_against_our_server(sftp_server: RunningServer, workdir: tuple[str, Path], tmp_path: Path) -> None:
    asyncssh = pytest.importorskip("asyncssh")
    remote, disk = workdir
    data = os.urandom(1_300_000)
    (tmp_path / "src").write_bytes(data)

    async def main() -> None:
        async with asyncssh.connect(
            sftp_server.host,
            sftp_server.port,
            username=sftp_server.user,
            client_keys=[str(sftp_server.client_key_path)],
            known_hosts=str(sftp_server.known_hosts),
        ) as conn:
            async with conn.start_sftp_client() as sftp:
                assert sftp.limits.max_read_len == 261120  # from our limits@openssh.com reply
                await sftp.put(str(tmp_path / "src"), f"{remote}/a.bin")
                await sftp.get(f"{remote}/a.bin", str(tmp_path / "dst"))
                await sftp.mkdir(f"{remote}/d")
                await sftp.posix_rename(f"{remote}/a.bin", f"{remote}/d/b.bin")
                assert await sftp.listdir(f"{remote}/d") == [".", "..", "b.bin"]
                assert (await sftp.stat(f"{remote}/d/b.bin")).size == len(data)
                await sftp.symlink("b.bin", f"{remote}/d/l")
                assert await sftp.readlink(f"{remote}/d/l") == "b.bin"
                assert (await sftp.statvfs(remote)).bsize > 0

    asyncio.run(asyncio.wait_for(main(), 30))
    assert (tmp_path / "dst").read_bytes() == data
    assert (disk / "d" / "b.bin").read_bytes() == data
