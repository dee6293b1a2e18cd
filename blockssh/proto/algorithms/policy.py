"""Per-connection algorithm lists: defaults, validation, OpenSSH and paramiko style edits."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from ...exceptions import ConfigurationError
from ..kex.methods import DEFAULT_KEX, DEFAULT_SERVER_KEX, KEX_ALGORITHMS
from .cipher import CIPHER_ALGORITHMS, DEFAULT_CIPHERS
from .compression import COMPRESSION_ALGORITHMS
from .mac import DEFAULT_MACS, MAC_ALGORITHMS

__all__ = [
    "Algorithms",
    "HOST_KEY_ALGORITHMS",
    "DEFAULT_HOST_KEY_ALGORITHMS",
    "SIGNATURE_ALGORITHMS",
    "DEFAULT_SIGNATURE_ALGORITHMS",
    "edit_algorithm_list",
]

# Host key / signature algorithms: OpenSSH 10's order. ``ssh-rsa`` (SHA-1) is
# implemented but only used when named explicitly.
DEFAULT_HOST_KEY_ALGORITHMS: tuple[str, ...] = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "rsa-sha2-512",
    "rsa-sha2-256",
)
HOST_KEY_ALGORITHMS: tuple[str, ...] = (*DEFAULT_HOST_KEY_ALGORITHMS, "ssh-rsa")
SIGNATURE_ALGORITHMS = HOST_KEY_ALGORITHMS
DEFAULT_SIGNATURE_ALGORITHMS = DEFAULT_HOST_KEY_ALGORITHMS

_SUPPORTED: dict[str, frozenset[str]] = {
    "kex": frozenset(KEX_ALGORITHMS),
    "host_key": frozenset(HOST_KEY_ALGORITHMS),
    "ciphers": frozenset(CIPHER_ALGORITHMS),
    "macs": frozenset(MAC_ALGORITHMS),
    "compression": frozenset(COMPRESSION_ALGORITHMS),
    "signatures": frozenset(SIGNATURE_ALGORITHMS),
}

# paramiko's disabled_algorithms keys -> our field names
_PARAMIKO_KEYS = {
    "kex": "kex",
    "keys": "host_key",
    "ciphers": "ciphers",
    "macs": "macs",
    "pubkeys": "signatures",
    "compression": "compression",
}


def _check(category: str, names: Iterable[str]) -> tuple[str, ...]:
    out: list[str] = []
    for name in names:
        if name not in _SUPPORTED[category]:
            raise ConfigurationError(f"unsupported {category} algorithm {name!r}")
        if name not in out:
            out.append(name)
    if not out:
        raise ConfigurationError(f"the {category} algorithm list is empty")
    return tuple(out)


def edit_algorithm_list(category: str, current: Sequence[str], spec: str | Iterable[str]) -> tuple[str, ...]:
    """Apply an OpenSSH-style list to ``current``.

    ``"a,b"`` replaces the list, ``"+a"`` appends, ``"-a"`` removes (wildcards
    ``*`` and ``?`` allowed), ``"^a"`` puts ``a`` first. An iterable of names
    replaces the list.
    """
    if not isinstance(spec, str):
        return _check(category, spec)
    if not spec:
        raise ConfigurationError(f"empty {category} algorithm list")
    op, body = (spec[0], spec[1:]) if spec[0] in "+-^" else ("", spec)
    names = [n.strip() for n in body.split(",") if n.strip()]
    if op == "-":
        kept = [n for n in current if not any(fnmatch.fnmatchcase(n, pat) for pat in names)]
        return _check(category, kept)
    _check(category, names)
    if op == "+":
        return _check(category, [*current, *names])
    if op == "^":
        return _check(category, [*names, *[n for n in current if n not in names]])
    return _check(category, names)


@dataclass(frozen=True)
class Algorithms:
    """The algorithms one connection offers, in preference order."""

    kex: tuple[str, ...] = DEFAULT_KEX
    host_key: tuple[str, ...] = DEFAULT_HOST_KEY_ALGORITHMS
    ciphers: tuple[str, ...] = DEFAULT_CIPHERS
    macs: tuple[str, ...] = DEFAULT_MACS
    compression: tuple[str, ...] = ("none",)
    signatures: tuple[str, ...] = DEFAULT_SIGNATURE_ALGORITHMS

    @classmethod
    def client_default(cls) -> Algorithms:
        """OpenSSH 10's client defaults (no compression unless asked)."""
        return cls()

    @classmethod
    def server_default(cls) -> Algorithms:
        """OpenSSH 10's server defaults: no finite-field DH kex; compression offered."""
        return cls(kex=DEFAULT_SERVER_KEX, compression=("none", "zlib@openssh.com"))

    def edit(self, **specs: str | Iterable[str] | None) -> Algorithms:
        """Return a copy with some lists replaced or edited (see :func:`edit_algorithm_list`)."""
        changes: dict[str, tuple[str, ...]] = {}
        for category, spec in specs.items():
            if spec is None:
                continue
            if category not in _SUPPORTED:
                raise ConfigurationError(f"unknown algorithm category {category!r}")
            changes[category] = edit_algorithm_list(category, getattr(self, category), spec)
        return replace(self, **changes)

    def without(self, disabled: Mapping[str, Iterable[str]] | None) -> Algorithms:
        """Apply paramiko's ``disabled_algorithms`` mapping."""
        if not disabled:
            return self
        changes: dict[str, tuple[str, ...]] = {}
        for key, names in disabled.items():
            category = _PARAMIKO_KEYS.get(key)
            if category is None:
                raise ConfigurationError(f"unknown disabled_algorithms key {key!r}")
            drop = set(names)
            changes[category] = _check(category, [n for n in getattr(self, category) if n not in drop])
        return replace(self, **changes)

    def validate(self) -> Algorithms:
        """Raise :class:`ConfigurationError` if any list is empty or names something unsupported."""
        for category in _SUPPORTED:
            _check(category, getattr(self, category))
        return self
