r"""OpenSSH authorized_keys: parse lines with their options and find the entry that admits a key.

Options understood (names are case-insensitive, values must be double-quoted,
``\"`` escapes a quote): ``agent-forwarding``, ``cert-authority``, ``command``,
``environment``, ``expiry-time``, ``from``, ``no-agent-forwarding``,
``no-port-forwarding``, ``no-pty``, ``no-user-rc``, ``no-X11-forwarding``,
``permitlisten``, ``permitopen``, ``port-forwarding``, ``principals``, ``pty``,
``restrict``, ``tunnel``, ``user-rc``, ``X11-forwarding``, ``no-touch-required``,
``touch-required``, ``verify-required``. A line with an unknown or malformed
option is skipped (and recorded in :attr:`AuthorizedKeys.errors`), as sshd does.
"""

from __future__ import annotations

import calendar
import os
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from ..exceptions import KeyImportError
from .certificate import CertType, SSHCertificate
from .errors import CertificateError
from .formats import import_public_key
from .patterns import match_address_list, match_host_and_address
from .sshkey import SSHKey

__all__ = [
    "AuthorizedKeyEntry",
    "AuthorizedKeys",
    "parse_authorized_keys_line",
    "parse_options",
]

_FLAGS = frozenset(
    {
        "agent-forwarding",
        "cert-authority",
        "no-agent-forwarding",
        "no-port-forwarding",
        "no-pty",
        "no-user-rc",
        "no-x11-forwarding",
        "port-forwarding",
        "pty",
        "restrict",
        "user-rc",
        "x11-forwarding",
        "no-touch-required",
        "touch-required",
        "verify-required",
    }
)
_VALUED = frozenset(
    {"command", "environment", "expiry-time", "from", "permitlisten", "permitopen", "principals", "tunnel"}
)
_SINGLE = frozenset({"command", "expiry-time", "from", "principals", "tunnel"})
_NAME_RE = re.compile(r"[A-Za-z0-9_-]+")
_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_EXPIRY_RE = re.compile(r"(\d{8})(\d{4})?(\d{2})?(Z?)\Z")


def parse_options(text: str) -> tuple[list[tuple[str, str | None]], str]:
    """Split leading ``opt,opt="value"`` options off an authorized_keys line.

    Returns ``([(name, value or None), ...], rest_of_line)``; names are lowercased.
    Raises :class:`KeyImportError` for malformed syntax or unknown options.
    """
    options: list[tuple[str, str | None]] = []
    i = 0
    n = len(text)
    while True:
        match = _NAME_RE.match(text, i)
        if match is None:
            raise KeyImportError(f"malformed option at column {i + 1}")
        name = match.group(0).lower()
        i = match.end()
        value: str | None = None
        if i < n and text[i] == "=":
            i += 1
            if i >= n or text[i] != '"':
                raise KeyImportError(f"value of option {name!r} must be double-quoted")
            i += 1
            chars: list[str] = []
            while True:
                if i >= n:
                    raise KeyImportError(f"unterminated quoted value for option {name!r}")
                c = text[i]
                if c == "\\" and i + 1 < n and text[i + 1] == '"':
                    chars.append('"')
                    i += 2
                elif c == '"':
                    i += 1
                    break
                else:
                    chars.append(c)
                    i += 1
            value = "".join(chars)
        if name in _FLAGS:
            if value is not None:
                raise KeyImportError(f"option {name!r} takes no value")
        elif name in _VALUED:
            if value is None:
                raise KeyImportError(f"option {name!r} needs a value")
        else:
            raise KeyImportError(f"unsupported option {name!r}")
        options.append((name, value))
        if i >= n:
            raise KeyImportError("options are not followed by a key")
        if text[i] == ",":
            i += 1
            continue
        if text[i] in " \t":
            return options, text[i:].lstrip()
        raise KeyImportError(f"malformed options at column {i + 1}")


def _parse_expiry(value: str) -> float:
    match = _EXPIRY_RE.match(value)
    if match is None:
        raise KeyImportError(f"invalid expiry-time {value!r} (want YYYYMMDD[HHMM[SS]][Z])")
    date, hhmm, ss, utc = match.groups()
    text = date + (hhmm or "0000") + (ss or "00")
    try:
        parsed = time.strptime(text, "%Y%m%d%H%M%S")
    except ValueError:
        raise KeyImportError(f"invalid expiry-time {value!r}") from None
    return float(calendar.timegm(parsed) if utc else time.mktime(parsed))


