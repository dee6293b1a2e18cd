"""Cross-checks against OpenSSH's ssh-keygen: its keys load here, ours load there, fingerprints agree."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from keys.helpers import ALGORITHMS, PASSPHRASE, converted_copy, keygen, keygen_fingerprint, needs_keygen

from blockssh.exceptions import KeyImportError, PasswordRequiredException
from blockssh.keys import SSHKey, import_public_key, read_private_key, read_public_key
from blockssh.keys.openssh_format import encode_openssh_private_key

pytestmark = needs_keygen

NAMES = list(ALGORITHMS)
DATA = b"interop data"


@pytest.mark.parametrize("name", NAMES)
def test_keygen_plain_keys_load_with_matching_fingerprints(keygen_dir: Path, name: str) -> None:
    path = keygen_dir / name
    key = read_private_key(path)
    assert key.algorithm == ALGORITHMS[name]
    assert key.has_private
    assert key.comment == f"{name}@test"
    public = read_public_key(f"{path}.pub")
    assert public == key and public.comment == f"{name}@test"
    assert key.fingerprint_sha256() == keygen_fingerprint(path)
    assert key.fingerprint_md5() == keygen_fingerprint(path, "md5")
    assert key.verify(DATA, key.sign(DATA))


def test_keygen_encrypted_default_rounds(keygen_dir: Path, tmp_path: Path) -> None:
    # ssh-keygen's own defaults (16 bcrypt rounds, aes256-ctr) for one key type.
    path = tmp_path / "ed"
    keygen("-q", "-t", "ed25519", "-N", PASSPHRASE, "-C", "enc", "-f", path)
    with pytest.raises(PasswordRequiredException):
        read_private_key(path)
    with pytest.raises(KeyImportError, match="incorrect passphrase"):
        read_private_key(path, "not it")
    key = read_private_key(path, PASSPHRASE)
    assert key.comment == "enc"
    assert key.fingerprint_sha256() == keygen_fingerprint(path)
    assert read_private_key(path, PASSPHRASE.encode()) == key


@pytest.mark.parametrize("name", NAMES)
def test_keygen_encrypted_openssh(keygen_dir: Path, tmp_path: Path, name: str) -> None:
    path = converted_copy(keygen_dir, name, tmp_path / name, None, PASSPHRASE)
    with pytest.raises(PasswordRequiredException):
        read_private_key(path)
    with pytest.raises(KeyImportError, match="incorrect passphrase"):
        read_private_key(path, "wrong")
    key = read_private_key(path, PASSPHRASE)
    assert key == read_private_key(keygen_dir / name)
    assert key.comment == f"{name}@test"


@pytest.mark.parametrize(
    "cipher",
    [
        "aes128-ctr",
        "aes192-cbc",
        "aes256-cbc",
        "aes128-gcm@openssh.com",
        "aes256-gcm@openssh.com",
        "chacha20-poly1305@openssh.com",
    ],
)
def test_keygen_other_ciphers(keygen_dir: Path, tmp_path: Path, cipher: str) -> None:
    dest = tmp_path / "key"
    converted_copy(keygen_dir, "ecdsa256", dest, None, PASSPHRASE)
    keygen("-q", "-p", "-P", PASSPHRASE, "-N", PASSPHRASE, "-a", "2", "-Z", cipher, "-f", dest)
    key = read_private_key(dest, PASSPHRASE)
    assert key == read_private_key(keygen_dir / "ecdsa256")
    with pytest.raises(KeyImportError, match="incorrect passphrase"):
        read_private_key(dest, "wrong")


@pytest.mark.parametrize("name", ["ecdsa256", "ecdsa384", "ecdsa521", "rsa"])
@pytest.mark.parametrize(("fmt", "label"), [("PEM", None), ("PKCS8", "PRIVATE KEY")])
@pytest.mark.parametrize("encrypted", [False, True])
def test_keygen_pem_and_pkcs8(
    keygen_dir: Path, tmp_path: Path, name: str, fmt: str, label: str | None, encrypted: bool
) -> None:
    passphrase = PASSPHRASE if encrypted else ""
    path = converted_copy(keygen_dir, name, tmp_path / name, fmt, passphrase)
    text = path.read_text()
    if label is None:
        label = "RSA PRIVATE KEY" if name == "rsa" else "EC PRIVATE KEY"
    elif encrypted:
        label = "ENCRYPTED PRIVATE KEY"
    assert f"-----BEGIN {label}-----" in text
    if encrypted:
        with pytest.raises(PasswordRequiredException):
            read_private_key(path)
        with pytest.raises(KeyImportError, match="incorrect passphrase"):
            read_private_key(path, "wrong")
    key = read_private_key(path, passphrase or None)
    assert key == read_private_key(keygen_dir / name)
    assert key.fingerprint_sha256() == keygen_fingerprint(Path(f"{path}.pub"))
    assert key.fingerprint_md5() == keygen_fingerprint(Path(f"{path}.pub"), "md5")


def _write_private(path: Path, data: bytes) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return path


def _keygen_public(path: Path, passphrase: str | None) -> tuple[str, str]:
    args: list[str] = ["-y", "-f", str(path)]
    args += ["-P", passphrase or ""]
    fields = keygen(*args).split()
    return fields[0], fields[1]


# OpenSSH reads Ed25519 keys only from openssh-key-v1 files (9.2 has no PEM/PKCS#8 Ed25519 support).
EXPORTS = [(n, f) for n in NAMES for f in ("openssh", "pem", "pkcs8") if n != "ed25519" or f == "openssh"]


@pytest.mark.parametrize(("name", "fmt"), EXPORTS)
@pytest.mark.parametrize("passphrase", [None, PASSPHRASE])
def test_our_private_exports_load_in_keygen(
    our_keys: dict[str, SSHKey], tmp_path: Path, name: str, fmt: str, passphrase: str | None
) -> None:
    key = our_keys[name]
    path = _write_private(tmp_path / "key", key.export_private(fmt, passphrase, rounds=2))  # type: ignore[arg-type]
    key_type, b64 = _keygen_public(path, passphrase)
    assert f"{key_type} {b64}" == key.export_public(comment="")
    if passphrase:
        # ssh-keygen must refuse a wrong passphrase, proving the file really is encrypted.
        with pytest.raises(AssertionError):
            _keygen_public(path, "wrong")


def test_our_openssh_export_keeps_comment_for_keygen(our_keys: dict[str, SSHKey], tmp_path: Path) -> None:
    key = our_keys["ed25519"]
    path = _write_private(tmp_path / "key", key.export_private("openssh", PASSPHRASE))  # default 16 rounds
    out = keygen("-y", "-P", PASSPHRASE, "-f", path).split()
    assert out[2] == "ed25519@blockssh"


@pytest.mark.parametrize(
    "cipher", ["aes128-ctr", "aes256-cbc", "aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com"]
)
def test_our_other_ciphers_load_in_keygen(our_keys: dict[str, SSHKey], tmp_path: Path, cipher: str) -> None:
    key = our_keys["ecdsa256"]
    private = key.private_key
    assert private is not None
    data = encode_openssh_private_key(private, "c", PASSPHRASE, cipher=cipher, rounds=2)
    path = _write_private(tmp_path / "key", data)
    assert " ".join(_keygen_public(path, PASSPHRASE)) == key.export_public(comment="")
    assert read_private_key(path, PASSPHRASE) == key


@pytest.mark.parametrize("name", NAMES)
def test_our_public_keys_fingerprint_in_keygen(our_keys: dict[str, SSHKey], tmp_path: Path, name: str) -> None:
    key = our_keys[name]
    path = tmp_path / "key.pub"
    path.write_text(key.export_public() + "\n")
    assert keygen_fingerprint(path) == key.fingerprint_sha256()
    assert keygen_fingerprint(path, "md5") == key.fingerprint_md5()


@pytest.mark.parametrize("name", NAMES)
def test_rfc4716_and_pem_public_from_keygen(keygen_dir: Path, name: str) -> None:
    key = read_public_key(keygen_dir / f"{name}.pub")
    rfc4716 = keygen("-e", "-f", keygen_dir / f"{name}.pub")
    assert rfc4716.startswith("---- BEGIN SSH2 PUBLIC KEY ----")
    parsed = import_public_key(rfc4716)
    assert parsed == key
    assert "2048-bit RSA" in parsed.comment or name != "rsa"
    if name != "ed25519":  # ssh-keygen cannot write Ed25519 public keys as PKCS#8
        pem = keygen("-e", "-m", "PKCS8", "-f", keygen_dir / f"{name}.pub")
        assert "-----BEGIN PUBLIC KEY-----" in pem
        assert import_public_key(pem) == key


def test_rfc4716_continuation_and_quoted_comment(our_keys: dict[str, SSHKey]) -> None:
    import base64

    key = our_keys["ed25519"]
    b64 = base64.b64encode(key.public_blob).decode()
    text = (
        "---- BEGIN SSH2 PUBLIC KEY ----\n"
        'Comment: "a long \\\n'
        'comment"\n'
        "x-private: value\n"
        f"{b64[:30]}\n{b64[30:]}\n"
        "---- END SSH2 PUBLIC KEY ----\n"
    )
    parsed = import_public_key(text)
    assert parsed == key and parsed.comment == "a long comment"
