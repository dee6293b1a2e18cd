"""OpenSSH known_hosts: parse, look up a host, decide whether a host key is trusted, append entries.

Supported: plain names and comma lists, ``[host]:port``, hashed ``|1|salt|hmac``
names, ``*``/``?`` wildcards, ``!`` negation, ``@cert-authority`` and
``@revoked`` markers, comments and blank lines. Malformed lines are skipped and
recorded in :attr:`KnownHosts.errors`. As in OpenSSH, an entry without a port
matches only port 22, and names are compared case-insensitively.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from ..exceptions import KeyImportError
from .certificate import CertType, SSHCertificate
from .errors import CertificateError
from .formats import import_public_key
from .patterns import match_pattern_list
from .sshkey import SSHKey

__all__ = [
    "HostKeyVerdict",
    "KnownHosts",
    "KnownHostsEntry",
    "KnownHostsMatch",
    "add_to_file",
    "check_host_key",
    "format_entry",
    "hash_host",
    "host_matches",
    "host_port_name",
    "parse_known_hosts_line",
]

MARKERS = ("cert-authority", "revoked")
_HASH_MAGIC = "|1|"
_SHA1_LEN = 20


def host_port_name(host: str, port: int = 22) -> str:
    """The name known_hosts stores for a host: ``host`` for port 22, else ``[host]:port``."""
    return host if port == 22 else f"[{host}]:{port}"


def _decode_salt(salt: str | bytes | None) -> bytes:
    if salt is None:
        return os.urandom(_SHA1_LEN)
    if isinstance(salt, bytes):
        return salt
    if salt.startswith(_HASH_MAGIC):
        salt = salt[len(_HASH_MAGIC) :].split("|", 1)[0]
    try:
        return base64.b64decode(salt, validate=True)
    except (binascii.Error, ValueError):
        raise KeyImportError("invalid base64 salt") from None


def hash_host(hostname: str, salt: str | bytes | None = None) -> str:
    """Hash a known_hosts name (``host`` or ``[host]:port``) as ``|1|base64(salt)|base64(HMAC-SHA1)``.

    ``salt`` may be 20 raw bytes, its base64 text or an existing ``|1|...`` entry
    (to recompute it for a comparison); by default a random salt is used.
    """
    raw_salt = _decode_salt(salt)
    if len(raw_salt) != _SHA1_LEN:
        raise KeyImportError(f"known_hosts salt must be {_SHA1_LEN} bytes")
    digest = hmac.new(raw_salt, hostname.encode("utf-8"), hashlib.sha1).digest()
    return f"{_HASH_MAGIC}{base64.b64encode(raw_salt).decode()}|{base64.b64encode(digest).decode()}"


def _parse_hashed(field_text: str) -> tuple[bytes, bytes]:
    parts = field_text.split("|")
    if len(parts) != 4 or parts[0] or parts[1] != "1":
        raise KeyImportError("malformed hashed host name")
    try:
        salt = base64.b64decode(parts[2], validate=True)
        digest = base64.b64decode(parts[3], validate=True)
    except (binascii.Error, ValueError):
        raise KeyImportError("invalid base64 in hashed host name") from None
    if len(salt) != _SHA1_LEN or len(digest) != _SHA1_LEN:
        raise KeyImportError("hashed host name has the wrong salt or hash length")
    return salt, digest


def host_matches(name: str, patterns: Iterable[str]) -> bool:
    """True when ``name`` matches a host pattern list: plain patterns with ``*``/``?``/``!``, and hashed names.

    A hashed (``|1|...``) item matches by HMAC; a negated plain pattern that matches
    overrides everything else.
    """
    name = name.lower()
    plain: list[str] = []
    hashed_hit = False
    for pattern in patterns:
        if pattern.startswith(_HASH_MAGIC):
            try:
                salt, digest = _parse_hashed(pattern)
            except KeyImportError:
                continue
            candidate = hmac.new(salt, name.encode("utf-8"), hashlib.sha1).digest()
            hashed_hit = hmac.compare_digest(candidate, digest) or hashed_hit
        else:
            plain.append(pattern)
    result = match_pattern_list(name, plain)
    return result == 1 or (hashed_hit and result != -1)


class KnownHostsEntry:
    """One known_hosts line: host patterns (or one hashed name), a key, an optional marker."""

    __slots__ = ("patterns", "key", "marker", "comment", "lineno", "_hashed")

    def __init__(
        self,
        patterns: Iterable[str],
        key: SSHKey,
        marker: str | None = None,
        comment: str = "",
        lineno: int = 0,
    ) -> None:
        self.patterns = tuple(patterns)
        if not self.patterns or any(not p for p in self.patterns):
            raise KeyImportError("empty host pattern")
        if marker is not None and marker not in MARKERS:
            raise KeyImportError(f"unknown known_hosts marker @{marker}")
        hashed = [p for p in self.patterns if p.startswith("|")]
        if hashed and len(self.patterns) != 1:
            raise KeyImportError("a hashed host name cannot be part of a list")
        self._hashed = _parse_hashed(hashed[0]) if hashed else None
        #: The (plain) public key; a CA key for ``@cert-authority``.
        self.key = key
        #: None, ``"cert-authority"`` or ``"revoked"``.
        self.marker = marker
        self.comment = comment
        self.lineno = lineno

    @property
    def is_hashed(self) -> bool:
        """True for a ``|1|salt|hash`` entry."""
        return self._hashed is not None

    def matches(self, name: str) -> bool:
        """True when this entry applies to ``name`` (``host`` or ``[host]:port``, see :func:`host_port_name`)."""
        return host_matches(name, self.patterns)

    def to_line(self) -> str:
        """The entry as a known_hosts line (no newline)."""
        parts = [f"@{self.marker}"] if self.marker else []
        parts += [",".join(self.patterns), self.key.export_public(comment="")]
        if self.comment:
            parts.append(self.comment)
        return " ".join(parts)

    def __repr__(self) -> str:
        marker = f"@{self.marker} " if self.marker else ""
        return f"<KnownHostsEntry {marker}{','.join(self.patterns)} {self.key.algorithm} line={self.lineno}>"


def parse_known_hosts_line(line: str, lineno: int = 0) -> KnownHostsEntry | None:
    """Parse one known_hosts line; None for blank and comment lines, :class:`KeyImportError` when malformed."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    marker: str | None = None
    if text.startswith("@"):
        marker_text, _, text = text.partition(" ")
        marker = marker_text[1:]
        if marker not in MARKERS:
            raise KeyImportError(f"unknown known_hosts marker {marker_text!r}")
        text = text.lstrip()
    fields = text.split(None, 1)
    if len(fields) < 2:
        raise KeyImportError("known_hosts line has no key")
    key = import_public_key(fields[1])
    if isinstance(key, SSHCertificate):
        raise KeyImportError("certificates do not belong in known_hosts (use @cert-authority with the CA key)")
    patterns = fields[0].split(",")
    return KnownHostsEntry(patterns, key, marker, key.comment, lineno)


