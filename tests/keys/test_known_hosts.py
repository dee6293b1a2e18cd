"""known_hosts parsing, matching and host key verdicts, cross-checked with ssh-keygen -F / -H."""

from __future__ import annotations

import base64
import hashlib
import hmac
import shutil
import time
from pathlib import Path

import pytest
from keys.helpers import keygen

from blockssh.exceptions import KeyImportError
from blockssh.keys import (
    HostKeyVerdict,
    KnownHosts,
    SSHCertificate,
    SSHKey,
    add_to_file,
    check_host_key,
    format_entry,
    generate_private_key,
    hash_host,
    read_public_key,
)
from blockssh.keys.known_hosts import parse_known_hosts_line


@pytest.fixture(scope="module")
def k(our_keys: dict[str, SSHKey]) -> dict[str, SSHKey]:
    """Short names for the keys used in the sample file."""
    return {
        "plain": our_keys["ed25519"].public_only(),
        "port": our_keys["ecdsa256"].public_only(),
        "wild": our_keys["rsa"].public_only(),
        "q": our_keys["ecdsa384"].public_only(),
        "revoked": our_keys["ecdsa521"].public_only(),
    }


@pytest.fixture(scope="module")
def other_key() -> SSHKey:
    return generate_private_key("ssh-ed25519").public_only()


@pytest.fixture(scope="module")
def sample(k: dict[str, SSHKey], ca_key: SSHKey) -> str:
    def pub(key: SSHKey) -> str:
        return key.export_public(comment="")

    return "\n".join(
        [
            "# a comment line",
            "",
            f"example.com,192.0.2.10 {pub(k['plain'])} plain key",
            f"[example.com]:2222 {pub(k['port'])}",
            f"*.wild.test,!bad.wild.test {pub(k['wild'])}",
            f"host?.q.test,UPPER.Case.Test {pub(k['q'])}",
            f"[*.wild.test]:2200 {pub(k['q'])}",
            f"2001:db8::1 {pub(k['port'])}",
            f"@cert-authority *.corp.test {pub(ca_key)} corp CA",
            f"@revoked * {pub(k['revoked'])}",
            "this line is garbage",
            f"@bogus-marker host {pub(k['plain'])}",
            f"|1|notbase64!|xx {pub(k['plain'])}",
            "onlyhost ssh-ed25519",
            "badkey.test ssh-ed25519 AAAA====",
            f"mismatch.test ssh-rsa {pub(k['plain']).split()[1]}",
            f"{hash_host('secret.test')} {pub(k['plain'])}",
            f"{hash_host('[secret.test]:2022')} {pub(k['port'])}",
            f"\t  spaced.test   {pub(k['plain'])}   ",
        ]
    )


@pytest.fixture(scope="module")
def known(sample: str) -> KnownHosts:
    return KnownHosts.from_text(sample)


def test_parse_skips_malformed_lines(known: KnownHosts) -> None:
    assert len(known) == 11
    assert [lineno for lineno, _ in known.errors] == [11, 12, 13, 14, 15, 16]
    assert all(isinstance(reason, str) and reason for _, reason in known.errors)
    first = known.entries[0]
    assert first.patterns == ("example.com", "192.0.2.10") and first.comment == "plain key" and first.lineno == 3
    assert known.entries[6].marker == "cert-authority" and known.entries[7].marker == "revoked"


@pytest.mark.parametrize(
    ("host", "port", "addr", "expected"),
    [
        ("example.com", 22, None, ["plain"]),
        ("EXAMPLE.com", 22, None, ["plain"]),
        ("example.com", 2222, None, ["port"]),  # the portless entry only covers port 22
        ("example.com", 2022, None, []),
        ("unknown.test", 22, "192.0.2.10", ["plain"]),
        ("a.wild.test", 22, None, ["wild"]),
        ("x.y.wild.test", 22, None, ["wild"]),
        ("bad.wild.test", 22, None, []),  # negated
        ("wild.test", 22, None, []),
        ("a.wild.test", 2200, None, ["q"]),
        ("host1.q.test", 22, None, ["q"]),
        ("host12.q.test", 22, None, []),
        ("upper.case.test", 22, None, ["q"]),
        ("2001:db8::1", 22, None, ["port"]),
        ("secret.test", 22, None, ["plain"]),
        ("secret.test", 2022, None, ["port"]),
        ("SECRET.test", 22, None, ["plain"]),
        ("spaced.test", 22, None, ["plain"]),
        ("nothing.test", 22, None, []),
    ],
)
def test_match_trusted_keys(
    known: KnownHosts, k: dict[str, SSHKey], host: str, port: int, addr: str | None, expected: list[str]
) -> None:
    found = known.match(host, port, addr)
    assert found.trusted_keys == [k[name] for name in expected]
    assert found.revoked_keys == [k["revoked"]]  # "@revoked *" applies everywhere


