"""The client's authentication strategy: which method and credential to try next.

Order (OpenSSH's): publickey (each key, each suitable signature algorithm),
keyboard-interactive, password, with ``preferred_auth`` to change it. The
server's answer decides what is still allowed; a partial success moves on
to the methods the server still wants.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..exceptions import AuthenticationException, PasswordRequiredException, PermissionDenied, SSHException
from ..proto import events as ev

if TYPE_CHECKING:
    from .client import SSHClientConnection

__all__ = ["ClientAuthenticator", "KbdintHandler", "DEFAULT_PREFERRED_AUTH"]

# (name, instruction, [(prompt, echo)]) -> answers; may be a coroutine function.
KbdintHandler = Callable[[str, str, list[tuple[str, bool]]], Sequence[str] | Awaitable[Sequence[str]]]

DEFAULT_PREFERRED_AUTH: tuple[str, ...] = ("publickey", "keyboard-interactive", "password")
_RSA_SHA2 = ("rsa-sha2-512", "rsa-sha2-256")


async def _maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


class ClientAuthenticator:
    """Runs the authentication exchange for one client connection."""

    def __init__(self, conn: SSHClientConnection) -> None:
        self._conn = conn
        self._core = conn._core  # noqa: SLF001
        self._options = conn.options
        self._replies: asyncio.Queue[ev.Event] = asyncio.Queue()
        self.allowed: list[str] = []
        self.errors: list[tuple[str, BaseException, bool]] = []  # (what, error, explicitly requested)
        self.partial = False

    def on_event(self, event: ev.Event) -> None:
        """Receive an authentication reply from the connection."""
        self._replies.put_nowait(event)

    async def _reply(self) -> ev.Event:
        return await self._replies.get()

    def _flush(self) -> None:
        self._conn._flush()  # noqa: SLF001

    async def run(self) -> None:
        """Authenticate, or raise :class:`PermissionDenied` (or what the last method raised)."""
        o = self._options
        self._core.auth_none(o.username)
        self._flush()
        reply = await self._reply()
        if isinstance(reply, ev.AuthSuccess):
            return
        assert isinstance(reply, ev.AuthFailure)
        self.allowed = reply.methods
        attempts: dict[str, AsyncIterator[ev.Event]] = {
            "publickey": self._publickey_attempts(),
            "keyboard-interactive": self._kbdint_attempts(),
            "password": self._password_attempts(),
        }
        exhausted: set[str] = set()
        while True:
            method = next(
                (m for m in o.preferred_auth if m in self.allowed and m in attempts and m not in exhausted), None
            )
            if method is None:
                raise self._failure()
            try:
                result = await attempts[method].__anext__()
            except StopAsyncIteration:
                exhausted.add(method)
                continue
            if isinstance(result, ev.AuthSuccess):
                return
            if isinstance(result, ev.AuthFailure):
                if result.partial:
                    self.partial = True
                    exhausted.discard(method)  # the server may want the same method again (e.g. a second key)
                self.allowed = result.methods

    def _failure(self) -> AuthenticationException:
        for _, exc, _ in self.errors:
            if isinstance(exc, PasswordRequiredException) and "publickey" in self.allowed:
                return exc
        msg = "Authentication failed."
        if self.partial:
            msg = f"Authentication failed after partial success; server still requires one of {self.allowed}"
        unusable = [f"{what}: {_describe(exc)}" for what, exc, explicit in self.errors if explicit]
        if unusable:
            msg += " Could not use: " + "; ".join(unusable)
        return PermissionDenied(msg, self.allowed)

    # -- publickey -------------------------------------------------------

    def _signature_algorithms(self, key: Any) -> list[str]:
        ours = [a for a in key.sig_algorithms if _base(a) in self._options.signature_algorithms]
        server = self._core.server_sig_algs
        if not any(_base(a) in _RSA_SHA2 or _base(a) == "ssh-rsa" for a in ours):
            return ours[:1]
        if server is not None:
            accepted = [a for a in ours if _base(a) in server]
            return accepted[:1]
        return [a for a in ours if _base(a) != "ssh-rsa"][:2] or ours[:1]

    async def _publickey_attempts(self) -> AsyncIterator[ev.Event]:
        for key in await self._conn._gather_client_keys(self.errors):  # noqa: SLF001
            for algorithm in self._signature_algorithms(key):
                user = self._options.username
                data = self._core.auth_publickey_data(user, algorithm, key.public_blob)
                try:
                    signature = await _maybe_await(key.sign(data, algorithm))
                except AuthenticationException:
                    raise
                except SSHException as exc:  # an agent that refuses (locked, confirmation denied): next key
                    self.errors.append((f"agent key {getattr(key, 'comment', '')!r}", exc, False))
                    break
                self._core.auth_publickey(user, algorithm, key.public_blob, signature)
                self._flush()
                reply = await self._reply()
                yield reply
                if isinstance(reply, ev.AuthFailure) and reply.partial:
                    break  # this key counted; do not offer it again with another algorithm

    # -- password --------------------------------------------------------

    async def _password_attempts(self) -> AsyncIterator[ev.Event]:
        password = self._options.password
        if password is None:
            return
        self._core.auth_password(self._options.username, password)
        self._flush()
        reply = await self._reply()
        if isinstance(reply, ev.AuthPasswordChangeRequired):
            self.errors.append(("password", AuthenticationException("the server requires a password change"), True))
            # Answer with the same password: the server refuses it and we move on.
            self._core.auth_password(self._options.username, password, password)
            self._flush()
            reply = await self._reply()
        yield reply

    # -- keyboard-interactive ----------------------------------------------

    async def _kbdint_attempts(self) -> AsyncIterator[ev.Event]:
        handler = self._options.kbdint_handler
        password = self._options.password
        if handler is None and password is None:
            return
        self._core.auth_kbdint(self._options.username)
        self._flush()
        while True:
            reply = await self._reply()
            if not isinstance(reply, ev.AuthInfoRequest):
                yield reply
                return
            if handler is not None:
                answers = list(await _maybe_await(handler(reply.name, reply.instruction, reply.prompts)))
            elif len(reply.prompts) == 1 and not reply.prompts[0][1] and password is not None:
                answers = [password]  # the usual single "Password:" prompt
            elif not reply.prompts:
                answers = []
            else:
                answers = [""] * len(reply.prompts)
            self._core.auth_kbdint_respond([str(a) for a in answers])
            self._flush()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    return str(exc) or type(exc).__name__


def _base(algorithm: str) -> str:
    suffix = "-cert-v01@openssh.com"
    return algorithm[: -len(suffix)] if algorithm.endswith(suffix) else algorithm
