"""The paramiko-vs-blockssh harness: record what a script can observe, in a comparable form.

A scenario is a function ``scenario(pm, env) -> Observed`` written once against paramiko's
API; it runs twice, with ``pm = paramiko`` and with ``pm = blockssh``, and the two records
must agree. :class:`Observed` stores each observation normalised: values keep their type
name (so ``b"x"`` and ``"x"`` differ), exceptions become the set of paramiko-tree names and
builtin classes they are instances of (so ``except paramiko.SSHException`` behaviour is
what is compared, not the exact class).
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

# paramiko exception names a script may catch, and the module path each lives at.
EXCEPTION_NAMES: dict[str, str] = {
    "SSHException": "ssh_exception",
    "AuthenticationException": "ssh_exception",
    "PasswordRequiredException": "ssh_exception",
    "BadAuthenticationType": "ssh_exception",
    "PartialAuthentication": "ssh_exception",
    "UnableToAuthenticate": "ssh_exception",
    "ChannelException": "ssh_exception",
    "BadHostKeyException": "ssh_exception",
    "IncompatiblePeer": "ssh_exception",
    "ProxyCommandFailure": "ssh_exception",
    "NoValidConnectionsError": "ssh_exception",
    "CouldNotCanonicalize": "ssh_exception",
    "ConfigParseError": "ssh_exception",
    "MessageOrderError": "ssh_exception",
    "UnknownKeyType": "pkey",
    "AuthFailure": "auth_strategy",
}
BUILTIN_EXCEPTIONS: dict[str, type[BaseException]] = {
    "OSError": OSError,
    "socket.timeout": socket.timeout,
    "EOFError": EOFError,
    "ValueError": ValueError,
    "TypeError": TypeError,
    "KeyError": KeyError,
    "FileNotFoundError": FileNotFoundError,
    "UnicodeDecodeError": UnicodeDecodeError,
    "Warning": Warning,
}


def exception_classes(pm: ModuleType) -> dict[str, type[BaseException]]:
    """paramiko's exception names resolved in ``pm`` (through its paramiko module paths)."""
    import importlib

    classes: dict[str, type[BaseException]] = {}
    for name, module in EXCEPTION_NAMES.items():
        mod = importlib.import_module(f"{pm.__name__}.{module}")
        cls = getattr(mod, name, None)
        if cls is not None:
            classes[name] = cls
    return classes


def describe_exception(pm: ModuleType, exc: BaseException) -> tuple[str, tuple[str, ...]]:
    """``("exception", sorted names exc is an instance of)``."""
    names = [name for name, cls in exception_classes(pm).items() if isinstance(exc, cls)]
    names += [name for name, cls in BUILTIN_EXCEPTIONS.items() if isinstance(exc, cls)]
    return ("exception", tuple(sorted(names)))


#: Base classes a blockssh exception may have beyond paramiko's (so every ``except`` clause that
#: works with paramiko still works). Documented in docs/paramiko-migration.md:
#: every blockssh error is an SSHException (socket timeouts, closed-channel OSErrors,
#: NoValidConnectionsError, UnknownKeyType...), and key-parsing errors are also ValueErrors.
ALLOWED_EXTRA_BASES = frozenset({"SSHException", "ValueError"})


def same(paramiko_value: Any, blockssh_value: Any) -> bool:
    """Equal observations; for exceptions, blockssh's may add the allowed extra base classes."""
    if (
        isinstance(paramiko_value, tuple)
        and isinstance(blockssh_value, tuple)
        and len(paramiko_value) == len(blockssh_value) == 2
        and paramiko_value[0] == blockssh_value[0] == "exception"
    ):
        theirs, ours = set(paramiko_value[1]), set(blockssh_value[1])
        return theirs <= ours and ours - theirs <= ALLOWED_EXTRA_BASES
    return bool(paramiko_value == blockssh_value)


def normalise(value: Any) -> Any:
    """A comparable form that keeps str/bytes/int/bool/None apart."""
    if isinstance(value, bool):
        return ("bool", value)
    if value is None or isinstance(value, (str, bytes, int, float)):
        return (type(value).__name__, value)
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [normalise(v) for v in value])
    if isinstance(value, dict):
        return ("dict", {str(k): normalise(v) for k, v in value.items()})
    if isinstance(value, (set, frozenset)):
        return ("set", sorted(repr(normalise(v)) for v in value))
    return ("object", type(value).__name__)


@dataclass
class Observed:
    """What one run of a scenario observed, key by key."""

    pm: ModuleType
    values: dict[str, Any] = field(default_factory=dict)

    def put(self, key: str, value: Any) -> Any:
        """Record ``value`` (normalised) under ``key``; returns ``value``."""
        assert key not in self.values, f"duplicate observation {key!r}"
        self.values[key] = normalise(value)
        return value

    def raw(self, key: str, value: Any) -> None:
        """Record an already comparable value (for example a predicate's result)."""
        assert key not in self.values, f"duplicate observation {key!r}"
        self.values[key] = value

    def call(self, key: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Record the return value of ``fn(...)`` or the exception it raised; returns the value or None."""
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the exception is the observation
            self.values[key] = describe_exception(self.pm, exc)
            return None
        self.put(key, result)
        return result

    def raises(self, key: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> BaseException | None:
        """Like :meth:`call`, but return the exception (None if nothing was raised)."""
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001
            self.values[key] = describe_exception(self.pm, exc)
            return exc
        self.put(key, result)
        return None


@dataclass
class Env:
    """What scenarios know about the server and the machine."""

    host: str
    port: int
    user: str
    keys: dict[str, str]
    encrypted_key: str
    encrypted_key_passphrase: str
    known_hosts: str
    host_public_keys: dict[str, str]
    tmp: Any  # a pathlib.Path, fresh for each run
    closed_port: int

    def connect(self, pm: ModuleType, **kwargs: Any) -> Any:
        """An SSHClient of ``pm`` logged in with the ed25519 key."""
        client = pm.SSHClient()
        client.load_host_keys(self.known_hosts)
        options: dict[str, Any] = {
            "username": self.user,
            "key_filename": self.keys["ed25519"],
            "look_for_keys": False,
            "allow_agent": False,
        }
        options.update(kwargs)
        client.connect(self.host, self.port, **options)
        return client