def test_match_ca_keys(known: KnownHosts, ca_key: SSHKey) -> None:
    assert known.match("srv.corp.test").ca_keys == [ca_key]
    assert known.match("srv.corp.test").trusted_keys == []
    assert known.match("corp.test").ca_keys == []


def test_check_host_key_plain(known: KnownHosts, k: dict[str, SSHKey], other_key: SSHKey) -> None:
    now = time.time()
    assert check_host_key(known, "example.com", 22, k["plain"], now) is HostKeyVerdict.TRUSTED
    assert check_host_key(known, "example.com", 2222, k["port"], now) is HostKeyVerdict.TRUSTED
    assert check_host_key(known, "example.com", 22, k["port"], now) is HostKeyVerdict.MISMATCH
    assert check_host_key(known, "example.com", 22, other_key, now) is HostKeyVerdict.MISMATCH
    assert check_host_key(known, "nothing.test", 22, other_key, now) is HostKeyVerdict.UNKNOWN
    assert check_host_key(known, "example.com", 22, k["revoked"], now) is HostKeyVerdict.REVOKED
    assert check_host_key(known, "nothing.test", 22, k["revoked"], now) is HostKeyVerdict.REVOKED
    # A private key object is compared by its public part.
    assert check_host_key(known, "a.wild.test", 22, k["wild"], now) is HostKeyVerdict.TRUSTED
    # Plain keys are never trusted through a CA line.
    assert check_host_key(known, "srv.corp.test", 22, other_key, now) is HostKeyVerdict.UNKNOWN


def test_hash_host() -> None:
    salt = bytes(range(20))
    hashed = hash_host("example.com", salt)
    expected = hmac.new(salt, b"example.com", hashlib.sha1).digest()
    assert hashed == f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(expected).decode()}"
    assert hash_host("example.com", hashed) == hashed  # re-hash with the salt of an existing entry
    assert hash_host("example.com", base64.b64encode(salt).decode()) == hashed
    assert hash_host("example.com") != hash_host("example.com")  # random salt
    with pytest.raises(KeyImportError):
        hash_host("example.com", b"short")


def test_format_entry(k: dict[str, SSHKey]) -> None:
    key = k["plain"]
    b64 = key.export_public(comment="")
    assert format_entry("h.test", 22, key) == f"h.test {b64}"
    assert format_entry("h.test", 2222, key) == f"[h.test]:2222 {b64}"
    assert format_entry("h.test", 22, key, marker="revoked") == f"@revoked h.test {b64}"
    line = format_entry("h.test", 2222, key, hashed=True)
    assert line.startswith("|1|") and line.endswith(b64)
    entry = parse_known_hosts_line(line)
    assert entry is not None and entry.is_hashed
    assert entry.matches("[h.test]:2222") and not entry.matches("h.test")


def test_add_to_file(tmp_path: Path, k: dict[str, SSHKey]) -> None:
    path = tmp_path / "new" / "dir" / "known_hosts"
    assert len(KnownHosts.from_file(path)) == 0  # missing file: empty
    add_to_file(path, "one.test", 22, k["plain"])
    path.write_text(path.read_text().rstrip("\n"))  # a file without a final newline
    add_to_file(path, "two.test", 2200, k["port"], hashed=True)
    lines = path.read_text().splitlines()
    assert len(lines) == 2 and lines[0].startswith("one.test ") and lines[1].startswith("|1|")
    loaded = KnownHosts.from_file(path)
    assert not loaded.errors
    assert loaded.match("one.test").trusted_keys == [k["plain"]]
    assert loaded.match("two.test", 2200).trusted_keys == [k["port"]]
    assert loaded.match("two.test").trusted_keys == []


