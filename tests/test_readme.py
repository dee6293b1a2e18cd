"""The README's test command is the command CI runs, character for character."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
CI_RUN = ROOT / ".ci" / "run"


def fenced_lines(markdown: str) -> list[str]:
    """Every line inside a ``` fenced block."""
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", markdown, re.M | re.S)
    return [line for block in blocks for line in block.splitlines()]


def readme_test_command() -> str:
    commands = [line.strip() for line in fenced_lines(README.read_text()) if "-m pytest" in line]
    assert len(commands) == 1, f"README.md must show exactly one test command, found {commands}"
    return commands[0]


def ci_test_command() -> str:
    commands = [
        line.strip()
        for line in CI_RUN.read_text().splitlines()
        if "pytest" in line and not line.lstrip().startswith("#")
    ]
    assert len(commands) == 1, f".ci/run must run exactly one test command, found {commands}"
    return commands[0]


def test_ci_runs_the_readme_command() -> None:
    assert ci_test_command() == readme_test_command()


def test_readme_command_installs_test_extras_and_runs_everything() -> None:
    command = readme_test_command()
    assert "pip install -e '.[test]'" in command
    assert command.endswith("python -m pytest")  # no paths or -k: the whole suite


def test_readme_shows_demo_command() -> None:
    assert "python -m pip install -e . && python -m blockssh demo" in fenced_lines(README.read_text())


def test_ci_script_is_strict_and_executable() -> None:
    text = CI_RUN.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "\nset -euo pipefail\n" in text
    assert "openssh-server openssh-client" in text
    assert os.access(CI_RUN, os.X_OK)


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash not installed")
def test_ci_script_parses() -> None:
    proc = subprocess.run(["bash", "-n", str(CI_RUN)], capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr


def readme_demo_output() -> str:
    text = README.read_text()
    match = re.search(r"It prints:\n\n```text\n(.*?)^```", text, re.M | re.S)
    assert match, "README.md must show the demo's output in a ```text block after 'It prints:'"
    return match.group(1)


@pytest.mark.timeout(60)
def test_demo_prints_what_the_readme_shows() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "blockssh", "demo"],
        capture_output=True,
        text=True,
        timeout=50,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == readme_demo_output()
