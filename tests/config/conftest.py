"""Fixtures for the ssh_config tests."""

from __future__ import annotations

import os
import pwd
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from blockssh.config import LocalInfo, SSHConfig
from config.helpers import DATA, NoDNS, local_info


@pytest.fixture
def local() -> LocalInfo:
    return local_info()


@pytest.fixture
def fixture_dir(tmp_path: Path) -> Path:
    """A copy of tests/config/data with @DATA@/@LOCALUSER@ filled in (files 0644, as ssh requires)."""
    dest = tmp_path / "data"
    shutil.copytree(DATA, dest)
    user = pwd.getpwuid(os.getuid()).pw_name
    for path in dest.rglob("*"):
        if path.is_file():
            text = path.read_text().replace("@DATA@", str(dest)).replace("@LOCALUSER@", user)
            path.write_text(text)
            path.chmod(0o644)
    return dest


@pytest.fixture
def make_config(local: LocalInfo) -> Callable[..., SSHConfig]:
    """Build an SSHConfig from text with deterministic local facts and no DNS."""

    def make(text: str, **kwargs: object) -> SSHConfig:
        kwargs.setdefault("local", local)
        kwargs.setdefault("resolver", NoDNS())
        return SSHConfig.from_text(text, **kwargs)  # type: ignore[arg-type]

    return make
