"""The openssh-key-v1 private key container (OpenSSH's PROTOCOL.key), read and written.

Plain and passphrase-protected (bcrypt-pbkdf) files are supported, with the
ciphers ssh-keygen can use for key files: aes{128,192,256}-ctr, aes*-cbc,
aes{128,256}-gcm@openssh.com and chacha20-poly1305@openssh.com. New files are
written with aes256-ctr and 16 KDF rounds, like ``ssh-keygen``.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass

import bcrypt
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import poly1305
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..exceptions import KeyImportError, PasswordRequiredException
from ..proto.wire import Reader, string, uint32
from .keytypes import PrivateKey, handler_for_key, handler_for_key_type, key_errors

__all__ = [
    "DEFAULT_KDF_ROUNDS",
    "MAX_KDF_ROUNDS",
    "OPENSSH_PRIVATE_LABEL",
    "armor",
    "decode_openssh_private_key",
    "encode_openssh_private_key",
    "unarmor",
]

OPENSSH_PRIVATE_LABEL = "OPENSSH PRIVATE KEY"
_MAGIC = b"openssh-key-v1\x00"

#: bcrypt-pbkdf rounds used for new encrypted files (ssh-keygen's default).
DEFAULT_KDF_ROUNDS = 16
#: Files asking for more rounds are refused: each round costs about 10 ms.
MAX_KDF_ROUNDS = 4096
_SALT_LEN = 16


@dataclass(frozen=True)
class _CipherSpec:
    key_len: int
    iv_len: int
    block_size: int
    tag_len: int
    mode: str  # "ctr", "cbc", "gcm", "chacha", "none"


_CIPHERS: dict[str, _CipherSpec] = {
    "none": _CipherSpec(0, 0, 8, 0, "none"),
    "aes128-ctr": _CipherSpec(16, 16, 16, 0, "ctr"),
    "aes192-ctr": _CipherSpec(24, 16, 16, 0, "ctr"),
    "aes256-ctr": _CipherSpec(32, 16, 16, 0, "ctr"),
    "aes128-cbc": _CipherSpec(16, 16, 16, 0, "cbc"),
    "aes192-cbc": _CipherSpec(24, 16, 16, 0, "cbc"),
    "aes256-cbc": _CipherSpec(32, 16, 16, 0, "cbc"),
    "aes128-gcm@openssh.com": _CipherSpec(16, 12, 16, 16, "gcm"),
    "aes256-gcm@openssh.com": _CipherSpec(32, 12, 16, 16, "gcm"),
    "chacha20-poly1305@openssh.com": _CipherSpec(64, 0, 8, 16, "chacha"),
}


def unarmor(data: bytes, label: str) -> bytes:
    """Return the base64-decoded body between ``-----BEGIN label-----`` and its END line."""
    name = re.escape(label.encode())
    pattern = rb"-----BEGIN " + name + rb"-----(.*?)-----END " + name + b"-----"
    match = re.search(pattern, data, re.DOTALL)
    if match is None:
        raise KeyImportError(f"no complete '-----BEGIN {label}-----' block found")
    body = match.group(1)
    try:
        return base64.b64decode(b"".join(body.split()), validate=True)
    except (binascii.Error, ValueError):
        raise KeyImportError(f"invalid base64 in {label} block") from None


def armor(payload: bytes, label: str, width: int = 70) -> bytes:
    """Wrap ``payload`` in base64 lines of ``width`` characters between BEGIN/END lines."""
    text = base64.b64encode(payload)
    lines = [text[i : i + width] for i in range(0, len(text), width)]
    return b"\n".join([f"-----BEGIN {label}-----".encode(), *lines, f"-----END {label}-----".encode(), b""])


def _keystream_cipher(spec: _CipherSpec, key: bytes, iv: bytes) -> Cipher[modes.CTR] | Cipher[modes.CBC]:
    if spec.mode == "ctr":
        return Cipher(algorithms.AES(key), modes.CTR(iv))
    return Cipher(algorithms.AES(key), modes.CBC(iv))


def _chacha_block(key: bytes, counter: int) -> Cipher[None]:
    # OpenSSH's chacha20-poly1305 uses a 64-bit counter and a 64-bit nonce (the
    # sequence number, always 0 for key files); cryptography takes both in one
    # 16-byte value, counter first (little-endian).
    return Cipher(algorithms.ChaCha20(key, counter.to_bytes(8, "little") + bytes(8)), None)


def _chacha_poly_key(main_key: bytes) -> bytes:
    return _chacha_block(main_key, 0).encryptor().update(bytes(32))


def _decrypt(spec: _CipherSpec, key: bytes, iv: bytes, data: bytes, tag: bytes) -> bytes:
    """Decrypt the private section; a failed tag or check means a wrong passphrase."""
    if spec.mode == "none":
        return data
    if spec.mode == "gcm":
        try:
            return AESGCM(key).decrypt(iv, data + tag, None)
        except InvalidTag:
            raise KeyImportError("incorrect passphrase (or corrupt private key)") from None
    if spec.mode == "chacha":
        main_key = key[:32]
        try:
            poly1305.Poly1305.verify_tag(_chacha_poly_key(main_key), data, tag)
        except InvalidSignature:
            raise KeyImportError("incorrect passphrase (or corrupt private key)") from None
        return _chacha_block(main_key, 1).decryptor().update(data)
    decryptor = _keystream_cipher(spec, key, iv).decryptor()
    return decryptor.update(data) + decryptor.finalize()


def _encrypt(spec: _CipherSpec, key: bytes, iv: bytes, data: bytes) -> bytes:
    """Encrypt the private section; AEAD tags are appended."""
    if spec.mode == "none":
        return data
    if spec.mode == "gcm":
        return AESGCM(key).encrypt(iv, data, None)
    if spec.mode == "chacha":
        main_key = key[:32]
        encrypted = _chacha_block(main_key, 1).encryptor().update(data)
        return encrypted + poly1305.Poly1305.generate_tag(_chacha_poly_key(main_key), encrypted)
    encryptor = _keystream_cipher(spec, key, iv).encryptor()
    return encryptor.update(data) + encryptor.finalize()


def _passphrase_bytes(passphrase: str | bytes | None) -> bytes | None:
    if passphrase is None:
        return None
    value = passphrase.encode("utf-8") if isinstance(passphrase, str) else bytes(passphrase)
    return value or None


def decode_openssh_private_key(data: bytes, passphrase: str | bytes | None = None) -> tuple[PrivateKey, str]:
    """Parse an ``-----BEGIN OPENSSH PRIVATE KEY-----`` file into (private key, comment).

    Raises :class:`PasswordRequiredException` when the file is encrypted and no
    passphrase was given, and :class:`KeyImportError` for a wrong passphrase or
    malformed data.
    """
    raw = unarmor(data, OPENSSH_PRIVATE_LABEL)
    if not raw.startswith(_MAGIC):
        raise KeyImportError("not an openssh-key-v1 private key (bad magic)")
    with key_errors("malformed openssh-key-v1 private key"):
        reader = Reader(raw, len(_MAGIC))
        cipher_name = reader.get_ascii()
        kdf_name = reader.get_ascii()
        kdf_options = reader.get_string()
        count = reader.get_uint32()
        if count != 1:
            raise KeyImportError(f"openssh-key-v1 files with {count} keys are not supported")
        public_blob = reader.get_string()
        encrypted = reader.get_string()
        spec = _CIPHERS.get(cipher_name)
        if spec is None:
            raise KeyImportError(f"unsupported private key cipher {cipher_name!r}")
        tag = reader.get_bytes(spec.tag_len)
        reader.check_end()
        if len(encrypted) % spec.block_size:
            raise KeyImportError("private key section is not a multiple of the cipher block size")

        key = iv = b""
        if spec.mode == "none":
            if kdf_name != "none" or kdf_options:
                raise KeyImportError("unencrypted private key names a KDF")
        else:
            if kdf_name != "bcrypt":
                raise KeyImportError(f"unsupported private key KDF {kdf_name!r}")
            options = Reader(kdf_options)
            salt = options.get_string()
            rounds = options.get_uint32()
            options.check_end()
            if not salt or not 0 < rounds <= MAX_KDF_ROUNDS:
                raise KeyImportError(f"unsupported bcrypt KDF parameters (rounds={rounds})")
            secret = _passphrase_bytes(passphrase)
            if secret is None:
                raise PasswordRequiredException("Private key file is encrypted")
            derived = bcrypt.kdf(secret, salt, spec.key_len + spec.iv_len, rounds, ignore_few_rounds=True)
            key, iv = derived[: spec.key_len], derived[spec.key_len :]

        plain = _decrypt(spec, key, iv, encrypted, tag)
        private = Reader(plain)
        check1 = private.get_uint32()
        check2 = private.get_uint32()
        if check1 != check2:
            if spec.mode == "none":
                raise KeyImportError("corrupt private key (check values differ)")
            raise KeyImportError("incorrect passphrase (or corrupt private key)")
        key_type = private.get_ascii()
        handler = handler_for_key_type(key_type)
        private_key = handler.read_private(private)
        comment = private.get_string().decode("utf-8", errors="replace")
        padding = private.get_remaining()
        if padding != bytes(range(1, len(padding) + 1)) or len(padding) >= spec.block_size:
            raise KeyImportError("corrupt private key (bad padding)")
        if handler.public_blob(private_key.public_key()) != public_blob:
            raise KeyImportError("private key does not match the public key stored with it")
    return private_key, comment


def encode_openssh_private_key(
    private_key: PrivateKey,
    comment: str = "",
    passphrase: str | bytes | None = None,
    *,
    cipher: str = "aes256-ctr",
    rounds: int = DEFAULT_KDF_ROUNDS,
) -> bytes:
    """Serialize a private key as an openssh-key-v1 PEM-style file.

    With a passphrase the key is encrypted with ``cipher`` under a bcrypt-pbkdf
    key of ``rounds`` rounds; without one it is stored in the clear.
    """
    handler = handler_for_key(private_key)
    secret = _passphrase_bytes(passphrase)
    if secret is None:
        cipher = "none"
    spec = _CIPHERS.get(cipher)
    if spec is None:
        raise KeyImportError(f"unsupported private key cipher {cipher!r}")
    if not 0 < rounds <= MAX_KDF_ROUNDS:
        raise KeyImportError(f"KDF rounds must be between 1 and {MAX_KDF_ROUNDS}")

    check = os.urandom(4)
    body = check + check + string(handler.name) + handler.private_fields(private_key) + string(comment.encode("utf-8"))
    pad = -len(body) % spec.block_size
    body += bytes(range(1, pad + 1))

    if secret is None:
        kdf_name, kdf_options, key, iv = "none", b"", b"", b""
    else:
        salt = os.urandom(_SALT_LEN)
        kdf_name, kdf_options = "bcrypt", string(salt) + uint32(rounds)
        derived = bcrypt.kdf(secret, salt, spec.key_len + spec.iv_len, rounds, ignore_few_rounds=True)
        key, iv = derived[: spec.key_len], derived[spec.key_len :]
    sealed = _encrypt(spec, key, iv, body)
    encrypted, tag = sealed[: len(body)], sealed[len(body) :]

    raw = (
        _MAGIC
        + string(cipher)
        + string(kdf_name)
        + string(kdf_options)
        + uint32(1)
        + string(handler.public_blob(private_key.public_key()))
        + string(encrypted)
        + tag
    )
    return armor(raw, OPENSSH_PRIVATE_LABEL)
