"""Helpers for the jump host, agent and certificate tests: a real ``ssh-agent`` and ``ssh-keygen``."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["SSH_AGENT", "agent_env", "keygen", "running_agent", "ssh_add", "ssh_agent"]

SSH_AGENT = shutil.which("ssh-agent")
SSH_ADD = shutil.which("ssh-add")
TOOL_TIMEOUT = 20.0


def _accepts(path: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(path)
        except OSError:
            return False
    return True


@contextlib.contextmanager
def running_agent() -> Iterator[str]:
    """``ssh-agent -D -a <socket>`` in a private directory; yields the socket path; always stopped."""
    if SSH_AGENT is None or SSH_ADD is None:
        pytest.skip("ssh-agent/ssh-add not installed (package openssh-client)")
    directory = tempfile.mkdtemp(prefix="blockssh-agent-test-")
    path = os.path.join(directory, "agent.sock")
    proc = subprocess.Popen(
        [SSH_AGENT, "-D", "-a", path],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 10
        while not _accepts(path):  # the socket file appears before ssh-agent listens on it
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("ssh-agent did not start")
            time.sleep(0.01)
        yield path
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def ssh_agent() -> Iterator[str]:
    """A fresh, empty OpenSSH agent for one test: its socket path."""
    with running_agent() as path:
        yield path


def agent_env(path: str) -> dict[str, str]:
    """The environment with SSH_AUTH_SOCK set to ``path``."""
    env = {k: v for k, v in os.environ.items() if k not in ("SSH_AUTH_SOCK", "SSH_AGENT_PID")}
    env["SSH_AUTH_SOCK"] = path
    return env


def ssh_add(path: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``ssh-add`` against the agent at ``path``."""
    assert SSH_ADD is not None
    return subprocess.run(
        [SSH_ADD, *args], env=agent_env(path), capture_output=True, text=True, timeout=TOOL_TIMEOUT, check=False
    )


def keygen(directory: Path, *args: str) -> None:
    """Run ``ssh-keygen -q`` in ``directory``; raise with its output on failure."""
    proc = subprocess.run(
        ["ssh-keygen", "-q", *args],
        cwd=directory,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"ssh-keygen {' '.join(args)} failed: {proc.stdout}{proc.stderr}")
