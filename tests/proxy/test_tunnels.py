"""SSH over SSH: ``connect(tunnel=...)`` through blockssh's own server (direct-tcpip allowed), asyncio API."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

import blockssh.aio as aio
from blockssh.aio import proxy
from blockssh.exceptions import ChannelException, ConfigurationError, HostKeyNotVerifiable

from interop.aio_helpers import run
from interop.server_helpers import keys, known_hosts, ready_server

pytestmark = pytest.mark.timeout(60)


@contextlib.asynccontextmanager
async def servers(count: int, **kwargs: Any) -> AsyncIterator[list[aio.SSHAcceptor]]:
    """``count`` ready servers, TCP forwarding allowed, logins with the test keys."""
    async with contextlib.AsyncExitStack() as stack:
        started = []
        for _ in range(count):
            started.append(
                await stack.enter_async_context(
                    ready_server(authorized_keys=keys().authorized_keys(), allow_tcp_forwarding="local", **kwargs)
                )
            )
        yield started


def creds(*acceptors: aio.SSHAcceptor) -> dict[str, Any]:
    """Keywords that log in to any of ``acceptors`` (one known_hosts file listing them all)."""
    files = [str(known_hosts(a.get_port(), [keys().host["ed25519"]])) for a in acceptors]
    return {
        "username": "tester",
        "client_keys": [keys().client_paths["ed25519"]],
        "known_hosts": files,
        "agent_path": None,
    }


def test_tunnel_through_an_open_connection() -> None:
    async def main() -> None:
        async with servers(2) as (jump, target):
            kw = creds(jump, target)
            async with aio.connect("127.0.0.1", jump.get_port(), **kw) as jconn:
                async with aio.connect("127.0.0.1", target.get_port(), tunnel=jconn, **kw) as conn:
                    result = await conn.run("echo through; echo $SSH_CONNECTION", check=True)
                    lines = result.stdout.split("\n")
                    assert lines[0] == "through"
                    assert lines[1].split()[3] == str(target.get_port())
                    assert conn.get_extra_info("peername") == ("127.0.0.1", target.get_port())
                assert not jconn.is_closed()  # the caller's jump connection stays open

    run(main())


def test_tunnel_string_and_multi_hop_closes_its_jump_hosts() -> None:
    async def main() -> None:
        async with servers(3) as (first, second, target):
            kw = creds(first, target, second)
            spec = f"tester@127.0.0.1:{first.get_port()},127.0.0.1:{second.get_port()}"
            conn = await aio.connect("127.0.0.1", target.get_port(), tunnel=spec, **kw)
            result = await conn.run("echo two-hops", check=True)
            assert result.stdout == "two-hops\n"
            assert len(first.connections) == 1 and len(second.connections) == 1
            conn.close()
            await asyncio.wait_for(conn.wait_closed(), 10)
            for acceptor in (first, second):
                for _ in range(200):
                    if not acceptor.connections:
                        break
                    await asyncio.sleep(0.02)
                assert not acceptor.connections, "a jump host connection was left open"

    run(main())


def test_tunnel_list_of_hops_and_bulk_data_integrity() -> None:
    async def main() -> None:
        async with servers(2) as (jump, target):
            kw = creds(jump, target)
            hop = f"tester@127.0.0.1:{jump.get_port()}"
            async with aio.connect("127.0.0.1", target.get_port(), tunnel=[hop], **kw) as conn:
                data = bytes(range(256)) * 8192  # 2 MiB: several windows' worth through two channels
                result = await conn.run("sha256sum", input=data, encoding=None, check=True)
                assert result.stdout.split()[0].decode() == hashlib.sha256(data).hexdigest()

    run(main())


def test_tunnel_to_a_closed_port_raises_and_closes_the_jump() -> None:
    async def main() -> None:
        async with servers(1) as (jump,):
            kw = creds(jump)
            spec = f"tester@127.0.0.1:{jump.get_port()}"
            with pytest.raises(ChannelException):
                await aio.connect("127.0.0.1", 1, tunnel=spec, **kw)
            for _ in range(200):
                if not jump.connections:
                    break
                await asyncio.sleep(0.02)
            assert not jump.connections

    run(main())


def test_tunnel_refused_by_the_jump_host() -> None:
    async def main() -> None:
        async with ready_server(authorized_keys=keys().authorized_keys()) as jump:  # forwarding off (default)
            async with ready_server(authorized_keys=keys().authorized_keys()) as target:
                kw = creds(jump, target)
                async with aio.connect("127.0.0.1", jump.get_port(), **kw) as jconn:
                    with pytest.raises(ChannelException) as info:
                        await aio.connect("127.0.0.1", target.get_port(), tunnel=jconn, **kw)
                    assert info.value.code == 1  # administratively prohibited

    run(main())


def test_hop_limit_and_bad_tunnel_specs() -> None:
    async def main() -> None:
        too_many = [f"h{i}.invalid" for i in range(proxy.DEFAULT_MAX_JUMP_HOPS + 1)]
        with pytest.raises(ConfigurationError, match="jump hosts"):
            await aio.connect("target.invalid", tunnel=too_many, known_hosts=None, client_keys=())
        with pytest.raises(ConfigurationError):
            await aio.connect("target.invalid", tunnel="", known_hosts=None, client_keys=())
        with pytest.raises(ConfigurationError):
            await aio.connect("target.invalid", tunnel=42, known_hosts=None, client_keys=())
        with pytest.raises(ConfigurationError, match="not both"):
            await aio.connect("target.invalid", tunnel="a", proxy_command="b", known_hosts=None)

    run(main())


def test_host_key_of_the_target_is_checked_through_the_tunnel() -> None:
    async def main() -> None:
        async with servers(2) as (jump, target):
            kw = creds(jump)  # known_hosts lists only the jump host
            async with aio.connect("127.0.0.1", jump.get_port(), **kw) as jconn:
                with pytest.raises(HostKeyNotVerifiable):
                    await aio.connect("127.0.0.1", target.get_port(), tunnel=jconn, **kw)
                # The jump connection survives a failed tunnelled connection.
                assert (await jconn.run("echo alive")).stdout == "alive\n"

    run(main())
