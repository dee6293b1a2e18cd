"""SSHKey: one public key, optionally with its private half, of any supported type.

It signs and verifies SSH signature blobs, computes OpenSSH fingerprints and
exports itself in the OpenSSH public format and the openssh-key-v1, PEM and
PKCS#8 private formats. Keys compare equal when their public blobs do.
"""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING, Literal

from cryptography.hazmat.primitives import serialization

from ..exceptions import KeyImportError, PacketDecodeError
from ..proto.wire import Reader, string
from . import algorithms as alg
from .errors import KeyUsageError
from .keytypes import KeyTypeHandler, PrivateKey, PublicKey, handler_for_key, handler_for_key_type, key_errors
from .openssh_format import DEFAULT_KDF_ROUNDS, encode_openssh_private_key

if TYPE_CHECKING:
    from .certificate import KeyPair, SSHCertificate

__all__ = ["PrivateFormatName", "SSHKey", "fingerprint_md5", "fingerprint_sha256", "parse_signature"]

PrivateFormatName = Literal["openssh", "pem", "pkcs8"]


def fingerprint_sha256(blob: bytes) -> str:
    """OpenSSH SHA256 fingerprint of a public key blob: ``SHA256:`` + unpadded base64."""
    digest = hashlib.sha256(blob).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def fingerprint_md5(blob: bytes) -> str:
    """Legacy MD5 fingerprint of a public key blob: ``MD5:`` + colon-separated hex."""
    digest = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    return "MD5:" + ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def parse_signature(signature_blob: bytes) -> tuple[str, bytes]:
    """Split an SSH signature blob into (algorithm name, raw signature).

    Raises :class:`KeyImportError` when the blob is malformed or has trailing bytes.
    """
    try:
        reader = Reader(signature_blob)
        name = reader.get_ascii()
        raw = reader.get_string()
        reader.check_end()
    except PacketDecodeError as exc:
        raise KeyImportError(f"malformed signature blob: {exc}") from None
    return name, raw


