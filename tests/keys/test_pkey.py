"""paramiko-compatible key classes, checked against paramiko 5 itself (and asyncssh for SHA-1 RSA)."""

from __future__ import annotations

import io
import os
import shutil
import stat
from pathlib import Path
from typing import Any

import paramiko
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from keys.helpers import ALGORITHMS, PASSPHRASE, keygen

from blockssh.exceptions import KeyImportError, PasswordRequiredException, SSHException, UnknownKeyType
from blockssh.keys import ECDSAKey, Ed25519Key, Message, PKey, PublicBlob, RSAKey, SSHCertificate, SSHKey
from blockssh.keys.pkey import OPENSSH, PEM, PKCS8

DATA = b"data to sign for paramiko"

OUR_CLASSES: dict[str, type[PKey]] = {
    "ed25519": Ed25519Key,
    "ecdsa256": ECDSAKey,
    "ecdsa384": ECDSAKey,
    "ecdsa521": ECDSAKey,
    "rsa": RSAKey,
}
PARAMIKO_CLASSES: dict[str, Any] = {
    "ed25519": paramiko.Ed25519Key,
    "ecdsa256": paramiko.ECDSAKey,
    "ecdsa384": paramiko.ECDSAKey,
    "ecdsa521": paramiko.ECDSAKey,
    "rsa": paramiko.RSAKey,
}
NAMES = list(ALGORITHMS)


def _sig_algs(name: str) -> list[str | None]:
    return ["rsa-sha2-256", "rsa-sha2-512", None] if name == "rsa" else [None]