def test_in_memory_add_and_to_text(k: dict[str, SSHKey]) -> None:
    known = KnownHosts()
    known.add("a.test", 22, k["plain"])
    known.add("b.test", 2022, k["port"], hashed=True)
    known.add("*.corp", 22, k["q"], marker="cert-authority")
    again = KnownHosts.from_text(known.to_text())
    assert again.match("a.test").trusted_keys == [k["plain"]]
    assert again.match("b.test", 2022).trusted_keys == [k["port"]]
    assert again.match("x.corp").ca_keys == [k["q"]]


def test_certificate_lines_refused(host_certs: dict[str, SSHCertificate]) -> None:
    with pytest.raises(KeyImportError, match="certificates do not belong"):
        parse_known_hosts_line(f"h.test {host_certs['good'].export_public()}")
    # The same key as a plain key is fine.
    assert parse_known_hosts_line(f"h.test {host_certs['good'].key.export_public()}") is not None


# -- cross-checks with ssh-keygen ------------------------------------------------------------------------------


def _keygen_find(path: Path, name: str) -> list[str]:
    """Base64 key fields of the lines ``ssh-keygen -F name`` reports (marker lines included)."""
    proc_out = ""
    try:
        proc_out = keygen("-F", name, "-f", path)
    except AssertionError:
        return []  # exit status 1: not found
    lines = [line.split() for line in proc_out.splitlines() if line and not line.startswith("#")]
    return sorted(next(f for f in fields if f.startswith("AAAA")) for fields in lines)


def _ours(known: KnownHosts, host: str, port: int) -> list[str]:
    found = known.match(host, port)
    keys = found.trusted_keys + found.ca_keys + found.revoked_keys
    return sorted(key.export_public(comment="").split()[1] for key in keys)


QUERIES = [
    ("example.com", 22),
    ("example.com", 2222),
    ("a.wild.test", 22),
    ("bad.wild.test", 22),
    ("a.wild.test", 2200),
    ("host1.q.test", 22),
    ("host12.q.test", 22),
    ("secret.test", 22),
    ("secret.test", 2022),
    ("192.0.2.10", 22),
    ("srv.corp.test", 22),
    ("nothing.test", 22),
]


def test_matches_agree_with_ssh_keygen(require_keygen: None, tmp_path: Path, sample: str) -> None:
    path = tmp_path / "known_hosts"
    # ssh-keygen stops at malformed lines in some versions; give it only the well-formed ones.
    good = [line for n, line in enumerate(sample.splitlines(), 1) if n not in range(11, 17)]
    path.write_text("\n".join(good) + "\n")
    known = KnownHosts.from_file(path)
    for host, port in QUERIES:
        name = host if port == 22 else f"[{host}]:{port}"
        assert _ours(known, host, port) == _keygen_find(path, name), name


def test_ssh_keygen_hashed_file(require_keygen: None, tmp_path: Path, sample: str, k: dict[str, SSHKey]) -> None:
    path = tmp_path / "known_hosts"
    good = [line for n, line in enumerate(sample.splitlines(), 1) if n not in range(11, 17)]
    path.write_text("\n".join(good) + "\n")
    before = KnownHosts.from_file(path)
    keygen("-H", "-f", path)
    text = path.read_text()
    assert "example.com" not in text and "192.0.2.10" not in text and text.count("|1|") >= 5
    hashed = KnownHosts.from_file(path)
    assert not hashed.errors
    for host, port in QUERIES:
        assert _ours(hashed, host, port) == _ours(before, host, port), (host, port)
    # ssh-keygen leaves wildcard entries alone; our hashed lookups still see them.
    assert hashed.match("a.wild.test").trusted_keys == [k["wild"]]


def test_ssh_keygen_finds_our_hashed_entries(require_keygen: None, tmp_path: Path, k: dict[str, SSHKey]) -> None:
    path = tmp_path / "known_hosts"
    add_to_file(path, "hashed.test", 22, k["plain"], hashed=True)
    add_to_file(path, "hashed.test", 2022, k["port"], hashed=True)
    assert _keygen_find(path, "hashed.test") == [k["plain"].export_public(comment="").split()[1]]
    assert _keygen_find(path, "[hashed.test]:2022") == [k["port"].export_public(comment="").split()[1]]


