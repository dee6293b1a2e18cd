"""paramiko-compatible key classes: ``PKey``, ``RSAKey``, ``ECDSAKey``, ``Ed25519Key``, ``PublicBlob``.

They keep paramiko's names, constructor keywords and return types (MD5 bytes
from ``get_fingerprint()``, a ``Message`` from ``sign_ssh_data()``...) so
scripts written for paramiko run unchanged; all the work is done by
:class:`~blockssh.keys.sshkey.SSHKey`. Differences: ``Ed25519Key.generate()``
exists, every class reads every private key format (openssh-key-v1, PEM,
PKCS#8), and ``verify_ssh_sig`` refuses SHA-1 ``ssh-rsa`` signatures unless
``allow_sha1=True`` (paramiko 5 refuses them outright).
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import IO, Any, ClassVar, NamedTuple, TypeVar, cast

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from ..exceptions import KeyImportError, SSHException, UnknownKeyType
from . import algorithms as alg
from .certificate import KeyPair, SSHCertificate
from .errors import KeyUsageError
from .formats import import_private_key, import_public_key, import_public_key_blob, read_private_key
from .keytypes import PrivateKey, PublicKey
from .message import Message
from .sshkey import PrivateFormatName, SSHKey

__all__ = [
    "OPENSSH",
    "PEM",
    "PKCS8",
    "ECDSAKey",
    "Ed25519Key",
    "FileFormat",
    "PKey",
    "PublicBlob",
    "RSAKey",
    "key_classes",
    "pkey_from_sshkey",
]


_P = TypeVar("_P", bound="PKey")


class FileFormat(NamedTuple):
    """A private key file format, shaped like paramiko's (a cryptography format and encoding)."""

    format: serialization.PrivateFormat
    encoding: serialization.Encoding


PEM = FileFormat(serialization.PrivateFormat.TraditionalOpenSSL, serialization.Encoding.PEM)
OPENSSH = FileFormat(serialization.PrivateFormat.OpenSSH, serialization.Encoding.PEM)
PKCS8 = FileFormat(serialization.PrivateFormat.PKCS8, serialization.Encoding.PEM)

_FORMAT_NAMES: dict[serialization.PrivateFormat, PrivateFormatName] = {
    serialization.PrivateFormat.TraditionalOpenSSL: "pem",
    serialization.PrivateFormat.OpenSSH: "openssh",
    serialization.PrivateFormat.PKCS8: "pkcs8",
}


def _format_name(file_format: object) -> PrivateFormatName:
    if isinstance(file_format, str) and file_format.lower() in ("pem", "openssh", "pkcs8"):
        name: PrivateFormatName = file_format.lower()  # type: ignore[assignment]
        return name
    private_format = getattr(file_format, "format", None)
    if isinstance(private_format, serialization.PrivateFormat) and private_format in _FORMAT_NAMES:
        return _FORMAT_NAMES[private_format]
    raise KeyUsageError(f"unsupported private key file format {file_format!r}")


class PublicBlob:
    """An OpenSSH public key or certificate as type name + wire blob (+ comment), like paramiko's."""

    def __init__(self, type_: str, blob: bytes, comment: str | None = None) -> None:
        self.key_type = type_
        self.key_blob = blob
        self.comment = comment

    @classmethod
    def from_file(cls, filename: str | os.PathLike[str]) -> PublicBlob:
        """Read a ``.pub`` or ``-cert.pub`` file."""
        with open(filename, encoding="utf-8") as f:
            return cls.from_string(f.read())

    @classmethod
    def from_string(cls, string: str) -> PublicBlob:
        """Parse ``type base64 [comment]`` text; the type must match the blob."""
        key = import_public_key(string)
        return cls(key.algorithm, key.public_blob, key.comment or None)

    @classmethod
    def from_message(cls, message: Message) -> PublicBlob:
        """Take a whole Message as the blob."""
        blob = message.asbytes()
        return cls(import_public_key_blob(blob).algorithm, blob)

    def __str__(self) -> str:
        text = f"{self.key_type} public key/certificate"
        return f"{text}- {self.comment}" if self.comment else text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicBlob) and self.key_blob == other.key_blob

    def __hash__(self) -> int:
        return hash(self.key_blob)


def _read_file_obj(file_obj: IO[Any], password: str | bytes | None) -> SSHKey:
    data = file_obj.read()
    if isinstance(data, str):
        data = data.encode("utf-8")
    if not data:
        raise KeyImportError("no lines in private key file")
    return import_private_key(data, password)


