"""OpenSSH certificates (PROTOCOL.certkeys): parse, check the CA signature, validate for a use.

An :class:`SSHCertificate` wraps the certified :class:`SSHKey` and can stand in
for it wherever a public key verifies signatures. A :class:`KeyPair` joins a
private key and its certificate, which is what a client offers when it
authenticates with ``id_ed25519`` plus ``id_ed25519-cert.pub``.
"""

from __future__ import annotations

import base64
import enum
import os
from collections.abc import Iterable, Mapping

from ..exceptions import KeyImportError
from ..proto.wire import Reader, string, uint32, uint64
from . import algorithms as alg
from .errors import CertificateError, KeyUsageError
from .keytypes import handler_for_key_type, key_errors
from .sshkey import SSHKey, fingerprint_md5, fingerprint_sha256

__all__ = [
    "DEFAULT_USER_EXTENSIONS",
    "FOREVER",
    "USER_CRITICAL_OPTIONS",
    "CertType",
    "KeyPair",
    "SSHCertificate",
    "create_certificate",
    "parse_certificate",
]

#: ``valid_before`` value meaning "never expires".
FOREVER = 0xFFFFFFFFFFFFFFFF

#: Critical options blockssh understands in user certificates; any other makes the certificate unusable.
USER_CRITICAL_OPTIONS = frozenset({"force-command", "source-address"})


#: Extensions ``ssh-keygen`` puts in user certificates unless told otherwise.
DEFAULT_USER_EXTENSIONS: Mapping[str, str] = {
    "permit-X11-forwarding": "",
    "permit-agent-forwarding": "",
    "permit-port-forwarding": "",
    "permit-pty": "",
    "permit-user-rc": "",
}


class CertType(enum.IntEnum):
    """Certificate purpose."""

    USER = 1
    HOST = 2


def _read_options(data: bytes, what: str) -> dict[str, str]:
    """Decode a packed list of (name, data) options; data holds one string or nothing (a flag)."""
    options: dict[str, str] = {}
    reader = Reader(data)
    while reader.remaining:
        name = reader.get_text()
        value_data = reader.get_string()
        if name in options:
            raise KeyImportError(f"certificate repeats {what} {name!r}")
        if value_data:
            inner = Reader(value_data)
            value = inner.get_text()
            inner.check_end()
        else:
            value = ""
        options[name] = value
    return options


def _read_principals(data: bytes) -> tuple[str, ...]:
    reader = Reader(data)
    names: list[str] = []
    while reader.remaining:
        names.append(reader.get_text())
    return tuple(names)


