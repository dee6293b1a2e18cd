"""authorized_keys: option parsing, plain key matching and certificate authorities."""

from __future__ import annotations

import calendar
import shutil
import time
from pathlib import Path

import pytest
from keys.helpers import keygen

from blockssh.exceptions import KeyImportError
from blockssh.keys import (
    AuthorizedKeys,
    SSHCertificate,
    SSHKey,
    generate_private_key,
    parse_authorized_keys_line,
    read_private_key,
    read_public_key,
)
from blockssh.keys.authorized_keys import parse_options

NOW = time.time()


@pytest.fixture(scope="module")
def key(our_keys: dict[str, SSHKey]) -> SSHKey:
    return our_keys["ed25519"].public_only()


def line_for(key: SSHKey, options: str = "", comment: str = "user@host") -> str:
    prefix = f"{options} " if options else ""
    return f"{prefix}{key.export_public(comment=comment)}"


def test_no_options(key: SSHKey) -> None:
    entry = parse_authorized_keys_line(line_for(key))
    assert entry is not None
    assert entry.key == key and entry.comment == "user@host" and entry.options == ()
    assert entry.permit_pty and entry.permit_port_forwarding and entry.permit_agent_forwarding
    assert entry.permit_x11_forwarding and entry.permit_user_rc and not entry.cert_authority
    assert entry.command is None and entry.from_patterns is None and entry.expiry_time is None
    assert parse_authorized_keys_line("   ") is None and parse_authorized_keys_line("# ssh-ed25519 x") is None


def test_all_options(key: SSHKey) -> None:
    options = (
        'restrict,pty,command="echo \\"hi\\" there, friend",environment="LANG=C.UTF-8",environment="A=b=c",'
        'from="10.0.0.0/8,!10.1.2.3,*.example.com",permitopen="db.internal:5432",permitopen="[::1]:*",'
        'permitlisten="localhost:8080",permitlisten="9000",no-X11-forwarding,NO-AGENT-FORWARDING,'
        'expiry-time="20991231",tunnel="3",no-touch-required,verify-required'
    )
    entry = parse_authorized_keys_line(line_for(key, options))
    assert entry is not None
    assert entry.command == 'echo "hi" there, friend'
    assert entry.environment == {"LANG": "C.UTF-8", "A": "b=c"}
    assert entry.from_patterns == ("10.0.0.0/8", "!10.1.2.3", "*.example.com")
    assert entry.permitopen == ("db.internal:5432", "[::1]:*")
    assert entry.permitlisten == ("localhost:8080", "9000")
    assert entry.permit_pty  # re-enabled after restrict
    assert not entry.permit_port_forwarding and not entry.permit_agent_forwarding
    assert not entry.permit_x11_forwarding and not entry.permit_user_rc
    assert entry.tunnel == 3 and entry.verify_required
    assert entry.expiry_time == time.mktime(time.strptime("20991231", "%Y%m%d"))
    assert entry.options[0] == ("restrict", None) and ("no-agent-forwarding", None) in entry.options


def test_option_parsing_agrees_with_asyncssh(key: SSHKey) -> None:
    asyncssh = pytest.importorskip("asyncssh")
    options = 'command="echo \\"hi\\" there",environment="A=1",permitopen="h:80",no-pty'
    text = line_for(key, options) + "\n"
    theirs = asyncssh.import_authorized_keys(text)._user_entries[0].options
    ours = parse_authorized_keys_line(text)
    assert ours is not None
    assert ours.command == theirs["command"]
    assert ours.environment == theirs["environment"]
    assert {tuple(p.rsplit(":", 1)) for p in ours.permitopen} == {(h, str(p)) for h, p in theirs["permitopen"]}
    assert (not ours.permit_pty) == theirs["no-pty"]


def test_parse_options_function() -> None:
    options, rest = parse_options('No-Pty,command="x, y"  ssh-ed25519 AAAA c')
    assert options == [("no-pty", None), ("command", "x, y")]
    assert rest == "ssh-ed25519 AAAA c"
    with pytest.raises(KeyImportError, match="unsupported option 'a-b'"):
        parse_options('a-b="x" ssh-ed25519 AAAA')


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ("frobnicate", "unsupported option"),
        ('command="unterminated', "unterminated"),
        ("command=unquoted", "double-quoted"),
        ('no-pty="x"', "takes no value"),
        ("command", "needs a value"),
        ('principals="a"', "only allowed with cert-authority"),
        ('command="a",command="b"', "more than once"),
        ('permitopen="nohostport"', "permitopen"),
        ('permitopen="host:99999"', "invalid port"),
        ('expiry-time="2024"', "expiry-time"),
        ('expiry-time="20241350"', "expiry-time"),
        ('environment="NOEQUALS"', "environment"),
        ('tunnel="x"', "tunnel"),
        ("no-pty,,no-pty", "malformed"),
        ('command="x"garbage', "malformed"),
    ],
)
def test_bad_lines_are_skipped(key: SSHKey, options: str, reason: str) -> None:
    with pytest.raises(KeyImportError, match=reason):
        parse_authorized_keys_line(line_for(key, options))
    text = "\n".join([line_for(key, options), line_for(key, comment="good")])
    parsed = AuthorizedKeys.from_text(text)
    assert len(parsed) == 1 and parsed.entries[0].comment == "good" and parsed.entries[0].lineno == 2
    assert parsed.errors and parsed.errors[0][0] == 1 and reason.split()[0].lower() in parsed.errors[0][1].lower()


