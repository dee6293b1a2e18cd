"""Every script in demos/ runs against blockssh's embedded server (no HOST given) and succeeds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

DEMOS = Path(__file__).resolve().parent.parent / "demos"

# demo -> (arguments, a line its output must contain)
RUNS: dict[str, list[tuple[list[str], str]]] = {
    "run_commands.py": [([], "raised ProcessError")],
    "big_output.py": [(["--size-mib", "4"], "stdout 4194304 bytes, stderr 4194304 bytes")],
    "threads.py": [(["--threads", "4", "--commands", "3"], "0 wrong")],
    "shell.py": [(["--send", "echo shell-$((40+2)); exit"], "shell-42")],
    "paramiko_script.py": [([], "select: from-select"), (["--with-paramiko"], "select: from-select")],
    "sftp_transfer.py": [([], "payload.bin")],
    "port_forward.py": [([], "done.")],
    "jump_host.py": [([], "done.")],
    "agent_auth.py": [([], "done.")],
}


def test_every_demo_is_run() -> None:
    scripts = {p.name for p in DEMOS.glob("*.py") if not p.name.startswith("_")}
    assert scripts == set(RUNS), "add new demos to RUNS (and remove deleted ones)"


@pytest.mark.timeout(150)
@pytest.mark.parametrize(
    ("script", "args", "expected"),
    [(script, args, expected) for script, runs in RUNS.items() for args, expected in runs],
    ids=lambda v: v if isinstance(v, str) and v.endswith(".py") else None,
)
def test_demo_runs_against_the_embedded_server(script: str, args: list[str], expected: str) -> None:
    proc = subprocess.run(
        [sys.executable, str(DEMOS / script), *args],
        capture_output=True,
        text=True,
        timeout=140,
        stdin=subprocess.DEVNULL,
        cwd=DEMOS,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert expected in proc.stdout, proc.stdout[-2000:]
