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

import asyncio
import inspect
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ..exceptions import ConfigurationError, DisconnectError, KeyImportError
from ..keys import AuthorizedKeyEntry, CertificateError, CertType, SSHCertificate, SSHKey, import_public_key
from ..keys.patterns import match_address_list
from ..proto import events as ev

if TYPE_CHECKING:
    from .server import SSHServerConnection

__all__ = [
    "ServerAuthenticator",
    "KbdintChallenge",
    "KeyListSource",
    "PrincipalsLookup",
    "maybe_await",
    "principals_lookup",
    "run_guarded",
    "AUTH_METHOD_ORDER",
    "MAX_KEY_LIST_FILE",
]

logger = logging.getLogger("blockssh.server")

# (name, instruction, lang, [(prompt, echo), ...])
KbdintChallenge = tuple[str, str, str, Sequence[tuple[str, bool]]]

AUTH_METHOD_ORDER: tuple[str, ...] = ("publickey", "password", "keyboard-interactive")
MAX_KEY_LIST_FILE = 1 << 20  # bytes read from a TrustedUserCAKeys / RevokedKeys / principals file

#: ``username -> principal names`` (None: the user name itself); may be a coroutine function.
PrincipalsLookup = Callable[[str], "Iterable[str] | None | Awaitable[Iterable[str] | None]"]


def _parse_key_lines(text: str, what: str, origin: str) -> list[SSHKey | SSHCertificate]:
    keys: list[SSHKey | SSHCertificate] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            keys.append(import_public_key(line))
        except KeyImportError as exc:
            logger.warning("%s %s line %d skipped: %s", what, origin, lineno, exc)
    return keys


class KeyListSource:
    """Public keys, one per line (TrustedUserCAKeys, RevokedKeys): a file re-read when it changes, or keys.

    ``source`` is a path, or an iterable of keys, certificates and public key lines. With
    ``fail_closed`` (revoked keys) a file that cannot be read makes :meth:`contains` true
    for every key, as sshd refuses all public keys then.
    """

    def __init__(self, source: Any, what: str = "keys", *, fail_closed: bool = False) -> None:
        self.what = what
        self.fail_closed = fail_closed
        self._path: str | None = None
        self._keys: list[SSHKey | SSHCertificate] = []
        self._stamp: tuple[Any, ...] | None = None
        self._readable = True
        if isinstance(source, (str, os.PathLike)):
            self._path = os.path.expanduser(os.fspath(source))
        elif isinstance(source, (SSHKey, SSHCertificate)):
            self._keys = [source]
        elif isinstance(source, Iterable):
            for item in source:
                if isinstance(item, (SSHKey, SSHCertificate)):
                    self._keys.append(item)
                elif isinstance(item, str):
                    self._keys.extend(_parse_key_lines(item, what, "entry"))
                else:
                    raise ConfigurationError(f"cannot use {type(item).__name__} in {what}")
        else:
            raise ConfigurationError(f"{what} must be a path or a list of keys, not {type(source).__name__}")

    @property
    def path(self) -> str | None:
        """The file read (None for fixed keys)."""
        return self._path

    def load(self) -> list[SSHKey | SSHCertificate]:
        """The current keys (re-reading the file when it changed)."""
        if self._path is None:
            return self._keys
        try:
            st = os.stat(self._path)
            stamp: tuple[Any, ...] = (st.st_ino, st.st_size, st.st_mtime_ns)
        except OSError:
            stamp = (None,)
        if stamp == self._stamp:
            return self._keys
        self._stamp = stamp
        try:
            with open(self._path, "rb") as f:
                data = f.read(MAX_KEY_LIST_FILE + 1)
            if len(data) > MAX_KEY_LIST_FILE:
                raise OSError(f"larger than {MAX_KEY_LIST_FILE} bytes")
        except OSError as exc:
            logger.warning("cannot read %s file %s: %s", self.what, self._path, exc)
            self._readable = False
            self._keys = []
            return self._keys
        self._readable = True
        self._keys = _parse_key_lines(data.decode("utf-8", "replace"), self.what, self._path)
        return self._keys

    def contains(self, key: SSHKey | SSHCertificate) -> bool:
        """True when ``key`` is listed; a certificate also when its key or its CA is listed."""
        keys = self.load()
        if not self._readable and self.fail_closed:
            return True
        blobs = {k.public_blob for k in keys} | {k.key.public_blob for k in keys if isinstance(k, SSHCertificate)}
        if isinstance(key, SSHCertificate):
            return bool({key.public_blob, key.key.public_blob, key.signing_key.public_blob} & blobs)
        return key.public_blob in blobs


