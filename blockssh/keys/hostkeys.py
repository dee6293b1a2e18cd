"""paramiko-compatible ``HostKeys`` and ``HostKeyEntry``, built on :mod:`.known_hosts`.

Same API and dict-of-dicts behaviour as paramiko's, plus what paramiko lacks:
``*``/``?`` wildcards and ``!`` negation in host patterns, and ``@revoked`` /
``@cert-authority`` lines, which are kept on save, never returned by
:meth:`HostKeys.lookup` as trusted keys, and honoured by :meth:`HostKeys.check`
(a revoked key never checks out). :meth:`HostKeys.as_known_hosts` gives the
full :class:`KnownHosts` view for certificate-aware checks.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, MutableMapping

from ..exceptions import KeyImportError
from .known_hosts import KnownHosts, KnownHostsEntry, hash_host, host_matches, parse_known_hosts_line
from .pkey import PKey, pkey_from_sshkey

__all__ = ["HostKeyEntry", "HostKeys"]


class HostKeyEntry:
    """One known_hosts line: host names (or patterns, or a hashed name), a key and an optional marker."""

    def __init__(
        self,
        hostnames: list[str] | None = None,
        key: PKey | None = None,
        marker: str | None = None,
        comment: str = "",
    ) -> None:
        self.valid = hostnames is not None and key is not None
        self.hostnames: list[str] = hostnames if hostnames is not None else []
        self.key = key
        #: None, ``"cert-authority"`` or ``"revoked"``.
        self.marker = marker
        self.comment = comment

    @classmethod
    def from_line(cls, line: str, lineno: int | None = None) -> HostKeyEntry | None:
        """Parse a known_hosts line; None for blank, comment, unsupported or malformed lines."""
        try:
            entry = parse_known_hosts_line(line, lineno or 0)
        except KeyImportError:
            return None
        if entry is None:
            return None
        return cls(list(entry.patterns), pkey_from_sshkey(entry.key), entry.marker, entry.comment)

    def to_line(self) -> str | None:
        """The entry as a known_hosts line with a trailing newline, or None when incomplete."""
        if not self.valid or self.key is None or not self.hostnames:
            return None
        marker = f"@{self.marker} " if self.marker else ""
        comment = f" {self.comment}" if self.comment else ""
        return f"{marker}{','.join(self.hostnames)} {self.key.get_name()} {self.key.get_base64()}{comment}\n"

    def matches(self, hostname: str) -> bool:
        """True when ``hostname`` (``host`` or ``[host]:port``) is one of, or matches, this entry's names."""
        return hostname in self.hostnames or host_matches(hostname, self.hostnames)

    def __repr__(self) -> str:
        marker = f" @{self.marker}" if self.marker else ""
        return f"<HostKeyEntry {self.hostnames!r}:{marker} {self.key!r}>"


class _SubDict(MutableMapping[str, PKey]):
    """The keys known for one host name, by key type; writes go through to the HostKeys."""

    def __init__(self, hostname: str, entries: list[HostKeyEntry], hostkeys: HostKeys) -> None:
        self._hostname = hostname
        self._entries = entries
        self._hostkeys = hostkeys

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def __getitem__(self, key_type: str) -> PKey:
        for entry in self._entries:
            if entry.key is not None and entry.key.get_name() == key_type:
                return entry.key
        raise KeyError(key_type)

    def __setitem__(self, key_type: str, value: PKey) -> None:
        for entry in self._entries:
            if entry.key is not None and entry.key.get_name() == key_type:
                entry.key = value
                return
        new = HostKeyEntry([self._hostname], value)
        self._entries.append(new)
        self._hostkeys._entries.append(new)

    def __delitem__(self, key_type: str) -> None:
        for entry in self._entries:
            if entry.key is not None and entry.key.get_name() == key_type:
                self._entries.remove(entry)
                if entry in self._hostkeys._entries:
                    self._hostkeys._entries.remove(entry)
                return
        raise KeyError(key_type)

    def keys(self) -> list[str]:  # type: ignore[override]
        """Key type names, in file order, without duplicates."""
        names: list[str] = []
        for entry in self._entries:
            if entry.key is not None and entry.key.get_name() not in names:
                names.append(entry.key.get_name())
        return names