class PKey:
    """Base of the paramiko-style key classes; on its own it holds a key of any supported type."""

    #: Key type name of the subclass ("" for the generic base class).
    name: ClassVar[str] = ""
    #: Short algorithm name shown by ``algorithm_name``.
    _ALGORITHM_NAME: ClassVar[str] = ""
    #: Key types this class accepts (empty: any).
    _KEY_TYPES: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        msg: Message | None = None,
        data: bytes | None = None,
        filename: str | os.PathLike[str] | None = None,
        password: str | bytes | None = None,
        key: SSHKey | PrivateKey | PublicKey | None = None,
        file_obj: IO[Any] | None = None,
    ) -> None:
        self.public_blob: PublicBlob | None = None
        if file_obj is not None:
            sshkey = _read_file_obj(file_obj, password)
        elif filename is not None:
            sshkey = read_private_key(filename, password)
        elif key is not None:
            sshkey = key if isinstance(key, SSHKey) else SSHKey(key)
        else:
            if msg is None and data is not None:
                msg = Message(data)
            if msg is None:
                raise SSHException("Key object may not be empty")
            parsed = import_public_key_blob(msg.asbytes())
            if isinstance(parsed, SSHCertificate):
                self.public_blob = PublicBlob(parsed.algorithm, parsed.public_blob)
                sshkey = parsed.key
            else:
                sshkey = parsed
        if self._KEY_TYPES and sshkey.algorithm not in self._KEY_TYPES:
            where = "private key file" if (filename is not None or file_obj is not None) else "key data"
            raise KeyImportError(
                f"not a valid {self._ALGORITHM_NAME} {where} (class: {type(self).__name__}, "
                f"data type: {sshkey.algorithm})"
            )
        self._key = sshkey

    # -- constructors -----------------------------------------------------------------------------------------

    @classmethod
    def from_private_key_file(
        cls: type[_P], filename: str | os.PathLike[str], password: str | bytes | None = None
    ) -> _P:
        """Load a private key file (any supported format); raises PasswordRequiredException if encrypted.

        On ``PKey`` itself the key type is detected and the matching subclass returned.
        """
        if cls is PKey:
            return cast(_P, pkey_from_sshkey(read_private_key(filename, password)))
        return cls(filename=filename, password=password)

    @classmethod
    def from_private_key(cls: type[_P], file_obj: IO[Any], password: str | bytes | None = None) -> _P:
        """Load a private key from an open file (text or binary)."""
        if cls is PKey:
            return cast(_P, pkey_from_sshkey(_read_file_obj(file_obj, password)))
        return cls(file_obj=file_obj, password=password)

    @staticmethod
    def from_path(
        path: str | os.PathLike[str],
        password: str | bytes | None = None,
        passphrase: str | bytes | None = None,
    ) -> PKey:
        """Load a private key of any type from ``path`` and ``<path>-cert.pub`` when present.

        ``path`` may also name the ``-cert.pub`` file. A missing key file raises FileNotFoundError.
        """
        text = os.fspath(path)
        suffix = "-cert.pub"
        key_path = Path(text[: -len(suffix)] if text.endswith(suffix) else text).expanduser()
        cert_path = Path(str(key_path) + suffix)
        key = pkey_from_sshkey(read_private_key(key_path, passphrase if passphrase is not None else password))
        if cert_path.exists():
            key.load_certificate(str(cert_path))
        return key

    @staticmethod
    def from_type_string(key_type: str, key_bytes: bytes, password: str | bytes | None = None) -> PKey:
        """Build a key from its type name and public blob; UnknownKeyType for unsupported types."""
        for key_class in key_classes:
            if key_type in key_class.identifiers():
                return key_class(data=key_bytes)
        raise UnknownKeyType(key_type=key_type, key_bytes=key_bytes)

    @classmethod
    def identifiers(cls) -> list[str]:
        """Key type and signature names this class handles."""
        names = list(cls._KEY_TYPES) or list(alg.KEY_TYPES)
        return names + [n + alg.CERT_SUFFIX for n in names]

    # -- blockssh accessors -----------------------------------------------------------------------------------

    @property
    def ssh_key(self) -> SSHKey:
        """The underlying :class:`SSHKey`."""
        return self._key

    @property
    def certificate(self) -> SSHCertificate | None:
        """The loaded certificate (see :meth:`load_certificate`), parsed."""
        if self.public_blob is None:
            return None
        parsed = import_public_key_blob(self.public_blob.key_blob)
        return parsed if isinstance(parsed, SSHCertificate) else None

    @property
    def keypair(self) -> KeyPair:
        """The private key with its certificate, for authentication."""
        return KeyPair(self._key, self.certificate)

    @property
    def comment(self) -> str:
        """The comment stored with the key, if any."""
        return self._key.comment

    @property
    def private_key(self) -> PrivateKey | None:
        """The cryptography private key object, or None."""
        return self._key.private_key

    # -- paramiko API -----------------------------------------------------------------------------------------

    def asbytes(self) -> bytes:
        """The public key blob (never the certificate)."""
        return self._key.public_blob

    def __bytes__(self) -> bytes:
        return self.asbytes()

    def get_name(self) -> str:
        """Key type name, e.g. ``ssh-ed25519``, ``ecdsa-sha2-nistp256``, ``ssh-rsa``."""
        return self._key.algorithm

    @property
    def algorithm_name(self) -> str:
        """``ED25519``, ``ECDSA`` or ``RSA``."""
        name = self.get_name()
        if name.startswith("ecdsa-sha2-"):
            return "ECDSA"
        return name.replace("ssh-", "").upper()

    def get_bits(self) -> int:
        """Key size in bits."""
        return self._key.bits

    def can_sign(self) -> bool:
        """True when the private part is present."""
        return self._key.has_private

    def get_fingerprint(self) -> bytes:
        """MD5 digest of the public blob, as raw bytes (paramiko's legacy fingerprint)."""
        return hashlib.md5(self.asbytes(), usedforsecurity=False).digest()

    @property
    def fingerprint(self) -> str:
        """``SHA256:...`` fingerprint as OpenSSH prints it."""
        return self._key.fingerprint_sha256()

    def get_base64(self) -> str:
        """Base64 of the public blob (the middle field of a ``.pub`` line)."""
        return base64.b64encode(self.asbytes()).decode("ascii")

    def sign_ssh_data(self, data: bytes, algorithm: str | None = None) -> Message:
        """Sign ``data``; returns a Message holding ``string(algorithm) + string(signature)``."""
        return Message(self._key.sign(data, algorithm))

    def verify_ssh_sig(self, data: bytes, msg: Message | bytes, *, allow_sha1: bool = False) -> bool:
        """Check a signature Message (or blob) over ``data``; False when it does not verify."""
        if not isinstance(msg, Message):
            msg = Message(bytes(msg))
        try:
            name = msg.get_string()
            raw = msg.get_string()
        except SSHException:
            return False
        blob = Message().add_string(name).add_string(raw).asbytes()
        return self._key.verify(data, blob, allow_sha1=allow_sha1)

    def _default_format(self) -> FileFormat:
        return OPENSSH if self.get_name() == alg.ED25519 else PEM

    def _private_bytes(self, password: str | bytes | None, file_format: object) -> bytes:
        fmt = _format_name(self._default_format() if file_format is None else file_format)
        return self._key.export_private(fmt, password)

    def write_private_key_file(
        self,
        filename: str | os.PathLike[str],
        password: str | bytes | None = None,
        file_format: FileFormat | str | None = None,
    ) -> None:
        """Write the private key to ``filename`` (mode 0600), encrypted when ``password`` is given.

        ``file_format`` defaults to PEM for RSA/ECDSA and OPENSSH for Ed25519.
        """
        data = self._private_bytes(password, file_format)
        fd = os.open(filename, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            os.chmod(filename, 0o600)
            f.write(data)

    def write_private_key(
        self,
        file_obj: IO[Any],
        password: str | bytes | None = None,
        file_format: FileFormat | str | None = None,
    ) -> None:
        """Write the private key to an open file object (text or binary)."""
        data = self._private_bytes(password, file_format)
        try:
            file_obj.write(data.decode("ascii"))
        except TypeError:
            file_obj.write(data)

    def load_certificate(self, value: PublicBlob | Message | str | os.PathLike[str]) -> None:
        """Attach an OpenSSH certificate: a PublicBlob, a Message, a ``-cert.pub`` path or its text.

        The certificate must certify this very key.
        """
        if isinstance(value, PublicBlob):
            blob = value
        elif isinstance(value, Message):
            blob = PublicBlob.from_message(value)
        elif os.path.isfile(value):
            blob = PublicBlob.from_file(value)
        else:
            blob = PublicBlob.from_string(os.fspath(value))
        if not blob.key_type.startswith(self.get_name()):
            raise KeyImportError(f"PublicBlob type {blob.key_type} incompatible with key type {self.get_name()}")
        parsed = import_public_key_blob(blob.key_blob)
        if isinstance(parsed, SSHCertificate) and parsed.key != self._key:
            raise KeyImportError("the certificate certifies a different key")
        self.public_blob = blob

    # -- comparison -------------------------------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PKey):
            return self.asbytes() == other.asbytes()
        if isinstance(other, SSHKey):
            return self.asbytes() == other.public_blob
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.asbytes())

    def __repr__(self) -> str:
        comment = f", comment={self.comment!r}" if self.comment else ""
        return f"PKey(alg={self.algorithm_name}, bits={self.get_bits()}, fp={self.fingerprint}{comment})"