@pytest.fixture(scope="module")
def key_files(our_keys: dict[str, SSHKey], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Our keys written in paramiko's default formats (PEM, OpenSSH for Ed25519), plain."""
    directory = tmp_path_factory.mktemp("pkeys")
    for name, key in our_keys.items():
        fmt = "openssh" if name == "ed25519" else "pem"
        (directory / name).write_bytes(key.export_private(fmt))  # type: ignore[arg-type]
        (directory / f"{name}.pub").write_text(key.export_public() + "\n")
    return directory


@pytest.mark.parametrize("name", NAMES)
def test_sign_with_ours_verify_with_paramiko(key_files: Path, name: str) -> None:
    ours = OUR_CLASSES[name].from_private_key_file(key_files / name)
    theirs_public = PARAMIKO_CLASSES[name](data=ours.asbytes())
    for algorithm in _sig_algs(name):
        msg = ours.sign_ssh_data(DATA, algorithm)
        assert isinstance(msg, Message)
        assert theirs_public.verify_ssh_sig(DATA, paramiko.Message(msg.asbytes()))
        assert not theirs_public.verify_ssh_sig(DATA + b"x", paramiko.Message(msg.asbytes()))


@pytest.mark.parametrize("name", NAMES)
def test_sign_with_paramiko_verify_with_ours(key_files: Path, name: str) -> None:
    theirs = PARAMIKO_CLASSES[name].from_private_key_file(str(key_files / name))
    ours_public = OUR_CLASSES[name](data=theirs.asbytes())
    assert not ours_public.can_sign()
    for algorithm in _sig_algs(name):
        sig = theirs.sign_ssh_data(DATA, algorithm).asbytes()
        assert ours_public.verify_ssh_sig(DATA, Message(sig))
        assert ours_public.verify_ssh_sig(DATA, sig)
        assert not ours_public.verify_ssh_sig(b"other", Message(sig))
        if algorithm:
            assert Message(sig).get_text() == algorithm


def test_rsa_sha1_against_asyncssh(our_keys: dict[str, SSHKey]) -> None:
    asyncssh = pytest.importorskip("asyncssh")
    ours = RSAKey(key=our_keys["rsa"])
    theirs = asyncssh.import_private_key(our_keys["rsa"].export_private("pem"))
    sig = ours.sign_ssh_data(DATA, "ssh-rsa").asbytes()
    assert Message(sig).get_text() == "ssh-rsa"
    assert asyncssh.import_public_key(our_keys["rsa"].export_public()).verify(DATA, sig)
    their_sig = theirs.sign(DATA, b"ssh-rsa")
    assert not ours.verify_ssh_sig(DATA, Message(their_sig))  # SHA-1 refused by default, as in paramiko 5
    assert ours.verify_ssh_sig(DATA, Message(their_sig), allow_sha1=True)
    assert not paramiko.RSAKey(data=ours.asbytes()).verify_ssh_sig(DATA, paramiko.Message(sig))


@pytest.mark.parametrize("name", NAMES)
def test_same_answers_as_paramiko(key_files: Path, name: str) -> None:
    ours = OUR_CLASSES[name].from_private_key_file(key_files / name)
    theirs = PARAMIKO_CLASSES[name].from_private_key_file(str(key_files / name))
    assert ours.get_name() == theirs.get_name() == ALGORITHMS[name]
    assert ours.algorithm_name == theirs.algorithm_name
    assert ours.get_bits() == theirs.get_bits()
    assert ours.can_sign() and theirs.can_sign()
    assert ours.asbytes() == theirs.asbytes() == bytes(ours)
    assert ours.get_base64() == theirs.get_base64()
    assert ours.get_fingerprint() == theirs.get_fingerprint()
    assert isinstance(ours.get_fingerprint(), bytes) and len(ours.get_fingerprint()) == 16
    assert ours.fingerprint == theirs.fingerprint and ours.fingerprint.startswith("SHA256:")
    # Same repr, plus the comment an openssh-key-v1 file carries (paramiko drops it).
    assert repr(ours).startswith(repr(theirs)[:-1])
    assert OUR_CLASSES[name].identifiers() == [i for i in OUR_CLASSES[name].identifiers() if i]
    for ident in theirs.identifiers():
        assert ident in OUR_CLASSES[name].identifiers()


@pytest.mark.parametrize("name", NAMES)
def test_base_class_loaders_detect_type(key_files: Path, name: str) -> None:
    key = PKey.from_private_key_file(key_files / name)
    assert type(key) is OUR_CLASSES[name] and key.get_name() == ALGORITHMS[name]
    with open(key_files / name) as text_file:
        assert PKey.from_private_key(text_file) == key
    with open(key_files / name, "rb") as binary_file:
        assert OUR_CLASSES[name].from_private_key(binary_file) == key
    assert type(PKey.from_path(key_files / name)) is OUR_CLASSES[name]


def test_constructors(our_keys: dict[str, SSHKey], key_files: Path) -> None:
    sshkey = our_keys["ecdsa384"]
    blob = sshkey.public_blob
    by_data = ECDSAKey(data=blob)
    by_msg = ECDSAKey(msg=Message(blob))
    by_key = ECDSAKey(key=sshkey)
    by_crypto = ECDSAKey(key=sshkey.private_key)
    by_file = ECDSAKey(filename=str(key_files / "ecdsa384"))
    with open(key_files / "ecdsa384") as f:
        by_fileobj = ECDSAKey(file_obj=f)
    private = sshkey.private_key
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    by_vals = ECDSAKey(vals=(private, private.public_key()))
    keys = [by_data, by_msg, by_key, by_crypto, by_file, by_fileobj, by_vals]
    assert all(k == by_data for k in keys) and len({hash(k) for k in keys}) == 1
    assert [k.can_sign() for k in keys] == [False, False, True, True, True, True, True]
    assert by_vals.signing_key is private and by_vals.verifying_key.curve.name == "secp384r1"
    assert by_key.ssh_key is sshkey
    with pytest.raises(SSHException, match="may not be empty"):
        RSAKey()
    with pytest.raises(SSHException, match="not a valid RSA"):
        RSAKey(data=blob)
    with pytest.raises(SSHException, match="not a valid ED25519 private key file"):
        Ed25519Key.from_private_key_file(key_files / "rsa")
    rsa_key = RSAKey(key=our_keys["rsa"])
    assert rsa_key.size == 2048 and rsa_key.public_numbers.e == 65537 and rsa_key.key is our_keys["rsa"].private_key


def test_equality_public_private_and_sshkey(our_keys: dict[str, SSHKey]) -> None:
    private = Ed25519Key(key=our_keys["ed25519"])
    public = Ed25519Key(data=private.asbytes())
    assert private == public and hash(private) == hash(public)
    assert private == our_keys["ed25519"] and our_keys["ed25519"] == private
    assert private != Ed25519Key.generate()
    assert {private: "x"}[public] == "x"


def test_from_type_string(our_keys: dict[str, SSHKey]) -> None:
    for name, sshkey in our_keys.items():
        key = PKey.from_type_string(sshkey.algorithm, sshkey.public_blob)
        assert type(key) is OUR_CLASSES[name] and key.asbytes() == sshkey.public_blob
    key = PKey.from_type_string("rsa-sha2-256", our_keys["rsa"].public_blob)
    assert isinstance(key, RSAKey)
    with pytest.raises(UnknownKeyType) as info:
        PKey.from_type_string("ssh-dss", b"\x00\x00\x00\x07ssh-dss")
    assert info.value.key_type == "ssh-dss"


def test_passwords(our_keys: dict[str, SSHKey], tmp_path: Path) -> None:
    key = RSAKey(key=our_keys["rsa"])
    path = tmp_path / "enc"
    key.write_private_key_file(path, password=PASSPHRASE)
    assert "ENCRYPTED" in path.read_text()
    with pytest.raises(PasswordRequiredException):
        RSAKey.from_private_key_file(path)
    with pytest.raises(SSHException):
        RSAKey.from_private_key_file(path, password="wrong")
    assert RSAKey.from_private_key_file(path, password=PASSPHRASE) == key
    theirs = paramiko.RSAKey.from_private_key_file(str(path), password=PASSPHRASE)
    assert theirs.asbytes() == key.asbytes()
    with pytest.raises(paramiko.PasswordRequiredException):
        paramiko.RSAKey.from_private_key_file(str(path))


@pytest.mark.parametrize("name", NAMES)
def test_write_private_key_file_defaults(our_keys: dict[str, SSHKey], tmp_path: Path, name: str) -> None:
    key = OUR_CLASSES[name](key=our_keys[name])
    path = tmp_path / "out"
    path.write_text("old contents that must be replaced")
    os.chmod(path, 0o644)
    key.write_private_key_file(str(path))
    text = path.read_text()
    expected = {"ed25519": "OPENSSH PRIVATE KEY", "rsa": "RSA PRIVATE KEY"}.get(name, "EC PRIVATE KEY")
    assert text.startswith(f"-----BEGIN {expected}-----")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    theirs = PARAMIKO_CLASSES[name].from_private_key_file(str(path))
    assert theirs.asbytes() == key.asbytes()


def test_write_private_key_formats(our_keys: dict[str, SSHKey]) -> None:
    key = ECDSAKey(key=our_keys["ecdsa256"])
    text_out = io.StringIO()
    key.write_private_key(text_out, file_format=OPENSSH)
    assert text_out.getvalue().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    binary_out = io.BytesIO()
    key.write_private_key(binary_out, password=PASSPHRASE, file_format=PKCS8)
    assert binary_out.getvalue().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert ECDSAKey.from_private_key(io.BytesIO(binary_out.getvalue()), PASSPHRASE) == key
    # paramiko's own FileFormat constants are accepted too.
    paramiko_out = io.StringIO()
    key.write_private_key(paramiko_out, file_format=paramiko.pkey.OPENSSH)
    assert paramiko_out.getvalue().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    pem_out = io.StringIO()
    key.write_private_key(pem_out, file_format=PEM)
    theirs = paramiko.ECDSAKey.from_private_key(io.StringIO(pem_out.getvalue()))
    assert theirs.asbytes() == key.asbytes()
    with pytest.raises(SSHException):
        Ed25519Key(key=our_keys["ed25519"]).write_private_key(io.StringIO(), file_format=PEM)
    with pytest.raises(SSHException):
        key.write_private_key(io.StringIO(), file_format="xml")


def test_generate() -> None:
    rsa_key = RSAKey.generate(bits=2048)
    assert rsa_key.get_bits() == 2048 and rsa_key.can_sign()
    assert ECDSAKey.generate().get_name() == "ecdsa-sha2-nistp256"
    assert ECDSAKey.generate(curve=ec.SECP384R1()).get_bits() == 384
    assert ECDSAKey.generate(bits=521).get_name() == "ecdsa-sha2-nistp521"
    with pytest.raises(ValueError, match="Unsupported key length"):
        ECDSAKey.generate(bits=123)
    ed = Ed25519Key.generate()
    assert ed.get_name() == "ssh-ed25519" and ed.can_sign() and ed.get_bits() == 256
    assert paramiko.Ed25519Key(data=ed.asbytes()).verify_ssh_sig(
        DATA, paramiko.Message(ed.sign_ssh_data(DATA).asbytes())
    )


def test_message_matches_paramiko() -> None:
    ours = Message()
    theirs = paramiko.Message()
    for m in (ours, theirs):
        m.add_string("ssh-ed25519")
        m.add_string(b"\x00\x01binary")
        m.add_int(7)
        m.add_int64(2**40)
        m.add_boolean(True)
        m.add_byte(b"\x05")
        m.add_mpint(-129)
        m.add_mpint(2**70)
        m.add_list(["a", "b"])
        m.add(1, "x", False)
    assert ours.asbytes() == theirs.asbytes() == bytes(ours)
    reader = Message(ours.asbytes())
    assert reader.get_text() == "ssh-ed25519"
    assert reader.get_string() == b"\x00\x01binary"
    assert reader.get_int() == 7
    assert reader.get_int64() == 2**40
    assert reader.get_boolean() is True
    assert reader.get_byte() == b"\x05"
    assert reader.get_mpint() == -129
    assert reader.get_mpint() == 2**70
    assert reader.get_list() == ["a", "b"]
    assert reader.get_adaptive_int() == 1 and reader.get_text() == "x" and reader.get_boolean() is False
    assert reader.get_remainder() == b""
    reader.rewind()
    assert reader.get_text() == "ssh-ed25519"
    with pytest.raises(SSHException, match="truncated"):
        Message(b"\x00\x00\x00\x09abc").get_string()


def test_certificates_from_path_and_load_certificate(require_keygen: None, keygen_dir: Path, tmp_path: Path) -> None:
    for name in ("ecdsa256", "ed25519.pub"):
        shutil.copy(keygen_dir / name.replace(".pub", ""), tmp_path / name.replace(".pub", ""))
    shutil.copy(keygen_dir / "ecdsa256", tmp_path / "id")
    shutil.copy(keygen_dir / "ecdsa256.pub", tmp_path / "id.pub")
    keygen("-q", "-s", keygen_dir / "ed25519", "-I", "me", "-n", "me", tmp_path / "id.pub")
    key = PKey.from_path(tmp_path / "id")
    assert isinstance(key, ECDSAKey)
    assert key.public_blob is not None
    assert key.public_blob.key_type == "ecdsa-sha2-nistp256-cert-v01@openssh.com"
    cert = key.certificate
    assert isinstance(cert, SSHCertificate) and cert.key_id == "me" and key.public_blob.key_blob == cert.public_blob
    assert key.keypair.public_blob == cert.public_blob
    assert PKey.from_path(tmp_path / "id-cert.pub") == key  # naming the certificate works too
    theirs = paramiko.PKey.from_path(tmp_path / "id")
    assert theirs.public_blob.key_blob == key.public_blob.key_blob
    # paramiko accepts our certificate-bearing keys' blobs and vice versa.
    from_cert_blob = ECDSAKey(data=cert.public_blob)
    assert from_cert_blob == key and from_cert_blob.public_blob == key.public_blob
    # load_certificate: path, text, PublicBlob, Message
    plain = ECDSAKey.from_private_key_file(tmp_path / "id")
    assert plain.public_blob is None
    cert_text = (tmp_path / "id-cert.pub").read_text()
    for value in (
        str(tmp_path / "id-cert.pub"),
        cert_text,
        PublicBlob.from_string(cert_text),
        Message(cert.public_blob),
    ):
        plain.public_blob = None
        plain.load_certificate(value)
        assert plain.public_blob == key.public_blob
    with pytest.raises(ValueError, match="incompatible"):
        Ed25519Key.from_private_key_file(tmp_path / "ed25519").load_certificate(cert_text)
    other = ECDSAKey.generate()
    with pytest.raises(KeyImportError, match="different key"):
        other.load_certificate(cert_text)
    with pytest.raises(FileNotFoundError):
        PKey.from_path(tmp_path / "missing")


def test_public_blob(our_keys: dict[str, SSHKey]) -> None:
    text = our_keys["ed25519"].export_public()
    blob = PublicBlob.from_string(text)
    assert blob.key_type == "ssh-ed25519" and blob.key_blob == our_keys["ed25519"].public_blob
    assert blob.comment == "ed25519@blockssh"
    assert str(blob) == "ssh-ed25519 public key/certificate- ed25519@blockssh"
    theirs = paramiko.PublicBlob.from_string(text)
    assert (theirs.key_type, theirs.key_blob, theirs.comment) == (blob.key_type, blob.key_blob, blob.comment)
    with pytest.raises(ValueError):
        PublicBlob.from_string("ssh-rsa " + text.split()[1])