def test_bad_keys_are_skipped(key: SSHKey) -> None:
    text = "\n".join(
        [
            "ssh-ed25519 !!!notbase64",
            "ssh-dss AAAAB3NzaC1kc3MAAACBAP",
            "no-pty",  # options, no key
            f"ssh-rsa {key.export_public(comment='').split()[1]}",  # type field disagrees with the blob
            line_for(key),
        ]
    )
    parsed = AuthorizedKeys.from_text(text)
    assert len(parsed) == 1 and [n for n, _ in parsed.errors] == [1, 2, 3, 4]


def test_expiry_time_utc() -> None:
    entry = parse_authorized_keys_line(line_for(generate_private_key("ssh-ed25519"), 'expiry-time="203001021530Z"'))
    assert entry is not None
    assert entry.expiry_time == calendar.timegm((2030, 1, 2, 15, 30, 0, 0, 0, 0))
    assert not entry.is_expired(entry.expiry_time - 1) and entry.is_expired(entry.expiry_time)


def test_match_plain_keys(our_keys: dict[str, SSHKey]) -> None:
    ed, ec, rsa = (our_keys[n].public_only() for n in ("ed25519", "ecdsa256", "rsa"))
    text = "\n".join(
        [
            line_for(ed, 'from="10.0.0.0/8,!10.6.6.6"', "from-restricted"),
            line_for(ed, "no-pty", "fallback"),
            line_for(ec, 'expiry-time="20000101"', "expired"),
            line_for(rsa, "cert-authority", "a CA, not a user key"),
        ]
    )
    auth = AuthorizedKeys.from_text(text)
    entry = auth.match(ed, "10.1.1.1", "alice", NOW)
    assert entry is not None and entry.comment == "from-restricted"
    entry = auth.match(ed, "10.6.6.6", "alice", NOW)  # negated: falls through to the next line for this key
    assert entry is not None and entry.comment == "fallback" and not entry.permit_pty
    entry = auth.match(ed, None, "alice", NOW)  # unknown address never satisfies from=
    assert entry is not None and entry.comment == "fallback"
    assert auth.match(ec, "10.1.1.1", "alice", NOW) is None  # expired
    assert auth.match(rsa, "10.1.1.1", "alice", NOW) is None  # cert-authority lines never admit plain keys
    assert auth.match(generate_private_key("ssh-ed25519"), "10.1.1.1", "alice", NOW) is None
    # A private key object matches by its public part.
    assert auth.match(our_keys["ed25519"], "10.1.1.1", "alice", NOW) is not None


@pytest.mark.parametrize(
    ("patterns", "addr", "host", "allowed"),
    [
        ("192.168.0.0/16", "192.168.4.5", None, True),
        ("192.168.0.0/16", "192.169.4.5", None, False),
        ("192.168.*", "192.168.4.5", None, True),
        ("2001:db8::/32", "2001:db8::7", None, True),
        ("2001:db8::/32", "2001:db9::7", None, False),
        ("*.example.com", "203.0.113.9", "ws.example.com", True),
        ("*.example.com,!bad.example.com", "203.0.113.9", "bad.example.com", False),
        ("*,!203.0.113.9", "203.0.113.9", None, False),
        ("10.0.0.1/8", "10.0.0.1", None, False),  # host bits set: the list fails closed
        ("10.0.0.0/8", None, "h", False),
    ],
)
def test_from_patterns(key: SSHKey, patterns: str, addr: str | None, host: str | None, allowed: bool) -> None:
    entry = parse_authorized_keys_line(line_for(key, f'from="{patterns}"'))
    assert entry is not None
    assert entry.permits_source(addr, host) is allowed


def test_from_file(tmp_path: Path, key: SSHKey) -> None:
    assert len(AuthorizedKeys.from_file(tmp_path / "missing")) == 0
    path = tmp_path / "authorized_keys"
    path.write_text(line_for(key) + "\n")
    assert AuthorizedKeys.from_file(path).match(key, "127.0.0.1", "u", NOW) is not None


def test_certificates_refused_as_keys(key: SSHKey) -> None:
    with pytest.raises(KeyImportError):
        parse_authorized_keys_line("ssh-ed25519-cert-v01@openssh.com AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29t")
    # (the blob above is truncated; a complete certificate is refused too, see test_match_certificates)


