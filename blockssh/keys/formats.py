"""Reading and creating keys: every supported text and binary format in, :class:`SSHKey` out.

Public keys: the OpenSSH one-line format (``ssh-ed25519 AAAA... comment``),
RFC 4716 (``---- BEGIN SSH2 PUBLIC KEY ----``), PEM SubjectPublicKeyInfo and raw
wire blobs; certificates come back as :class:`SSHCertificate`. Private keys:
openssh-key-v1 (plain or bcrypt-encrypted), PEM PKCS#1 RSA, SEC1 EC, PKCS#8
(plain or encrypted) and DER. Every failure is a :class:`KeyImportError`
(:class:`UnknownKeyType` for unsupported types) or
:class:`PasswordRequiredException`.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from ..exceptions import KeyImportError, PasswordRequiredException, UnknownKeyType
from ..proto.wire import Reader
from . import algorithms as alg
from .certificate import KeyPair, SSHCertificate
from .keytypes import PrivateKey, PublicKey, handler_for_key_type, key_errors
from .openssh_format import OPENSSH_PRIVATE_LABEL, decode_openssh_private_key
from .sshkey import SSHKey

__all__ = [
    "generate_private_key",
    "import_private_key",
    "import_public_key",
    "import_public_key_blob",
    "read_keypair",
    "read_private_key",
    "read_public_key",
]

PathLike = str | os.PathLike[str]

_RFC4716_BEGIN = "---- BEGIN SSH2 PUBLIC KEY ----"
_RFC4716_END = "---- END SSH2 PUBLIC KEY ----"
_PEM_BEGIN_RE = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----")
_PEM_PRIVATE_LABELS = {"RSA PRIVATE KEY", "EC PRIVATE KEY", "PRIVATE KEY", "ENCRYPTED PRIVATE KEY"}
_UNSUPPORTED_LABELS = {"DSA PRIVATE KEY": "ssh-dss", "SSH2 ENCRYPTED PRIVATE KEY": "ssh.com"}
#: Public key files larger than this are refused before parsing.
MAX_KEY_FILE_SIZE = 1 << 20


def _as_bytes(data: str | bytes | bytearray | memoryview) -> bytes:
    return data.encode("utf-8", errors="surrogateescape") if isinstance(data, str) else bytes(data)


def _as_text(data: str | bytes | bytearray | memoryview) -> str:
    if isinstance(data, str):
        return data
    try:
        return bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        raise KeyImportError("public key text is not valid UTF-8") from None


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise KeyImportError(f"invalid base64 in {what}") from None


# -- public keys ------------------------------------------------------------------------------------------------


def import_public_key_blob(blob: bytes, comment: str = "") -> SSHKey | SSHCertificate:
    """Parse an SSH wire-format public key blob; certificate blobs give an :class:`SSHCertificate`."""
    blob = bytes(blob)
    with key_errors("malformed public key blob"):
        key_type = Reader(blob).get_ascii()
    if alg.is_certificate_algorithm(key_type):
        if key_type not in alg.CERT_KEY_TYPES:
            raise UnknownKeyType(key_type=key_type, key_bytes=blob)
        return SSHCertificate(blob, comment)
    if key_type not in alg.KEY_TYPES:
        raise UnknownKeyType(key_type=key_type, key_bytes=blob)
    return SSHKey.from_public_blob(blob, comment)


def _import_openssh_line(line: str) -> SSHKey | SSHCertificate:
    fields = line.split(None, 2)
    if len(fields) < 2:
        raise KeyImportError("public key line needs at least a key type and base64 data")
    key_type, data = fields[0], fields[1]
    comment = fields[2].strip() if len(fields) > 2 else ""
    blob = _b64decode(data, "public key")
    key = import_public_key_blob(blob, comment)
    if key.algorithm != key_type:
        raise KeyImportError(f"public key line says {key_type!r} but its data holds {key.algorithm!r}")
    return key


def _import_rfc4716(text: str) -> SSHKey | SSHCertificate:
    lines = text.replace("\r\n", "\n").split("\n")
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == _RFC4716_BEGIN)
        end = next(i for i, line in enumerate(lines) if line.strip() == _RFC4716_END and i > start)
    except StopIteration:
        raise KeyImportError("incomplete '---- BEGIN SSH2 PUBLIC KEY ----' block") from None
    comment = ""
    body: list[str] = []
    pending = ""
    for line in lines[start + 1 : end]:
        line = line.strip()
        if pending or (not body and ":" in line):
            header = pending + line
            if header.endswith("\\"):
                pending = header[:-1]
                continue
            pending = ""
            tag, _, value = header.partition(":")
            if tag.strip().lower() == "comment":
                value = value.strip()
                if len(value) >= 2 and value[0] == value[-1] == '"':
                    value = value[1:-1]
                comment = value
        elif line:
            body.append(line)
    return import_public_key_blob(_b64decode("".join(body), "SSH2 public key"), comment)


def _import_pem_public(data: bytes) -> SSHKey:
    with key_errors("invalid PEM public key"):
        public = serialization.load_pem_public_key(data)
    if not isinstance(public, PublicKey):
        raise UnknownKeyType(key_type=type(public).__name__)
    return SSHKey(public)


def import_public_key(data: str | bytes) -> SSHKey | SSHCertificate:
    """Parse public key text in any supported format.

    Accepted: an OpenSSH ``type base64 [comment]`` line (the first one that is not a
    comment), an RFC 4716 ``---- BEGIN SSH2 PUBLIC KEY ----`` block or a PEM
    ``BEGIN PUBLIC KEY`` block. ``-cert.pub`` contents give an :class:`SSHCertificate`.
    """
    text = _as_text(data)
    if _RFC4716_BEGIN in text:
        return _import_rfc4716(text)
    if "-----BEGIN PUBLIC KEY-----" in text:
        return _import_pem_public(text.encode("utf-8"))
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            return _import_openssh_line(line)
    raise KeyImportError("no public key found")


def read_public_key(path: PathLike) -> SSHKey | SSHCertificate:
    """Read a public key or certificate file (``.pub``, ``-cert.pub``, RFC 4716, PEM)."""
    with open(path, "rb") as f:
        data = f.read(MAX_KEY_FILE_SIZE + 1)
    if len(data) > MAX_KEY_FILE_SIZE:
        raise KeyImportError(f"{os.fspath(path)!r} is too large to be a public key file")
    return import_public_key(data)


# -- private keys -----------------------------------------------------------------------------------------------


def _check_private(key: object) -> PrivateKey:
    if not isinstance(key, PrivateKey):
        raise UnknownKeyType(key_type=type(key).__name__)
    return key


def _load_pem(data: bytes, label: str, passphrase: bytes | None) -> PrivateKey:
    head = data[data.find(b"-----BEGIN") :][:400]
    encrypted = label == "ENCRYPTED PRIVATE KEY" or b"Proc-Type: 4,ENCRYPTED" in head
    if encrypted and passphrase is None:
        raise PasswordRequiredException("Private key file is encrypted")
    try:
        key = serialization.load_pem_private_key(data, passphrase if encrypted else None)
    except TypeError as exc:  # cryptography's password/encryption mismatch
        raise KeyImportError(f"cannot load {label}: {exc}") from None
    except ValueError as exc:
        if encrypted:
            raise KeyImportError("incorrect passphrase (or corrupt private key)") from None
        raise KeyImportError(f"invalid {label}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - UnsupportedAlgorithm and other backend errors
        raise UnknownKeyType(key_type=f"{label} ({exc})") from None
    return _check_private(key)


def _load_der(data: bytes, passphrase: bytes | None) -> PrivateKey:
    try:
        key = serialization.load_der_private_key(data, None)
    except TypeError:  # encrypted PKCS#8
        if passphrase is None:
            raise PasswordRequiredException("Private key file is encrypted") from None
        try:
            key = serialization.load_der_private_key(data, passphrase)
        except (ValueError, TypeError):
            raise KeyImportError("incorrect passphrase (or corrupt private key)") from None
    except ValueError as exc:
        raise KeyImportError(f"not a recognised private key format ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - UnsupportedAlgorithm and other backend errors
        raise UnknownKeyType(key_type=f"DER ({exc})") from None
    return _check_private(key)


def import_private_key(data: str | bytes, passphrase: str | bytes | None = None) -> SSHKey:
    """Parse a private key file's contents.

    Supports openssh-key-v1 (plain or bcrypt-encrypted), PEM PKCS#1 RSA, SEC1
    EC and PKCS#8 (plain or encrypted), and DER PKCS#1/SEC1/PKCS#8. A passphrase
    given for an unencrypted key is ignored. Raises
    :class:`PasswordRequiredException` when the key is encrypted and no
    passphrase was given, :class:`KeyImportError` for a wrong passphrase or bad
    data, :class:`UnknownKeyType` for a key type blockssh does not support.
    """
    raw = _as_bytes(data)
    secret: bytes | None = None
    if passphrase is not None:
        secret = passphrase.encode("utf-8") if isinstance(passphrase, str) else bytes(passphrase)
        secret = secret or None
    match = _PEM_BEGIN_RE.search(raw)
    if match is not None:
        label = match.group(1).decode("ascii")
        if label == OPENSSH_PRIVATE_LABEL:
            private, comment = decode_openssh_private_key(raw, secret)
            return SSHKey(private, comment)
        if label in _PEM_PRIVATE_LABELS:
            return SSHKey(_load_pem(raw, label, secret))
        if label in _UNSUPPORTED_LABELS:
            raise UnknownKeyType(key_type=_UNSUPPORTED_LABELS[label])
        raise KeyImportError(f"'-----BEGIN {label}-----' is not a private key format blockssh reads")
    if raw.startswith(b"PuTTY-User-Key-File-"):
        raise KeyImportError("PuTTY .ppk key files are not supported; convert with puttygen -O private-openssh")
    if raw[:1] == b"\x30":
        return SSHKey(_load_der(raw, secret))
    raise KeyImportError("not a recognised private key format")


def read_private_key(path: PathLike, passphrase: str | bytes | None = None) -> SSHKey:
    """Read a private key file (see :func:`import_private_key`); a missing file raises FileNotFoundError."""
    with open(path, "rb") as f:
        data = f.read(MAX_KEY_FILE_SIZE + 1)
    if len(data) > MAX_KEY_FILE_SIZE:
        raise KeyImportError(f"{os.fspath(path)!r} is too large to be a private key file")
    return import_private_key(data, passphrase)


def read_keypair(
    path: PathLike,
    passphrase: str | bytes | None = None,
    certificate_path: PathLike | None = None,
) -> KeyPair:
    """Read a private key and its certificate: ``certificate_path``, else ``<path>-cert.pub`` when it exists."""
    key = read_private_key(path, passphrase)
    if certificate_path is None:
        candidate = Path(os.fspath(path) + "-cert.pub")
        if not candidate.exists():
            return KeyPair(key)
        certificate_path = candidate
    cert = read_public_key(certificate_path)
    if not isinstance(cert, SSHCertificate):
        raise KeyImportError(f"{os.fspath(certificate_path)!r} does not hold a certificate")
    return KeyPair(key, cert)


def generate_private_key(algorithm: str, bits: int | None = None, comment: str = "") -> SSHKey:
    """Create a new key: ``ssh-ed25519``, ``ecdsa-sha2-nistp256/384/521`` or ``ssh-rsa`` (3072 bits by default)."""
    handler = handler_for_key_type(algorithm)
    return SSHKey(handler.generate(bits), comment)
