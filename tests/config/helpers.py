"""Helpers for the ssh_config tests: local facts, a no-DNS resolver, ``ssh -G``."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from blockssh.config import LocalInfo

DATA = Path(__file__).parent / "data"
SSH = shutil.which("ssh") or "/usr/bin/ssh"


def local_info(**changes: str) -> LocalInfo:
    """Local facts as ssh sees them: the passwd entry, not $HOME."""
    pw = pwd.getpwuid(os.getuid())
    info = {
        "user": pw.pw_name,
        "home": pw.pw_dir,
        "hostname": socket.gethostname(),
    }
    info.update(changes)
    return LocalInfo(info["user"], info["home"], os.getuid(), info["hostname"], dict(os.environ))


class NoDNS:
    """A resolver that records names and resolves nothing."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def __call__(self, name: str, family: str) -> str | None:
        self.calls.append((name, family))
        return None


def have_ssh() -> bool:
    try:
        out = subprocess.run([SSH, "-V"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "OpenSSH" in out.stderr


requires_ssh = pytest.mark.skipif(not have_ssh(), reason="OpenSSH ssh client not installed")


def ssh_g(config: Path | str, host: str, *args: str) -> dict[str, list[str]]:
    """Run ``ssh -G`` and return keyword (lowercased) -> list of values."""
    proc = subprocess.run(
        [SSH, "-G", "-F", str(config), *args, host],
        capture_output=True,
        text=True,
        timeout=20,
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"ssh -G {host} failed: {proc.stderr.strip()}")
    out: dict[str, list[str]] = {}
    for line in proc.stdout.splitlines():
        key, _, value = line.partition(" ")
        out.setdefault(key.lower(), []).append(value)
    return out
