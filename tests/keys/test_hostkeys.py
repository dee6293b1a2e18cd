"""paramiko-compatible HostKeys, compared with paramiko.HostKeys on the same files."""

from __future__ import annotations

import time
from pathlib import Path

import paramiko
import pytest

from blockssh.keys import (
    ECDSAKey,
    Ed25519Key,
    HostKeyEntry,
    HostKeys,
    HostKeyVerdict,
    PKey,
    RSAKey,
    SSHKey,
    check_host_key,
)


@pytest.fixture(scope="module")
def pk(our_keys: dict[str, SSHKey]) -> dict[str, PKey]:
    return {
        "ed": Ed25519Key(data=our_keys["ed25519"].public_blob),
        "ec": ECDSAKey(data=our_keys["ecdsa256"].public_blob),
        "rsa": RSAKey(data=our_keys["rsa"].public_blob),
        "ec384": ECDSAKey(data=our_keys["ecdsa384"].public_blob),
    }


def _line(names: str, key: PKey) -> str:
    return f"{names} {key.get_name()} {key.get_base64()}\n"


@pytest.fixture
def plain_file(tmp_path: Path, pk: dict[str, PKey]) -> Path:
    """A file paramiko understands fully: plain names, lists, [host]:port, hashed names."""
    path = tmp_path / "known_hosts"
    path.write_text(
        "# comment\n"
        + _line("alpha.test,10.0.0.1", pk["ed"])
        + _line("alpha.test", pk["rsa"])
        + _line("[alpha.test]:2222", pk["ec"])
        + _line(HostKeys.hash_host("hidden.test"), pk["ec"])
        + "garbage line\n"
        + "dss.test ssh-dss AAAAB3NzaC1kc3MAAACBAPAA\n"
    )
    return path


LOOKUPS = ["alpha.test", "10.0.0.1", "[alpha.test]:2222", "hidden.test", "nothing.test", "dss.test"]


def _summary(found: object) -> dict[str, str] | None:
    if found is None:
        return None
    return {name: key.get_base64() for name, key in found.items()}  # type: ignore[attr-defined]


def test_lookup_agrees_with_paramiko(plain_file: Path) -> None:
    ours = HostKeys(str(plain_file))
    theirs = paramiko.HostKeys(str(plain_file))
    for name in LOOKUPS:
        assert _summary(ours.lookup(name)) == _summary(theirs.lookup(name)), name
    assert ours.keys() == theirs.keys()
    assert len(ours) == len(theirs) == 4
    assert "alpha.test" in ours and "nothing.test" not in ours
    assert set(ours["alpha.test"].keys()) == {"ssh-ed25519", "ssh-rsa"}


def test_check(plain_file: Path, pk: dict[str, PKey]) -> None:
    ours = HostKeys(plain_file)
    theirs = paramiko.HostKeys(str(plain_file))
    cases = [
        ("alpha.test", "ed"),
        ("alpha.test", "ec"),
        ("[alpha.test]:2222", "ec"),
        ("hidden.test", "ec"),
        ("x", "ed"),
    ]
    for host, name in cases:
        their_key = paramiko.PKey.from_type_string(pk[name].get_name(), pk[name].asbytes())
        assert ours.check(host, pk[name]) == theirs.check(host, their_key), (host, name)
    assert ours.check("alpha.test", pk["ed"]) and not ours.check("alpha.test", pk["ec"])


def test_add_save_reload(tmp_path: Path, pk: dict[str, PKey]) -> None:
    ours = HostKeys()
    ours.add("new.test", "ssh-ed25519", pk["ed"])
    ours.add("new.test", "ssh-ed25519", pk["ed"])  # replaces, does not duplicate
    ours.add("[new.test]:2200", "ecdsa-sha2-nistp256", pk["ec"])
    ours.add(HostKeys.hash_host("secret.test"), "ssh-rsa", pk["rsa"])
    assert len(ours._entries) == 3
    path = tmp_path / "saved"
    ours.save(str(path))
    theirs = paramiko.HostKeys(str(path))
    assert theirs.check("new.test", paramiko.Ed25519Key(data=pk["ed"].asbytes()))
    assert theirs.check("[new.test]:2200", paramiko.ECDSAKey(data=pk["ec"].asbytes()))
    assert theirs.check("secret.test", paramiko.RSAKey(data=pk["rsa"].asbytes()))
    again = HostKeys(path)
    assert again.check("secret.test", pk["rsa"]) and again.check("[new.test]:2200", pk["ec"])
    # load() merges and skips entries already present.
    again.load(path)
    assert len(again._entries) == 3
    again.clear()
    assert len(again) == 0 and again.lookup("new.test") is None


