"""The blocking facade's runtime contract: Jupyter-style loops, the loop thread, fork, exit."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
from typing import Any

import pytest

import blockssh
import blockssh.aio
from blockssh.exceptions import LoopThreadError


def _client(sshd: Any) -> blockssh.SSHClient:
    c = blockssh.SSHClient()
    c.load_host_keys(sshd.known_hosts)
    c.connect(sshd.host, sshd.port, username=sshd.user, key_filename=sshd.client_keys["ed25519"], look_for_keys=False)
    return c


def test_works_inside_a_running_event_loop(sshd: Any) -> None:
    # A Jupyter cell runs inside an event loop on the calling thread; blocking calls must still work.
    async def cell() -> bytes:
        with _client(sshd) as client:
            _, stdout, _ = client.exec_command("echo from-a-cell")
            return stdout.read()

    assert asyncio.run(asyncio.wait_for(cell(), 30)) == b"from-a-cell\n"


def test_blocking_call_on_loop_thread_raises_at_once(sshd: Any) -> None:
    client = _client(sshd)
    outcome: list[BaseException | None] = []

    class Session(blockssh.aio.SSHClientSession[bytes]):
        def data_received(self, data: bytes, datatype: int | None) -> None:
            start = time.monotonic()
            try:
                client.exec_command("true")  # blocking call inside a callback on the loop thread
                outcome.append(None)
            except LoopThreadError as exc:
                assert time.monotonic() - start < 1
                outcome.append(exc)

    conn = client.get_transport()._conn  # noqa: SLF001 - the aio connection under the facade
    from blockssh.sync._portal import portal

    async def run() -> None:
        chan, _ = await conn.create_session(Session, "echo x")
        await chan.wait_closed()

    portal().call(run(), 30)
    assert outcome and isinstance(outcome[0], LoopThreadError)
    assert "event loop thread" in str(outcome[0])
    client.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_child_uses_new_client_parent_keeps_working(sshd: Any) -> None:
    parent = _client(sshd)
    _, out, _ = parent.exec_command("echo before")
    assert out.read() == b"before\n"
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            os.close(r)
            child = _client(sshd)
            _, out, _ = child.exec_command("echo child")
            os.write(w, out.read())
            child.close()
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    _, status = os.waitpid(pid, 0)
    got = os.read(r, 100)
    os.close(r)
    assert os.WEXITSTATUS(status) == 0
    assert got == b"child\n"
    _, out, _ = parent.exec_command("echo after")
    assert out.read() == b"after\n"
    parent.close()


def test_script_that_forgets_to_close_exits_promptly(sshd: Any) -> None:
    script = textwrap.dedent(
        f"""
        import blockssh
        c = blockssh.SSHClient()
        c.load_host_keys({sshd.known_hosts!r})
        c.connect({sshd.host!r}, {sshd.port}, username={sshd.user!r},
                  key_filename={sshd.client_keys["ed25519"]!r}, look_for_keys=False)
        chan = c.get_transport().open_session()
        chan.exec_command("sleep 60")
        print("connected", flush=True)
        """
    )
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "connected"
    assert time.monotonic() - start < 10
