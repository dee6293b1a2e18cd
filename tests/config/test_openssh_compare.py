"""Resolution compared key by key with the real ``ssh -G`` (OpenSSH 9.x) on fixture configs.

Every keyword that ``ResolvedConfig.dump()`` renders is compared. Normalisation
is limited to what ``ssh -G`` itself leaves unexpanded (IdentityFile,
CertificateFile and ProxyCommand are printed raw; they are expanded here from
ssh's own hostname/port/user output) and one known ``ssh -G`` quirk.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pwd
import socket
import subprocess
from pathlib import Path

import pytest

from blockssh.config import SSHConfig
from blockssh.exceptions import ConfigParseError
from config.helpers import SSH, NoDNS, local_info, requires_ssh, ssh_g

pytestmark = [requires_ssh, pytest.mark.interop]

ALGORITHM_KEYS = (
    "ciphers",
    "macs",
    "kexalgorithms",
    "hostkeyalgorithms",
    "pubkeyacceptedalgorithms",
    "hostbasedacceptedalgorithms",
    "casignaturealgorithms",
)
QUERY = {
    "ciphers": "cipher",
    "macs": "mac",
    "kexalgorithms": "kex",
    "hostkeyalgorithms": "key key-sig",
    "pubkeyacceptedalgorithms": "key key-sig",
    "hostbasedacceptedalgorithms": "key key-sig",
    "casignaturealgorithms": "key-sig",
}


@functools.lru_cache(maxsize=1)
def ssh_algorithms() -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """This ssh's default lists (ssh -G with no config) and supported lists (ssh -Q)."""
    base = ssh_g("/dev/null", "defaults.invalid")
    defaults = {k: base[k][0].split(",") for k in ALGORITHM_KEYS}
    supported = {}
    for key, queries in QUERY.items():
        names: list[str] = []
        for query in queries.split():
            out = subprocess.run([SSH, "-Q", query], capture_output=True, text=True, timeout=10, check=True)
            names += [n for n in out.stdout.split() if n not in names]
        supported[key] = names
    return defaults, supported


def expand_raw(value: str, g: dict[str, list[str]], original: str) -> str:
    """Expand a value that ssh -G prints unexpanded, using ssh's own resolved host/port/user."""
    pw = pwd.getpwuid(os.getuid())
    if value.startswith("~/"):
        value = pw.pw_dir.rstrip("/") + value[1:]
    thishost = socket.gethostname()
    host, port, user = g["hostname"][0], g["port"][0], g["user"][0]
    tokens = {
        "h": host,
        "p": port,
        "r": user,
        "n": original,
        "u": pw.pw_name,
        "d": pw.pw_dir,
        "C": hashlib.sha1((thishost + host + port + user).encode()).hexdigest(),
        "%": "%",
    }
    out, i = [], 0
    while i < len(value):
        if value[i] == "%" and i + 1 < len(value):
            out.append(tokens[value[i + 1]])
            i += 2
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def normalize_ssh(g: dict[str, list[str]], original: str) -> dict[str, list[str]]:
    g = dict(g)
    for key in ("identityfile", "certificatefile", "proxycommand"):
        if key in g:
            g[key] = [expand_raw(v, g, original) for v in g[key]]
    # ssh 9.x -G also lists Unix-socket LocalForwards under dynamicforward (connect_host is NULL).
    socket_listens = {v.split(" ")[0] for v in g.get("localforward", []) if v.startswith("/")}
    g["dynamicforward"] = [v for v in g.get("dynamicforward", []) if v not in socket_listens]
    if not g["dynamicforward"]:
        del g["dynamicforward"]
    return g


def compare(config: Path, host: str, *ssh_args: str, **resolve_kwargs: object) -> dict[str, list[str]]:
    defaults, supported = ssh_algorithms()
    resolver = NoDNS()
    cfg = SSHConfig.from_path(config, local=local_info(), resolver=resolver)
    ours = cfg.resolve(host, algorithms=defaults, supported=supported, **resolve_kwargs).dump()  # type: ignore[arg-type]
    theirs = normalize_ssh(ssh_g(config, host, *ssh_args), host)
    mismatches = {k: (v, theirs.get(k)) for k, v in ours.items() if theirs.get(k) != v}
    assert not mismatches, f"{host}: ours vs ssh -G: {mismatches}"
    # Keys ssh prints that we model but did not render (e.g. a forward we dropped) are mismatches too.
    missing = {
        k
        for k in (
            "proxyjump",
            "proxycommand",
            "localforward",
            "remoteforward",
            "dynamicforward",
            "sendenv",
            "setenv",
            "certificatefile",
            "remotecommand",
            "controlpath",
            "identityagent",
            "hostkeyalias",
            "bindaddress",
        )
        if k in theirs and k not in ours
    }
    assert not missing, f"{host}: ssh -G has {missing} but we do not"
    assert not resolver.calls, "no DNS lookup was expected"
    return ours


