"""paramiko's ``AuthStrategy`` machinery: authentication as an ordered list of sources.

``SSHClient.connect(auth_strategy=...)`` hands the connected :class:`Transport` to
``strategy.authenticate(transport)``, which tries each source of ``get_sources()`` in
turn and stops at the first that does not raise. Fabric's ``OpenSSHAuthStrategy``
subclasses :class:`AuthStrategy`; its sources call ``transport.auth_publickey`` and
``transport.auth_password``, which blockssh's Transport provides.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

from ..exceptions import AuthenticationException

if TYPE_CHECKING:
    from .transport import Transport

__all__ = [
    "AuthFailure",
    "AuthResult",
    "AuthSource",
    "AuthStrategy",
    "InMemoryPrivateKey",
    "NoneAuth",
    "OnDiskPrivateKey",
    "Password",
    "PrivateKey",
    "SourceResult",
]


class AuthSource:
    """One way to authenticate as ``username``; subclasses implement :meth:`authenticate`."""

    def __init__(self, username: str) -> None:
        self.username = username

    def _repr(self, **fields: Any) -> str:
        inner = ", ".join(f"{name}={value!r}" for name, value in fields.items())
        return f"{type(self).__name__}({inner})"

    def __repr__(self) -> str:
        return self._repr()

    def authenticate(self, transport: Transport) -> list[str]:
        """Try this source; returns what ``Transport.auth_*`` returns (the methods still wanted)."""
        raise NotImplementedError


class NoneAuth(AuthSource):
    """The ``none`` method."""

    def authenticate(self, transport: Transport) -> list[str]:
        """Try ``auth_none``."""
        return transport.auth_none(self.username)


class Password(AuthSource):
    """A password, fetched from ``password_getter()`` only when it is tried."""

    def __init__(self, username: str, password_getter: Callable[[], str]) -> None:
        super().__init__(username=username)
        self.password_getter = password_getter

    def __repr__(self) -> str:
        return self._repr(user=self.username)

    def authenticate(self, transport: Transport) -> list[str]:
        """Ask for the password and try it."""
        return transport.auth_password(self.username, self.password_getter())


class PrivateKey(AuthSource):
    """A private key held in ``self.pkey``."""

    pkey: Any

    def authenticate(self, transport: Transport) -> list[str]:
        """Try the key."""
        return transport.auth_publickey(self.username, self.pkey)


class InMemoryPrivateKey(PrivateKey):
    """A key object already loaded (or an agent key)."""

    def __init__(self, username: str, pkey: Any) -> None:
        super().__init__(username=username)
        self.pkey = pkey

    def __repr__(self) -> str:
        text = self._repr(pkey=self.pkey)
        return text + " [agent]" if type(self.pkey).__name__ == "AgentKey" else text


class OnDiskPrivateKey(PrivateKey):
    """A key loaded from ``path``; ``source`` says where the path came from."""

    SOURCES = ("ssh-config", "python-config", "implicit-home")

    def __init__(self, username: str, source: str, path: Any, pkey: Any) -> None:
        super().__init__(username=username)
        if source not in self.SOURCES:
            raise ValueError(f"source argument must be one of: {self.SOURCES!r}")
        self.source = source
        self.path = path
        self.pkey = pkey

    def __repr__(self) -> str:
        return self._repr(key=self.pkey, source=self.source, path=str(self.path))


class SourceResult(NamedTuple):
    """What one source produced: a return value or the exception it raised."""

    source: AuthSource
    result: Any


class AuthResult(list[SourceResult]):
    """The :class:`SourceResult` of every source tried, in order."""

    def __init__(self, strategy: AuthStrategy, *args: Any, **kwargs: Any) -> None:
        self.strategy = strategy
        super().__init__(*args, **kwargs)

    def __str__(self) -> str:
        return "\n".join(f"{item.source} -> {item.result or 'success'}" for item in self)


class AuthFailure(AuthenticationException):
    """Every source failed; ``result`` is the :class:`AuthResult`."""

    def __init__(self, result: AuthResult) -> None:
        super().__init__("Authentication failed.")
        self.result = result

    def __str__(self) -> str:
        return "\n" + str(self.result)


class AuthStrategy:
    """An ordered list of :class:`AuthSource` to try (subclasses implement :meth:`get_sources`)."""

    def __init__(self, ssh_config: Any) -> None:
        self.ssh_config = ssh_config
        self.log = logging.getLogger(__name__)

    def get_sources(self) -> Iterator[AuthSource]:
        """Yield the sources to try, best first."""
        raise NotImplementedError

    def authenticate(self, transport: Transport) -> AuthResult:
        """Try each source until one does not raise; :class:`AuthFailure` if none succeeds."""
        outcome = AuthResult(strategy=self)
        for source in self.get_sources():
            self.log.debug("Trying %s", source)
            try:
                outcome.append(SourceResult(source, source.authenticate(transport)))
                return outcome
            except Exception as exc:  # noqa: BLE001 - recorded in the result, as paramiko does
                self.log.info("Authentication via %s failed with %s", source, type(exc).__name__)
                outcome.append(SourceResult(source, exc))
        raise AuthFailure(result=outcome)
