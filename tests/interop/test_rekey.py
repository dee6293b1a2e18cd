"""Key re-exchange during large transfers with OpenSSH's sshd, started by either side.

The client starts re-exchanges when ``rekey_bytes`` is small; the server does with
``RekeyLimit 1M``. Either way 64 MiB must arrive intact: the server hashes what it sent or
received and the test compares with the hash of what the client got or sent.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import re
from collections.abc import Callable
from pathlib import Path

import pytest

import blockssh.aio as aio

from interop.aio_helpers import connected, run
from interop.sshd_fixture import SSHD

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]

SIZE = 64 * 1024 * 1024
LIMIT = 1024 * 1024
# Random bytes, and the server's SHA-256 of exactly what it wrote to the channel, on stderr.
DOWNLOAD = f"head -c {SIZE} /dev/urandom | tee >(sha256sum >&2)"


async def download(conn: aio.SSHClientConnection) -> None:
    result = await conn.run(DOWNLOAD, encoding=None)
    assert result.exit_status == 0, result.stderr
    assert len(result.stdout) == SIZE
    server_digest = result.stderr.split()[0].decode()
    assert hashlib.sha256(result.stdout).hexdigest() == server_digest


async def upload(conn: aio.SSHClientConnection, seed: int) -> None:
    data = random.Random(seed).randbytes(SIZE)
    result = await conn.run("sha256sum", input=data)
    assert result.exit_status == 0, result.stderr
    assert result.stdout.split()[0] == hashlib.sha256(data).hexdigest()


def test_client_initiated_rekey(sshd: SSHD) -> None:
    async def main() -> int:
        async with connected(sshd, rekey_bytes=LIMIT) as conn:
            await download(conn)
            after_download = conn._core.transport.kex_count
            await upload(conn, 1)
            assert conn._core.transport.kex_count > after_download + 5
            assert conn.get_extra_info("strict_kex") is True
            return after_download

    # 64 MiB at 1 MiB per key: dozens of exchanges, each started by us.
    assert run(main(), timeout=110) > 5


def test_server_initiated_rekey(sshd_factory: Callable[..., SSHD]) -> None:
    server = sshd_factory(RekeyLimit="1M")

    async def main() -> tuple[int, int]:
        async with connected(server) as conn:  # the client's own limit (1 GiB) is never reached
            await download(conn)
            after_download = conn._core.transport.kex_count
            await upload(conn, 2)
            return after_download, conn._core.transport.kex_count

    after_download, total = run(main(), timeout=110)
    assert after_download > 5
    assert total > after_download + 5
    log = Path(server.log_path).read_text(errors="replace")
    # The server's own KEXINITs: one for the first exchange, one per re-exchange it started.
    sent = len(re.findall(r"SSH2_MSG_KEXINIT sent", log))
    assert sent >= total - 1, (sent, total)


def test_rekey_with_concurrent_sessions(sshd: SSHD) -> None:
    """Re-exchanges while several channels move data in both directions at once."""

    async def main() -> int:
        async with connected(sshd, rekey_bytes=LIMIT) as conn:
            size = 4 * 1024 * 1024
            data = random.Random(3).randbytes(size)
            expected = hashlib.sha256(data).hexdigest()
            results = await asyncio.gather(
                *(conn.run("sha256sum; head -c 4M /dev/zero", input=data, encoding=None) for _ in range(6))
            )
            for result in results:
                assert result.stdout[:64].decode() == expected
                assert result.stdout[-size:] == bytes(size)
            return conn._core.transport.kex_count

    assert run(main(), timeout=110) > 10


@pytest.mark.parametrize("initiator", ["client", "server"])
def test_rekey_with_compression(sshd_factory: Callable[..., SSHD], initiator: str) -> None:
    """zlib@openssh.com restarts its streams at every NEWKEYS (OpenSSH does): data must survive rekeys."""
    server = sshd_factory(RekeyLimit="1M" if initiator == "server" else None)
    if "zlib@openssh.com" not in server.algorithms["compression"]:
        pytest.skip("sshd does not allow compression")
    size = 8 * 1024 * 1024
    # Half random (incompressible: forces rekeys), half zeros (compressible: exercises the stream).
    command = f"(head -c {size} /dev/urandom; head -c {size} /dev/zero) | tee >(sha256sum >&2)"

    async def main() -> int:
        rekey = {"rekey_bytes": LIMIT} if initiator == "client" else {}
        async with connected(server, compression_algs=["zlib@openssh.com"], **rekey) as conn:
            assert conn.get_extra_info("compression") == "zlib@openssh.com"
            result = await conn.run(command, encoding=None)
            assert result.exit_status == 0, result.stderr
            assert len(result.stdout) == 2 * size
            assert hashlib.sha256(result.stdout).hexdigest() == result.stderr.split()[0].decode()
            data = random.Random(4).randbytes(size) + bytes(size)
            up = await conn.run("sha256sum", input=data)
            assert up.stdout.split()[0] == hashlib.sha256(data).hexdigest()
            return conn._core.transport.kex_count

    assert run(main(), timeout=110) > 5
