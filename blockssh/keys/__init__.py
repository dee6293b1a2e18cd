"""Key and certificate formats, known_hosts and authorized_keys: pure functions over bytes and str.

The modern API is :class:`SSHKey`, :class:`SSHCertificate`, :class:`KeyPair` and the
``import_*``/``read_*``/``generate_private_key`` functions; :class:`PKey` and friends
plus :class:`HostKeys` are the paramiko-compatible layer on top of them.
"""

from __future__ import annotations

from .algorithms import (
    CA_SIGNATURE_ALGORITHMS,
    CERT_KEY_TYPES,
    CERT_SIGNATURE_ALGORITHMS,
    HOST_KEY_ALGORITHMS,
    KEY_TYPES,
    LEGACY_SIGNATURE_ALGORITHMS,
    SIGNATURE_ALGORITHMS,
    is_certificate_algorithm,
    key_type_for_signature_algorithm,
    plain_signature_algorithm,
    signature_algorithms_for_key_type,
)
from .authorized_keys import AuthorizedKeyEntry, AuthorizedKeys, parse_authorized_keys_line
from .certificate import CertType, KeyPair, SSHCertificate, create_certificate, parse_certificate
from .errors import CertificateError, KeyUsageError
from .formats import (
    generate_private_key,
    import_private_key,
    import_public_key,
    import_public_key_blob,
    read_keypair,
    read_private_key,
    read_public_key,
)
from .hostkeys import HostKeyEntry, HostKeys
from .known_hosts import (
    HostKeyVerdict,
    KnownHosts,
    KnownHostsEntry,
    KnownHostsMatch,
    add_to_file,
    check_host_key,
    format_entry,
    hash_host,
)
from .message import Message
from .pkey import ECDSAKey, Ed25519Key, PKey, PublicBlob, RSAKey
from .sshkey import SSHKey

__all__ = [
    "CA_SIGNATURE_ALGORITHMS",
    "CERT_KEY_TYPES",
    "CERT_SIGNATURE_ALGORITHMS",
    "HOST_KEY_ALGORITHMS",
    "KEY_TYPES",
    "LEGACY_SIGNATURE_ALGORITHMS",
    "SIGNATURE_ALGORITHMS",
    "AuthorizedKeyEntry",
    "AuthorizedKeys",
    "CertType",
    "CertificateError",
    "ECDSAKey",
    "Ed25519Key",
    "HostKeyEntry",
    "HostKeyVerdict",
    "HostKeys",
    "KeyPair",
    "KeyUsageError",
    "KnownHosts",
    "KnownHostsEntry",
    "KnownHostsMatch",
    "Message",
    "PKey",
    "PublicBlob",
    "RSAKey",
    "SSHCertificate",
    "SSHKey",
    "add_to_file",
    "check_host_key",
    "create_certificate",
    "format_entry",
    "generate_private_key",
    "hash_host",
    "import_private_key",
    "import_public_key",
    "import_public_key_blob",
    "is_certificate_algorithm",
    "key_type_for_signature_algorithm",
    "parse_authorized_keys_line",
    "parse_certificate",
    "plain_signature_algorithm",
    "read_keypair",
    "read_private_key",
    "read_public_key",
    "signature_algorithms_for_key_type",
]
