"""Fixtures of the SFTP tests: blockssh's own SSH server with the SFTP subsystem, and clients.

``sftp_server`` is a :func:`blockssh.aio.server.listen` acceptor on 127.0.0.1 running in a
thread of its own (so blocking clients, paramiko and OpenSSH's ``sftp`` can use it), serving
``root`` through :class:`blockssh.sftp.SFTPServerSession`. Its keys are generated once per
session. ``hostile_server(session_factory)`` starts a server whose ``sftp`` subsystem is any
session object, for peers that misbehave on purpose.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sftp.helpers import LoopThread, RunningServer, ServerKeys, connect_blocking, start_server, stop_server

from blockssh.aio.session import SSHServerSession
from blockssh.keys import generate_private_key
from blockssh.sftp import SFTPServerSession
from blockssh.sync.sftp import SFTPClient


@pytest.fixture(scope="session")
def server_keys(tmp_path_factory: pytest.TempPathFactory) -> ServerKeys:
    d = tmp_path_factory.mktemp("sftp-keys")
    host = generate_private_key("ssh-ed25519", comment="host")
    client = generate_private_key("ssh-ed25519", comment="client")
    host_path = d / "host_ed25519"
    client_path = d / "client_ed25519"
    for key, path in ((host, host_path), (client, client_path)):
        path.write_bytes(key.export_private("openssh"))
        path.chmod(0o600)
        Path(str(path) + ".pub").write_text(key.export_public() + "\n")
    auth = d / "authorized_keys"
    auth.write_text(client.export_public() + "\n")
    return ServerKeys(host_path, client_path, auth, host.export_public(""))


@pytest.fixture(scope="session")
def server_loop() -> Iterator[LoopThread]:
    lt = LoopThread()
    yield lt
    lt.stop()


@pytest.fixture(scope="session")
def sftp_server(
    server_loop: LoopThread, server_keys: ServerKeys, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """blockssh's SSH server with the SFTP subsystem over a temporary root (shared by the session)."""
    base = tmp_path_factory.mktemp("sftp-server")
    root = base / "root"
    root.mkdir()
    os.chmod(base, 0o755)
    os.chmod(root, 0o777)
    server, acceptor = start_server(server_loop, server_keys, root, lambda: SFTPServerSession(root), base)
    yield server
    stop_server(server_loop, acceptor)


@pytest.fixture
def hostile_server(
    server_loop: LoopThread, server_keys: ServerKeys, tmp_path: Path
) -> Iterator[Callable[[Callable[[], SSHServerSession[Any]]], RunningServer]]:
    """``hostile_server(factory)``: a server whose session channels run ``factory()`` sessions."""
    started: list[Any] = []

    def make(factory: Callable[[], SSHServerSession[Any]]) -> RunningServer:
        server, acceptor = start_server(server_loop, server_keys, tmp_path, factory, tmp_path)
        started.append(acceptor)
        return server

    yield make
    for acceptor in started:
        stop_server(server_loop, acceptor)


@pytest.fixture
def our_sftp(sftp_server: RunningServer) -> Iterator[tuple[SFTPClient, str, Path]]:
    """(blocking client, remote work dir, the same dir on disk) on blockssh's server."""
    client = connect_blocking(sftp_server)
    sftp = SFTPClient.from_transport(client.get_transport())
    name = f"w-{uuid.uuid4().hex[:8]}"
    (sftp_server.root / name).mkdir()
    sftp.get_channel().settimeout(30)
    yield sftp, "/" + name, sftp_server.root / name
    sftp.close()
    client.close()
    shutil.rmtree(sftp_server.root / name, ignore_errors=True)


@pytest.fixture
def openssh_sftp(sshd: Any) -> Iterator[tuple[SFTPClient, str, Path]]:
    """(blocking client, remote work dir, the same dir on disk) on OpenSSH's sshd."""
    client = connect_blocking(sshd)
    sftp = SFTPClient.from_transport(client.get_transport())
    sftp.get_channel().settimeout(30)
    work = f"{sshd.scratch_dir}/w-{uuid.uuid4().hex[:8]}"
    sftp.mkdir(work)
    yield sftp, work, Path(work)
    sftp.close()
    client.close()
    shutil.rmtree(work, ignore_errors=True)
