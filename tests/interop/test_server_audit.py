"""ssh-audit against blockssh's server: the default policy and the post-quantum-only one."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from typing import Any

import pytest

from interop.server_helpers import keys, ready_server

pytestmark = pytest.mark.timeout(90)


def _audit_command() -> list[str] | None:
    if shutil.which("ssh-audit"):
        return [shutil.which("ssh-audit") or "ssh-audit"]
    try:
        import ssh_audit  # noqa: F401
    except ImportError:
        return None
    return [sys.executable, "-m", "ssh_audit"]


AUDIT = _audit_command()
# ssh-audit's exit codes
GOOD, WARNING, FAILURE = 0, 2, 3


async def audit(**server_kwargs: Any) -> tuple[int, dict[str, Any]]:
    assert AUDIT is not None
    host_keys = [keys().host["ed25519"], keys().host["rsa"]]  # RSA at 3072 bits: below that ssh-audit warns
    async with ready_server(
        authorized_keys=keys().authorized_keys(), server_host_keys=host_keys, **server_kwargs
    ) as acceptor:
        proc = await asyncio.create_subprocess_exec(
            *AUDIT, "-j", "-t", "20", "-p", str(acceptor.get_port()), "127.0.0.1",
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 80)
    assert proc.returncode is not None
    lines = [line for line in out.decode().splitlines() if line.startswith("{")]
    assert lines, (out, err)
    return proc.returncode, json.loads(lines[-1])


def notes(report: dict[str, Any], level: str) -> dict[str, list[str]]:
    """algorithm -> notes of one level ("fail", "warn"), over every algorithm category."""
    found: dict[str, list[str]] = {}
    for category in ("kex", "key", "enc", "mac"):
        for entry in report.get(category, []):
            if entry.get("notes", {}).get(level):
                found[entry["algorithm"]] = entry["notes"][level]
    return found


@pytest.mark.skipif(AUDIT is None, reason="ssh-audit is not installed")
def test_defaults_have_no_failures_and_only_classical_kex_warnings() -> None:
    rc, report = asyncio.run(audit())
    assert notes(report, "fail") == {}
    assert set(notes(report, "warn")) <= {"curve25519-sha256", "curve25519-sha256@libssh.org"}
    assert all("post-quantum" in w for ws in notes(report, "warn").values() for w in ws)
    assert rc in (GOOD, WARNING) and not report.get("recommendations"), report.get("recommendations")
    assert "mlkem768x25519-sha256" in [k["algorithm"] for k in report["kex"]]
    assert {k["algorithm"] for k in report["key"]} == {"ssh-ed25519", "rsa-sha2-512", "rsa-sha2-256"}


@pytest.mark.skipif(AUDIT is None, reason="ssh-audit is not installed")
def test_pq_only_policy_has_no_failures_and_no_warnings() -> None:
    rc, report = asyncio.run(audit(pq_only=True))
    assert notes(report, "fail") == {} and notes(report, "warn") == {}
    assert rc == GOOD and not report.get("recommendations")
    assert [k["algorithm"] for k in report["kex"] if not k["algorithm"].startswith(("ext-info", "kex-strict"))] == [
        "mlkem768x25519-sha256"
    ]
