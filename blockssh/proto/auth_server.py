"""User authentication, server side (RFC 4252, RFC 4256), sans I/O.

Each USERAUTH_REQUEST becomes an :class:`AuthRequest` event; the driver
answers with :meth:`ServerAuth.accept`, :meth:`ServerAuth.reject`,
:meth:`ServerAuth.pk_ok` or :meth:`ServerAuth.info_request`. Until it does,
input processing is paused, so requests are answered strictly in order.
Publickey signatures are verified here, against the session id. Failed
attempts are counted and the connection ends at ``max_auth_tries``
(OpenSSH's MaxAuthTries, default 6).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..exceptions import DisconnectError, DisconnectReason, MessageOrderError, ProtocolError
from ..keys import import_public_key_blob
from .auth import SERVICE_CONNECTION
from .constants import Msg
from .events import AuthInfoResponse, AuthRequest, Event
from .wire import Reader, boolean, byte, name_list, string, uint32

__all__ = ["ServerAuth", "DEFAULT_MAX_AUTH_TRIES"]

DEFAULT_MAX_AUTH_TRIES = 6
_MAX_RESPONSES = 64


class TooManyAuthFailures(DisconnectError):
    """The client failed authentication ``max_auth_tries`` times."""

    default_code = DisconnectReason.NO_MORE_AUTH_METHODS_AVAILABLE


class ServerAuth:
    """Decodes authentication requests and sends the server's answers."""

    def __init__(
        self,
        send: Callable[[bytes], None],
        events: list[Event],
        session_id: Callable[[], bytes],
        pause: Callable[[], None],
        resume: Callable[[], None],
        *,
        signature_algorithms: Sequence[str],
        max_auth_tries: int = DEFAULT_MAX_AUTH_TRIES,
    ) -> None:
        self._send = send
        self._events = events
        self._session_id = session_id
        self._pause = pause
        self._resume = resume
        self._signature_algorithms = frozenset(signature_algorithms)
        self.max_auth_tries = max_auth_tries
        self.failures = 0
        self.attempts = 0
        self.username: str | None = None
        self.done = False
        self._in_flight: str | None = None  # method of the request awaiting our answer
        self._methods: list[str] = []  # named in failure replies when the caller gives none
        self._kbdint_active = False
        self._kbdint_prompts = 0

    # -- incoming --------------------------------------------------------

    def handle(self, msg: int, payload: memoryview | bytes) -> None:
        """Handle USERAUTH_REQUEST (50) or USERAUTH_INFO_RESPONSE (61)."""
        if self.done:
            if msg == Msg.USERAUTH_REQUEST:
                return  # RFC 4252 section 5.1: ignore requests after success
            raise MessageOrderError(f"authentication message {msg} after success")
        if msg == Msg.USERAUTH_REQUEST:
            self._on_request(payload)
        elif msg == 61:
            self._on_info_response(payload)
        else:
            raise ProtocolError(f"unexpected authentication message {msg} from client")

    def _on_request(self, payload: memoryview | bytes) -> None:
        r = Reader(payload, 1)
        username = r.get_text()
        service = r.get_ascii()
        method = r.get_ascii()
        if self.username is not None and username != self.username:
            raise ProtocolError("change of user name during authentication is not allowed")
        self.username = username
        self.attempts += 1
        self._kbdint_active = False
        if service != SERVICE_CONNECTION:
            self._fail_silently(method)
            return
        event = AuthRequest(username, method)
        if method == "password":
            change = r.get_boolean()
            event.password = r.get_text()
            if change:
                event.new_password = r.get_text()
        elif method == "publickey":
            if not self._publickey(r, username, event):
                self._fail_silently(method)
                return
        elif method == "keyboard-interactive":
            r.get_string()  # language tag, deprecated
            event.submethods = r.get_text()
        elif method != "none":
            self._fail_silently(method)
            return
        self._in_flight = method
        self._pause()
        self._events.append(event)

    def _publickey(self, r: Reader, username: str, event: AuthRequest) -> bool:
        has_signature = r.get_boolean()
        algorithm = r.get_ascii()
        blob = r.get_string()
        signature = r.get_string() if has_signature else None
        r.check_end()
        event.key_algorithm = algorithm
        event.key_blob = blob
        if algorithm not in self._signature_algorithms and _base_algorithm(algorithm) not in self._signature_algorithms:
            return False
        try:
            key = import_public_key_blob(blob)
        except Exception:  # noqa: BLE001 - any unusable key is just a failed attempt
            return False
        if getattr(key, "algorithm", None) != algorithm and _base_algorithm(algorithm) not in key.sig_algorithms:
            return False
        event.key = key
        if signature is None:
            event.signature_valid = None
            return True
        try:
            sig_alg = Reader(signature).get_ascii()
        except Exception:  # noqa: BLE001
            return False
        if sig_alg != _base_algorithm(algorithm):
            event.signature_valid = False
            return True
        data = (
            string(self._session_id())
            + byte(Msg.USERAUTH_REQUEST)
            + string(username)
            + string(SERVICE_CONNECTION)
            + string("publickey")
            + boolean(True)
            + string(algorithm)
            + string(blob)
        )
        event.signature_valid = bool(key.verify(data, signature))
        return True

    def _on_info_response(self, payload: memoryview | bytes) -> None:
        if not self._kbdint_active or self._in_flight is not None:
            raise MessageOrderError("INFO_RESPONSE without an INFO_REQUEST")
        r = Reader(payload, 1)
        count = r.get_uint32()
        if count != self._kbdint_prompts or count > _MAX_RESPONSES:
            raise ProtocolError(f"{count} keyboard-interactive responses for {self._kbdint_prompts} prompts")
        responses = [r.get_text() for _ in range(count)]
        r.check_end()
        self._kbdint_active = False
        self._in_flight = "keyboard-interactive"
        self._pause()
        self._events.append(AuthInfoResponse(responses))

    def _fail_silently(self, method: str) -> None:
        # An unsupported method or service: fail without asking the application.
        self._count_failure(method, partial=False)
        self._send(byte(Msg.USERAUTH_FAILURE) + name_list(self._methods) + boolean(False))

    def _count_failure(self, method: str, *, partial: bool) -> None:
        # OpenSSH does not count the initial "none" probe, nor partial successes.
        if partial or (method == "none" and self.attempts == 1):
            return
        self.failures += 1
        if self.failures >= self.max_auth_tries:
            raise TooManyAuthFailures(f"too many authentication failures for {self.username or ''}")

    # -- answers ---------------------------------------------------------

    def set_methods(self, methods: Sequence[str]) -> None:
        """The methods named in failure replies when none are given explicitly."""
        self._methods = list(methods)

    def _finish_request(self) -> None:
        if self._in_flight is None:
            raise MessageOrderError("no authentication request awaits an answer")
        self._in_flight = None
        self._resume()

    def accept(self) -> None:
        """Authentication succeeded. The caller resumes input once delayed compression is on."""
        if self._in_flight is None:
            raise MessageOrderError("no authentication request awaits an answer")
        self._send(byte(Msg.USERAUTH_SUCCESS))
        self.done = True
        self._in_flight = None

    def reject(self, methods: Sequence[str] | None = None, *, partial: bool = False) -> None:
        """The request failed; ``methods`` may continue (``partial``: this one counted)."""
        method = self._in_flight
        if method is None:
            raise MessageOrderError("no authentication request awaits an answer")
        if methods is None:
            methods = self._methods
        else:
            self._methods = list(methods)
        self._count_failure(method, partial=partial)
        self._send(byte(Msg.USERAUTH_FAILURE) + name_list(methods) + boolean(partial))
        self._finish_request()

    def pk_ok(self, algorithm: str, key_blob: bytes) -> None:
        """Answer a publickey query: a signature from this key would be accepted."""
        if self._in_flight != "publickey":
            raise MessageOrderError("no publickey query awaits an answer")
        self._send(byte(60) + string(algorithm) + string(key_blob))
        self._finish_request()

    def info_request(self, name: str, instruction: str, prompts: Sequence[tuple[str, bool]]) -> None:
        """Send keyboard-interactive prompts."""
        if self._in_flight != "keyboard-interactive":
            raise MessageOrderError("no keyboard-interactive request awaits an answer")
        body = byte(60) + string(name) + string(instruction) + string("") + uint32(len(prompts))
        body += b"".join(string(p) + boolean(echo) for p, echo in prompts)
        self._kbdint_active = True
        self._kbdint_prompts = len(prompts)
        self._send(body)
        self._finish_request()

    def password_change_request(self, prompt: str) -> None:
        """Ask the client for a new password."""
        if self._in_flight != "password":
            raise MessageOrderError("no password request awaits an answer")
        self._send(byte(60) + string(prompt) + string(""))
        self._finish_request()

    def banner(self, message: str) -> None:
        """Send SSH_MSG_USERAUTH_BANNER (before success only)."""
        if self.done:
            raise MessageOrderError("banner after authentication")
        self._send(byte(Msg.USERAUTH_BANNER) + string(message) + string(""))


def _base_algorithm(algorithm: str) -> str:
    suffix = "-cert-v01@openssh.com"
    return algorithm[: -len(suffix)] if algorithm.endswith(suffix) else algorithm
