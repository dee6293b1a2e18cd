"""No file descriptor, task or thread left behind after 1000 connect/disconnect cycles against the server."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

import blockssh.aio as aio
from blockssh.aio.server import SSHServer

from interop.server_helpers import CoreClient, open_fds, serving, until

CYCLES = 1000
CONCURRENCY = 10
KEX = "curve25519-sha256"  # the cheapest method: the test is about bookkeeping, not cryptography


class Echo(aio.SSHServerSession[bytes]):
    def connection_made(self, chan: Any) -> None:
        self.chan = chan

    def exec_requested(self, command: str) -> bool:
        return True

    def session_started(self) -> None:
        self.chan.write(b"ok")
        self.chan.exit(0)


class Server(SSHServer):
    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return password == "pw"

    def session_requested(self) -> Any:
        return Echo()


def own_threads() -> int:
    """Threads other than the default executor's pool (getaddrinfo runs there; the pool may grow)."""
    return sum(1 for t in threading.enumerate() if not t.name.startswith("asyncio_"))


async def one_cycle(port: int, i: int) -> None:
    kind = i % 5
    if kind == 0:  # TCP connect, then hang up at once
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.close()
        await writer.wait_closed()
    elif kind == 1:  # hang up in the middle of the key exchange
        client = await CoreClient.open(port)
        client.core.start()
        client.flush()
        await client.reader.readuntil(b"\n")
        await client.close()
    elif kind == 2:  # hang up before authenticating
        client = await CoreClient.open(port)
        await client.handshake()
        await client.close()
    else:  # log in, maybe run a session, disconnect
        conn = await aio.connect(
            "127.0.0.1",
            port,
            username="u",
            password="pw",
            known_hosts=None,
            client_keys=(),
            kex_algs="curve25519-sha256",
        )
        if kind == 4:
            result = await conn.run("x", encoding=None)
            assert result.stdout == b"ok"
        conn.close()
        await conn.wait_closed()


@pytest.mark.timeout(60)
def test_no_fd_task_or_thread_leak_after_1000_cycles() -> None:
    async def main() -> None:
        async with serving(server_factory=Server) as acceptor:
            port = acceptor.get_port()
            for i in range(CONCURRENCY):  # warm up: first-use allocations are not leaks
                await one_cycle(port, i)
            await until(lambda: not acceptor.connections)
            await asyncio.sleep(0.05)
            fds, threads = open_fds(), own_threads()
            tasks = len(asyncio.all_tasks())
            done = 0
            for start in range(0, CYCLES, CONCURRENCY):
                await asyncio.gather(*(one_cycle(port, i) for i in range(start, start + CONCURRENCY)))
                done += CONCURRENCY
            assert done == CYCLES
            await until(lambda: not acceptor.connections, timeout=10)
            await asyncio.sleep(0.05)
            assert acceptor.unauthenticated_count == 0
            assert open_fds() == fds, "file descriptors leaked"
            assert len(asyncio.all_tasks()) == tasks, f"tasks left behind: {asyncio.all_tasks()}"
            assert own_threads() <= threads, threading.enumerate()

    asyncio.run(asyncio.wait_for(main(), 55))