def _check_permit(name: str, value: str) -> None:
    host, sep, port = value.rpartition(":")
    if name == "permitopen" and not host:
        raise KeyImportError(f"{name} needs host:port, got {value!r}")
    if name == "permitlisten" and sep and not host:
        raise KeyImportError(f"invalid {name} {value!r}")
    port = port if sep else value
    if port != "*" and not (port.isdigit() and 0 <= int(port) <= 65535):
        raise KeyImportError(f"invalid port in {name} {value!r}")


@dataclass(eq=False)
class AuthorizedKeyEntry:
    """One authorized_keys line: the key (a CA key with ``cert_authority``) and what the options allow."""

    key: SSHKey
    comment: str = ""
    options: tuple[tuple[str, str | None], ...] = ()
    cert_authority: bool = False
    principals: tuple[str, ...] | None = None
    from_patterns: tuple[str, ...] | None = None
    command: str | None = None
    environment: dict[str, str] = field(default_factory=dict)
    permitopen: tuple[str, ...] = ()
    permitlisten: tuple[str, ...] = ()
    expiry_time: float | None = None
    tunnel: int | None = None
    permit_pty: bool = True
    permit_port_forwarding: bool = True
    permit_agent_forwarding: bool = True
    permit_x11_forwarding: bool = True
    permit_user_rc: bool = True
    verify_required: bool = False
    lineno: int = 0

    @classmethod
    def from_options(
        cls,
        key: SSHKey,
        options: Iterable[tuple[str, str | None]],
        comment: str = "",
        lineno: int = 0,
    ) -> AuthorizedKeyEntry:
        """Build an entry from parsed options, checking their values."""
        entry = cls(key=key, comment=comment, options=tuple(options), lineno=lineno)
        seen: set[str] = set()
        permitopen: list[str] = []
        permitlisten: list[str] = []
        for name, value in entry.options:
            if name in _SINGLE and name in seen:
                raise KeyImportError(f"option {name!r} given more than once")
            seen.add(name)
            if name == "restrict":
                entry.permit_pty = entry.permit_port_forwarding = entry.permit_agent_forwarding = False
                entry.permit_x11_forwarding = entry.permit_user_rc = False
            elif name in ("pty", "no-pty"):
                entry.permit_pty = name == "pty"
            elif name in ("port-forwarding", "no-port-forwarding"):
                entry.permit_port_forwarding = name == "port-forwarding"
            elif name in ("agent-forwarding", "no-agent-forwarding"):
                entry.permit_agent_forwarding = name == "agent-forwarding"
            elif name in ("x11-forwarding", "no-x11-forwarding"):
                entry.permit_x11_forwarding = name == "x11-forwarding"
            elif name in ("user-rc", "no-user-rc"):
                entry.permit_user_rc = name == "user-rc"
            elif name == "cert-authority":
                entry.cert_authority = True
            elif name == "verify-required":
                entry.verify_required = True
            elif value is None:
                continue  # touch-required and no-touch-required only matter for FIDO keys
            elif name == "command":
                entry.command = value
            elif name == "principals":
                entry.principals = tuple(p.strip() for p in value.split(",") if p.strip())
            elif name == "from":
                entry.from_patterns = tuple(p.strip() for p in value.split(",") if p.strip())
            elif name == "environment":
                env_name, sep, env_value = value.partition("=")
                if not sep or not _ENV_NAME_RE.match(env_name):
                    raise KeyImportError(f"invalid environment option {value!r}")
                entry.environment.setdefault(env_name, env_value)
            elif name == "expiry-time":
                entry.expiry_time = _parse_expiry(value)
            elif name == "tunnel":
                if not value.isdigit():
                    raise KeyImportError(f"invalid tunnel number {value!r}")
                entry.tunnel = int(value)
            elif name in ("permitopen", "permitlisten"):
                _check_permit(name, value)
                (permitopen if name == "permitopen" else permitlisten).append(value)
        entry.permitopen = tuple(permitopen)
        entry.permitlisten = tuple(permitlisten)
        if entry.principals is not None and not entry.cert_authority:
            raise KeyImportError("principals= is only allowed with cert-authority")
        return entry

    def is_expired(self, now: float) -> bool:
        """True once ``expiry-time`` has passed."""
        return self.expiry_time is not None and now >= self.expiry_time

    def permits_source(self, client_addr: str | None, client_host: str | None = None) -> bool:
        """True when ``from=`` (if any) admits this client address/host name."""
        if self.from_patterns is None:
            return True
        return match_host_and_address(client_host, client_addr, self.from_patterns)


