"""The asyncio client against OpenSSH's sshd."""

from __future__ import annotations

import asyncio
from typing import Any

import blockssh.aio as aio


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 60))


async def _connect(sshd: Any, **kwargs: Any) -> aio.SSHClientConnection:
    kwargs.setdefault("client_keys", [sshd.client_keys["ed25519"]])
    return await aio.connect(sshd.host, sshd.port, username=sshd.user, known_hosts=sshd.known_hosts, **kwargs)


def test_run_returns_output_and_status(sshd: Any) -> None:
    async def main() -> aio.SSHCompletedProcess:
        conn = await _connect(sshd)
        try:
            return await conn.run("echo out; echo err >&2; exit 3")
        finally:
            conn.close()

    result = run(main())
    assert result.stdout == "out\n"
    assert result.stderr == "err\n"
    assert result.exit_status == 3
    assert result.returncode == 3


def test_connect_as_async_context_manager(sshd: Any) -> None:
    async def main() -> tuple[str, bool]:
        async with aio.connect(
            sshd.host,
            sshd.port,
            username=sshd.user,
            client_keys=[sshd.client_keys["ed25519"]],
            known_hosts=sshd.known_hosts,
        ) as conn:
            result = await conn.run("echo ctx", check=True)
        return result.stdout, conn.is_closed()

    assert run(main()) == ("ctx\n", True)
