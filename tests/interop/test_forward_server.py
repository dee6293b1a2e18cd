"""OpenSSH's ssh forwarding through blockssh's ready server: -L, -R, -D (curl as the SOCKS client), -W, UNIX sockets.

Loopback only: the destinations are echo and HTTP servers the tests start.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from interop.forward_helpers import echo_server, free_port, pump_through, short_socket_dir, wait_path, wait_port
from interop.server_helpers import SSH, keys, known_hosts, ready_server, run_ssh, ssh_argv, ssh_env

pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.skipif(not os.path.exists(SSH), reason="OpenSSH's ssh is not installed"),
]

CURL = shutil.which("curl")
BODY = os.urandom(3 << 20)


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 85))


def server_kwargs(**kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("authorized_keys", keys().authorized_keys())
    kwargs.setdefault("shell", "/bin/sh")
    kwargs.setdefault("allow_tcp_forwarding", "yes")
    kwargs.setdefault("allow_streamlocal_forwarding", "yes")
    return kwargs


@contextlib.asynccontextmanager
async def ssh_forwarding(port: int, *flags: str, key: str = "ed25519") -> AsyncIterator[asyncio.subprocess.Process]:
    """``ssh -N <flags>`` against our server on ``port``, running in the background."""
    known = known_hosts(port, [keys().host["ed25519"]])
    argv = ssh_argv(port, known=known, key=key, options=["ExitOnForwardFailure=yes"], flags=["-N", *flags])
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=ssh_env(),
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()


@contextlib.asynccontextmanager
async def http_server() -> AsyncIterator[int]:
    """A one-file HTTP/1.0 server on 127.0.0.1 serving :data:`BODY`."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n" % len(BODY) + BODY)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


async def curl(argv: Sequence[str]) -> bytes:
    assert CURL is not None
    proc = await asyncio.create_subprocess_exec(
        CURL, "-sS", "--max-time", "20", *argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    return out


async def closed_by_peer(reader: asyncio.StreamReader) -> bool:
    """True when the connection ends (EOF or reset: ssh resets a socket whose channel was refused)."""
    try:
        return await asyncio.wait_for(reader.read(), 10) == b""
    except ConnectionResetError:
        return True


def test_ssh_L_and_R() -> None:
    async def main() -> None:
        async with echo_server() as echo, ready_server(**server_kwargs()) as acc:
            lport, rport = free_port(), free_port()
            async with ssh_forwarding(
                acc.get_port(), "-L", f"{lport}:127.0.0.1:{echo.port}", "-R", f"{rport}:127.0.0.1:{echo.port}"
            ):
                await wait_port(lport)
                await wait_port(rport)
                for port in (lport, rport):
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    assert await pump_through(reader, writer, 32 << 20) == (32 << 20, True)
                    writer.close()
            await asyncio.sleep(0.2)
            with pytest.raises(OSError):  # ssh went away: the server stopped listening
                await asyncio.open_connection("127.0.0.1", rport)

    run(main())


@pytest.mark.skipif(CURL is None, reason="curl is not installed")
@pytest.mark.parametrize("proxy_flag", ["--socks5-hostname", "--socks5", "--socks4a"])
def test_ssh_D_with_curl(proxy_flag: str) -> None:
    async def main() -> None:
        async with http_server() as http_port, ready_server(**server_kwargs()) as acc:
            dport = free_port()
            async with ssh_forwarding(acc.get_port(), "-D", f"127.0.0.1:{dport}"):
                await wait_port(dport)
                host = "localhost" if proxy_flag != "--socks5" else "127.0.0.1"
                body = await curl([proxy_flag, f"127.0.0.1:{dport}", f"http://{host}:{http_port}/file"])
                assert body == BODY

    run(main())


def test_ssh_W_stdio_forwarding() -> None:
    async def main() -> None:
        async with echo_server() as echo, ready_server(**server_kwargs()) as acc:
            port = acc.get_port()
            known = known_hosts(port, [keys().host["ed25519"]])
            payload = os.urandom(1 << 20)
            rc, out, err = await run_ssh(
                ssh_argv(port, known=known, flags=["-W", f"127.0.0.1:{echo.port}"]), input=payload
            )
            assert rc == 0, err.decode()
            assert out == payload

    run(main())


def test_unix_socket_forwarding_with_ssh() -> None:
    async def main() -> None:
        tmp = short_socket_dir()
        echo_path = str(tmp / "echo")
        async with echo_server(echo_path) as echo, ready_server(**server_kwargs()) as acc:
            local_path, remote_path = str(tmp / "L"), str(tmp / "R")
            async with ssh_forwarding(
                acc.get_port(), "-L", f"{local_path}:{echo_path}", "-R", f"{remote_path}:{echo_path}"
            ):
                await wait_path(local_path)
                await wait_path(remote_path)
                for path in (local_path, remote_path):
                    reader, writer = await asyncio.open_unix_connection(path)
                    assert await pump_through(reader, writer, 8 << 20) == (8 << 20, True)
                    writer.close()
            assert echo.connections == 4  # two probes and two transfers

    run(main())


def test_forwarding_refused_by_default_and_by_key_options() -> None:
    async def main() -> None:
        async with echo_server() as echo:
            # the ready server's default: no forwarding at all
            async with ready_server(authorized_keys=keys().authorized_keys(), shell="/bin/sh") as acc:
                rport = free_port()
                async with ssh_forwarding(acc.get_port(), "-R", f"{rport}:127.0.0.1:{echo.port}") as proc:
                    assert await asyncio.wait_for(proc.wait(), 20) != 0
                    assert b"forwarding failed" in await proc.stderr.read()  # type: ignore[union-attr]
                lport = free_port()
                async with ssh_forwarding(acc.get_port(), "-L", f"{lport}:127.0.0.1:{echo.port}"):
                    await wait_port(lport)
                    reader, writer = await asyncio.open_connection("127.0.0.1", lport)
                    writer.write(b"anyone?")
                    assert await closed_by_peer(reader)  # the channel was refused
                    writer.close()
            # forwarding on, but the key says permitopen= another port only
            auth = keys().authorized_keys(options=f'permitopen="127.0.0.1:{echo.port + 1}"')
            async with ready_server(**server_kwargs(authorized_keys=auth)) as acc:
                lport = free_port()
                async with ssh_forwarding(acc.get_port(), "-L", f"{lport}:127.0.0.1:{echo.port}"):
                    await wait_port(lport)
                    reader, writer = await asyncio.open_connection("127.0.0.1", lport)
                    writer.write(b"anyone?")
                    assert await closed_by_peer(reader)
                    writer.close()
        assert echo.connections == 0

    run(main())