def parse_authorized_keys_line(line: str, lineno: int = 0) -> AuthorizedKeyEntry | None:
    """Parse one authorized_keys line; None for blank or comment lines, :class:`KeyImportError` if malformed."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    first = re.split(r"[\s,=]", text, maxsplit=1)[0].lower()
    fields = text.split(None, 2)
    options: list[tuple[str, str | None]] = []
    # Options come first when the line starts with an option name, or when the second field is not
    # key data (base64 blobs of every key type start with "AAAA").
    if first in _FLAGS or first in _VALUED or len(fields) < 2 or not fields[1].startswith("AAAA"):
        options, text = parse_options(text)
    key = import_public_key(text)
    if isinstance(key, SSHCertificate):
        raise KeyImportError("certificates are not allowed in authorized_keys (use cert-authority with the CA key)")
    return AuthorizedKeyEntry.from_options(key, options, key.comment, lineno)


class AuthorizedKeys:
    """A parsed authorized_keys file: entries in order plus the lines that were skipped."""

    def __init__(self, entries: Iterable[AuthorizedKeyEntry] = ()) -> None:
        self.entries: list[AuthorizedKeyEntry] = list(entries)
        #: ``(line number, reason)`` for each malformed line that was skipped.
        self.errors: list[tuple[int, str]] = []

    @classmethod
    def from_text(cls, text: str | bytes) -> AuthorizedKeys:
        """Parse authorized_keys text, skipping (and recording) malformed lines."""
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        result = cls()
        for lineno, line in enumerate(text.splitlines(), 1):
            try:
                entry = parse_authorized_keys_line(line, lineno)
            except KeyImportError as exc:
                result.errors.append((lineno, str(exc)))
                continue
            if entry is not None:
                result.entries.append(entry)
        return result

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> AuthorizedKeys:
        """Read an authorized_keys file; a missing file gives an empty AuthorizedKeys."""
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return cls()
        return cls.from_text(data)

    def _admits_certificate(
        self, entry: AuthorizedKeyEntry, cert: SSHCertificate, client_addr: str | None, username: str, now: float
    ) -> bool:
        if not entry.cert_authority or entry.key != cert.signing_key:
            return False
        try:
            cert.validate(CertType.USER, None, now)
        except CertificateError:
            return False
        if not cert.principals:
            return False
        if entry.principals is not None:
            if not any(p in entry.principals for p in cert.principals):
                return False
        elif username not in cert.principals:
            return False
        source = cert.critical_options.get("source-address")
        if source is not None:
            patterns = [p.strip() for p in source.split(",") if p.strip()]
            if client_addr is None or match_address_list(client_addr, patterns) != 1:
                return False
        return True

    def match(
        self,
        key: SSHKey | SSHCertificate,
        client_addr: str | None,
        username: str,
        now: float,
        *,
        client_host: str | None = None,
    ) -> AuthorizedKeyEntry | None:
        """Return the first entry that admits ``key`` from ``client_addr`` for ``username`` at ``now``.

        A plain key matches a line with the same key and no ``cert-authority``. A
        certificate matches a ``cert-authority`` line whose key is its CA, when
        the CA signature is good, it is a user certificate valid at ``now``, one
        of its principals is in ``principals=`` (or, without that option, is
        ``username``) and its ``source-address`` admits ``client_addr``.
        ``from=`` and ``expiry-time`` apply to both. The caller still has to apply
        the certificate's ``force-command`` and the entry's restrictions.
        """
        for entry in self.entries:
            if entry.is_expired(now) or not entry.permits_source(client_addr, client_host):
                continue
            if isinstance(key, SSHCertificate):
                if self._admits_certificate(entry, key, client_addr, username, now):
                    return entry
            elif not entry.cert_authority and entry.key == key:
                return entry
        return None

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[AuthorizedKeyEntry]:
        return iter(self.entries)