class RSAKey(PKey):
    """An ssh-rsa key (signs with rsa-sha2-512 by default)."""

    name = alg.RSA
    _ALGORITHM_NAME = "RSA"
    _KEY_TYPES = (alg.RSA,)

    @classmethod
    def identifiers(cls) -> list[str]:
        """Key type and signature names this class handles."""
        names = [alg.RSA_SHA256, alg.RSA_SHA512]
        return names + [n + alg.CERT_SUFFIX for n in names] + [alg.RSA, alg.RSA + alg.CERT_SUFFIX]

    @property
    def key(self) -> rsa.RSAPrivateKey | rsa.RSAPublicKey:
        """The cryptography key object (private when available)."""
        private = self._key.private_key
        if isinstance(private, rsa.RSAPrivateKey):
            return private
        public = self._key.public_key
        assert isinstance(public, rsa.RSAPublicKey)
        return public

    @property
    def size(self) -> int:
        """Modulus size in bits."""
        return self._key.bits

    @property
    def public_numbers(self) -> rsa.RSAPublicNumbers:
        """The public exponent and modulus."""
        public = self._key.public_key
        assert isinstance(public, rsa.RSAPublicKey)
        return public.public_numbers()

    @classmethod
    def generate(cls, bits: int = 3072, progress_func: object = None) -> RSAKey:
        """Create a new RSA key (3072 bits by default)."""
        return cls(key=SSHKey(rsa.generate_private_key(public_exponent=65537, key_size=bits)))


