"""User authentication, client side (RFC 4252, RFC 4256), sans I/O.

The driver chooses methods; this module builds the requests, matches the
server's answers to the request in flight and reports them as events. A
USERAUTH_SUCCESS with no request in flight is a protocol error (the "rogue
session" attack), as is any authentication message once we are done.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..exceptions import MessageOrderError, ProtocolError
from .constants import Msg
from .events import (
    AuthBanner,
    AuthFailure,
    AuthInfoRequest,
    AuthPasswordChangeRequired,
    AuthPublicKeyOk,
    AuthSuccess,
    Event,
)
from .wire import Reader, boolean, byte, string, uint32

__all__ = ["ClientAuth", "SERVICE_CONNECTION", "SERVICE_USERAUTH"]

SERVICE_USERAUTH = "ssh-userauth"
SERVICE_CONNECTION = "ssh-connection"
MSG_USERAUTH_60 = 60
MSG_USERAUTH_INFO_RESPONSE = 61
_MAX_PROMPTS = 64


def _request(username: str, method: str) -> bytes:
    return byte(Msg.USERAUTH_REQUEST) + string(username) + string(SERVICE_CONNECTION) + string(method)


class ClientAuth:
    """Tracks the authentication request in flight and decodes the replies."""

    def __init__(self, send: Callable[[bytes], None], events: list[Event], session_id: Callable[[], bytes]) -> None:
        self._send = send
        self._events = events
        self._session_id = session_id
        self.pending: str | None = None  # "none", "password", "publickey-query", "publickey", "keyboard-interactive"
        self._kbdint_prompts = 0
        self.done = False
        self.username: str | None = None

    def _start(self, method: str, username: str) -> None:
        if self.done:
            raise MessageOrderError("already authenticated")
        self.pending = method
        self.username = username

    def request_none(self, username: str) -> None:
        """Try the "none" method (also a way to learn the allowed methods)."""
        self._start("none", username)
        self._send(_request(username, "none"))

    def request_password(self, username: str, password: str, new_password: str | None = None) -> None:
        """Try a password, or answer a password-change request with ``new_password``."""
        self._start("password", username)
        body = _request(username, "password")
        if new_password is None:
            body += boolean(False) + string(password)
        else:
            body += boolean(True) + string(password) + string(new_password)
        self._send(body)

    def query_publickey(self, username: str, algorithm: str, key_blob: bytes) -> None:
        """Ask whether a key would be accepted, without signing (answered by PK_OK or FAILURE)."""
        self._start("publickey-query", username)
        self._send(_request(username, "publickey") + boolean(False) + string(algorithm) + string(key_blob))

    def publickey_data_to_sign(self, username: str, algorithm: str, key_blob: bytes) -> bytes:
        """The bytes a publickey request's signature covers (RFC 4252 section 7)."""
        return (
            string(self._session_id())
            + _request(username, "publickey")
            + boolean(True)
            + string(algorithm)
            + string(key_blob)
        )

    def request_publickey(self, username: str, algorithm: str, key_blob: bytes, signature: bytes) -> None:
        """Send a signed publickey request."""
        self._start("publickey", username)
        self._send(
            _request(username, "publickey") + boolean(True) + string(algorithm) + string(key_blob) + string(signature)
        )

    def request_kbdint(self, username: str, submethods: str = "") -> None:
        """Start keyboard-interactive authentication."""
        self._start("keyboard-interactive", username)
        self._send(_request(username, "keyboard-interactive") + string("") + string(submethods))

    def respond_kbdint(self, responses: Sequence[str]) -> None:
        """Answer the prompts of the last :class:`AuthInfoRequest`."""
        if self.pending != "keyboard-interactive":
            raise MessageOrderError("no keyboard-interactive exchange in progress")
        if len(responses) != self._kbdint_prompts:
            raise ValueError(f"{self._kbdint_prompts} responses expected, got {len(responses)}")
        self._send(byte(MSG_USERAUTH_INFO_RESPONSE) + uint32(len(responses)) + b"".join(string(r) for r in responses))

    def handle(self, msg: int, payload: memoryview | bytes) -> None:
        """Handle one message in 51..79 from the server."""
        if self.done:
            raise MessageOrderError(f"authentication message {msg} after success")
        r = Reader(payload, 1)
        if msg == Msg.USERAUTH_BANNER:
            message = r.get_text()
            lang = r.get_text() if r.remaining else ""
            self._events.append(AuthBanner(message, lang))
            return
        if self.pending is None:
            raise MessageOrderError(f"authentication message {msg} with no request in flight")
        if msg == Msg.USERAUTH_SUCCESS:
            r.check_end()
            self.pending = None
            self.done = True
            self._events.append(AuthSuccess())
        elif msg == Msg.USERAUTH_FAILURE:
            methods = r.get_name_list()
            partial = r.get_boolean()
            r.check_end()
            self.pending = None
            self._events.append(AuthFailure(methods, partial))
        elif msg == MSG_USERAUTH_60:
            self._handle_60(r)
        elif msg == MSG_USERAUTH_INFO_RESPONSE:
            raise ProtocolError("server sent INFO_RESPONSE")
        else:
            raise ProtocolError(f"unexpected authentication message {msg}")

    def _handle_60(self, r: Reader) -> None:
        if self.pending == "publickey-query":
            algorithm = r.get_ascii()
            blob = r.get_string()
            r.check_end()
            self.pending = None
            self._events.append(AuthPublicKeyOk(algorithm, blob))
        elif self.pending == "password":
            prompt = r.get_text()
            lang = r.get_text() if r.remaining else ""
            self.pending = None
            self._events.append(AuthPasswordChangeRequired(prompt, lang))
        elif self.pending == "keyboard-interactive":
            name = r.get_text()
            instruction = r.get_text()
            lang = r.get_text()
            count = r.get_uint32()
            if count > _MAX_PROMPTS:
                raise ProtocolError(f"keyboard-interactive request with {count} prompts")
            prompts = [(r.get_text(), r.get_boolean()) for _ in range(count)]
            r.check_end()
            self._kbdint_prompts = count
            self._events.append(AuthInfoRequest(name, instruction, lang, prompts))
        else:
            raise MessageOrderError(f"unexpected message 60 while {self.pending} is in flight")
