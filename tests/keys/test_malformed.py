"""Malformed input of every kind gives blockssh exceptions only: never IndexError, struct.error,
cryptography's ValueError/TypeError, PacketDecodeError or a hang."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from keys.helpers import ALGORITHMS, PASSPHRASE

from blockssh.exceptions import KeyImportError, PacketDecodeError, PasswordRequiredException, UnknownKeyType
from blockssh.keys import (
    AuthorizedKeys,
    KnownHosts,
    SSHKey,
    import_private_key,
    import_public_key,
    import_public_key_blob,
)
from blockssh.keys.openssh_format import armor
from blockssh.keys.pkey import PKey, RSAKey
from blockssh.proto.wire import string, uint32

ALLOWED = (KeyImportError, PasswordRequiredException)
FAST = settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)


def outcome(fn: Callable[..., Any], *args: Any) -> Any:
    """Call ``fn``; return its result, or the exception when it is one of ours (anything else fails)."""
    try:
        return fn(*args)
    except ALLOWED as exc:
        assert not isinstance(exc, PacketDecodeError)
        assert str(exc)  # always a readable message
        return exc


@given(st.binary(max_size=600))
@FAST
def test_random_public_blobs(data: bytes) -> None:
    outcome(import_public_key_blob, data)


@given(st.binary(max_size=600))
@FAST
def test_random_private_key_bytes(data: bytes) -> None:
    outcome(import_private_key, data)
    outcome(import_private_key, data, "passphrase")


@given(st.binary(max_size=400))
@FAST
def test_random_openssh_armored_bodies(body: bytes) -> None:
    data = armor(b"openssh-key-v1\x00" + body, "OPENSSH PRIVATE KEY")
    outcome(import_private_key, data)
    outcome(import_private_key, data, "pw")


@given(
    st.binary(max_size=300),
    st.sampled_from(
        ["RSA PRIVATE KEY", "EC PRIVATE KEY", "PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "DSA PRIVATE KEY", "FOO"]
    ),
)
@FAST
def test_random_pem_bodies(body: bytes, label: str) -> None:
    data = armor(body, label, width=64)
    outcome(import_private_key, data)
    outcome(import_private_key, data, "pw")


@given(st.text(max_size=300))
@FAST
def test_random_public_text(text: str) -> None:
    outcome(import_public_key, text)
    outcome(import_public_key, "ssh-ed25519 " + text)
    outcome(import_public_key, "---- BEGIN SSH2 PUBLIC KEY ----\n" + text + "\n---- END SSH2 PUBLIC KEY ----")


@given(st.text(max_size=500))
@FAST
def test_random_known_hosts_and_authorized_keys_text(text: str) -> None:
    known = KnownHosts.from_text(text)
    known.match("example.com", 22, "192.0.2.1")
    auth = AuthorizedKeys.from_text(text)
    assert len(auth.errors) + len(auth.entries) <= len(text.splitlines())


def _mutations(blob: bytes) -> list[bytes]:
    out = [blob[:cut] for cut in range(len(blob))]
    out += [blob + b"\x00", blob + b"\xff" * 5]
    for i in range(0, len(blob), max(1, len(blob) // 60)):
        flipped = bytearray(blob)
        flipped[i] ^= 0xFF
        out.append(bytes(flipped))
    return out


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_truncated_and_flipped_public_blobs(our_keys: dict[str, SSHKey], name: str) -> None:
    blob = our_keys[name].public_blob
    for cut in range(len(blob)):
        with pytest.raises(KeyImportError):
            import_public_key_blob(blob[:cut])
    with pytest.raises(KeyImportError, match="trailing"):
        import_public_key_blob(blob + b"\x00")
    for mutated in _mutations(blob):
        result = outcome(import_public_key_blob, mutated)
        assert isinstance(result, (SSHKey, Exception))


@pytest.mark.parametrize("name", ["ed25519", "ecdsa256", "rsa"])
@pytest.mark.parametrize("passphrase", [None, PASSPHRASE])
def test_truncated_and_flipped_private_containers(
    our_keys: dict[str, SSHKey], name: str, passphrase: str | None
) -> None:
    data = our_keys[name].export_private("openssh", passphrase, rounds=1)
    raw = base64.b64decode(b"".join(data.splitlines()[1:-1]))
    # Every offset for small plain files; a sample when each attempt costs a KDF run or RSA checks.
    step = max(1, len(raw) // (40 if passphrase else 300))
    for cut in range(0, len(raw), step):
        result = outcome(import_private_key, armor(raw[:cut], "OPENSSH PRIVATE KEY"), passphrase)
        assert isinstance(result, Exception)
    for mutated in _mutations(raw)[len(raw) :: max(1, step // 4)]:
        result = outcome(import_private_key, armor(mutated, "OPENSSH PRIVATE KEY"), passphrase)
        if isinstance(result, SSHKey):
            assert result == our_keys[name]  # a flip inside the comment leaves the key intact


def _container(
    cipher: str = "none", kdf: str = "none", kdf_options: bytes = b"", count: int = 1, private: bytes = b""
) -> bytes:
    raw = (
        b"openssh-key-v1\x00"
        + string(cipher)
        + string(kdf)
        + string(kdf_options)
        + uint32(count)
        + string(b"\x00\x00\x00\x0bssh-ed25519")
        + string(private)
    )
    return armor(raw, "OPENSSH PRIVATE KEY")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cipher": "3des-cbc", "kdf": "bcrypt"}, "unsupported private key cipher"),
        ({"cipher": "aes256-ctr", "kdf": "scrypt"}, "unsupported private key KDF"),
        ({"cipher": "none", "kdf": "bcrypt"}, "names a KDF"),
        ({"count": 2}, "2 keys"),
        ({"count": 0}, "0 keys"),
        ({"cipher": "aes256-ctr", "kdf": "bcrypt", "kdf_options": string(b"salt") + uint32(10**9)}, "rounds"),
        ({"cipher": "aes256-ctr", "kdf": "bcrypt", "kdf_options": string(b"") + uint32(16)}, "KDF parameters"),
        ({"private": b"\x00\x00\x00\x01\x00\x00\x00\x02abcdefgh"}, "check values differ"),
        ({"private": b"\x00\x00\x00\x01\x00\x00\x00\x01" + string("ssh-dss") + b"\x01\x02\x03\x04\x05"}, "ssh-dss"),
        ({"private": b"1234567"}, "multiple of the cipher block size"),
    ],
)
def test_crafted_openssh_containers(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(KeyImportError, match=message):
        import_private_key(_container(**kwargs), "pw")


def test_encrypted_container_without_passphrase_needs_one() -> None:
    data = _container(
        cipher="aes256-ctr", kdf="bcrypt", kdf_options=string(b"0123456789abcdef") + uint32(2), private=bytes(16)
    )
    with pytest.raises(PasswordRequiredException):
        import_private_key(data)
    with pytest.raises(PasswordRequiredException):
        import_private_key(data, "")  # an empty passphrase is no passphrase
    with pytest.raises(KeyImportError, match="incorrect passphrase"):
        import_private_key(data, "pw")


def test_assorted_bad_inputs(our_keys: dict[str, SSHKey]) -> None:
    good = our_keys["ed25519"].export_public(comment="")
    cases: list[tuple[Callable[..., Any], tuple[Any, ...], type[Exception], str]] = [
        (import_public_key, ("",), KeyImportError, "no public key"),
        (import_public_key, ("# only a comment\n\n",), KeyImportError, "no public key"),
        (import_public_key, ("ssh-ed25519",), KeyImportError, "at least"),
        (import_public_key, ("ssh-ed25519 @@@@",), KeyImportError, "base64"),
        (import_public_key, ("ssh-rsa " + good.split()[1],), KeyImportError, "holds 'ssh-ed25519'"),
        (import_public_key, (b"\xff\xfe",), KeyImportError, "UTF-8"),
        (import_public_key, ("ssh-dss AAAAB3NzaC1kc3M=",), UnknownKeyType, "ssh-dss"),
        (import_public_key, ("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",), KeyImportError, "PEM"),
        (import_private_key, (b"",), KeyImportError, "not a recognised"),
        (import_private_key, ("hello world",), KeyImportError, "not a recognised"),
        (import_private_key, (b"\x30\x03\x02\x01\x00",), KeyImportError, "not a recognised"),
        (import_private_key, (b"PuTTY-User-Key-File-3: ssh-ed25519\n",), KeyImportError, "PuTTY"),
        (
            import_private_key,
            (b"-----BEGIN DSA PRIVATE KEY-----\nAA==\n-----END DSA PRIVATE KEY-----",),
            UnknownKeyType,
            "ssh-dss",
        ),
        (import_private_key, (b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbg==\n",), KeyImportError, "no complete"),
        (
            import_private_key,
            (b"-----BEGIN OPENSSH PRIVATE KEY-----\n!!\n-----END OPENSSH PRIVATE KEY-----",),
            KeyImportError,
            "base64",
        ),
        (import_private_key, (armor(b"not the magic", "OPENSSH PRIVATE KEY"),), KeyImportError, "magic"),
        (import_private_key, (armor(b"\x30\x00", "EC PRIVATE KEY"),), KeyImportError, "EC PRIVATE KEY"),
        (
            import_private_key,
            (b"-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----",),
            KeyImportError,
            "CERTIFICATE",
        ),
    ]
    for fn, args, exc_type, message in cases:
        with pytest.raises(exc_type, match=message):
            fn(*args)


def test_ed448_and_other_unsupported_pkcs8() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, x25519

    for key in (
        ed448.Ed448PrivateKey.generate(),
        x25519.X25519PrivateKey.generate(),
        ec.generate_private_key(ec.SECP256K1()),
    ):
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        with pytest.raises(UnknownKeyType):
            import_private_key(pem)


def test_invalid_ec_point_and_rsa_numbers() -> None:
    bad_point = string("ecdsa-sha2-nistp256") + string("nistp256") + string(b"\x04" + b"\x01" * 64)
    with pytest.raises(KeyImportError, match="point"):
        import_public_key_blob(bad_point)
    wrong_curve = string("ecdsa-sha2-nistp256") + string("nistp384") + string(b"\x04" + b"\x01" * 96)
    with pytest.raises(KeyImportError, match="curve"):
        import_public_key_blob(wrong_curve)
    compressed = string("ecdsa-sha2-nistp256") + string("nistp256") + string(b"\x02" + b"\x01" * 32)
    with pytest.raises(KeyImportError, match="uncompressed"):
        import_public_key_blob(compressed)
    negative = string("ssh-rsa") + string(b"\x80\x01") + string(b"\x01" * 256)
    with pytest.raises(KeyImportError):
        import_public_key_blob(negative)
    even_e = string("ssh-rsa") + string(b"\x02") + string(b"\x00" + b"\xc1" * 256)
    with pytest.raises(KeyImportError):
        import_public_key_blob(even_e)
    ed_short = string("ssh-ed25519") + string(b"\x01" * 31)
    with pytest.raises(KeyImportError, match="length"):
        import_public_key_blob(ed_short)


@given(st.binary(max_size=300))
@FAST
def test_verify_never_raises(data: bytes) -> None:
    key = _ED_KEY
    assert key.verify(b"data", data) is False
    assert key.verify(b"data", string("ssh-ed25519") + string(data)) is False
    assert _EC_KEY.verify(b"data", string("ecdsa-sha2-nistp256") + string(data)) is False
    assert _RSA_KEY.verify(b"data", string("rsa-sha2-256") + string(data)) is False


def test_pkey_garbage_raises_ssh_exception() -> None:
    from blockssh.exceptions import SSHException

    for data in (b"", b"\x00\x00\x00\x07ssh-rsa", b"\xff" * 20):
        with pytest.raises(SSHException):
            RSAKey(data=data)
    with pytest.raises(UnknownKeyType):
        PKey.from_type_string("ssh-foo", b"")


from blockssh.keys import generate_private_key  # noqa: E402 - module-level keys for the hypothesis tests

_ED_KEY = generate_private_key("ssh-ed25519").public_only()
_EC_KEY = generate_private_key("ecdsa-sha2-nistp256").public_only()
_RSA_KEY = generate_private_key("ssh-rsa", 2048).public_only()