@dataclass
class KnownHostsMatch:
    """The known_hosts entries that apply to one host: trusted host keys, CA keys and revoked keys."""

    trusted_keys: list[SSHKey] = field(default_factory=list)
    ca_keys: list[SSHKey] = field(default_factory=list)
    revoked_keys: list[SSHKey] = field(default_factory=list)
    entries: list[KnownHostsEntry] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.entries)


class KnownHosts:
    """A parsed known_hosts file (or several): entries in order, plus the lines that were skipped."""

    def __init__(self, entries: Iterable[KnownHostsEntry] = ()) -> None:
        self.entries: list[KnownHostsEntry] = list(entries)
        #: ``(line number, reason)`` for each malformed line that was skipped.
        self.errors: list[tuple[int, str]] = []

    @classmethod
    def from_text(cls, text: str | bytes) -> KnownHosts:
        """Parse known_hosts text, skipping (and recording) malformed lines."""
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        known = cls()
        known.load_text(text)
        return known

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> KnownHosts:
        """Read a known_hosts file; a missing file gives an empty KnownHosts."""
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return cls()
        return cls.from_text(data)

    def load_text(self, text: str) -> None:
        """Append the entries of more known_hosts text."""
        for lineno, line in enumerate(text.splitlines(), 1):
            try:
                entry = parse_known_hosts_line(line, lineno)
            except KeyImportError as exc:
                self.errors.append((lineno, str(exc)))
                continue
            if entry is not None:
                self.entries.append(entry)

    def match(self, host: str, port: int = 22, addr: str | None = None) -> KnownHostsMatch:
        """Collect the keys that apply to ``host`` (and its address ``addr``, if given) on ``port``."""
        names = [host_port_name(host, port)]
        if addr and addr != host:
            names.append(host_port_name(addr, port))
        result = KnownHostsMatch()
        for entry in self.entries:
            if not any(entry.matches(name) for name in names):
                continue
            result.entries.append(entry)
            bucket = {
                None: result.trusted_keys,
                "cert-authority": result.ca_keys,
                "revoked": result.revoked_keys,
            }[entry.marker]
            if entry.key not in bucket:
                bucket.append(entry.key)
        return result

    def add(
        self,
        host: str,
        port: int,
        key: SSHKey | SSHCertificate,
        *,
        hashed: bool = False,
        marker: str | None = None,
        comment: str = "",
    ) -> KnownHostsEntry:
        """Add an entry in memory (see :func:`add_to_file` to persist one)."""
        plain = key.key if isinstance(key, SSHCertificate) else key
        name = host_port_name(host, port)
        entry = KnownHostsEntry([hash_host(name) if hashed else name], plain, marker, comment)
        self.entries.append(entry)
        return entry

    def to_text(self) -> str:
        """Render every entry as known_hosts text (comments and skipped lines are not kept)."""
        return "".join(entry.to_line() + "\n" for entry in self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[KnownHostsEntry]:
        return iter(self.entries)


class HostKeyVerdict(enum.Enum):
    """Outcome of :func:`check_host_key`."""

    TRUSTED = "trusted"
    REVOKED = "revoked"
    MISMATCH = "mismatch"
    UNKNOWN = "unknown"


def check_host_key(
    known: KnownHosts,
    host: str,
    port: int,
    key: SSHKey | SSHCertificate,
    now: float,
    *,
    addr: str | None = None,
) -> HostKeyVerdict:
    """Decide whether the host key a server presented is trusted.

    - ``REVOKED``: the key, the certified key or the certificate's CA is ``@revoked`` for this host.
    - ``TRUSTED``: the key is listed for this host; or it is a host certificate signed by an
      ``@cert-authority`` CA for this host, naming the host as a principal, valid at ``now``.
    - ``MISMATCH``: the host is known with other keys (or a matching CA signed a certificate
      that is not valid for this host now); the connection should be refused.
    - ``UNKNOWN``: nothing is known about this host (trust on first use is the caller's choice).

    As in OpenSSH, a certificate whose CA is not trusted is checked as its plain key.
    """
    found = known.match(host, port, addr)
    if isinstance(key, SSHCertificate):
        if key.key in found.revoked_keys or key.signing_key in found.revoked_keys:
            return HostKeyVerdict.REVOKED
        if key.signing_key in found.ca_keys:
            try:
                key.validate(CertType.HOST, host, now)
            except CertificateError:
                return HostKeyVerdict.MISMATCH
            return HostKeyVerdict.TRUSTED
        key = key.key
    if key in found.revoked_keys:
        return HostKeyVerdict.REVOKED
    if key in found.trusted_keys:
        return HostKeyVerdict.TRUSTED
    if found.trusted_keys:
        return HostKeyVerdict.MISMATCH
    return HostKeyVerdict.UNKNOWN


def format_entry(
    host: str,
    port: int,
    key: SSHKey | SSHCertificate,
    *,
    hashed: bool = False,
    marker: str | None = None,
    comment: str = "",
) -> str:
    """A known_hosts line for ``host`` (``[host]:port`` when port is not 22), without newline."""
    plain = key.key if isinstance(key, SSHCertificate) else key
    name = host_port_name(host, port)
    return KnownHostsEntry([hash_host(name) if hashed else name], plain, marker, comment).to_line()


def add_to_file(
    path: str | os.PathLike[str],
    host: str,
    port: int,
    key: SSHKey | SSHCertificate,
    hashed: bool = False,
) -> str:
    """Append an entry for ``host`` to a known_hosts file (created, with its directory, if missing).

    Returns the line written.
    """
    line = format_entry(host, port, key, hashed=hashed)
    directory = os.path.dirname(os.fspath(path))
    if directory and not os.path.isdir(directory):
        os.makedirs(directory, mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    with os.fdopen(fd, "r+b") as f:
        size = f.seek(0, os.SEEK_END)
        prefix = b""
        if size:
            f.seek(size - 1)
            if f.read(1) != b"\n":
                prefix = b"\n"
        f.write(prefix + line.encode("utf-8") + b"\n")
    return line
