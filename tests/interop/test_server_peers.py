"""asyncssh's and paramiko's clients against blockssh's ready server: exec with exit status, a pty shell."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import pytest

from interop.server_helpers import keys, ready_server

asyncssh = pytest.importorskip("asyncssh")
paramiko = pytest.importorskip("paramiko")

pytestmark = pytest.mark.timeout(60)

WINCH_JOB = "sh -c 'trap \"stty size; exit 7\" WINCH; echo ARMED; while :; do sleep 0.05; done'; exit $?\n"


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 50))


def server_kwargs(**kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("authorized_keys", keys().authorized_keys())
    kwargs.setdefault("shell", "/bin/sh")
    return kwargs


# -- asyncssh -------------------------------------------------------------------------------------


async def asyncssh_connect(port: int) -> Any:
    return await asyncssh.connect(
        "127.0.0.1",
        port,
        username="tester",
        client_keys=[str(keys().client_paths["ed25519"])],
        known_hosts=None,
        agent_path=None,
    )


def test_asyncssh_exec_with_exit_status() -> None:
    async def main() -> None:
        async with ready_server(**server_kwargs()) as acceptor:
            async with await asyncssh_connect(acceptor.get_port()) as conn:
                result = await conn.run("echo out; echo err >&2; exit 5")
                assert (result.stdout, result.stderr, result.exit_status) == ("out\n", "err\n", 5)
                result = await conn.run("kill -TERM $$")
                assert result.exit_signal is not None and result.exit_signal[0] == "TERM"
                result = await conn.run("wc -c", input="x" * 100000)
                assert result.stdout.strip() == "100000"

    run(main())


def test_asyncssh_pty_shell_size_and_resize() -> None:
    async def main() -> None:
        async with ready_server(**server_kwargs()) as acceptor:
            async with await asyncssh_connect(acceptor.get_port()) as conn:
                process = await conn.create_process(term_type="xterm", term_size=(90, 30))
                process.stdin.write("stty size\n")
                output = ""
                while "30 90" not in output:
                    output += await asyncio.wait_for(process.stdout.read(1024), 10)
                process.stdin.write(WINCH_JOB)
                while "ARMED\r\n" not in output:
                    output += await asyncio.wait_for(process.stdout.read(1024), 10)
                process.change_terminal_size(110, 45)
                while "45 110" not in output:
                    output += await asyncio.wait_for(process.stdout.read(1024), 10)
                await asyncio.wait_for(process.wait(), 10)
                assert process.exit_status == 7

    run(main())


# -- paramiko -------------------------------------------------------------------------------------


def paramiko_client(port: int) -> Any:
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    host_key = keys().host["ed25519"]
    client.get_host_keys().add(
        f"[127.0.0.1]:{port}", host_key.algorithm, paramiko.Ed25519Key(data=host_key.public_blob)
    )
    client.connect(
        "127.0.0.1",
        port,
        username="tester",
        key_filename=str(keys().client_paths["ed25519"]),
        look_for_keys=False,
        allow_agent=False,
        timeout=10,
    )
    return client


async def in_thread(fn: Any) -> Any:
    """Run a blocking paramiko function in a thread while the server's loop keeps running."""
    return await asyncio.to_thread(fn)


def test_paramiko_exec_with_exit_status() -> None:
    def body(port: int) -> None:
        client = paramiko_client(port)
        try:
            stdin, stdout, stderr = client.exec_command("echo out; echo err >&2; exit 9", timeout=10)
            assert stdout.read() == b"out\n" and stderr.read() == b"err\n"
            assert stdout.channel.recv_exit_status() == 9
            stdin, stdout, stderr = client.exec_command("cat", timeout=10)
            stdin.write(b"through paramiko\n")
            stdin.channel.shutdown_write()
            assert stdout.read() == b"through paramiko\n"
            assert stdout.channel.recv_exit_status() == 0
        finally:
            client.close()

    async def main() -> None:
        async with ready_server(**server_kwargs()) as acceptor:
            await in_thread(lambda: body(acceptor.get_port()))

    run(main())


def test_paramiko_pty_shell_size_and_resize() -> None:
    def read_until(chan: Any, buf: bytearray, marker: bytes) -> None:
        deadline = time.monotonic() + 10
        while marker not in buf:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{marker!r} not in {bytes(buf)!r}")
            if chan.recv_ready():
                buf += chan.recv(4096)
            else:
                time.sleep(0.02)

    def body(port: int) -> None:
        client = paramiko_client(port)
        try:
            chan = client.invoke_shell(term="xterm", width=85, height=28)
            buf = bytearray()
            chan.send(b"stty size\n")
            read_until(chan, buf, b"28 85")
            chan.send(WINCH_JOB.encode())
            read_until(chan, buf, b"ARMED\r\n")
            chan.resize_pty(width=120, height=50)
            read_until(chan, buf, b"50 120")
            assert chan.recv_exit_status() == 7
        finally:
            client.close()

    async def main() -> None:
        async with ready_server(**server_kwargs()) as acceptor:
            await in_thread(lambda: body(acceptor.get_port()))

    run(main())


@pytest.mark.skipif(not os.path.exists("/usr/lib/openssh/sftp-server"), reason="no OpenSSH sftp-server")
def test_paramiko_sftp_through_the_subsystem_hook(tmp_path: Any) -> None:
    def body(port: int) -> None:
        client = paramiko_client(port)
        try:
            sftp = client.open_sftp()
            with sftp.open(str(tmp_path / "f.txt"), "w") as f:
                f.write(b"sftp via subsystem\n")
            assert sftp.listdir(str(tmp_path)) == ["f.txt"]
            sftp.close()
        finally:
            client.close()

    async def main() -> None:
        async with ready_server(**server_kwargs(subsystems={"sftp": "/usr/lib/openssh/sftp-server"})) as acceptor:
            await in_thread(lambda: body(acceptor.get_port()))

    run(main())
    assert (tmp_path / "f.txt").read_bytes() == b"sftp via subsystem\n"
