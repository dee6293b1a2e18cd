"""Bytes arrive intact: SHA-256 after get and put at the block-size edges and for 512 MiB, and after a
dropped connection plus a resumed download. The peer is OpenSSH's sftp server (the sshd fixture)."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
from sftp.helpers import connect_blocking

from blockssh.exceptions import SSHException
from blockssh.sync._portal import portal
from blockssh.sync.sftp import SFTPClient

pytestmark = [pytest.mark.interop, pytest.mark.timeout(90)]

BLOCK = 261120  # OpenSSH's max-read-length / max-write-length, what the client uses
PERIOD = 1_048_583  # a prime: the data pattern never lines up with blocks or requests


class Pattern(io.RawIOBase):
    """``size`` bytes of a random, never block-aligned repeating pattern; hashes what it hands out."""

    def __init__(self, size: int, seed: bytes | None = None) -> None:
        base = hashlib.sha256(seed or os.urandom(16)).digest()
        unit = b"".join(hashlib.sha256(base + i.to_bytes(4, "big")).digest() for i in range(PERIOD // 32 + 1))
        self.buf = unit[:PERIOD] * 2
        self.size = size
        self.pos = 0
        self.hash = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = min(PERIOD if n < 0 else n, PERIOD, self.size - self.pos)
        off = self.pos % PERIOD
        data = self.buf[off : off + n]
        self.pos += n
        self.hash.update(data)
        return data

    def digest(self) -> str:
        """SHA-256 of the whole stream (reading the rest without keeping it)."""
        copy = Pattern.__new__(Pattern)
        copy.buf, copy.size, copy.pos, copy.hash = self.buf, self.size, 0, hashlib.sha256()
        while copy.read(PERIOD):
            pass
        return copy.hash.hexdigest()


class HashSink:
    def __init__(self) -> None:
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.size += len(data)
        return len(data)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


@pytest.fixture
def session(sshd: Any) -> Any:
    client = connect_blocking(sshd)
    sftp = SFTPClient.from_transport(client.get_transport())
    sftp.get_channel().settimeout(30)
    work = f"{sshd.scratch_dir}/int-{uuid.uuid4().hex[:8]}"
    sftp.mkdir(work)
    yield client, sftp, work
    sftp.close()
    client.close()
    shutil.rmtree(work, ignore_errors=True)


@pytest.mark.parametrize("size", [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + 17])
def test_sha256_after_put_and_get(session: Any, tmp_path: Path, size: int) -> None:
    _, sftp, work = session
    assert sftp.aio.write_block_size == BLOCK and sftp.aio.read_block_size == BLOCK
    data = Pattern(size).read(size) if size <= PERIOD else b""
    src = tmp_path / "src"
    src.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    sftp.put(str(src), f"{work}/f")
    assert sha256_file(Path(f"{work}/f")) == digest
    sftp.get(f"{work}/f", str(tmp_path / "dst"))
    assert sha256_file(tmp_path / "dst") == digest
    sink = HashSink()
    assert sftp.getfo(f"{work}/f", sink) == size and sink.hash.hexdigest() == digest
    with sftp.open(f"{work}/f", "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == digest


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_sha256_512_mib_put_and_get(session: Any) -> None:
    _, sftp, work = session
    size = 512 * 1024 * 1024
    source = Pattern(size)
    attrs = sftp.putfo(source, f"{work}/big", file_size=size)
    assert attrs.st_size == size
    digest = source.hash.hexdigest()
    assert sha256_file(Path(f"{work}/big")) == digest
    sink = HashSink()
    assert sftp.getfo(f"{work}/big", sink) == size
    assert sink.hash.hexdigest() == digest
    os.unlink(f"{work}/big")


def _drop(client: Any) -> None:
    """Make the TCP connection vanish without an SSH goodbye (as a network failure would)."""
    conn = client.get_transport()._conn
    portal().call_soon(conn.abort)


def test_dropped_connection_then_resumed_download(sshd: Any, session: Any, tmp_path: Path) -> None:
    client, sftp, work = session
    size = 40 * 1024 * 1024
    source = Pattern(size)
    sftp.putfo(source, f"{work}/src", file_size=size)
    digest = source.hash.hexdigest()
    local = tmp_path / "partial"
    dropped: list[int] = []

    def callback(done: int, total: int) -> None:
        if done >= 8 * 1024 * 1024 and not dropped:
            dropped.append(done)
            _drop(client)

    with pytest.raises((SSHException, OSError, EOFError)):
        sftp.get(f"{work}/src", str(local), callback=callback)
    assert dropped
    have = local.stat().st_size
    assert 0 < have < size
    # A new connection picks up where the partial file ends.
    client2 = connect_blocking(sshd)
    try:
        sftp2 = SFTPClient.from_transport(client2.get_transport())
        progress: list[tuple[int, int]] = []
        sftp2.get(f"{work}/src", str(local), callback=lambda a, b: progress.append((a, b)), resume=True)
        assert progress[0][0] == have and progress[-1] == (size, size)
        assert sha256_file(local) == digest
        sftp2.rmtree(work)
        sftp2.close()
    finally:
        client2.close()


def test_dropped_connection_during_put_raises(session: Any) -> None:
    client, sftp, work = session
    size = 40 * 1024 * 1024

    def callback(done: int, total: int) -> None:
        if done >= 4 * 1024 * 1024:
            _drop(client)

    with pytest.raises((SSHException, OSError, EOFError)):
        sftp.putfo(Pattern(size), f"{work}/up", file_size=size, callback=callback)
    with pytest.raises((SSHException, OSError)):
        sftp.stat(work)  # the session is gone, and says so at once
