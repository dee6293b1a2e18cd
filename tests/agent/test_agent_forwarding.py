"""Agent authentication and forwarding between blockssh's client and blockssh's ready server."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest

import blockssh
import blockssh.aio as aio
from blockssh.aio.agent import AGENT_CHANNEL
from blockssh.exceptions import ChannelException

from interop.aio_helpers import run
from interop.jump_helpers import ssh_add, ssh_agent  # noqa: F401 - fixture
from interop.server_helpers import keys, known_hosts, ready_server, serving

pytestmark = pytest.mark.timeout(60)

SHOW_AGENT = 'echo "sock=$SSH_AUTH_SOCK"; ssh-add -l; stat -c "%a %F" "$SSH_AUTH_SOCK" "$(dirname "$SSH_AUTH_SOCK")"'


def exists(path: str) -> bool:
    return os.path.exists(path)


def creds(port: int, agent: str | None, **extra: Any) -> dict[str, Any]:
    kw: dict[str, Any] = {
        "username": "tester",
        "client_keys": (),
        "known_hosts": str(known_hosts(port, [keys().host["ed25519"]])),
        "agent_path": agent,
    }
    kw.update(extra)
    return kw


def load_agent(path: str, *names: str) -> None:
    result = ssh_add(path, *(str(keys().client_paths[n]) for n in names))
    assert result.returncode == 0, result.stderr


def test_publickey_auth_through_the_agent(ssh_agent: str) -> None:  # noqa: F811
    load_agent(ssh_agent, "rsa")  # RSA: the agent must honour the SHA-2 flags

    async def main() -> None:
        async with ready_server(authorized_keys=keys().authorized_keys("rsa")) as server:
            async with aio.connect("127.0.0.1", server.get_port(), **creds(server.get_port(), ssh_agent)) as conn:
                assert (await conn.run("echo in", check=True)).stdout == "in\n"
                client_key = next(iter(server.connections)).client_key
                assert client_key == keys().client["rsa"].public_only()
            with pytest.raises(blockssh.AuthenticationException):
                await aio.connect("127.0.0.1", server.get_port(), **creds(server.get_port(), None))

    run(main())


def test_agent_forwarding_end_to_end(ssh_agent: str) -> None:  # noqa: F811
    load_agent(ssh_agent, "ed25519")
    fingerprint = keys().client["ed25519"].fingerprint_sha256()

    async def main() -> None:
        async with ready_server(authorized_keys=keys().authorized_keys(), agent_forwarding=True) as server:
            port = server.get_port()
            kw = creds(port, ssh_agent, agent_forwarding=True)
            async with aio.connect("127.0.0.1", port, **kw) as conn:
                assert conn.agent_forwarding
                result = await conn.run(SHOW_AGENT)
                assert fingerprint in result.stdout, result.stdout + result.stderr
                lines = result.stdout.splitlines()
                sock = lines[0].removeprefix("sock=")
                assert "600 socket" in result.stdout and "700 directory" in result.stdout
                assert exists(sock)
                # Several sessions share the connection's socket; each gets SSH_AUTH_SOCK.
                second = await conn.run('echo "$SSH_AUTH_SOCK"', check=True)
                assert second.stdout.strip() == sock
            for _ in range(200):  # removed with the connection
                if not exists(sock):
                    break
                await asyncio.sleep(0.02)
            assert not exists(sock) and not exists(os.path.dirname(sock))

    run(main())


def test_agent_forwarding_is_off_by_default_on_both_sides(ssh_agent: str) -> None:  # noqa: F811
    load_agent(ssh_agent, "ed25519")

    async def main() -> None:
        async with ready_server(authorized_keys=keys().authorized_keys()) as server:  # server: off
            port = server.get_port()
            async with aio.connect("127.0.0.1", port, **creds(port, ssh_agent, agent_forwarding=True)) as conn:
                assert (await conn.run('echo "[$SSH_AUTH_SOCK]"')).stdout == "[]\n"
        async with ready_server(authorized_keys=keys().authorized_keys(), agent_forwarding=True) as server:
            port = server.get_port()
            async with aio.connect("127.0.0.1", port, **creds(port, ssh_agent)) as conn:  # client: off
                assert not conn.agent_forwarding
                assert (await conn.run('echo "[$SSH_AUTH_SOCK]"')).stdout == "[]\n"
        restricted = keys().authorized_keys(options="no-agent-forwarding")
        async with ready_server(authorized_keys=restricted, agent_forwarding=True) as server:
            port = server.get_port()
            async with aio.connect("127.0.0.1", port, **creds(port, ssh_agent, agent_forwarding=True)) as conn:
                assert (await conn.run('echo "[$SSH_AUTH_SOCK]"')).stdout == "[]\n"

    run(main())


class _SneakyServer(aio.SSHServer):
    """A hostile server: opens an agent channel although nobody asked for forwarding."""

    outcome: asyncio.Future[str]

    def connection_made(self, conn: aio.SSHServerConnection) -> None:
        self.conn = conn

    def begin_auth(self, username: str) -> bool:
        return False

    def auth_completed(self) -> None:
        async def probe() -> None:
            try:
                await self.conn._open_channel(  # noqa: SLF001
                    AGENT_CHANNEL, b"", lambda cid: aio.SSHChannel(self.conn, cid, AGENT_CHANNEL), timeout=5
                )
            except ChannelException as exc:
                _SneakyServer.outcome.set_result(f"refused {exc.code}")
            else:
                _SneakyServer.outcome.set_result("accepted")

        asyncio.get_running_loop().create_task(probe())


def test_client_refuses_agent_channels_it_did_not_ask_for(ssh_agent: str) -> None:  # noqa: F811
    async def main() -> None:
        _SneakyServer.outcome = asyncio.get_running_loop().create_future()
        async with serving(server_factory=_SneakyServer) as server:
            port = server.get_port()
            async with aio.connect("127.0.0.1", port, **creds(port, ssh_agent)):
                assert await asyncio.wait_for(_SneakyServer.outcome, 10) == "refused 3"  # unknown channel type

    run(main())


def test_sync_facade_agent_auth_and_request_handler(ssh_agent: str, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    load_agent(ssh_agent, "ecdsa")
    monkeypatch.setenv("SSH_AUTH_SOCK", ssh_agent)
    fingerprint = keys().client["ecdsa"].fingerprint_sha256()

    async def serve() -> None:
        async with ready_server(authorized_keys=keys().authorized_keys("ecdsa"), agent_forwarding=True) as server:
            port = server.get_port()
            known = str(known_hosts(port, [keys().host["ed25519"]]))

            def blocking() -> str:
                client = blockssh.SSHClient()
                client.load_host_keys(known)
                try:
                    client.connect("127.0.0.1", port, username="tester", allow_agent=True, look_for_keys=False)
                    chan = client.get_transport().open_session()
                    handler = blockssh.AgentRequestHandler(chan)
                    chan.exec_command("ssh-add -l")
                    out = chan.makefile("r").read()
                    handler.close()
                    return out.decode() if isinstance(out, bytes) else out
                finally:
                    client.close()

            out = await asyncio.get_running_loop().run_in_executor(None, blocking)
            assert fingerprint in out

    run(serve())
