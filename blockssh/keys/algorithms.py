"""Key type, certificate type and signature algorithm names, and how they relate.

A *key type* names a public key format (``ssh-rsa``); a *signature algorithm*
names a way to sign with such a key (``rsa-sha2-512``); certificate variants
(``...-cert-v01@openssh.com``) exist for both. The default lists follow
OpenSSH 10's preference order; ``ssh-rsa`` (RSA with SHA-1) is understood but
never offered by default.
"""

from __future__ import annotations

from ..exceptions import UnknownKeyType

__all__ = [
    "CA_SIGNATURE_ALGORITHMS",
    "CERT_KEY_TYPES",
    "CERT_SIGNATURE_ALGORITHMS",
    "CERT_SUFFIX",
    "ECDSA_NISTP256",
    "ECDSA_NISTP384",
    "ECDSA_NISTP521",
    "ED25519",
    "HOST_KEY_ALGORITHMS",
    "KEY_TYPES",
    "LEGACY_SIGNATURE_ALGORITHMS",
    "RSA",
    "RSA_SHA1",
    "RSA_SHA256",
    "RSA_SHA512",
    "SIGNATURE_ALGORITHMS",
    "cert_type_for_key_type",
    "is_certificate_algorithm",
    "key_type_for_cert_type",
    "key_type_for_signature_algorithm",
    "plain_signature_algorithm",
    "signature_algorithms_for_key_type",
]

ED25519 = "ssh-ed25519"
ECDSA_NISTP256 = "ecdsa-sha2-nistp256"
ECDSA_NISTP384 = "ecdsa-sha2-nistp384"
ECDSA_NISTP521 = "ecdsa-sha2-nistp521"
RSA = "ssh-rsa"

RSA_SHA512 = "rsa-sha2-512"
RSA_SHA256 = "rsa-sha2-256"
RSA_SHA1 = "ssh-rsa"

CERT_SUFFIX = "-cert-v01@openssh.com"

#: Public key types blockssh can parse, sign and verify with.
KEY_TYPES: tuple[str, ...] = (ED25519, ECDSA_NISTP256, ECDSA_NISTP384, ECDSA_NISTP521, RSA)

#: OpenSSH certificate key types, one per plain key type.
CERT_KEY_TYPES: tuple[str, ...] = tuple(name + CERT_SUFFIX for name in KEY_TYPES)

#: Default signature algorithms, preferred first (OpenSSH 10 order, no SHA-1).
SIGNATURE_ALGORITHMS: tuple[str, ...] = (
    ED25519,
    ECDSA_NISTP256,
    ECDSA_NISTP384,
    ECDSA_NISTP521,
    RSA_SHA512,
    RSA_SHA256,
)

#: Certificate signature algorithms, preferred first (OpenSSH 10 order, no SHA-1).
CERT_SIGNATURE_ALGORITHMS: tuple[str, ...] = tuple(name + CERT_SUFFIX for name in SIGNATURE_ALGORITHMS)

#: Default host key algorithm proposal: certificates first, then plain keys.
HOST_KEY_ALGORITHMS: tuple[str, ...] = CERT_SIGNATURE_ALGORITHMS + SIGNATURE_ALGORITHMS

#: Algorithms a CA may use to sign certificates (OpenSSH's SSH_ALLOWED_CA_SIGALGS, no ssh-rsa).
CA_SIGNATURE_ALGORITHMS: tuple[str, ...] = SIGNATURE_ALGORITHMS

#: Known but off by default: RSA with SHA-1, plain and certificate.
LEGACY_SIGNATURE_ALGORITHMS: tuple[str, ...] = (RSA_SHA1, RSA_SHA1 + CERT_SUFFIX)

_KEY_TYPE_BY_SIGNATURE: dict[str, str] = {
    ED25519: ED25519,
    ECDSA_NISTP256: ECDSA_NISTP256,
    ECDSA_NISTP384: ECDSA_NISTP384,
    ECDSA_NISTP521: ECDSA_NISTP521,
    RSA_SHA512: RSA,
    RSA_SHA256: RSA,
    RSA_SHA1: RSA,
}

_SIGNATURES_BY_KEY_TYPE: dict[str, tuple[str, ...]] = {
    ED25519: (ED25519,),
    ECDSA_NISTP256: (ECDSA_NISTP256,),
    ECDSA_NISTP384: (ECDSA_NISTP384,),
    ECDSA_NISTP521: (ECDSA_NISTP521,),
    RSA: (RSA_SHA512, RSA_SHA256, RSA_SHA1),
}


def is_certificate_algorithm(name: str) -> bool:
    """Return True for a ``*-cert-v01@openssh.com`` key type or signature algorithm name."""
    return name.endswith(CERT_SUFFIX)


def plain_signature_algorithm(name: str) -> str:
    """Strip the certificate suffix: ``rsa-sha2-256-cert-v01@openssh.com`` -> ``rsa-sha2-256``.

    The signature inside a certificate-based authentication carries the plain name.
    """
    return name[: -len(CERT_SUFFIX)] if name.endswith(CERT_SUFFIX) else name


def key_type_for_signature_algorithm(name: str) -> str:
    """Return the key type a signature algorithm needs.

    ``rsa-sha2-512`` -> ``ssh-rsa``; ``rsa-sha2-512-cert-v01@openssh.com`` ->
    ``ssh-rsa-cert-v01@openssh.com``. Raises :class:`UnknownKeyType` for names
    blockssh does not implement.
    """
    cert = is_certificate_algorithm(name)
    key_type = _KEY_TYPE_BY_SIGNATURE.get(plain_signature_algorithm(name))
    if key_type is None:
        raise UnknownKeyType(key_type=name)
    return key_type + CERT_SUFFIX if cert else key_type


def signature_algorithms_for_key_type(key_type: str, *, include_legacy: bool = False) -> tuple[str, ...]:
    """Return the signature algorithms usable with a key type, preferred first.

    For a certificate key type the certificate variants are returned. ``ssh-rsa``
    (SHA-1) is included only with ``include_legacy=True``.
    """
    cert = is_certificate_algorithm(key_type)
    names = _SIGNATURES_BY_KEY_TYPE.get(plain_signature_algorithm(key_type))
    if names is None:
        raise UnknownKeyType(key_type=key_type)
    if not include_legacy:
        names = tuple(n for n in names if n != RSA_SHA1)
    return tuple(n + CERT_SUFFIX for n in names) if cert else names


def cert_type_for_key_type(key_type: str) -> str:
    """Return the certificate type name for a plain key type (``ssh-ed25519`` -> ``ssh-ed25519-cert-v01@...``)."""
    if key_type not in KEY_TYPES:
        raise UnknownKeyType(key_type=key_type)
    return key_type + CERT_SUFFIX


def key_type_for_cert_type(cert_type: str) -> str:
    """Return the plain key type inside a certificate type, accepting RSA-SHA2 certificate names too."""
    if not is_certificate_algorithm(cert_type):
        raise UnknownKeyType(key_type=cert_type)
    return key_type_for_signature_algorithm(plain_signature_algorithm(cert_type))