class SSHKey:
    """A public key of a supported type, with its private part when it was loaded or generated.

    Build one from a cryptography key object (``SSHKey(private_or_public_key)``),
    from a wire blob (:meth:`from_public_blob`), or with the module functions in
    :mod:`blockssh.keys.formats` (``import_private_key``, ``generate_private_key``...).
    """

    __slots__ = ("_handler", "_public", "_private", "_blob", "comment")

    def __init__(self, key: PrivateKey | PublicKey, comment: str = "") -> None:
        with key_errors("unsupported key"):
            self._handler: KeyTypeHandler = handler_for_key(key)
        if isinstance(key, PublicKey):
            self._public: PublicKey = key
            self._private: PrivateKey | None = None
        else:
            self._private = key
            self._public = key.public_key()
        self._blob = self._handler.public_blob(self._public)
        #: Free-form comment, as stored in key files (often ``user@host``).
        self.comment = comment

    @classmethod
    def from_public_blob(cls, blob: bytes, comment: str = "") -> SSHKey:
        """Parse a plain (not certificate) public key blob; raises :class:`KeyImportError`."""
        with key_errors("malformed public key blob"):
            reader = Reader(blob)
            key_type = reader.get_ascii()
            if alg.is_certificate_algorithm(key_type):
                raise KeyImportError(f"expected a plain public key, got a {key_type} certificate")
            handler = handler_for_key_type(key_type)
            public = handler.read_public(reader)
            reader.check_end()
        return cls(public, comment)

    # -- properties -----------------------------------------------------------------------------------------

    @property
    def algorithm(self) -> str:
        """The key type name, e.g. ``ssh-ed25519``, ``ecdsa-sha2-nistp256``, ``ssh-rsa``."""
        return self._handler.name

    @property
    def public_blob(self) -> bytes:
        """The public key in SSH wire encoding."""
        return self._blob

    @property
    def has_private(self) -> bool:
        """True when the private part is present, so the key can sign."""
        return self._private is not None

    @property
    def bits(self) -> int:
        """Key size in bits (256 for Ed25519, the curve size for ECDSA, the modulus size for RSA)."""
        return self._handler.bits(self._public)

    @property
    def sig_algorithms(self) -> tuple[str, ...]:
        """Signature algorithms this key can produce, preferred first (SHA-1 ``ssh-rsa`` last)."""
        return self._handler.sig_algorithms

    @property
    def public_key(self) -> PublicKey:
        """The cryptography public key object."""
        return self._public

    @property
    def private_key(self) -> PrivateKey | None:
        """The cryptography private key object, or None for a public-only key."""
        return self._private

    def public_only(self) -> SSHKey:
        """Return a copy without the private part."""
        return SSHKey(self._public, self.comment)

    # -- signatures -------------------------------------------------------------------------------------------

    def _signature_algorithm(self, algorithm: str | None) -> str:
        if algorithm is None:
            return self._handler.sig_algorithms[0]
        name = alg.plain_signature_algorithm(algorithm)
        if name not in self._handler.sig_algorithms:
            raise KeyUsageError(f"signature algorithm {algorithm!r} cannot be used with a {self.algorithm} key")
        return name

    def sign(self, data: bytes, algorithm: str | None = None) -> bytes:
        """Sign ``data`` and return the SSH signature blob (``string(algorithm) + string(signature)``).

        ``algorithm`` picks the signature algorithm (for RSA: ``rsa-sha2-512``,
        ``rsa-sha2-256`` or legacy ``ssh-rsa``); certificate names are accepted and
        mapped to the plain name. Default: the first of :attr:`sig_algorithms`.
        """
        if self._private is None:
            raise KeyUsageError(f"this {self.algorithm} key has no private part and cannot sign")
        name = self._signature_algorithm(algorithm)
        return string(name) + string(self._handler.sign(self._private, bytes(data), name))

    def verify(
        self,
        data: bytes,
        signature_blob: bytes,
        *,
        algorithm: str | None = None,
        allow_sha1: bool = False,
    ) -> bool:
        """Check an SSH signature blob over ``data``; False (never an exception) when it does not verify.

        The blob's algorithm must suit the key type; ``ssh-rsa`` (SHA-1) signatures
        are refused unless ``allow_sha1`` is True. With ``algorithm`` the blob must
        name exactly that signature algorithm (the plain name of a certificate
        algorithm), as the host key check after key exchange requires.
        """
        try:
            name, raw = parse_signature(bytes(signature_blob))
        except KeyImportError:
            return False
        if algorithm is not None and name != alg.plain_signature_algorithm(algorithm):
            return False
        if name not in self._handler.sig_algorithms:
            return False
        if name == alg.RSA_SHA1 and not allow_sha1:
            return False
        return self._handler.verify(self._public, bytes(data), name, raw)

    # -- fingerprints and export ------------------------------------------------------------------------------

    def fingerprint_sha256(self) -> str:
        """``SHA256:...`` fingerprint, as ``ssh-keygen -lf`` prints it."""
        return fingerprint_sha256(self._blob)

    def fingerprint_md5(self) -> str:
        """``MD5:aa:bb:...`` fingerprint, as ``ssh-keygen -E md5 -lf`` prints it."""
        return fingerprint_md5(self._blob)

    def export_public(self, comment: str | None = None) -> str:
        """One-line OpenSSH public key text: ``type base64 [comment]`` (no newline).

        ``comment`` defaults to :attr:`comment`; pass ``""`` to omit it.
        """
        comment = self.comment if comment is None else comment
        text = f"{self.algorithm} {base64.b64encode(self._blob).decode('ascii')}"
        return f"{text} {comment}" if comment else text

    def export_private(
        self,
        format: PrivateFormatName = "openssh",  # noqa: A002 - the natural name for callers
        passphrase: str | bytes | None = None,
        *,
        comment: str | None = None,
        rounds: int = DEFAULT_KDF_ROUNDS,
    ) -> bytes:
        """Serialize the private key, encrypted when a passphrase is given.

        - ``"openssh"``: openssh-key-v1 (bcrypt-pbkdf + aes256-ctr when encrypted,
          ``rounds`` KDF rounds); keeps the comment.
        - ``"pem"``: traditional ``BEGIN RSA/EC PRIVATE KEY`` (not for Ed25519).
        - ``"pkcs8"``: ``BEGIN PRIVATE KEY`` or ``BEGIN ENCRYPTED PRIVATE KEY``.
        """
        if self._private is None:
            raise KeyUsageError(f"this {self.algorithm} key has no private part to export")
        if isinstance(passphrase, str):
            passphrase = passphrase.encode("utf-8")
        if format == "openssh":
            return encode_openssh_private_key(
                self._private,
                self.comment if comment is None else comment,
                passphrase,
                rounds=rounds,
            )
        if format == "pem":
            if self.algorithm == alg.ED25519:
                raise KeyUsageError("ssh-ed25519 keys have no traditional PEM format; use 'openssh' or 'pkcs8'")
            private_format = serialization.PrivateFormat.TraditionalOpenSSL
        elif format == "pkcs8":
            private_format = serialization.PrivateFormat.PKCS8
        else:
            raise KeyUsageError(f"unknown private key format {format!r}; use 'openssh', 'pem' or 'pkcs8'")
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
        )
        return self._private.private_bytes(serialization.Encoding.PEM, private_format, encryption)

    # -- certificates -----------------------------------------------------------------------------------------

    def with_certificate(self, certificate: SSHCertificate) -> KeyPair:
        """Pair this private key with an OpenSSH certificate for it (checks the certificate certifies this key)."""
        from .certificate import KeyPair

        return KeyPair(self, certificate)

    # -- comparison -------------------------------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SSHKey):
            return self._blob == other._blob
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._blob)

    def __repr__(self) -> str:
        kind = "private" if self.has_private else "public"
        comment = f" comment={self.comment!r}" if self.comment else ""
        return f"<SSHKey {self.algorithm} {self.bits} bits {kind} {self.fingerprint_sha256()}{comment}>"
