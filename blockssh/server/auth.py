"""Authentication for the ready server: authorized_keys files and password checkers.

A password checker is any ``checker(username, password) -> bool``, or a
coroutine function. A plain function is run in the loop's default executor,
so a slow check (bcrypt, PAM, a network call) never blocks the event loop.
:class:`PasswordTable` is a ready checker over ``user:secret`` pairs where
the secret is a bcrypt hash (``$2b$...``) or, for tests, the plain password.
"""

from __future__ import annotations

import asyncio
import hmac
import inspect
import os
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any

import bcrypt

from ..aio.server import AuthorizedKeysSource
from ..exceptions import ConfigurationError
from ..keys import AuthorizedKeyEntry, AuthorizedKeys, SSHCertificate, SSHKey

__all__ = [
    "PasswordChecker",
    "PasswordTable",
    "check_password",
    "AuthPolicy",
    "MAX_PASSWORD_FILE",
]

PasswordChecker = Callable[[str, str], bool | Awaitable[bool]]
MAX_PASSWORD_FILE = 1 << 20
_BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")
# Compared against when the user is unknown, so that the answer takes as long either way.
_DUMMY_HASH = bcrypt.hashpw(b"blockssh-no-such-user", bcrypt.gensalt(rounds=4))


async def check_password(checker: PasswordChecker, username: str, password: str) -> bool:
    """Run ``checker`` without blocking the loop.

    A coroutine function is awaited; anything else is called in the loop's default executor (and
    its result awaited if it is awaitable, e.g. an object whose ``__call__`` is ``async``).
    """
    if inspect.iscoroutinefunction(checker):
        result: Any = checker(username, password)
    else:
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(None, checker, username, password)
    if inspect.isawaitable(result):
        result = await result
    return bool(result)


class PasswordTable:
    """A password checker over ``{user: secret}``; secrets are bcrypt hashes or plain text."""

    def __init__(self, entries: Mapping[str, str]) -> None:
        self._entries = dict(entries)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> PasswordTable:
        """Read ``user:secret`` lines (blank lines and ``#`` comments are skipped)."""
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_PASSWORD_FILE + 1)
        except OSError as exc:
            raise ConfigurationError(f"cannot read password file {os.fspath(path)!r}: {exc}") from None
        if len(data) > MAX_PASSWORD_FILE:
            raise ConfigurationError(f"password file {os.fspath(path)!r} is too large")
        entries: dict[str, str] = {}
        for lineno, raw in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            user, sep, secret = line.partition(":")
            if not sep or not user:
                raise ConfigurationError(f"{os.fspath(path)}:{lineno}: expected user:password")
            entries[user] = secret
        return cls(entries)

    @property
    def users(self) -> frozenset[str]:
        """The user names listed."""
        return frozenset(self._entries)

    def __call__(self, username: str, password: str) -> bool:
        """Check a password (constant-time for plain secrets; blocking for bcrypt ones)."""
        secret = self._entries.get(username)
        candidate = password.encode("utf-8")
        if secret is None:
            bcrypt.checkpw(candidate, _DUMMY_HASH)
            return False
        if secret.startswith(_BCRYPT_PREFIXES):
            try:
                return bool(bcrypt.checkpw(candidate, secret.encode("ascii")))
            except ValueError:
                return False
        return hmac.compare_digest(candidate, secret.encode("utf-8"))


class AuthPolicy:
    """Who may log in to the ready server, and how.

    ``authorized_keys``: an authorized_keys path (re-read when it changes), several, or an
    :class:`AuthorizedKeys`; ``password_checker``: see :func:`check_password`;
    ``allowed_users``: the user names accepted (None: any). Keyboard-interactive
    authentication asks for the password with one prompt when ``kbdint`` is true.
    ``certificates``: user certificates from trusted CAs are a way in (``listen``'s
    ``trusted_user_ca_keys``), so neither keys nor passwords are required.
    """

    def __init__(
        self,
        *,
        authorized_keys: Any = None,
        password_checker: PasswordChecker | None = None,
        allowed_users: Collection[str] | None = None,
        kbdint: bool = True,
        certificates: bool = False,
    ) -> None:
        if authorized_keys is None and password_checker is None and not certificates:
            raise ConfigurationError("the server needs authorized_keys, a password checker, trusted user CAs, or both")
        self.keys = None if authorized_keys is None else AuthorizedKeysSource(authorized_keys)
        self.password_checker = password_checker
        self.allowed_users = None if allowed_users is None else frozenset(allowed_users)
        self.kbdint = kbdint and password_checker is not None

    def user_allowed(self, username: str) -> bool:
        """True when ``username`` may log in at all."""
        return self.allowed_users is None or username in self.allowed_users

    def match_key(
        self, username: str, key: SSHKey | SSHCertificate, client_addr: str | None, now: float
    ) -> AuthorizedKeyEntry | None:
        """The authorized_keys line admitting ``key`` for ``username``, if any."""
        if self.keys is None or not self.user_allowed(username):
            return None
        keys: AuthorizedKeys = self.keys.load()
        return keys.match(key, client_addr, username, now)

    async def check_password(self, username: str, password: str) -> bool:
        """Check a password with the configured checker (False for users not allowed)."""
        if self.password_checker is None:
            return False
        ok = await check_password(self.password_checker, username, password)
        return ok and self.user_allowed(username)
