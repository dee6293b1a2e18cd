"""demos/jump_host.py and demos/agent_auth.py run against the embedded server (their default)."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

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


@pytest.mark.timeout(60)
def test_jump_host_demo(capsys: pytest.CaptureFixture[str]) -> None:
    assert load("jump_host").main([]) == 0
    out = capsys.readouterr().out
    assert out.count("[paramiko]") == 1 and "[ssh_config]" in out and "[asyncio]" in out and "done." in out


@pytest.mark.timeout(60)
@pytest.mark.skipif(shutil.which("ssh-agent") is None, reason="needs OpenSSH's ssh-agent")
def test_agent_auth_demo(capsys: pytest.CaptureFixture[str]) -> None:
    assert load("agent_auth").main([]) == 0
    out = capsys.readouterr().out
    fingerprint = out.split("[agent]  added ")[1].split()[0]
    assert f"[remote] 256 {fingerprint}" in out