class ECDSAKey(PKey):
    """An ecdsa-sha2-nistp256/384/521 key."""

    name = alg.ECDSA_NISTP256
    _ALGORITHM_NAME = "ECDSA"
    _KEY_TYPES = (alg.ECDSA_NISTP256, alg.ECDSA_NISTP384, alg.ECDSA_NISTP521)
    _CURVES: ClassVar[dict[int, type[ec.EllipticCurve]]] = {
        256: ec.SECP256R1,
        384: ec.SECP384R1,
        521: ec.SECP521R1,
    }

    def __init__(
        self,
        msg: Message | None = None,
        data: bytes | None = None,
        filename: str | os.PathLike[str] | None = None,
        password: str | bytes | None = None,
        vals: tuple[ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey] | None = None,
        file_obj: IO[Any] | None = None,
        validate_point: bool = True,
        key: SSHKey | PrivateKey | PublicKey | None = None,
    ) -> None:
        if vals is not None and key is None:
            key = vals[0]
        super().__init__(msg=msg, data=data, filename=filename, password=password, key=key, file_obj=file_obj)

    @classmethod
    def identifiers(cls) -> list[str]:
        """Key type names this class handles."""
        return list(cls._KEY_TYPES)

    @classmethod
    def supported_key_format_identifiers(cls) -> list[str]:
        """Same as :meth:`identifiers` (paramiko's older name)."""
        return cls.identifiers()

    @property
    def signing_key(self) -> ec.EllipticCurvePrivateKey | None:
        """The cryptography private key, or None."""
        private = self._key.private_key
        return private if isinstance(private, ec.EllipticCurvePrivateKey) else None

    @property
    def verifying_key(self) -> ec.EllipticCurvePublicKey:
        """The cryptography public key."""
        public = self._key.public_key
        assert isinstance(public, ec.EllipticCurvePublicKey)
        return public

    @classmethod
    def generate(
        cls,
        curve: ec.EllipticCurve | None = None,
        progress_func: object = None,
        bits: int | None = None,
    ) -> ECDSAKey:
        """Create a new ECDSA key on ``curve`` (default P-256), or the curve of ``bits`` (256/384/521)."""
        if bits is not None:
            curve_class = cls._CURVES.get(bits)
            if curve_class is None:
                raise ValueError(f"Unsupported key length: {bits:d}")
            curve = curve_class()
        return cls(key=SSHKey(ec.generate_private_key(curve or ec.SECP256R1())))


class Ed25519Key(PKey):
    """An ssh-ed25519 key."""

    name = alg.ED25519
    _ALGORITHM_NAME = "ED25519"
    _KEY_TYPES = (alg.ED25519,)

    @classmethod
    def generate(cls, **kwargs: object) -> Ed25519Key:
        """Create a new Ed25519 key (paramiko itself has no such method)."""
        return cls(key=SSHKey(ed25519.Ed25519PrivateKey.generate()))


#: The concrete key classes, in the order ``from_type_string`` tries them.
key_classes: list[type[PKey]] = [RSAKey, ECDSAKey, Ed25519Key]

_CLASS_BY_TYPE: dict[str, type[PKey]] = {t: c for c in key_classes for t in c._KEY_TYPES}


def pkey_from_sshkey(key: SSHKey) -> PKey:
    """Wrap an :class:`SSHKey` in the matching paramiko-style class."""
    return _CLASS_BY_TYPE[key.algorithm](key=key)
