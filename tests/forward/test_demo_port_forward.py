"""demos/port_forward.py runs against the embedded server (its default) and against OpenSSH's sshd."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

DEMOS = Path(__file__).resolve().parent.parent.parent / "demos"

pytestmark = pytest.mark.timeout(60)


def load() -> ModuleType:
    sys.path.insert(0, str(DEMOS))
    try:
        spec = importlib.util.spec_from_file_location("demo_port_forward", DEMOS / "port_forward.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(DEMOS))


EXPECTED = [
    "b'echo: hi'",
    "answer: b'echo: from the server side'",
    "b'echo: x'",
    "direct-tcpip channel: b'echo: over a channel'",
    'the connecting side got b"who\'s there?"',
    "done.",
]


def test_demo_against_the_embedded_server(capsys: pytest.CaptureFixture[str]) -> None:
    assert load().main([]) == 0
    out = capsys.readouterr().out
    for text in EXPECTED:
        assert text in out


def test_demo_against_sshd(sshd: Any, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--host", sshd.host, "--port", str(sshd.port), "--user", sshd.user]
    argv += ["--key", sshd.client_keys["ed25519"], "--known-hosts", sshd.known_hosts]
    assert load().main(argv) == 0
    out = capsys.readouterr().out
    for text in EXPECTED:
        assert text in out