MAIN_HOSTS = [
    "web1",  # Host web*, Include inside the Host block (plus its own Host web1), glob include b.conf
    "web2",  # Match user deploy !host web2 must not apply
    "web3",  # Match localuser + exec with %h
    "web9",  # negated in "Host web* !web9"; HostName is an address
    "bastion",  # "Hostname = value" form
    "internal-db",  # ProxyJump with user/port hops; later ProxyCommand ignored
    "legacy",  # ProxyCommand wins over a later ProxyJump; algorithm +/-/^ lists
    "alias1",  # Match originalhost -> HostName (lowercased), then Match host on the new name
    "neg1",  # Match !exec ... originalhost list
    "negx",  # ... with an internal negation in the list
    "plain",
    "UPPER",  # Host matching is case-sensitive on the name as given; HostName is lowercased
    "upper",
    "127.0.0.1",
    "inc-a",  # Host block from the first glob-included file
    "nested-only",  # Host block from a nested include
]


@pytest.mark.parametrize("host", MAIN_HOSTS)
def test_main_config_matches_ssh_g(fixture_dir: Path, host: str) -> None:
    compare(fixture_dir / "main.conf", host)


def test_main_config_spot_checks(fixture_dir: Path) -> None:
    """Guard against both sides agreeing on something trivial: the fixture really exercises the features."""
    web1 = compare(fixture_dir / "main.conf", "web1")
    assert web1["user"] == ["deploy"] and web1["port"] == ["2222"]
    assert web1["checkhostip"] == ["yes"] and web1["hashknownhosts"] == ["yes"]
    assert web1["numberofpasswordprompts"] == ["7"] and web1["tcpkeepalive"] == ["no"]
    assert web1["forwardagent"] == ["yes"] and web1["batchmode"] == ["yes"]
    plain = compare(fixture_dir / "main.conf", "plain")
    assert plain["numberofpasswordprompts"] == ["3"] and plain["tcpkeepalive"] == ["yes"]
    assert compare(fixture_dir / "main.conf", "web3")["remotecommand"] == ["echo web3 2222 deploy web3 %hunused"]
    assert compare(fixture_dir / "main.conf", "internal-db")["proxyjump"] == ["jumpuser@bastion:2200,ops@second"]
    assert compare(fixture_dir / "main.conf", "alias1")["port"] == ["2201"]
    assert compare(fixture_dir / "main.conf", "neg1")["serveraliveinterval"] == ["30"]
    assert compare(fixture_dir / "main.conf", "negx")["serveraliveinterval"] == ["15"]


@pytest.mark.parametrize(
    ("host", "args", "kwargs"),
    [
        ("web1", ("-l", "cmdline", "-p", "2345"), {"user": "cmdline", "port": 2345}),
        ("plain", ("-l", "deploy"), {"user": "deploy"}),  # makes "Match user deploy" apply
    ],
)
def test_command_line_overrides_match_ssh_g(
    fixture_dir: Path, host: str, args: tuple[str, ...], kwargs: dict[str, object]
) -> None:
    compare(fixture_dir / "main.conf", host, *args, **kwargs)


@pytest.mark.parametrize("host", ["alias", "real-host", "a.b", "other"])
def test_final_pass_matches_ssh_g(fixture_dir: Path, host: str) -> None:
    compare(fixture_dir / "final.conf", host)


def test_final_pass_spot_checks(fixture_dir: Path) -> None:
    alias = compare(fixture_dir / "final.conf", "alias")
    # Second pass: "Host real-host" matches the (lowercased) HostName, and Match final applies.
    assert alias["port"] == ["2200"] and alias["user"] == ["finaluser"]
    assert alias["connecttimeout"] == ["9"] and alias["compression"] == ["yes"]
    assert compare(fixture_dir / "final.conf", "a.b")["serveraliveinterval"] == ["44"]


@pytest.mark.parametrize("host", ["viajump", "x.y"])
def test_canonicalize_without_dns_matches_ssh_g(fixture_dir: Path, host: str) -> None:
    compare(fixture_dir / "canon.conf", host)


def test_recursive_include_fails_like_ssh(fixture_dir: Path) -> None:
    with pytest.raises(RuntimeError, match="recursive"):
        ssh_g(fixture_dir / "recursive.conf", "x")
    with pytest.raises(ConfigParseError, match="recursive"):
        SSHConfig.from_path(fixture_dir / "recursive.conf", local=local_info())


def test_unknown_keyword_fails_like_ssh_in_strict_mode(tmp_path: Path) -> None:
    conf = tmp_path / "bad.conf"
    conf.write_text("Host x\n  NoSuchOption 1\n")
    with pytest.raises(RuntimeError):
        ssh_g(conf, "x")
    with pytest.raises(ConfigParseError, match="line 2"):
        SSHConfig.from_path(conf, local=local_info(), strict=True)
    assert SSHConfig.from_path(conf, local=local_info()).lookup("x")["nosuchoption"] == "1"
