"""``python -m blockssh serve``: starts, serves our client, persists its host key, stops on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import blockssh.aio as aio
from blockssh.keys import read_private_key

from interop.server_helpers import keys

pytestmark = pytest.mark.timeout(60)


def test_help_lists_serve() -> None:
    out = subprocess.run([sys.executable, "-m", "blockssh", "--help"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and "serve" in out.stdout
    out = subprocess.run(
        [sys.executable, "-m", "blockssh", "serve", "--help"], capture_output=True, text=True, timeout=30
    )
    assert "--pq-only" in out.stdout and "--authorized-keys" in out.stdout


def test_serve_refuses_to_start_without_a_way_to_log_in(tmp_path: Path) -> None:
    env = dict(os.environ, HOME=str(tmp_path))  # no ~/.ssh/authorized_keys there
    out = subprocess.run(
        [sys.executable, "-m", "blockssh", "serve", "--port", "0"], capture_output=True, text=True, timeout=30, env=env
    )
    assert out.returncode == 2 and "no way to log in" in out.stderr


async def _start(args: list[str]) -> tuple[asyncio.subprocess.Process, int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "blockssh", "serve", "--port", "0", *args,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    first = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
    match = re.search(r"listening on 127\.0\.0\.1 port (\d+)", first)
    assert match, first + (await proc.stderr.read()).decode()  # type: ignore[union-attr]
    second = (await asyncio.wait_for(proc.stdout.readline(), 5)).decode()
    return proc, int(match.group(1)), second


async def _stop(proc: asyncio.subprocess.Process) -> tuple[int, bytes]:
    proc.send_signal(signal.SIGTERM)
    out, _ = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode is not None
    return proc.returncode, out


def test_serve_runs_commands_and_keeps_its_host_key(tmp_path: Path) -> None:
    host_key = tmp_path / "host_ed25519"
    authorized = keys().authorized_keys("ed25519")
    user = "tester"
    args = ["--host-key", str(host_key), "--authorized-keys", str(authorized), "--user", user]

    async def main() -> Any:
        proc, port, key_line = await _start(args)
        try:
            assert host_key.exists() and (host_key.stat().st_mode & 0o777) == 0o600
            key = read_private_key(host_key)
            assert key.fingerprint_sha256() in key_line
            known = tmp_path / "known_hosts"
            known.write_text(key_line.split("known_hosts: ", 1)[1].rstrip(")\n") + "\n")
            conn = await aio.connect(
                "127.0.0.1", port, username=user, known_hosts=str(known), client_keys=[keys().client["ed25519"]]
            )
            result = await conn.run("echo served; exit 4")
            assert (result.stdout, result.exit_status) == ("served\n", 4)
            conn.close()
        finally:
            rc, out = await _stop(proc)
        assert rc == 0 and b"server stopped" in out
        # A second start reuses the key file.
        proc, port, key_line2 = await _start(args)
        await _stop(proc)
        assert key.fingerprint_sha256() in key_line2

    asyncio.run(asyncio.wait_for(main(), 50))


def test_serve_pq_only(tmp_path: Path) -> None:
    args = ["--authorized-keys", str(keys().authorized_keys("ed25519")), "--any-user", "--pq-only"]

    async def main() -> None:
        proc, port, _ = await _start(args)
        try:
            conn = await aio.connect(
                "127.0.0.1", port, username="anyone", known_hosts=None, client_keys=[keys().client["ed25519"]]
            )
            assert conn.get_extra_info("kex") == "mlkem768x25519-sha256"
            assert conn.get_extra_info("send_cipher") in ("chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com")
            conn.close()
        finally:
            await _stop(proc)

    asyncio.run(asyncio.wait_for(main(), 50))
