"""The blocking-API demos run against OpenSSH (each is ``main(argv)`` with connection options)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

DEMOS = Path(__file__).resolve().parent.parent.parent / "demos"


def load(name: str) -> ModuleType:
    sys.path.insert(0, str(DEMOS))
    try:
        spec = importlib.util.spec_from_file_location(f"demo_{name}", DEMOS / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(DEMOS))


def args(sshd: Any, *extra: str) -> list[str]:
    return [
        "--host",
        sshd.host,
        "--port",
        str(sshd.port),
        "--user",
        sshd.user,
        "--key",
        sshd.client_keys["ed25519"],
        "--known-hosts",
        sshd.known_hosts,
        *extra,
    ]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("demo", "extra", "expected"),
    [
        ("run_commands", [], "ProcessError: exit_status=7"),
        ("big_output", ["--size-mib", "4"], "stdout 4194304 bytes, stderr 4194304 bytes"),
        ("threads", ["--threads", "4", "--commands", "5"], "20 commands from 4 threads"),
        ("shell", ["--send", "echo demo-$((6*7)); exit 0"], "demo-42"),
    ],
)
def test_demo(demo: str, extra: list[str], expected: str, sshd: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert load(demo).main(args(sshd, *extra)) == 0
    assert expected in capsys.readouterr().out


@pytest.mark.timeout(60)
def test_paramiko_script_demo(sshd: Any, capsys: pytest.CaptureFixture[str]) -> None:
    demo = load("paramiko_script")
    argv = ["--host", sshd.host, "--port", str(sshd.port), "--user", sshd.user, "--key", sshd.client_keys["ed25519"]]
    assert demo.main(argv) == 0
    out = capsys.readouterr().out
    assert "line: a\nline: b\n" in out
    assert "stderr: oops | exit: 2" in out
    assert "select: from-select" in out
    assert "timeout (SSHException): SSHTimeoutError" in out
