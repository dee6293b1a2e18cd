"""OpenSSH certificates made by ssh-keygen: fields, CA signature, validation, key pairs."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from keys.helpers import ALGORITHMS, keygen, keygen_fingerprint, needs_keygen

from blockssh.exceptions import KeyImportError, UnknownKeyType
from blockssh.keys import (
    CertificateError,
    CertType,
    KeyPair,
    KeyUsageError,
    SSHCertificate,
    SSHKey,
    create_certificate,
    import_public_key,
    import_public_key_blob,
    read_keypair,
    read_private_key,
    read_public_key,
)
from blockssh.keys.certificate import DEFAULT_USER_EXTENSIONS
from blockssh.proto.wire import Reader, string

pytestmark = needs_keygen

DATA = b"userauth request"


def _sign(ca: Path, pub: Path, *args: str, workdir: Path) -> SSHCertificate:
    """Certify a copy of ``pub`` made in ``workdir`` (so certificate files never collide)."""
    copy = workdir / pub.name
    if copy != pub:
        shutil.copy(pub, copy)
    keygen("-q", "-s", ca, *args, copy)
    cert = read_public_key(str(copy)[: -len(".pub")] + "-cert.pub")
    assert isinstance(cert, SSHCertificate)
    return cert


@pytest.fixture(scope="module")
def certdir(keygen_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("certs")
    for name in ALGORITHMS:
        shutil.copy(keygen_dir / f"{name}.pub", directory / f"{name}.pub")
        shutil.copy(keygen_dir / name, directory / name)
    return directory


@pytest.fixture(scope="module")
def user_cert(certdir: Path, keygen_dir: Path) -> SSHCertificate:
    cert = _sign(
        keygen_dir / "ed25519",
        certdir / "ecdsa256.pub",
        "-I",
        "alice@corp",
        "-n",
        "alice,deploy",
        "-V",
        "+1h",
        "-z",
        "42",
        "-O",
        "force-command=/usr/bin/true",
        "-O",
        "source-address=10.0.0.0/8,192.168.1.7",
        workdir=certdir,
    )
    return cert


@pytest.fixture(scope="module")
def host_cert(certdir: Path, keygen_dir: Path) -> SSHCertificate:
    return _sign(
        keygen_dir / "ecdsa384",
        certdir / "ed25519.pub",
        "-h",
        "-I",
        "web1",
        "-n",
        "web1.example.com,*.internal.example.com",
        "-V",
        "-5m:+1h",
        workdir=certdir,
    )


def test_user_certificate_fields(user_cert: SSHCertificate, keygen_dir: Path) -> None:
    cert = user_cert
    assert cert.algorithm == "ecdsa-sha2-nistp256-cert-v01@openssh.com"
    assert cert.cert_type is CertType.USER and int(cert.cert_type) == 1
    assert cert.serial == 42
    assert cert.key_id == "alice@corp"
    assert cert.principals == ("alice", "deploy")
    assert cert.critical_options == {"force-command": "/usr/bin/true", "source-address": "10.0.0.0/8,192.168.1.7"}
    assert set(cert.extensions) == {
        "permit-X11-forwarding",
        "permit-agent-forwarding",
        "permit-port-forwarding",
        "permit-pty",
        "permit-user-rc",
    }
    assert all(v == "" for v in cert.extensions.values())
    assert 3600 <= cert.valid_before - cert.valid_after <= 3720  # ssh-keygen backdates the start a little
    assert cert.valid_after <= time.time() < cert.valid_before
    assert cert.key == read_private_key(keygen_dir / "ecdsa256")
    assert cert.signing_key == read_private_key(keygen_dir / "ed25519")
    assert len(cert.nonce) == 32
    assert cert.verify_signature()


def test_fields_agree_with_cryptography(user_cert: SSHCertificate, host_cert: SSHCertificate) -> None:
    for cert in (user_cert, host_cert):
        other = serialization.load_ssh_public_identity(cert.export_public().encode())
        assert isinstance(other, serialization.SSHCertificate)
        assert other.serial == cert.serial
        assert other.key_id.decode() == cert.key_id
        assert [p.decode() for p in other.valid_principals] == list(cert.principals)
        assert other.valid_after == cert.valid_after and other.valid_before == cert.valid_before
        assert {k.decode(): v.decode() for k, v in other.critical_options.items()} == cert.critical_options
        assert {k.decode(): v.decode() for k, v in other.extensions.items()} == cert.extensions
        assert other.type.value == int(cert.cert_type)
        other.verify_cert_signature()  # cryptography agrees the CA signature is good


def test_host_certificate(host_cert: SSHCertificate, keygen_dir: Path) -> None:
    cert = host_cert
    assert cert.algorithm == "ssh-ed25519-cert-v01@openssh.com"
    assert cert.cert_type == CertType.HOST
    assert cert.critical_options == {} and cert.extensions == {}
    assert cert.signing_key.algorithm == "ecdsa-sha2-nistp384"
    assert cert.verify_signature()
    now = time.time()
    cert.validate(CertType.HOST, "web1.example.com", now)
    cert.validate(CertType.HOST, "WEB1.example.com", now)  # host names are case-insensitive
    with pytest.raises(CertificateError, match="principal"):
        cert.validate(CertType.HOST, "db.internal.example.com", now)  # principals are not patterns (as OpenSSH)
    with pytest.raises(CertificateError, match="principal"):
        cert.validate(CertType.HOST, "evil.example.com", now)
    with pytest.raises(CertificateError, match="host certificate, not a user"):
        cert.validate(CertType.USER, "web1.example.com", now)


def test_validate_user(user_cert: SSHCertificate) -> None:
    cert = user_cert
    now = time.time()
    cert.validate(CertType.USER, "alice", now)
    cert.validate(CertType.USER, "deploy", now)
    cert.validate(CertType.USER, None, now)
    with pytest.raises(CertificateError, match="'mallory' is not a principal"):
        cert.validate(CertType.USER, "mallory", now)
    with pytest.raises(CertificateError, match="not a host"):
        cert.validate(CertType.HOST, "alice", now)
    with pytest.raises(CertificateError, match="expired"):
        cert.validate(CertType.USER, "alice", cert.valid_before)
    with pytest.raises(CertificateError, match="not yet valid"):
        cert.validate(CertType.USER, "alice", cert.valid_after - 1)
    assert cert.is_valid_at(now) and not cert.is_valid_at(cert.valid_before + 10)
    # CertificateError belongs to the blockssh tree.
    assert issubclass(CertificateError, KeyImportError)


def test_certificate_without_principals(certdir: Path, keygen_dir: Path, tmp_path: Path) -> None:
    host = _sign(keygen_dir / "ed25519", certdir / "ecdsa521.pub", "-h", "-I", "any", workdir=tmp_path)
    assert host.principals == () and host.valid_after == 0 and host.valid_before == 2**64 - 1
    host.validate(CertType.HOST, "whatever.example", time.time())  # OpenSSH: no principals = any host
    user = _sign(keygen_dir / "ed25519", certdir / "ecdsa521.pub", "-I", "nobody", workdir=tmp_path)
    with pytest.raises(CertificateError, match="no principals"):
        user.validate(CertType.USER, "root", time.time())


def test_unknown_critical_option_makes_cert_unusable(certdir: Path, keygen_dir: Path, tmp_path: Path) -> None:
    cert = _sign(
        keygen_dir / "ed25519",
        certdir / "ecdsa521.pub",
        "-I",
        "x",
        "-n",
        "u",
        "-O",
        "critical:frob=1",
        workdir=tmp_path,
    )
    assert cert.critical_options == {"frob": "1"}
    with pytest.raises(CertificateError, match="unsupported critical options: frob"):
        cert.validate(CertType.USER, "u", time.time())


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_every_key_type_can_be_certified(certdir: Path, keygen_dir: Path, tmp_path: Path, name: str) -> None:
    cert = _sign(keygen_dir / "ed25519", certdir / f"{name}.pub", "-I", name, "-n", "u", workdir=tmp_path)
    assert cert.algorithm == ALGORITHMS[name] + "-cert-v01@openssh.com"
    assert cert.verify_signature()
    private = read_private_key(keygen_dir / name)
    assert cert.key == private
    # A certificate verifies signatures made by its key.
    for sig_alg in cert.sig_algorithms:
        sig = private.sign(DATA, sig_alg)
        assert cert.verify(DATA, sig, allow_sha1=sig_alg.startswith("ssh-rsa-"))
    assert not cert.verify(DATA + b"!", private.sign(DATA))
    # Fingerprints are the certified key's, like ssh-keygen -lf on the -cert.pub file.
    cert_path = tmp_path / f"{name}-cert.pub"
    assert cert.fingerprint_sha256() == keygen_fingerprint(cert_path)
    assert import_public_key(cert_path.read_text()) == cert


@pytest.mark.parametrize(
    ("ca_name", "sig_type", "ok"),
    [
        ("rsa", "rsa-sha2-512", True),
        ("rsa", "rsa-sha2-256", True),
        ("rsa", "ssh-rsa", False),
        ("ecdsa521", None, True),
        ("ed25519", None, True),
    ],
)
def test_ca_signature_algorithms(
    certdir: Path, keygen_dir: Path, tmp_path: Path, ca_name: str, sig_type: str | None, ok: bool
) -> None:
    extra = ["-t", sig_type] if sig_type else []
    cert = _sign(keygen_dir / ca_name, certdir / "ed25519.pub", "-I", "x", "-n", "u", *extra, workdir=tmp_path)
    reader = Reader(cert.signature)
    assert reader.get_ascii() == (sig_type or cert.signing_key.algorithm)
    assert cert.verify_signature() is ok
    if not ok:
        with pytest.raises(CertificateError, match="signature"):
            cert.validate(CertType.USER, "u", time.time())


def test_rsa_sha2_certificate_names(certdir: Path, keygen_dir: Path, tmp_path: Path) -> None:
    cert = _sign(keygen_dir / "ed25519", certdir / "rsa.pub", "-I", "r", "-n", "u", workdir=tmp_path)
    assert cert.algorithm == "ssh-rsa-cert-v01@openssh.com"
    assert cert.sig_algorithms[:2] == ("rsa-sha2-512-cert-v01@openssh.com", "rsa-sha2-256-cert-v01@openssh.com")


def test_tampered_certificates_fail(user_cert: SSHCertificate) -> None:
    blob = user_cert.public_blob
    # Change one character of the key id ("alice@corp" -> "alicf@corp"): parses, but the CA signature fails.
    index = blob.index(b"alice@corp")
    tampered = blob[:index] + b"alicf" + blob[index + 5 :]
    cert = import_public_key_blob(tampered)
    assert isinstance(cert, SSHCertificate) and cert.key_id == "alicf@corp"
    assert not cert.verify_signature()
    with pytest.raises(CertificateError):
        cert.validate(CertType.USER, "alice", time.time())
    # Flip a bit in the signature itself.
    flipped = bytearray(blob)
    flipped[-5] ^= 0x01
    cert2 = import_public_key_blob(bytes(flipped))
    assert isinstance(cert2, SSHCertificate) and not cert2.verify_signature()
    # Widen the principals: signature fails.
    index = blob.index(b"deploy")
    widened = blob[:index] + b"root\x00\x00" + blob[index + 6 :]
    cert3 = import_public_key_blob(widened)
    assert isinstance(cert3, SSHCertificate) and not cert3.verify_signature()


def test_truncated_and_padded_certificates(user_cert: SSHCertificate) -> None:
    blob = user_cert.public_blob
    for cut in range(0, len(blob), 7):
        with pytest.raises(KeyImportError):
            import_public_key_blob(blob[:cut])
    with pytest.raises(KeyImportError, match="trailing"):
        import_public_key_blob(blob + b"\x00")


def test_unknown_certificate_type() -> None:
    blob = string("ssh-dss-cert-v01@openssh.com") + string(b"nonce")
    with pytest.raises(UnknownKeyType):
        import_public_key_blob(blob)


def test_certificate_as_signing_key_is_refused(user_cert: SSHCertificate) -> None:
    # A certificate blob in the signature-key field must not parse as a CA key.
    with pytest.raises(KeyImportError):
        SSHKey.from_public_blob(user_cert.public_blob)


def test_keypair(user_cert: SSHCertificate, certdir: Path, keygen_dir: Path) -> None:
    key = read_private_key(keygen_dir / "ecdsa256")
    pair = key.with_certificate(user_cert)
    assert isinstance(pair, KeyPair)
    assert pair.algorithm == user_cert.algorithm
    assert pair.public_blob == user_cert.public_blob
    assert pair.sig_algorithms == ("ecdsa-sha2-nistp256-cert-v01@openssh.com",)
    sig = pair.sign(DATA, pair.sig_algorithms[0])
    assert user_cert.verify(DATA, sig) and key.verify(DATA, sig)
    plain = KeyPair(key)
    assert plain.algorithm == key.algorithm and plain.public_blob == key.public_blob
    with pytest.raises(KeyImportError, match="different key"):
        read_private_key(keygen_dir / "ed25519").with_certificate(user_cert)
    with pytest.raises(KeyUsageError, match="private"):
        KeyPair(key.public_only(), user_cert)


def test_read_keypair_finds_cert_file(user_cert: SSHCertificate, certdir: Path) -> None:
    pair = read_keypair(certdir / "ecdsa256")
    assert pair.certificate == user_cert
    assert read_keypair(certdir / "ecdsa384").certificate is None
    rsa_pair = read_keypair(certdir / "ecdsa256", certificate_path=certdir / "ecdsa256-cert.pub")
    assert rsa_pair.certificate == user_cert
    with pytest.raises(KeyImportError, match="does not hold a certificate"):
        read_keypair(certdir / "ecdsa256", certificate_path=certdir / "ecdsa256.pub")


# -- issuing certificates ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("ca_name", ["ed25519", "ecdsa384", "rsa"])
@pytest.mark.parametrize("kind", [CertType.USER, CertType.HOST])
def test_create_certificate_is_accepted_by_keygen_and_cryptography(
    our_keys: dict[str, SSHKey], tmp_path: Path, ca_name: str, kind: CertType
) -> None:
    ca = our_keys[ca_name]
    subject = our_keys["ecdsa256"].public_only()
    options = {"source-address": "10.0.0.0/8", "force-command": "/bin/id"} if kind == CertType.USER else {}
    cert = create_certificate(
        ca,
        subject,
        kind,
        "issued-by-blockssh",
        ["alice", "web.example"],
        1_000,
        2_000_000_000,
        critical_options=options,
        serial=7,
        comment="made here",
    )
    assert cert.verify_signature() and cert.key == subject and cert.signing_key == ca
    assert cert.serial == 7 and cert.key_id == "issued-by-blockssh" and cert.principals == ("alice", "web.example")
    assert cert.critical_options == options
    assert set(cert.extensions) == (set(DEFAULT_USER_EXTENSIONS) if kind == CertType.USER else set())
    assert cert.comment == "made here"
    # cryptography agrees on the structure and the CA signature
    other = serialization.load_ssh_public_identity(cert.export_public().encode())
    assert isinstance(other, serialization.SSHCertificate)
    other.verify_cert_signature()
    assert [p.decode() for p in other.valid_principals] == ["alice", "web.example"]
    # ssh-keygen parses and prints it
    path = tmp_path / "id-cert.pub"
    path.write_text(cert.export_public() + "\n")
    listing = keygen("-L", "-f", path)
    assert f"Type: {cert.algorithm} {'user' if kind == CertType.USER else 'host'} certificate" in listing
    assert 'Key ID: "issued-by-blockssh"' in listing and "Serial: 7" in listing
    assert ca.fingerprint_sha256() in listing
    if ca_name == "rsa":
        assert "(using rsa-sha2-512)" in listing


def test_create_certificate_errors(our_keys: dict[str, SSHKey]) -> None:
    subject = our_keys["ed25519"]
    with pytest.raises(KeyUsageError, match="no private part"):
        create_certificate(our_keys["rsa"].public_only(), subject, CertType.USER, "x")
    with pytest.raises(KeyUsageError, match="SHA-1"):
        create_certificate(our_keys["rsa"], subject, CertType.USER, "x", signature_algorithm="ssh-rsa")
    cert = create_certificate(our_keys["rsa"], subject, CertType.HOST, "x", signature_algorithm="rsa-sha2-256")
    assert Reader(cert.signature).get_ascii() == "rsa-sha2-256" and cert.verify_signature()
    assert cert.valid_after == 0 and cert.valid_before == 2**64 - 1 and cert.is_valid_at(time.time())
    single = create_certificate(our_keys["ed25519"], subject, CertType.USER, "x", "alice")
    assert single.principals == ("alice",)
