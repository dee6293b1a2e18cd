"""The server's authentication logic: which methods to offer and what the :class:`SSHServer` callbacks decide.

The protocol core decodes each USERAUTH_REQUEST (checking publickey
signatures itself) and pauses input until the request is answered, so
requests are handled strictly one at a time, here, in a task. Callbacks may
be plain functions or return awaitables; while one runs, the connection
stops reading from its socket, so a client cannot pile up input meanwhile.

Methods are offered in OpenSSH's order: publickey, password,
keyboard-interactive, each only when the server supports it. With
``SSHServer.auth_method_chains()`` a client must complete every method of
one chain, in order (OpenSSH's AuthenticationMethods); the methods passed
so far are reported with a partial-success failure.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..exceptions import DisconnectError
from ..keys import AuthorizedKeyEntry
from ..proto import events as ev

if TYPE_CHECKING:
    from .server import SSHServerConnection

__all__ = ["ServerAuthenticator", "KbdintChallenge", "maybe_await", "run_guarded", "AUTH_METHOD_ORDER"]

logger = logging.getLogger("blockssh.server")

# (name, instruction, lang, [(prompt, echo), ...])
KbdintChallenge = tuple[str, str, str, Sequence[tuple[str, bool]]]

AUTH_METHOD_ORDER: tuple[str, ...] = ("publickey", "password", "keyboard-interactive")


async def maybe_await(value: Any) -> Any:
    """Await ``value`` if it is awaitable, else return it."""
    if inspect.isawaitable(value):
        return await value
    return value


class ServerAuthenticator:
    """Answers one connection's authentication requests through its :class:`SSHServer`."""

    def __init__(self, conn: SSHServerConnection) -> None:
        self._conn = conn
        self._core = conn._core  # noqa: SLF001 - the authenticator is the connection's helper
        self.username: str | None = None
        self._begun = False
        self._chains: list[list[str]] | None = None  # remaining method chains; None: any one method will do
        self.completed: list[str] = []  # methods passed so far (partial successes included)
        self.key_entry: Any = None  # the authorized_keys entry that admitted the client's key
        self.key: Any = None  # the key (or certificate) the client authenticated with
        self.awaiting_answer = False  # a request is waiting for our answer

    # -- which methods ------------------------------------------------------

    def supported_methods(self) -> list[str]:
        """Methods the server supports, in the order they are offered."""
        server = self._conn.server
        supported = {
            "publickey": self._conn.options.authorized_client_keys is not None or server.public_key_auth_supported(),
            "password": server.password_auth_supported(),
            "keyboard-interactive": server.kbdint_auth_supported(),
        }
        return [m for m in AUTH_METHOD_ORDER if supported[m]]

    def allowed_methods(self) -> list[str]:
        """Methods a client may try next (the next step of a chain, when chains are in use)."""
        methods = self.supported_methods()
        if self._chains is None:
            return methods
        following = {chain[len(self.completed)] for chain in self._chains if len(chain) > len(self.completed)}
        return [m for m in methods if m in following]

    # -- request handling -----------------------------------------------------

    async def on_request(self, event: ev.AuthRequest) -> None:
        """Answer one USERAUTH_REQUEST."""
        self.awaiting_answer = True
        if not self._begun:
            self._begun = True
            self.username = event.username
            if self._conn.options.auth_banner:
                self._core.auth_banner(self._conn.options.auth_banner)
            needed = await maybe_await(self._conn.server.begin_auth(event.username))
            if not needed:
                self._accept()
                return
            chains = self._conn.server.auth_method_chains(event.username)
            if chains:
                self._chains = [list(chain) for chain in chains if chain]
            self._core.set_auth_methods(self.allowed_methods())
        method = event.method
        if method == "none" or method not in self.allowed_methods():
            self._reject()
        elif method == "password":
            await self._password(event)
        elif method == "publickey":
            await self._publickey(event)
        else:
            await self._kbdint_start(event)

    async def on_info_response(self, event: ev.AuthInfoResponse) -> None:
        """Answer a keyboard-interactive INFO_RESPONSE."""
        self.awaiting_answer = True
        assert self.username is not None
        result = await maybe_await(self._conn.server.validate_kbdint_response(self.username, list(event.responses)))
        self._kbdint_result(result)

    async def _password(self, event: ev.AuthRequest) -> None:
        assert event.password is not None
        server = self._conn.server
        if event.new_password is not None:
            ok = await maybe_await(server.change_password(event.username, event.password, event.new_password))
        else:
            ok = await maybe_await(server.validate_password(event.username, event.password))
        self._result(bool(ok), "password")

    async def _publickey(self, event: ev.AuthRequest) -> None:
        if event.signature_valid is False:
            self._reject()
            return
        entry, ok = await self._check_key(event.username, event.key)
        if event.signature_valid is None:  # a query: would this key do?
            if ok:
                assert event.key_algorithm is not None and event.key_blob is not None
                self.awaiting_answer = False
                self._core.auth_pk_ok(event.key_algorithm, event.key_blob)
            else:
                self._reject()
            return
        if ok:
            self.key_entry = entry
            self.key = event.key
        self._result(ok, "publickey")

    async def _check_key(self, username: str, key: Any) -> tuple[Any, bool]:
        source = self._conn.options.authorized_client_keys
        if source is not None:
            keys = source.load()
            peer = self._conn.get_extra_info("peername")
            addr = peer[0] if isinstance(peer, tuple) and peer else None
            entry = keys.match(key, addr, username, time.time())
            if entry is not None:
                return entry, True
        if self._conn.server.public_key_auth_supported():
            result = await maybe_await(self._conn.server.validate_public_key(username, key))
            if isinstance(result, AuthorizedKeyEntry):
                return result, True
            return None, bool(result)
        return None, False

    async def _kbdint_start(self, event: ev.AuthRequest) -> None:
        result = await maybe_await(self._conn.server.get_kbdint_challenge(event.username, "", event.submethods or ""))
        self._kbdint_result(result)

    def _kbdint_result(self, result: Any) -> None:
        if isinstance(result, tuple):
            name, instruction, _lang, prompts = result
            self.awaiting_answer = False
            self._core.auth_info_request(str(name), str(instruction), [(str(p), bool(e)) for p, e in prompts])
            return
        self._result(bool(result), "keyboard-interactive")

    # -- answers ----------------------------------------------------------------

    def _result(self, ok: bool, method: str) -> None:
        if not ok:
            self._reject()
            return
        self.completed.append(method)
        if self._chains is None:
            self._accept()
            return
        done = len(self.completed)
        self._chains = [chain for chain in self._chains if chain[:done] == self.completed]
        if any(len(chain) == done for chain in self._chains):
            self._accept()
            return
        self.awaiting_answer = False
        self._core.auth_reject(self.allowed_methods(), partial=True)

    def reject(self) -> None:
        """Refuse the request in flight, offering the methods still allowed."""
        self._reject()

    def _reject(self) -> None:
        self.awaiting_answer = False
        self._core.auth_reject(self.allowed_methods())

    def _accept(self) -> None:
        self.awaiting_answer = False
        self._core.auth_accept()
        self._conn._auth_succeeded()  # noqa: SLF001


async def run_guarded(conn: SSHServerConnection, step: Any) -> None:
    """Run one authentication step; failures become a rejection or the end of the connection."""
    try:
        await step
    except DisconnectError as exc:  # e.g. too many failures
        conn._terminate(exc)  # noqa: SLF001
        return
    except Exception:  # noqa: BLE001 - a failing callback counts as a failed attempt
        logger.exception("authentication callback failed")
        auth = conn._authenticator  # noqa: SLF001
        if not conn._core.closed and auth.awaiting_answer:  # noqa: SLF001
            try:
                auth.reject()
            except DisconnectError as exc:
                conn._terminate(exc)  # noqa: SLF001
                return
    conn._after_auth_step()  # noqa: SLF001
