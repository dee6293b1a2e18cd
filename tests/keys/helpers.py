"""Helpers shared by the key tests: ssh-keygen wrappers and the key type table."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SSH_KEYGEN = shutil.which("ssh-keygen") or "/usr/bin/ssh-keygen"
HAVE_KEYGEN = os.path.exists(SSH_KEYGEN)
needs_keygen: pytest.MarkDecorator = pytest.mark.skipif(not HAVE_KEYGEN, reason="OpenSSH ssh-keygen is not installed")

PASSPHRASE = "correct horse"

#: name -> (ssh-keygen -t, -b or None)
KEY_SPECS: dict[str, tuple[str, int | None]] = {
    "ed25519": ("ed25519", None),
    "ecdsa256": ("ecdsa", 256),
    "ecdsa384": ("ecdsa", 384),
    "ecdsa521": ("ecdsa", 521),
    "rsa": ("rsa", 2048),
}

ALGORITHMS: dict[str, str] = {
    "ed25519": "ssh-ed25519",
    "ecdsa256": "ecdsa-sha2-nistp256",
    "ecdsa384": "ecdsa-sha2-nistp384",
    "ecdsa521": "ecdsa-sha2-nistp521",
    "rsa": "ssh-rsa",
}


def keygen(*args: str | os.PathLike[str]) -> str:
    """Run ssh-keygen and return its stdout; fail the test with its stderr on error."""
    proc = subprocess.run(
        [SSH_KEYGEN, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        raise AssertionError(f"ssh-keygen {' '.join(map(str, args))} failed: {proc.stderr.strip()}")
    return proc.stdout


def keygen_fingerprint(path: Path, hash_name: str = "sha256") -> str:
    """The fingerprint field of ``ssh-keygen -lf``."""
    return keygen("-l", "-E", hash_name, "-f", path).split()[1]


def converted_copy(keygen_dir: Path, name: str, dest: Path, fmt: str | None, passphrase: str, rounds: int = 4) -> Path:
    """Copy a keygen key and rewrite it with ``ssh-keygen -p`` in ``fmt`` (None: openssh) with ``passphrase``."""
    shutil.copy(keygen_dir / name, dest)
    shutil.copy(keygen_dir / f"{name}.pub", f"{dest}.pub")
    os.chmod(dest, 0o600)
    args: list[str] = ["-q", "-p", "-P", "", "-N", passphrase, "-f", str(dest)]
    if fmt is not None:
        args += ["-m", fmt]
    else:
        args += ["-a", str(rounds)]
    keygen(*args)
    return dest