class SSHCertificate:
    """A parsed ``*-cert-v01@openssh.com`` certificate.

    Attributes: ``algorithm`` (certificate key type), ``public_blob``, ``comment``,
    ``nonce``, ``key`` (the certified :class:`SSHKey`), ``serial``, ``cert_type``
    (:class:`CertType`), ``key_id``, ``principals``, ``valid_after``,
    ``valid_before`` (seconds since the epoch; :data:`FOREVER` for no expiry),
    ``critical_options`` and ``extensions`` (name -> value, ``""`` for flags),
    ``signing_key`` (the CA's :class:`SSHKey`) and ``signature`` (the CA's
    signature blob).
    """

    __slots__ = (
        "algorithm",
        "public_blob",
        "comment",
        "nonce",
        "key",
        "serial",
        "cert_type",
        "key_id",
        "principals",
        "valid_after",
        "valid_before",
        "critical_options",
        "extensions",
        "signing_key",
        "signature",
        "_signed_data",
    )

    def __init__(self, blob: bytes, comment: str = "") -> None:
        blob = bytes(blob)
        with key_errors("malformed certificate"):
            reader = Reader(blob)
            self.algorithm = reader.get_ascii()
            if self.algorithm not in alg.CERT_KEY_TYPES:
                raise KeyImportError(f"not a supported certificate type: {self.algorithm!r}")
            handler = handler_for_key_type(alg.key_type_for_cert_type(self.algorithm))
            self.nonce = reader.get_string()
            self.key = SSHKey(handler.read_public(reader), comment)
            self.serial = reader.get_uint64()
            cert_type = reader.get_uint32()
            if cert_type not in (CertType.USER, CertType.HOST):
                raise KeyImportError(f"unknown certificate type {cert_type}")
            self.cert_type = CertType(cert_type)
            self.key_id = reader.get_text()
            self.principals = _read_principals(reader.get_string())
            self.valid_after = reader.get_uint64()
            self.valid_before = reader.get_uint64()
            self.critical_options = _read_options(reader.get_string(), "critical option")
            self.extensions = _read_options(reader.get_string(), "extension")
            reader.get_string()  # reserved
            self.signing_key = SSHKey.from_public_blob(reader.get_string())
            self._signed_data = blob[: reader.position]
            self.signature = reader.get_string()
            reader.check_end()
        self.public_blob = blob
        self.comment = comment

    # -- key-like interface -----------------------------------------------------------------------------------

    @property
    def bits(self) -> int:
        """Size of the certified key in bits."""
        return self.key.bits

    @property
    def has_private(self) -> bool:
        """Always False: a certificate is public data (see :class:`KeyPair`)."""
        return False

    @property
    def sig_algorithms(self) -> tuple[str, ...]:
        """Certificate signature algorithm names usable with this certificate, preferred first."""
        return tuple(name + alg.CERT_SUFFIX for name in self.key.sig_algorithms)

    def verify(
        self,
        data: bytes,
        signature_blob: bytes,
        *,
        algorithm: str | None = None,
        allow_sha1: bool = False,
    ) -> bool:
        """Check a signature made by the certified key (see :meth:`SSHKey.verify`)."""
        return self.key.verify(data, signature_blob, algorithm=algorithm, allow_sha1=allow_sha1)

    def fingerprint_sha256(self) -> str:
        """Fingerprint of the certified key (what ``ssh-keygen -lf`` prints for a certificate)."""
        return fingerprint_sha256(self.key.public_blob)

    def fingerprint_md5(self) -> str:
        """MD5 fingerprint of the certified key."""
        return fingerprint_md5(self.key.public_blob)

    def export_public(self, comment: str | None = None) -> str:
        """One-line ``-cert.pub`` text: ``type base64 [comment]``."""
        comment = self.comment if comment is None else comment
        text = f"{self.algorithm} {base64.b64encode(self.public_blob).decode('ascii')}"
        return f"{text} {comment}" if comment else text

    # -- checks -----------------------------------------------------------------------------------------------

    def verify_signature(self) -> bool:
        """True when the CA signature over the certificate is good (SHA-1 ``ssh-rsa`` CA signatures fail)."""
        return self.signing_key.verify(self._signed_data, self.signature, allow_sha1=False)

    def is_valid_at(self, now: float) -> bool:
        """True when ``valid_after <= now < valid_before``."""
        return self.valid_after <= now < self.valid_before

    def validate(
        self,
        cert_type: CertType | int,
        principal: str | None,
        now: float,
        *,
        check_signature: bool = True,
    ) -> None:
        """Raise :class:`CertificateError` unless the certificate is good for this use.

        Checks the CA signature (unless ``check_signature`` is False), the
        certificate type, the validity period at ``now`` and, when ``principal``
        is given, that it is listed (host names compare case-insensitively; there
        are no wildcards). A host certificate with no principals is valid for any
        host, as in OpenSSH; a user certificate must list the principal. Unknown
        critical options make a user certificate unusable; host certificates
        must have none.
        """
        if check_signature and not self.verify_signature():
            raise CertificateError("certificate signature is invalid or uses a refused algorithm")
        wanted = CertType(cert_type)
        if self.cert_type != wanted:
            raise CertificateError(
                f"certificate is a {self.cert_type.name.lower()} certificate, not a {wanted.name.lower()} certificate"
            )
        if now < self.valid_after:
            raise CertificateError("certificate is not yet valid")
        if now >= self.valid_before:
            raise CertificateError("certificate has expired")
        allowed = USER_CRITICAL_OPTIONS if wanted == CertType.USER else frozenset()
        unknown = sorted(set(self.critical_options) - allowed)
        if unknown:
            raise CertificateError(f"certificate has unsupported critical options: {', '.join(unknown)}")
        if principal is None:
            return
        if wanted == CertType.HOST:
            if self.principals and principal.lower() not in (p.lower() for p in self.principals):
                raise CertificateError(f"host name {principal!r} is not a principal of the certificate")
        elif not self.principals:
            raise CertificateError("user certificate lists no principals")
        elif principal not in self.principals:
            raise CertificateError(f"user {principal!r} is not a principal of the certificate")

    # -- comparison -------------------------------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SSHCertificate):
            return self.public_blob == other.public_blob
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.public_blob)

    def __repr__(self) -> str:
        return (
            f"<SSHCertificate {self.algorithm} {self.cert_type.name.lower()} id={self.key_id!r} "
            f"serial={self.serial} principals={list(self.principals)!r} key={self.fingerprint_sha256()}>"
        )


