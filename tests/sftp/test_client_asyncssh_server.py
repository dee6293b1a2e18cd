"""blockssh's blocking SFTP client against AsyncSSH's SFTP server (a second, independent server)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sftp.helpers import LoopThread, RunningServer, ServerKeys, connect_blocking

from blockssh.sync.sftp import SFTPClient

asyncssh = pytest.importorskip("asyncssh")

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]


@pytest.fixture
def asyncssh_sftp_server(server_loop: LoopThread, server_keys: ServerKeys, tmp_path: Path) -> Iterator[RunningServer]:
    root = tmp_path / "root"
    root.mkdir()

    async def start() -> Any:
        return await asyncssh.listen(
            "127.0.0.1",
            0,
            server_host_keys=[str(server_keys.host_key_path)],
            authorized_client_keys=str(server_keys.authorized_keys),
            sftp_factory=lambda chan: asyncssh.SFTPServer(chan, chroot=str(root)),
        )

    acceptor = server_loop.run(start())
    port = acceptor.sockets[0].getsockname()[1]
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} {server_keys.host_public}\n")
    yield RunningServer("127.0.0.1", port, root, server_keys, known)

    async def stop() -> None:
        acceptor.close()
        await acceptor.wait_closed()

    server_loop.run(stop())


def test_blockssh_client_against_asyncssh_server(asyncssh_sftp_server: RunningServer, tmp_path: Path) -> None:
    server = asyncssh_sftp_server
    client = connect_blocking(server)
    try:
        sftp = SFTPClient.from_transport(client.get_transport())
        sftp.get_channel().settimeout(30)
        assert sftp.limits is not None  # AsyncSSH announces limits@openssh.com too
        data = os.urandom(2_100_000)
        (tmp_path / "src").write_bytes(data)
        sftp.put(str(tmp_path / "src"), "/up.bin")
        assert (server.root / "up.bin").read_bytes() == data
        sftp.get("/up.bin", str(tmp_path / "dst"))
        assert (tmp_path / "dst").read_bytes() == data
        with sftp.open("/up.bin") as f:
            f.seek(1_000_000)
            assert f.read(100) == data[1_000_000:1_000_100]
        # AsyncSSH expects the draft's argument order from us. (Its chroot mode resolves relative link
        # targets against its own working directory, so the target here is absolute.)
        sftp.symlink("/up.bin", "/link")
        assert sftp.readlink("/link") == "/up.bin"
        assert os.readlink(server.root / "link") == str(server.root / "up.bin")
        assert sftp.stat("/link").st_size == len(data)
        sftp.mkdir("/d")
        sftp.posix_rename("/up.bin", "/d/moved.bin")
        assert sftp.listdir("/d") == ["moved.bin"]
        with pytest.raises(FileNotFoundError):
            sftp.stat("/nope")
        sftp.close()
    finally:
        client.close()
