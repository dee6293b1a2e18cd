"""SSHKey behaviour on its own: signing, verification, fingerprints, exports, equality, names."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from keys.helpers import ALGORITHMS, PASSPHRASE

from blockssh.exceptions import KeyImportError, PasswordRequiredException, SSHException, UnknownKeyType
from blockssh.keys import (
    HOST_KEY_ALGORITHMS,
    SIGNATURE_ALGORITHMS,
    KeyUsageError,
    SSHKey,
    generate_private_key,
    import_private_key,
    import_public_key,
    import_public_key_blob,
    key_type_for_signature_algorithm,
    plain_signature_algorithm,
    signature_algorithms_for_key_type,
)
from blockssh.proto.wire import Reader, mpint, string

DATA = b"session identifier and request"


def test_default_signature_algorithms_follow_openssh_10() -> None:
    assert SIGNATURE_ALGORITHMS == (
        "ssh-ed25519",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "rsa-sha2-512",
        "rsa-sha2-256",
    )
    assert "ssh-rsa" not in SIGNATURE_ALGORITHMS
    assert not any("ssh-rsa" in name for name in HOST_KEY_ALGORITHMS)
    assert HOST_KEY_ALGORITHMS[0] == "ssh-ed25519-cert-v01@openssh.com"


@pytest.mark.parametrize(
    ("sig_alg", "key_type"),
    [
        ("ssh-ed25519", "ssh-ed25519"),
        ("ecdsa-sha2-nistp521", "ecdsa-sha2-nistp521"),
        ("rsa-sha2-256", "ssh-rsa"),
        ("rsa-sha2-512", "ssh-rsa"),
        ("ssh-rsa", "ssh-rsa"),
        ("rsa-sha2-256-cert-v01@openssh.com", "ssh-rsa-cert-v01@openssh.com"),
        ("rsa-sha2-512-cert-v01@openssh.com", "ssh-rsa-cert-v01@openssh.com"),
        ("ssh-ed25519-cert-v01@openssh.com", "ssh-ed25519-cert-v01@openssh.com"),
    ],
)
def test_signature_algorithm_to_key_type(sig_alg: str, key_type: str) -> None:
    assert key_type_for_signature_algorithm(sig_alg) == key_type


def test_signature_algorithm_helpers() -> None:
    assert plain_signature_algorithm("rsa-sha2-512-cert-v01@openssh.com") == "rsa-sha2-512"
    assert signature_algorithms_for_key_type("ssh-rsa") == ("rsa-sha2-512", "rsa-sha2-256")
    assert signature_algorithms_for_key_type("ssh-rsa", include_legacy=True)[-1] == "ssh-rsa"
    assert signature_algorithms_for_key_type("ssh-rsa-cert-v01@openssh.com")[0] == "rsa-sha2-512-cert-v01@openssh.com"
    with pytest.raises(UnknownKeyType):
        key_type_for_signature_algorithm("ssh-dss")
    with pytest.raises(UnknownKeyType):
        signature_algorithms_for_key_type("sk-ssh-ed25519@openssh.com")


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_properties(our_keys: dict[str, SSHKey], name: str) -> None:
    key = our_keys[name]
    assert key.algorithm == ALGORITHMS[name]
    assert key.has_private
    assert Reader(key.public_blob).get_ascii() == key.algorithm
    expected_bits = {"ed25519": 256, "ecdsa256": 256, "ecdsa384": 384, "ecdsa521": 521, "rsa": 2048}[name]
    assert key.bits == expected_bits
    assert key.comment == f"{name}@blockssh"
    public = key.public_only()
    assert not public.has_private and public == key and hash(public) == hash(key)


def test_rsa_sig_algorithms_and_default() -> None:
    key = generate_private_key("ssh-ed25519")
    assert key.sig_algorithms == ("ssh-ed25519",)


def test_rsa_sig_algorithm_order(our_keys: dict[str, SSHKey]) -> None:
    rsa_key = our_keys["rsa"]
    assert rsa_key.sig_algorithms == ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa")
    name, _ = _split(rsa_key.sign(DATA))
    assert name == "rsa-sha2-512"


def _split(blob: bytes) -> tuple[str, bytes]:
    reader = Reader(blob)
    name = reader.get_ascii()
    raw = reader.get_string()
    reader.check_end()
    return name, raw


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_sign_verify_roundtrip_and_tamper(our_keys: dict[str, SSHKey], name: str) -> None:
    key = our_keys[name]
    for sig_alg in key.sig_algorithms:
        sig = key.sign(DATA, sig_alg)
        assert _split(sig)[0] == sig_alg
        allow_sha1 = sig_alg == "ssh-rsa"
        assert key.verify(DATA, sig, allow_sha1=allow_sha1)
        assert key.public_only().verify(DATA, sig, allow_sha1=allow_sha1)
        assert not key.verify(DATA + b"x", sig, allow_sha1=allow_sha1)
        flipped = bytearray(sig)
        flipped[-1] ^= 1
        assert not key.verify(DATA, bytes(flipped), allow_sha1=allow_sha1)
        assert not key.verify(DATA, sig[:-1], allow_sha1=allow_sha1)
        assert not key.verify(DATA, sig + b"\x00", allow_sha1=allow_sha1)


def test_verify_rejects_other_keys_and_wrong_names(our_keys: dict[str, SSHKey]) -> None:
    ed = our_keys["ed25519"]
    other = generate_private_key("ssh-ed25519")
    sig = ed.sign(DATA)
    assert not other.verify(DATA, sig)
    # An Ed25519 signature relabelled as ECDSA / RSA must not verify with those keys.
    _, raw = _split(sig)
    assert not our_keys["ecdsa256"].verify(DATA, string("ecdsa-sha2-nistp256") + string(raw))
    assert not our_keys["rsa"].verify(DATA, string("rsa-sha2-256") + string(raw))
    # The curve name must match the key.
    p384 = our_keys["ecdsa384"]
    _, raw384 = _split(p384.sign(DATA))
    assert not p384.verify(DATA, string("ecdsa-sha2-nistp256") + string(raw384))
    assert p384.verify(DATA, string("ecdsa-sha2-nistp384") + string(raw384))


def test_verify_with_expected_algorithm(our_keys: dict[str, SSHKey]) -> None:
    key = our_keys["rsa"]
    sig = key.sign(DATA, "rsa-sha2-256")
    assert key.verify(DATA, sig, algorithm="rsa-sha2-256")
    assert key.verify(DATA, sig, algorithm="rsa-sha2-256-cert-v01@openssh.com")
    assert not key.verify(DATA, sig, algorithm="rsa-sha2-512")


def test_rsa_sha1_refused_unless_allowed(our_keys: dict[str, SSHKey]) -> None:
    key = our_keys["rsa"]
    sig = key.sign(DATA, "ssh-rsa")
    assert not key.verify(DATA, sig)
    assert key.verify(DATA, sig, allow_sha1=True)
    # The raw signature really is PKCS#1 v1.5 with SHA-1.
    public = key.public_key
    assert isinstance(public, rsa.RSAPublicKey)
    public.verify(_split(sig)[1], DATA, padding.PKCS1v15(), hashes.SHA1())


def test_rsa_short_signature_is_left_padded(our_keys: dict[str, SSHKey]) -> None:
    # About one signature in 256 starts with a zero byte; some implementations strip it.
    key = our_keys["rsa"]
    for i in range(5000):  # missing one in 5000 tries has probability ~3e-9
        data = DATA + i.to_bytes(2, "big")
        name, raw = _split(key.sign(data, "rsa-sha2-256"))
        if raw[0] == 0:
            break
    else:
        raise AssertionError("no RSA signature with a leading zero byte")
    stripped = string(name) + string(raw.lstrip(b"\x00"))
    assert key.verify(data, stripped)
    assert not key.verify(data + b"x", stripped)


@pytest.mark.parametrize(
    ("name", "hash_cls"), [("ecdsa256", hashes.SHA256), ("ecdsa384", hashes.SHA384), ("ecdsa521", hashes.SHA512)]
)
def test_ecdsa_signature_format_and_hash(our_keys: dict[str, SSHKey], name: str, hash_cls: type) -> None:
    key = our_keys[name]
    sig_name, raw = _split(key.sign(DATA))
    assert sig_name == key.algorithm
    reader = Reader(raw)
    r, s = reader.get_mpint(), reader.get_mpint()
    reader.check_end()
    assert r > 0 and s > 0
    public = key.public_key
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(encode_dss_signature(r, s), DATA, ec.ECDSA(hash_cls()))
    # Negative or zero components never verify.
    assert not key.verify(DATA, string(sig_name) + string(mpint(-r) + mpint(s)))
    assert not key.verify(DATA, string(sig_name) + string(mpint(0) + mpint(s)))


def test_ecdsa_signature_is_der_compatible(our_keys: dict[str, SSHKey]) -> None:
    key = our_keys["ecdsa256"]
    private = key.private_key
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    r, s = decode_dss_signature(private.sign(DATA, ec.ECDSA(hashes.SHA256())))
    assert key.verify(DATA, string("ecdsa-sha2-nistp256") + string(mpint(r) + mpint(s)))


def test_sign_errors(our_keys: dict[str, SSHKey]) -> None:
    with pytest.raises(KeyUsageError, match="no private part"):
        our_keys["ed25519"].public_only().sign(DATA)
    with pytest.raises(KeyUsageError, match="cannot be used"):
        our_keys["ed25519"].sign(DATA, "rsa-sha2-256")
    with pytest.raises(KeyUsageError):
        our_keys["rsa"].sign(DATA, "rsa-sha2-384")
    # KeyUsageError is part of the blockssh tree.
    assert issubclass(KeyUsageError, SSHException)


def test_cert_signature_names_map_to_plain(our_keys: dict[str, SSHKey]) -> None:
    sig = our_keys["rsa"].sign(DATA, "rsa-sha2-256-cert-v01@openssh.com")
    assert _split(sig)[0] == "rsa-sha2-256"


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_fingerprints(our_keys: dict[str, SSHKey], name: str) -> None:
    key = our_keys[name]
    digest = base64.b64encode(hashlib.sha256(key.public_blob).digest()).decode().rstrip("=")
    assert key.fingerprint_sha256() == "SHA256:" + digest
    md5 = hashlib.md5(key.public_blob).hexdigest()
    fp = key.fingerprint_md5()
    assert fp.startswith("MD5:") and fp[4:].replace(":", "") == md5 and len(fp) == 4 + 47


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_export_public_roundtrip(our_keys: dict[str, SSHKey], name: str) -> None:
    key = our_keys[name]
    text = key.export_public()
    assert text.startswith(key.algorithm + " AAAA") and text.endswith(f" {name}@blockssh")
    again = import_public_key(text)
    assert again == key and again.comment == f"{name}@blockssh" and not again.has_private
    assert key.export_public(comment="") == text.rsplit(" ", 1)[0]
    assert import_public_key_blob(key.public_blob) == key


@pytest.mark.parametrize("name", list(ALGORITHMS))
@pytest.mark.parametrize("fmt", ["openssh", "pem", "pkcs8"])
@pytest.mark.parametrize("passphrase", [None, PASSPHRASE])
def test_export_private_roundtrip(our_keys: dict[str, SSHKey], name: str, fmt: str, passphrase: str | None) -> None:
    key = our_keys[name]
    if fmt == "pem" and name == "ed25519":
        with pytest.raises(KeyUsageError, match="PEM"):
            key.export_private("pem")
        return
    data = key.export_private(fmt, passphrase, rounds=2)  # type: ignore[arg-type]
    label = {"openssh": b"OPENSSH PRIVATE KEY", "pkcs8": b"PRIVATE KEY", "pem": b" PRIVATE KEY"}[fmt]
    assert label in data
    if passphrase:
        if fmt == "pkcs8":
            assert b"ENCRYPTED PRIVATE KEY" in data
        if fmt == "pem":
            assert b"Proc-Type: 4,ENCRYPTED" in data
        with pytest.raises(PasswordRequiredException):
            import_private_key(data)
        with pytest.raises(KeyImportError, match="passphrase"):
            import_private_key(data, "wrong passphrase")
    loaded = import_private_key(data, passphrase)
    assert loaded == key and loaded.has_private
    assert loaded.verify(DATA, key.sign(DATA)) and key.verify(DATA, loaded.sign(DATA))
    if fmt == "openssh":
        assert loaded.comment == key.comment


def test_export_private_errors(our_keys: dict[str, SSHKey]) -> None:
    with pytest.raises(KeyUsageError):
        our_keys["rsa"].export_private("der")  # type: ignore[arg-type]
    with pytest.raises(KeyUsageError):
        our_keys["rsa"].public_only().export_private()


def test_openssh_export_layout(our_keys: dict[str, SSHKey]) -> None:
    data = our_keys["ed25519"].export_private("openssh", PASSPHRASE, rounds=3)
    lines = data.decode().splitlines()
    assert lines[0] == "-----BEGIN OPENSSH PRIVATE KEY-----" and lines[-1] == "-----END OPENSSH PRIVATE KEY-----"
    assert all(len(line) <= 70 for line in lines[1:-1])
    raw = base64.b64decode("".join(lines[1:-1]))
    reader = Reader(raw, len(b"openssh-key-v1\x00"))
    assert reader.get_ascii() == "aes256-ctr" and reader.get_ascii() == "bcrypt"
    options = Reader(reader.get_string())
    assert len(options.get_string()) == 16 and options.get_uint32() == 3


def test_equality_and_hash(our_keys: dict[str, SSHKey]) -> None:
    key = our_keys["ecdsa256"]
    same = import_public_key(key.export_public())
    assert isinstance(same, SSHKey)
    assert key == same and {key: 1}[same] == 1
    assert key != our_keys["ecdsa384"]
    assert key != key.public_blob  # not equal to unrelated objects


@pytest.mark.parametrize(
    ("algorithm", "bits", "expected"),
    [("ssh-ed25519", None, 256), ("ecdsa-sha2-nistp384", None, 384), ("ecdsa-sha2-nistp521", 521, 521)],
)
def test_generate(algorithm: str, bits: int | None, expected: int) -> None:
    key = generate_private_key(algorithm, bits, comment="c")
    assert key.algorithm == algorithm and key.bits == expected and key.comment == "c" and key.has_private


def test_generate_rsa_default_is_3072() -> None:
    key = generate_private_key("ssh-rsa")
    assert key.bits == 3072


def test_generate_errors() -> None:
    with pytest.raises(UnknownKeyType):
        generate_private_key("ssh-dss")
    with pytest.raises(KeyUsageError):
        generate_private_key("ssh-rsa", 512)
    with pytest.raises(KeyUsageError):
        generate_private_key("ecdsa-sha2-nistp256", 384)


def test_small_rsa_keys_refused() -> None:
    n = (1 << 767) | 0xF00D1  # any odd 768-bit modulus will do for a public key
    small = rsa.RSAPublicNumbers(65537, n).public_key()
    with pytest.raises(KeyImportError, match="too small"):
        SSHKey(small)
    blob = string("ssh-rsa") + mpint(65537) + mpint(n)
    with pytest.raises(KeyImportError, match="too small"):
        import_public_key_blob(blob)


def test_unsupported_cryptography_keys() -> None:
    from cryptography.hazmat.primitives.asymmetric import ed448

    with pytest.raises(UnknownKeyType):
        SSHKey(ed448.Ed448PrivateKey.generate())  # type: ignore[arg-type]
    with pytest.raises(UnknownKeyType):
        SSHKey(ec.generate_private_key(ec.SECP256K1()))