# -- host certificates -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def host_certs(keygen_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, SSHCertificate]:
    """Host certificates from ssh-keygen, signed by keygen_dir/ed25519 (the CA) unless named otherwise."""
    directory = tmp_path_factory.mktemp("hostcerts")
    ca = keygen_dir / "ed25519"
    specs = {
        "good": (ca, ["-h", "-n", "srv.corp.test,alias.corp.test", "-V", "-1h:+1h"]),
        "user": (ca, ["-n", "srv.corp.test", "-V", "-1h:+1h"]),
        "expired": (ca, ["-h", "-n", "srv.corp.test", "-V", "20000101:20000102"]),
        "otherca": (keygen_dir / "ecdsa256", ["-h", "-n", "srv.corp.test"]),
    }
    certs: dict[str, SSHCertificate] = {}
    for name, (signer, args) in specs.items():
        pub = directory / f"{name}.pub"
        shutil.copy(keygen_dir / "ecdsa384.pub", pub)
        keygen("-q", "-s", signer, "-I", name, *args, pub)
        cert = read_public_key(directory / f"{name}-cert.pub")
        assert isinstance(cert, SSHCertificate)
        certs[name] = cert
    return certs


def test_check_host_certificates(keygen_dir: Path, host_certs: dict[str, SSHCertificate]) -> None:
    ca = read_public_key(keygen_dir / "ed25519.pub")
    hostkey = read_public_key(keygen_dir / "ecdsa384.pub")
    assert isinstance(ca, SSHKey) and isinstance(hostkey, SSHKey)
    ca_line = f"@cert-authority *.corp.test {ca.export_public(comment='')}"
    known = KnownHosts.from_text(ca_line)
    now = time.time()
    good = host_certs["good"]
    assert check_host_key(known, "srv.corp.test", 22, good, now) is HostKeyVerdict.TRUSTED
    assert check_host_key(known, "alias.corp.test", 22, good, now) is HostKeyVerdict.TRUSTED
    # The CA covers *.corp.test, but the certificate does not name this host.
    assert check_host_key(known, "other.corp.test", 22, good, now) is HostKeyVerdict.MISMATCH
    # The CA line does not cover this host at all, so the certified key is checked as a plain key.
    assert check_host_key(known, "srv.elsewhere.test", 22, good, now) is HostKeyVerdict.UNKNOWN
    assert check_host_key(known, "srv.corp.test", 22, good, good.valid_before + 1) is HostKeyVerdict.MISMATCH
    assert check_host_key(known, "srv.corp.test", 22, host_certs["user"], now) is HostKeyVerdict.MISMATCH
    assert check_host_key(known, "srv.corp.test", 22, host_certs["expired"], now) is HostKeyVerdict.MISMATCH
    assert check_host_key(known, "srv.corp.test", 22, host_certs["otherca"], now) is HostKeyVerdict.UNKNOWN
    # An untrusted CA falls back to the plain key, as OpenSSH does.
    plain_line = f"srv.corp.test {hostkey.export_public(comment='')}"
    with_plain = KnownHosts.from_text(ca_line + "\n" + plain_line)
    assert check_host_key(with_plain, "srv.corp.test", 22, host_certs["otherca"], now) is HostKeyVerdict.TRUSTED
    # Revoking the CA or the certified key wins over everything.
    revoked_ca = KnownHosts.from_text(ca_line + f"\n@revoked * {ca.export_public(comment='')}")
    assert check_host_key(revoked_ca, "srv.corp.test", 22, good, now) is HostKeyVerdict.REVOKED
    revoked_key = KnownHosts.from_text(ca_line + f"\n@revoked * {hostkey.export_public(comment='')}")
    assert check_host_key(revoked_key, "srv.corp.test", 22, good, now) is HostKeyVerdict.REVOKED
    # A tampered certificate fails its CA signature: never trusted.
    blob = bytearray(good.public_blob)
    blob[-3] ^= 0x10
    tampered = SSHCertificate(bytes(blob))
    assert check_host_key(known, "srv.corp.test", 22, tampered, now) is HostKeyVerdict.MISMATCH