def test_mapping_protocol(pk: dict[str, PKey]) -> None:
    hk = HostKeys()
    hk["m.test"] = {"ssh-ed25519": pk["ed"]}
    assert hk["m.test"]["ssh-ed25519"] == pk["ed"]
    sub = hk["m.test"]
    sub["ecdsa-sha2-nistp256"] = pk["ec"]  # writes through
    assert hk.check("m.test", pk["ec"])
    sub["ecdsa-sha2-nistp256"] = pk["ec384"]  # replaces by key type name... of the stored key
    assert hk.lookup("m.test") is not None
    del sub["ssh-ed25519"]
    assert not hk.check("m.test", pk["ed"])
    assert list(hk) == ["m.test"] and len(hk.values()) == 1
    with pytest.raises(KeyError):
        hk["absent.test"]
    del hk["m.test"]
    assert "m.test" not in hk
    with pytest.raises(KeyError):
        del hk["m.test"]


def test_hash_host_compatible_with_paramiko() -> None:
    hashed = paramiko.HostKeys.hash_host("host.test")
    assert HostKeys.hash_host("host.test", hashed) == hashed
    ours = HostKeys.hash_host("host.test")
    assert paramiko.HostKeys.hash_host("host.test", ours) == ours


def test_host_key_entry(pk: dict[str, PKey]) -> None:
    line = _line("a.test,b.test", pk["ed"]).strip()
    ours = HostKeyEntry.from_line(line)
    theirs = paramiko.hostkeys.HostKeyEntry.from_line(line)
    assert ours is not None and ours.valid and ours.hostnames == ["a.test", "b.test"]
    assert ours.key == pk["ed"]
    assert ours.to_line() == theirs.to_line() == line + "\n"
    assert HostKeyEntry.from_line("not enough") is None
    assert HostKeyEntry.from_line("x ssh-dss AAAAB3NzaC1kc3MAAACBAP") is None
    assert HostKeyEntry(None, pk["ed"]).to_line() is None
    marker = HostKeyEntry.from_line("@revoked * " + line.split(" ", 1)[1])
    assert marker is not None and marker.marker == "revoked"
    assert marker.to_line() == "@revoked * " + line.split(" ", 1)[1] + "\n"


def test_wildcards_negation_and_markers(tmp_path: Path, pk: dict[str, PKey], our_keys: dict[str, SSHKey]) -> None:
    path = tmp_path / "known_hosts"
    path.write_text(
        _line("*.wild.test,!bad.wild.test", pk["ed"])
        + _line("[*.wild.test]:2200", pk["ec"])
        + "@revoked *.wild.test "
        + f"{pk['rsa'].get_name()} {pk['rsa'].get_base64()}\n"
        + _line("rev.wild.test", pk["rsa"])
        + "@cert-authority *.corp.test "
        + f"{pk['ec384'].get_name()} {pk['ec384'].get_base64()}\n"
    )
    hk = HostKeys(path)
    assert hk.check("a.wild.test", pk["ed"])  # paramiko cannot do this (#771)
    wild_only = tmp_path / "wild_only"
    wild_only.write_text(_line("*.wild.test", pk["ed"]))
    assert not paramiko.HostKeys(str(wild_only)).check("a.wild.test", paramiko.Ed25519Key(data=pk["ed"].asbytes()))
    with pytest.raises(paramiko.hostkeys.InvalidHostKey):
        paramiko.HostKeys(str(path))  # paramiko chokes on marker lines; we honour them
    assert not hk.check("bad.wild.test", pk["ed"])
    assert hk.check("[x.wild.test]:2200", pk["ec"]) and not hk.check("x.wild.test", pk["ec"])
    # Revoked keys are never trusted, even when listed for the host.
    assert not hk.check("rev.wild.test", pk["rsa"])
    found = hk.lookup("rev.wild.test")
    assert found is not None and list(found) == ["ssh-ed25519"]  # from *.wild.test; the RSA key is revoked
    # CA lines are not host keys.
    assert hk.lookup("srv.corp.test") is None
    # Markers survive a save.
    saved = tmp_path / "saved"
    hk.save(saved)
    text = saved.read_text()
    assert "@revoked *.wild.test ssh-rsa" in text and "@cert-authority *.corp.test" in text
    # The KnownHosts view keeps CA and revocation semantics.
    known = hk.as_known_hosts()
    assert check_host_key(known, "rev.wild.test", 22, our_keys["rsa"], time.time()) is HostKeyVerdict.REVOKED
    assert check_host_key(known, "a.wild.test", 22, our_keys["ed25519"], time.time()) is HostKeyVerdict.TRUSTED
    assert known.match("srv.corp.test").ca_keys == [our_keys["ecdsa384"]]


def test_bad_lines_that_break_paramiko_are_skipped(tmp_path: Path, pk: dict[str, PKey]) -> None:
    path = tmp_path / "known_hosts"
    path.write_text(
        "bad.test ssh-ed25519 AAAAB3NzaC1kc3MAAACBAP\nbad2.test ssh-ed25519 AAAA\n" + _line("ok.test", pk["ed"])
    )
    with pytest.raises(paramiko.hostkeys.InvalidHostKey):
        paramiko.HostKeys(str(path))
    hk = HostKeys(path)
    assert hk.keys() == ["ok.test"] and hk.check("ok.test", pk["ed"])


def test_load_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        HostKeys(tmp_path / "missing")
