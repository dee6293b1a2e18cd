"""One set of paramiko scripts, run with ``import paramiko`` and with ``import blockssh as paramiko``.

Each scenario in :mod:`compat.scenarios` records what a script observes; the two records
must be equal, except for the differences listed in :data:`KNOWN_DIFFERENCES`, each of
which is intended and documented in docs/paramiko-migration.md (the test also fails when a
listed difference disappears, so the list stays true).
"""

from __future__ import annotations

import socket
import subprocess
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import blockssh
from compat.harness import Env, same
from compat.scenarios import SCENARIOS

from interop.sshd_fixture import SSHD

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import paramiko

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]

EXC = "exception"

Check = Callable[[Any, Any], bool]  # (blockssh observation, paramiko observation) -> documented?


def _errno_prefix(ours: Any, theirs: Any) -> bool:
    return bool(theirs == (ours[0], "[Errno None] " + ours[1]))


def _errno_prefix_pickled(ours: Any, theirs: Any) -> bool:
    name, text = ours[1]
    pname, ptext = theirs[1]
    return bool(name == pname and ptext == ("str", "[Errno None] " + text[1]))


# scenario -> observation -> (check of the blockssh observation, why it differs). Each is intended and
# documented in docs/paramiko-migration.md.
KNOWN_DIFFERENCES: dict[str, dict[str, tuple[Check, str]]] = {
    "channel_api": {
        "send_ready": (
            lambda ours, theirs: ours == ("bool", True),
            "send() queues up to 1 MiB instead of waiting for the peer's window, so it would not block",
        ),
    },
    "exec_stdin": {
        "send after shutdown_write": (
            lambda ours, theirs: ours[0] == "exception" and "OSError" in ours[1] and theirs == ("int", 0),
            "paramiko returns 0 (and sendall() then loops forever); blockssh raises ChannelClosedError",
        ),
    },
    "hostkeys": {
        "lookup by hashed entry": (
            lambda ours, theirs: ours == ("list", [("str", "ssh-ed25519")]),
            "the same key under a plain and a hashed name is listed once, not twice",
        ),
    },
    "no_valid_connections": {
        "str": (_errno_prefix, "the message has no meaningless '[Errno None] ' prefix"),
        "constructed str": (_errno_prefix, "the message has no meaningless '[Errno None] ' prefix"),
        "pickles": (_errno_prefix_pickled, "the message has no meaningless '[Errno None] ' prefix"),
    },
}


@pytest.fixture(scope="module")
def stranger_key(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("stranger") / "id_stranger"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "stranger", "-f", str(path)], check=True, timeout=30
    )
    return str(path)


@pytest.fixture(scope="module")
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(sshd: SSHD, tmp: Path, stranger: str, closed_port: int) -> Env:
    host_keys = {}
    for path in sshd.host_key_paths.values():
        line = Path(path + ".pub").read_text().strip()
        host_keys[line.split()[0]] = line
    return Env(
        host=sshd.host,
        port=sshd.port,
        user=sshd.user,
        keys={**sshd.client_keys, "stranger": stranger},
        encrypted_key=sshd.encrypted_key,
        encrypted_key_passphrase=sshd.encrypted_key_passphrase,
        known_hosts=sshd.known_hosts,
        host_public_keys=host_keys,
        tmp=tmp,
        closed_port=closed_port,
    )


def _run(module: Any, name: str, sshd: SSHD, tmp: Path, stranger: str, port: int) -> dict[str, Any]:
    tmp.mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # paramiko's own deprecation noise
        return SCENARIOS[name](module, _env(sshd, tmp, stranger, port)).values


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_blockssh_observes_what_paramiko_observes(
    name: str, sshd: SSHD, tmp_path: Path, stranger_key: str, closed_port: int
) -> None:
    expected = _run(paramiko, name, sshd, tmp_path / "paramiko", stranger_key, closed_port)
    got = _run(blockssh, name, sshd, tmp_path / "blockssh", stranger_key, closed_port)
    known = KNOWN_DIFFERENCES.get(name, {})
    problems = []
    for key in sorted(expected.keys() | got.keys()):
        want, theirs = got.get(key, "<missing>"), expected.get(key, "<missing>")
        if key in known:
            check, reason = known[key]
            if not check(want, theirs):
                problems.append(
                    f"{key}: not the documented difference ({reason}):\n    paramiko: {theirs!r}\n"
                    f"    blockssh: {want!r}"
                )
            if same(theirs, want):
                problems.append(f"{key}: listed as a difference but both observe {want!r}; drop it from the list")
            continue
        if not same(theirs, want):
            problems.append(f"{key}:\n    paramiko: {theirs!r}\n    blockssh: {want!r}")
    assert not problems, f"scenario {name}:\n" + "\n".join(problems)