class HostKeys(MutableMapping[str, MutableMapping[str, PKey]]):
    """An OpenSSH known_hosts file as ``{hostname: {key_type: PKey}}``, paramiko-style."""

    def __init__(self, filename: str | os.PathLike[str] | None = None) -> None:
        self._entries: list[HostKeyEntry] = []
        if filename is not None:
            self.load(filename)

    def add(self, hostname: str, keytype: str, key: PKey) -> None:
        """Add (or replace) the key of type ``keytype`` for ``hostname``."""
        for entry in self._entries:
            if entry.marker is None and hostname in entry.hostnames and entry.key is not None:
                if entry.key.get_name() == keytype:
                    entry.key = key
                    return
        self._entries.append(HostKeyEntry([hostname], key))

    def load(self, filename: str | os.PathLike[str]) -> None:
        """Merge the entries of a known_hosts file, skipping lines that cannot be parsed.

        A missing or unreadable file raises OSError, as in paramiko.
        """
        with open(filename, encoding="utf-8", errors="replace") as f:
            for lineno, line in enumerate(f, 1):
                entry = HostKeyEntry.from_line(line, lineno)
                if entry is None or entry.key is None:
                    continue
                if entry.marker is None:
                    entry.hostnames = [h for h in entry.hostnames if not self._has_exact(h, entry.key)]
                if entry.hostnames:
                    self._entries.append(entry)

    def _has_exact(self, hostname: str, key: PKey) -> bool:
        return any(
            e.marker is None and hostname in e.hostnames and e.key is not None and e.key == key for e in self._entries
        )

    def save(self, filename: str | os.PathLike[str]) -> None:
        """Write every entry (markers included) to ``filename`` in known_hosts format."""
        with open(filename, "w", encoding="utf-8") as f:
            for entry in self._entries:
                line = entry.to_line()
                if line:
                    f.write(line)

    def _revoked(self, hostname: str) -> list[PKey]:
        return [e.key for e in self._entries if e.marker == "revoked" and e.key is not None and e.matches(hostname)]

    def lookup(self, hostname: str) -> MutableMapping[str, PKey] | None:
        """The keys trusted for ``hostname`` (``host`` or ``[host]:port``) by key type, or None.

        Wildcards, negation and hashed names apply; ``@revoked`` keys and
        ``@cert-authority`` lines are never returned.
        """
        revoked = self._revoked(hostname)
        entries = [
            e
            for e in self._entries
            if e.marker is None and e.key is not None and e.key not in revoked and e.matches(hostname)
        ]
        if not entries:
            return None
        return _SubDict(hostname, entries, self)

    def check(self, hostname: str, key: PKey) -> bool:
        """True when ``key`` is a trusted (and not revoked) key of ``hostname``."""
        known = self.lookup(hostname)
        if known is None:
            return False
        stored = known.get(key.get_name())
        return stored is not None and stored.asbytes() == key.asbytes()

    def clear(self) -> None:
        """Remove every entry."""
        self._entries = []

    def as_known_hosts(self) -> KnownHosts:
        """The same entries as a :class:`KnownHosts`, for certificate-aware :func:`check_host_key`."""
        result = KnownHosts()
        for entry in self._entries:
            if entry.key is None or not entry.hostnames:
                continue
            try:
                result.entries.append(KnownHostsEntry(entry.hostnames, entry.key.ssh_key, entry.marker, entry.comment))
            except KeyImportError:
                continue
        return result

    # -- mapping protocol -------------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def __contains__(self, hostname: object) -> bool:
        return isinstance(hostname, str) and self.lookup(hostname) is not None

    def __getitem__(self, hostname: str) -> MutableMapping[str, PKey]:
        found = self.lookup(hostname)
        if found is None:
            raise KeyError(hostname)
        return found

    def __delitem__(self, hostname: str) -> None:
        for index, entry in enumerate(self._entries):
            if entry.matches(hostname):
                del self._entries[index]
                return
        raise KeyError(hostname)

    def __setitem__(self, hostname: str, entry: Mapping[str, PKey]) -> None:
        for key_type, key in entry.items():
            self.add(hostname, key_type, key)

    def keys(self) -> list[str]:  # type: ignore[override]
        """Every host name (or pattern, or hashed name) of the non-marker entries, without duplicates."""
        names: list[str] = []
        for entry in self._entries:
            if entry.marker is not None:
                continue
            for name in entry.hostnames:
                if name not in names:
                    names.append(name)
        return names

    def values(self) -> list[MutableMapping[str, PKey]]:  # type: ignore[override]
        """The lookup result for each host name of :meth:`keys`."""
        return [found for name in self.keys() if (found := self.lookup(name)) is not None]

    @staticmethod
    def hash_host(hostname: str, salt: str | bytes | None = None) -> str:
        """Hash a host name as OpenSSH does (``|1|salt|hmac``); ``salt`` may be an existing hashed entry."""
        return hash_host(hostname, salt)
