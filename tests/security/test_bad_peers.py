"""The asyncio client against servers that are not SSH servers, or broken ones.

Each fake server is an ``asyncio.start_server`` on 127.0.0.1 inside the test. Whatever it does,
``blockssh.aio.connect`` must fail with a specific exception from ``blockssh.exceptions``,
promptly: never hang, never leak an ``OSError`` or ``struct.error``, never wait longer than the
timeout that applies (plus a little scheduling slack).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

import blockssh.aio as aio
import blockssh.aio.client as aio_client
from blockssh.exceptions import (
    ConnectionLost,
    DisconnectError,
    NoValidConnectionsError,
    PacketTooLargeError,
    ProtocolError,
    ProtocolVersionNotSupported,
    SSHException,
    SSHTimeoutError,
)

pytestmark = pytest.mark.timeout(30)

SLACK = 2.0  # seconds of scheduling slack on top of a timeout
TIMEOUT = 3.0  # banner/handshake/auth timeouts used by these tests
SERVER_VERSION = b"SSH-2.0-OpenSSH_9.2p1 fake\r\n"

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def fake_server(handler: Handler) -> AsyncIterator[int]:
    tasks: set[asyncio.Task[None]] = set()

    async def guarded(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tasks.add(asyncio.current_task())  # type: ignore[arg-type]
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client hung up: that is what it should do
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    server = await asyncio.start_server(guarded, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


DEFAULTS: dict[str, object] = {
    "username": "nobody",
    "password": "x",
    "client_keys": (),
    "known_hosts": None,
    "banner_timeout": TIMEOUT,
    "handshake_timeout": TIMEOUT,
    "auth_timeout": TIMEOUT,
    "connect_timeout": TIMEOUT,
}


def run_against(handler: Handler, **kwargs: object) -> tuple[BaseException, float]:
    """Run one connection attempt against ``handler``; return (the exception, seconds until it)."""

    async def main() -> tuple[BaseException, float]:
        async with fake_server(handler) as port:
            start = time.monotonic()
            try:
                conn = await aio.connect("127.0.0.1", port, **{**DEFAULTS, **kwargs})  # type: ignore[arg-type]
            except Exception as exc:  # noqa: BLE001 - the test inspects it
                return exc, time.monotonic() - start
            conn.close()
            raise AssertionError("connect() succeeded against a broken server")

    return asyncio.run(asyncio.wait_for(main(), 25))


# -- the fake servers ---------------------------------------------------------------------------------


async def http_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readline()  # the client's identification line, taken for a request line
    writer.write(
        b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n"
        b"Connection: close\r\n\r\nBad Request"
    )
    await writer.drain()


async def banner_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(SERVER_VERSION)
    await writer.drain()
    await reader.readline()


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()  # until the client gives up


async def endless_pre_banner_lines(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    line = b"Welcome to a very chatty server that never says SSH-2.0\r\n"
    while True:
        writer.write(line * 64)
        await writer.drain()


async def endless_line(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        writer.write(b"x" * 4096)  # no newline, ever
        await writer.drain()


def banner_then(garbage: bytes) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(SERVER_VERSION + garbage)
        await writer.drain()
        await reader.read()

    return handler


def s(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def packet(payload: bytes) -> bytes:
    padding = 8 - (len(payload) + 5) % 8
    padding += 8 if padding < 4 else 0
    return struct.pack(">IB", len(payload) + 1 + padding, padding) + payload + bytes(padding)


KEXINIT = bytes([20]) + bytes(16)
for names in (
    b"curve25519-sha256,kex-strict-s-v00@openssh.com",
    b"ssh-ed25519",
    b"aes128-ctr",
    b"aes128-ctr",
    b"hmac-sha2-256",
    b"hmac-sha2-256",
    b"none",
    b"none",
    b"",
    b"",
):
    KEXINIT += s(names)
KEXINIT += b"\x00" + bytes(4)


async def kexinit_then_oversize(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(SERVER_VERSION + packet(KEXINIT))
    await writer.drain()
    await reader.readline()
    # A packet header claiming 64 MiB: the client must refuse it before waiting for (or allocating) it.
    writer.write(struct.pack(">IB", 64 * 1024 * 1024, 4) + b"\x00" * 11)
    await writer.drain()
    await reader.read()


# -- the tests --------------------------------------------------------------------------------------


def test_http_server() -> None:
    exc, elapsed = run_against(http_server)
    assert isinstance(exc, ProtocolVersionNotSupported), repr(exc)
    assert "HTTP/1.1 400" in str(exc)  # tell the user what answered instead
    assert elapsed < SLACK


def test_banner_then_close() -> None:
    exc, elapsed = run_against(banner_then_close)
    assert isinstance(exc, ConnectionLost), repr(exc)
    assert elapsed < SLACK


def test_server_that_never_answers() -> None:
    exc, elapsed = run_against(silent, banner_timeout=0.5)
    assert isinstance(exc, SSHTimeoutError), repr(exc)
    assert isinstance(exc, TimeoutError)
    assert 0.4 < elapsed < 0.5 + SLACK


def test_banner_but_no_key_exchange() -> None:
    exc, elapsed = run_against(banner_then(b""), handshake_timeout=0.5)
    assert isinstance(exc, SSHTimeoutError), repr(exc)
    assert "key exchange" in str(exc)
    assert 0.4 < elapsed < 0.5 + SLACK


def test_endless_pre_banner_lines() -> None:
    exc, elapsed = run_against(endless_pre_banner_lines)
    assert isinstance(exc, ProtocolVersionNotSupported), repr(exc)
    assert elapsed < TIMEOUT + SLACK


def test_endless_line_without_newline() -> None:
    exc, elapsed = run_against(endless_line)
    assert isinstance(exc, ProtocolVersionNotSupported), repr(exc)
    assert elapsed < TIMEOUT + SLACK


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x00\x00\x00\x01\x00",  # length below the minimum
        b"\xff\xff\xff\xff" + b"\x00" * 12,  # length far above the maximum
        b"\x00\x00\x00\x0c\x0a" + b"\x00" * 11,  # padding length past the packet
        b"\x00\x00\x00\x0c\x04" + b"\xee" * 11,  # a well-framed packet with message 238 before KEXINIT
        bytes(range(256)) * 4,
    ],
    ids=["too-short", "too-long", "bad-padding", "not-kexinit", "bytes"],
)
def test_banner_then_garbage(garbage: bytes) -> None:
    exc, elapsed = run_against(banner_then(garbage))
    assert isinstance(exc, ProtocolError), repr(exc)
    assert elapsed < SLACK


def test_kexinit_then_oversize_packet() -> None:
    exc, elapsed = run_against(kexinit_then_oversize)
    assert isinstance(exc, PacketTooLargeError), repr(exc)
    assert str(64 * 1024 * 1024) in str(exc)  # our KEXINIT was taken; the length was refused
    assert elapsed < SLACK


def test_every_failure_is_an_ssh_exception() -> None:
    for handler in (http_server, banner_then_close, endless_pre_banner_lines, banner_then(b"\xff" * 64)):
        exc, _ = run_against(handler)
        assert isinstance(exc, SSHException) and isinstance(exc, DisconnectError), repr(exc)


def test_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there

    async def main() -> None:
        await aio.connect("127.0.0.1", port, **DEFAULTS)  # type: ignore[arg-type]

    start = time.monotonic()
    with pytest.raises(NoValidConnectionsError) as info:
        asyncio.run(asyncio.wait_for(main(), 20))
    assert isinstance(info.value, OSError) and isinstance(info.value, SSHException)
    assert ("127.0.0.1", port) in info.value.errors
    assert isinstance(info.value.errors[("127.0.0.1", port)], ConnectionRefusedError)
    assert time.monotonic() - start < SLACK


TIMEOUTS = {
    "connect_timeout": "DEFAULT_CONNECT_TIMEOUT",
    "banner_timeout": "DEFAULT_BANNER_TIMEOUT",
    "handshake_timeout": "DEFAULT_HANDSHAKE_TIMEOUT",
    "auth_timeout": "DEFAULT_AUTH_TIMEOUT",
}


@pytest.mark.parametrize("option", list(TIMEOUTS))
def test_default_timeouts_exist_and_are_documented(option: str) -> None:
    constant = TIMEOUTS[option]
    value = getattr(aio_client, constant)
    assert constant in aio_client.__all__
    assert isinstance(value, float) and 0 < value <= 120
    # connect() uses it as the default of the keyword of the same name.
    import inspect

    assert inspect.signature(aio.connect).parameters[option].default == value
    limits = Path(__file__).resolve().parents[2] / "docs" / "limits.md"
    row = next((line for line in limits.read_text().splitlines() if line.startswith(f"| `{option}`")), None)
    assert row is not None, f"{option} is not in docs/limits.md"
    documented = re.search(r"\|\s*([\d.]+) s\s*\|", row)
    assert documented is not None and float(documented.group(1)) == value, row
