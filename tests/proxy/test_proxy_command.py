"""ProxyCommand: SSH over a subprocess's pipes (asyncio ``proxy_command=`` and paramiko's ``ProxyCommand`` class)."""

from __future__ import annotations

import asyncio
import shlex
import socket
import sys
import time
from pathlib import Path

import pytest

import blockssh
import blockssh.aio as aio
from blockssh.aio import proxy
from blockssh.exceptions import ProxyCommandFailure, SSHTimeoutError
from blockssh.proxy import ProxyCommand

from interop.aio_helpers import run
from interop.server_helpers import keys, known_hosts, ready_server

pytestmark = pytest.mark.timeout(60)

RELAY = str(Path(__file__).with_name("relay.py"))


def relay_argv(*args: str) -> list[str]:
    return [sys.executable, RELAY, *args]


def relay_line(*args: str) -> str:
    return shlex.join(relay_argv(*args))


def creds(port: int) -> dict[str, object]:
    return {
        "username": "tester",
        "client_keys": [keys().client_paths["ed25519"]],
        "known_hosts": str(known_hosts(port, [keys().host["ed25519"]])),
        "agent_path": None,
    }


def test_proxy_command_string_and_argv() -> None:
    async def main() -> None:
        async with ready_server(authorized_keys=keys().authorized_keys()) as server:
            port = server.get_port()
            for command in (relay_line("127.0.0.1", str(port)), relay_argv("127.0.0.1", str(port))):
                async with aio.connect("127.0.0.1", port, proxy_command=command, **creds(port)) as conn:
                    result = await conn.run("echo proxied", check=True)
                    assert result.stdout == "proxied\n"
                    popen = conn._transport.get_extra_info("subprocess")  # noqa: SLF001
                    assert popen is not None
                for _ in range(200):  # the proxy process is reaped after close
                    if popen.poll() is not None:
                        break
                    await asyncio.sleep(0.02)
                assert popen.poll() is not None

    run(main())


def test_proxy_command_failure_reports_stderr() -> None:
    async def main() -> None:
        start = time.monotonic()
        with pytest.raises(ProxyCommandFailure) as info:
            await aio.connect("127.0.0.1", 22, proxy_command=relay_argv("--fail", "no route to nowhere"), **creds(22))
        assert "no route to nowhere" in info.value.error
        assert "exit status 3" in info.value.error
        assert time.monotonic() - start < 10
        with pytest.raises(ProxyCommandFailure):
            await aio.connect("127.0.0.1", 22, proxy_command=["/nonexistent/blockssh-proxy"], **creds(22))

    run(main())


def test_proxy_command_startup_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(proxy, "DEFAULT_PROXY_STARTUP_TIMEOUT", 0.5)

    async def main() -> None:
        start = time.monotonic()
        with pytest.raises(ProxyCommandFailure, match="no output"):
            await aio.connect("127.0.0.1", 22, proxy_command=relay_argv("--silent"), banner_timeout=30, **creds(22))
        assert time.monotonic() - start < 10

    run(main())


def test_paramiko_proxycommand_object() -> None:
    """``ProxyCommand`` on its own: send, recv with settimeout, closed, close, context manager."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    with listener, ProxyCommand(relay_line("127.0.0.1", str(port))) as cmd:
        peer, _ = listener.accept()
        with peer:
            peer.sendall(b"hello")
            cmd.settimeout(5)
            got = b""
            while len(got) < 5:
                got += cmd.recv(5 - len(got))
            assert got == b"hello"
            assert cmd.send(b"back") == 4
            assert peer.recv(4) == b"back"
            cmd.settimeout(0.2)
            with pytest.raises(SSHTimeoutError):  # also a socket.timeout
                cmd.recv(10)
            assert isinstance(SSHTimeoutError(), socket.timeout)
            assert not cmd.closed
    deadline = time.monotonic() + 5
    while not cmd.closed and time.monotonic() < deadline:
        time.sleep(0.02)
    assert cmd.closed


def test_proxycommand_missing_program() -> None:
    with pytest.raises(ProxyCommandFailure):
        ProxyCommand("/nonexistent/blockssh-proxy arg")
    assert blockssh.ProxyCommand is ProxyCommand