def _safe_user(username: str) -> bool:
    return bool(username) and "/" not in username and username not in (".", "..") and "\x00" not in username


def _read_principals(path: str) -> list[str]:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_KEY_LIST_FILE + 1)
    except FileNotFoundError:
        return []
    except OSError as exc:
        logger.warning("cannot read principals file %s: %s", path, exc)
        return []
    names = []
    for raw in data[:MAX_KEY_LIST_FILE].decode("utf-8", "replace").splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            names.append(line.split()[-1])  # key options may come first, as in authorized_keys
    return names


def principals_lookup(value: Any) -> PrincipalsLookup | None:
    """An ``authorized_principals`` setting as a lookup: None, a callable, or a path template (``%u``, ``%%``)."""
    if value is None:
        return None
    if callable(value):
        return value  # type: ignore[no-any-return]
    if not isinstance(value, (str, os.PathLike)):
        raise ConfigurationError("authorized_principals must be a callable or a path with %u")
    template = os.path.expanduser(os.fspath(value))

    async def lookup(username: str) -> list[str]:
        if not _safe_user(username):
            return []
        path = template.replace("%%", "\x00").replace("%u", username).replace("\x00", "%")
        return await asyncio.get_running_loop().run_in_executor(None, _read_principals, path)

    return lookup


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
        options = self._conn.options
        supported = {
            "publickey": options.authorized_client_keys is not None
            or options.trusted_user_ca_keys is not None
            or server.public_key_auth_supported(),
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

    async def _trusted_certificate(self, username: str, cert: SSHCertificate) -> AuthorizedKeyEntry | None:
        """The CA entry admitting ``cert`` through ``trusted_user_ca_keys`` (TrustedUserCAKeys), or None."""
        options = self._conn.options
        cas = options.trusted_user_ca_keys
        if cas is None or cert.signing_key not in [k for k in cas.load() if isinstance(k, SSHKey)]:
            return None
        try:
            cert.validate(CertType.USER, None, time.time())  # CA signature, type, validity, critical options
        except CertificateError as exc:
            logger.info("certificate %r refused: %s", cert.key_id, exc)
            return None
        allowed: Iterable[str] | None = None
        if options.authorized_principals is not None:
            allowed = await maybe_await(options.authorized_principals(username))
        names = set([username] if allowed is None else allowed)
        if not names & set(cert.principals):
            logger.info("certificate %r names none of the principals allowed for %s", cert.key_id, username)
            return None
        source = cert.critical_options.get("source-address")
        if source is not None:
            peer = self._conn.get_extra_info("peername")
            addr = peer[0] if isinstance(peer, tuple) and peer else None
            patterns = [p.strip() for p in source.split(",") if p.strip()]
            if addr is None or match_address_list(addr, patterns) != 1:
                logger.info("certificate %r refused: source-address does not match %s", cert.key_id, addr)
                return None
        if not await maybe_await(self._conn.server.validate_ca_certificate(username, cert)):
            return None
        return AuthorizedKeyEntry.from_options(cert.signing_key, [("cert-authority", None)], "TrustedUserCAKeys")

    async def _check_key(self, username: str, key: Any) -> tuple[Any, bool]:
        revoked = self._conn.options.revoked_keys
        if revoked is not None and revoked.contains(key):
            logger.info("refused revoked key %s for %s", key.fingerprint_sha256(), username)
            return None, False
        if isinstance(key, SSHCertificate):
            entry = await self._trusted_certificate(username, key)
            if entry is not None:
                return entry, True
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