# -- user certificates from ssh-keygen --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def user_certs(keygen_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, SSHCertificate]:
    """User certificates for keygen_dir/ecdsa256, signed by the keygen_dir/ed25519 CA unless noted."""
    directory = tmp_path_factory.mktemp("usercerts")
    ca = keygen_dir / "ed25519"
    specs = {
        "alice": (ca, ["-n", "alice,ops", "-V", "-1h:+1h"]),
        "nobody": (ca, ["-V", "-1h:+1h"]),
        "source": (ca, ["-n", "alice", "-O", "source-address=10.0.0.0/8"]),
        "command": (ca, ["-n", "alice", "-O", "force-command=/bin/date"]),
        "expired": (ca, ["-n", "alice", "-V", "20000101:20000102"]),
        "host": (ca, ["-h", "-n", "alice"]),
        "otherca": (keygen_dir / "rsa", ["-n", "alice"]),
        "sha1ca": (keygen_dir / "rsa", ["-n", "alice", "-t", "ssh-rsa"]),
    }
    certs: dict[str, SSHCertificate] = {}
    for name, (signer, args) in specs.items():
        pub = directory / f"{name}.pub"
        shutil.copy(keygen_dir / "ecdsa256.pub", pub)
        keygen("-q", "-s", signer, "-I", name, *args, pub)
        cert = read_public_key(directory / f"{name}-cert.pub")
        assert isinstance(cert, SSHCertificate)
        certs[name] = cert
    return certs


def test_match_certificates(require_keygen: None, keygen_dir: Path, user_certs: dict[str, SSHCertificate]) -> None:
    ca = read_private_key(keygen_dir / "ed25519").public_only()
    rsa_ca = read_private_key(keygen_dir / "rsa").public_only()
    user_key = read_private_key(keygen_dir / "ecdsa256").public_only()
    auth = AuthorizedKeys.from_text(line_for(ca, "cert-authority", "corp-ca"))
    alice = user_certs["alice"]
    entry = auth.match(alice, "10.0.0.5", "alice", NOW)
    assert entry is not None and entry.comment == "corp-ca"
    assert auth.match(alice, "10.0.0.5", "ops", NOW) is not None
    assert auth.match(alice, "10.0.0.5", "root", NOW) is None  # not a principal
    assert auth.match(alice, "10.0.0.5", "alice", alice.valid_before) is None  # expired by then
    assert auth.match(user_certs["nobody"], "10.0.0.5", "alice", NOW) is None  # no principals
    assert auth.match(user_certs["expired"], "10.0.0.5", "alice", NOW) is None
    assert auth.match(user_certs["host"], "10.0.0.5", "alice", NOW) is None  # host certificate
    assert auth.match(user_certs["otherca"], "10.0.0.5", "alice", NOW) is None  # CA not listed
    # source-address critical option
    assert auth.match(user_certs["source"], "10.9.9.9", "alice", NOW) is not None
    assert auth.match(user_certs["source"], "192.0.2.1", "alice", NOW) is None
    assert auth.match(user_certs["source"], None, "alice", NOW) is None
    # force-command is reported through the certificate, the entry still matches.
    assert auth.match(user_certs["command"], "10.0.0.5", "alice", NOW) is not None
    assert user_certs["command"].critical_options["force-command"] == "/bin/date"
    # The certified key listed as a plain key does not admit the certificate (OpenSSH semantics),
    # and the CA line does not admit the CA's own key.
    plain = AuthorizedKeys.from_text(line_for(user_key))
    assert plain.match(alice, "10.0.0.5", "alice", NOW) is None
    assert plain.match(user_key, "10.0.0.5", "alice", NOW) is not None
    assert auth.match(ca, "10.0.0.5", "alice", NOW) is None
    # An RSA CA listed, but the certificate was signed with SHA-1: refused.
    rsa_auth = AuthorizedKeys.from_text(line_for(rsa_ca, "cert-authority"))
    assert rsa_auth.match(user_certs["otherca"], "10.0.0.5", "alice", NOW) is not None
    assert rsa_auth.match(user_certs["sha1ca"], "10.0.0.5", "alice", NOW) is None


def test_match_certificates_with_principals_option(
    require_keygen: None, keygen_dir: Path, user_certs: dict[str, SSHCertificate]
) -> None:
    ca = read_private_key(keygen_dir / "ed25519").public_only()
    auth = AuthorizedKeys.from_text(
        "\n".join(
            [
                line_for(ca, 'cert-authority,principals="ops,admins",from="10.0.0.0/8"', "ops"),
                line_for(ca, 'cert-authority,principals="nobody-here"', "never"),
            ]
        )
    )
    alice = user_certs["alice"]
    # principals= replaces the user name check: "ops" is in the certificate, so any user name works.
    entry = auth.match(alice, "10.1.1.1", "deploy", NOW)
    assert entry is not None and entry.comment == "ops" and entry.principals == ("ops", "admins")
    assert auth.match(alice, "192.0.2.1", "deploy", NOW) is None  # from= refuses
    # A tampered certificate never matches.
    blob = bytearray(alice.public_blob)
    blob[-2] ^= 0x01
    assert auth.match(SSHCertificate(bytes(blob)), "10.1.1.1", "deploy", NOW) is None