def parse_certificate(blob: bytes, comment: str = "") -> SSHCertificate:
    """Parse a certificate wire blob; raises :class:`KeyImportError` when it is malformed."""
    return SSHCertificate(blob, comment)


def _pack_options(options: Mapping[str, str]) -> bytes:
    """Encode options sorted by name (as OpenSSH requires); a value is wrapped in its own string, a flag is empty."""
    return b"".join(
        string(name) + (string(string(value)) if value else string(b"")) for name, value in sorted(options.items())
    )


def create_certificate(
    ca: SSHKey,
    key: SSHKey,
    cert_type: CertType | int,
    key_id: str,
    principals: Iterable[str] = (),
    valid_after: int = 0,
    valid_before: int = FOREVER,
    *,
    critical_options: Mapping[str, str] | None = None,
    extensions: Mapping[str, str] | None = None,
    serial: int = 0,
    signature_algorithm: str | None = None,
    nonce: bytes | None = None,
    comment: str = "",
) -> SSHCertificate:
    """Issue an OpenSSH certificate for ``key`` signed by the private ``ca`` key (what ``ssh-keygen -s`` does).

    User certificates get ssh-keygen's default ``permit-*`` extensions unless
    ``extensions`` is given. ``signature_algorithm`` defaults to the CA's
    preferred one (``rsa-sha2-512`` for RSA); SHA-1 ``ssh-rsa`` is refused.
    """
    if not ca.has_private:
        raise KeyUsageError("the CA key has no private part")
    kind = CertType(cert_type)
    if isinstance(principals, str):
        principals = [principals]  # one name, not a list of characters
    if signature_algorithm == alg.RSA_SHA1:
        raise KeyUsageError("ssh-rsa (SHA-1) CA signatures are refused by OpenSSH and blockssh")
    if extensions is None:
        extensions = DEFAULT_USER_EXTENSIONS if kind == CertType.USER else {}
    body = (
        string(alg.cert_type_for_key_type(key.algorithm))
        + string(os.urandom(32) if nonce is None else nonce)
        + key.public_blob[len(string(key.algorithm)) :]
        + uint64(serial)
        + uint32(kind)
        + string(key_id)
        + string(b"".join(string(p) for p in principals))
        + uint64(valid_after)
        + uint64(valid_before)
        + string(_pack_options(critical_options or {}))
        + string(_pack_options(extensions))
        + string(b"")
        + string(ca.public_blob)
    )
    return SSHCertificate(body + string(ca.sign(body, signature_algorithm)), comment)


class KeyPair:
    """A private key and, optionally, a certificate for it: what a client authenticates with.

    :attr:`algorithm`, :attr:`public_blob` and :attr:`sig_algorithms` describe the
    certificate when there is one, else the plain key; :meth:`sign` accepts
    both plain and certificate signature algorithm names.
    """

    __slots__ = ("key", "certificate")

    def __init__(self, key: SSHKey, certificate: SSHCertificate | None = None) -> None:
        if not key.has_private:
            raise KeyUsageError("a key pair needs a private key")
        if certificate is not None and certificate.key != key:
            raise KeyImportError("the certificate certifies a different key")
        self.key = key
        self.certificate = certificate

    @property
    def algorithm(self) -> str:
        """The certificate type when a certificate is attached, else the key type."""
        return self.certificate.algorithm if self.certificate else self.key.algorithm

    @property
    def public_blob(self) -> bytes:
        """The certificate blob when a certificate is attached, else the public key blob."""
        return self.certificate.public_blob if self.certificate else self.key.public_blob

    @property
    def sig_algorithms(self) -> tuple[str, ...]:
        """Signature algorithm names to offer, preferred first (certificate names with a certificate)."""
        return self.certificate.sig_algorithms if self.certificate else self.key.sig_algorithms

    @property
    def comment(self) -> str:
        """The private key's comment."""
        return self.key.comment

    def sign(self, data: bytes, algorithm: str | None = None) -> bytes:
        """Sign with the private key; certificate algorithm names map to their plain names."""
        return self.key.sign(data, algorithm)

    def __repr__(self) -> str:
        cert = f" cert={self.certificate.key_id!r}" if self.certificate else ""
        return f"<KeyPair {self.algorithm} {self.key.fingerprint_sha256()}{cert}>"
