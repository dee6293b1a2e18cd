"""Helpers for the forwarding tests: loopback echo servers, bulk transfers with SHA-256 checks, port polling."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import socket
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import blockssh.aio as aio

__all__ = [
    "EchoServer",
    "echo_server",
    "free_port",
    "pump_through",
    "short_socket_dir",
    "wait_port",
    "wait_path",
]

CHUNK = 1 << 20


class EchoServer:
    """A TCP or UNIX echo server on loopback; counts the connections it served."""

    def __init__(self) -> None:
        self.server: asyncio.AbstractServer | None = None
        self.connections = 0
        self.peers: list[Any] = []
        self.port = 0
        self.path: str | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.peers.append(writer.get_extra_info("peername"))
        try:
            while data := await reader.read(1 << 18):
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
        except ConnectionError:
            pass
        finally:
            writer.close()


@contextlib.asynccontextmanager
async def echo_server(path: str | None = None) -> AsyncIterator[EchoServer]:
    """An echo server on 127.0.0.1 (free port) or on the UNIX socket ``path``."""
    echo = EchoServer()
    if path is None:
        echo.server = await asyncio.start_server(echo.handle, "127.0.0.1", 0)
        echo.port = echo.server.sockets[0].getsockname()[1]
    else:
        echo.server = await asyncio.start_unix_server(echo.handle, path)
        echo.path = path
    try:
        yield echo
    finally:
        echo.server.close()


async def pump_through(
    reader: asyncio.StreamReader | Any, writer: asyncio.StreamWriter | Any, size: int, *, seed: bytes = b"blockssh"
) -> tuple[int, bool]:
    """Send ``size`` bytes (a pseudo-random pattern) through an echo path and read them back.

    Returns ``(bytes received, SHA-256 of received == SHA-256 of sent)``.
    """
    block = hashlib.shake_256(seed).digest(CHUNK)
    sent_hash = hashlib.sha256()
    recv_hash = hashlib.sha256()

    async def send() -> None:
        left = size
        i = 0
        while left > 0:
            piece = block[: min(CHUNK, left)]
            if i % 2:
                piece = bytes(reversed(piece))  # not a repeating stream: misordered chunks would show
            writer.write(piece)
            sent_hash.update(piece)
            left -= len(piece)
            i += 1
            await writer.drain()
        writer.write_eof()

    async def receive() -> int:
        total = 0
        while chunk := await reader.read(CHUNK):
            recv_hash.update(chunk)
            total += len(chunk)
        return total

    _, received = await asyncio.gather(send(), receive())
    return received, sent_hash.digest() == recv_hash.digest()


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_port(port: int, timeout: float = 10.0, host: str = "127.0.0.1") -> None:
    """Wait until something accepts connections on ``host``:``port``."""
    await _poll(lambda: asyncio.open_connection(host, port), timeout, f"{host}:{port}")


async def wait_path(path: str, timeout: float = 10.0) -> None:
    """Wait until something accepts connections on the UNIX socket ``path``."""
    await _poll(lambda: asyncio.open_unix_connection(path), timeout, path)


async def _poll(connect: Callable[[], Awaitable[Any]], timeout: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            _, writer = await connect()
        except OSError:
            if loop.time() > deadline:
                raise TimeoutError(f"nothing listens on {what} after {timeout} s") from None
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return


def short_socket_dir() -> Path:
    """A new private directory with a short path (UNIX socket paths are limited to about 100 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="bssh-", dir="/tmp"))  # noqa: S108
    os.chmod(path, 0o755)  # the sshd test user must reach sockets in it
    return path


class ForwardingServer(aio.SSHServer):
    """Lets anyone in (no authentication) and leaves forwarding to the listen() policy."""

    def begin_auth(self, username: str) -> bool:
        return False
