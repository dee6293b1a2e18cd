"""The one exception tree of blockssh.

Every error blockssh raises on purpose comes from here. paramiko's names are
part of the tree (not a second tree), so ``except paramiko.SSHException``
style code keeps working after ``import blockssh as paramiko``::

    Exception
    ├── SSHException (alias SSHError)                 root of everything below
    │   ├── DisconnectError (.code, .reason, .remote)  the connection is gone
    │   │   ├── ProtocolError                          peer broke the protocol
    │   │   │   ├── PacketDecodeError                  malformed message
    │   │   │   ├── PacketTooLargeError                length over the cap
    │   │   │   └── MessageOrderError                  out-of-order (strict kex)
    │   │   ├── KeyExchangeFailed
    │   │   │   └── IncompatiblePeer                   no common algorithm
    │   │   ├── MACError                               integrity check failed
    │   │   ├── CompressionError
    │   │   ├── ServiceNotAvailable
    │   │   ├── ProtocolVersionNotSupported            bad or missing banner
    │   │   ├── HostKeyNotVerifiable
    │   │   │   └── BadHostKeyException                key differs from known_hosts
    │   │   ├── ConnectionLost                         transport closed/reset
    │   │   ├── TooManyConnections
    │   │   └── IllegalUserName
    │   ├── AuthenticationException (.allowed_types)
    │   │   ├── PermissionDenied                       every method failed
    │   │   ├── BadAuthenticationType
    │   │   ├── PartialAuthentication
    │   │   ├── PasswordRequiredException              key file needs a passphrase
    │   │   └── UnableToAuthenticate
    │   ├── ChannelException (alias ChannelOpenError; .code, .text)
    │   ├── ChannelClosedError                         also an OSError
    │   ├── SSHTimeoutError                            also a TimeoutError
    │   │   └── AuthenticationTimeout                  also an AuthenticationException
    │   ├── NoValidConnectionsError                    also an OSError
    │   ├── LoopThreadError                            blocking call on the loop thread
    │   ├── ConcurrencyError
    │   ├── ProcessError                               run(check=True) failed
    │   ├── KeyImportError / UnknownKeyType            unreadable key data
    │   │   └── CertificateError                       certificate not valid for this use
    │   ├── KeyUsageError                              a key cannot do what was asked
    │   ├── ProxyCommandFailure
    │   ├── ConfigurationError                         invalid option value
    │   ├── ConfigParseError, CouldNotCanonicalize
    │   └── SFTPError

``socket.timeout`` is ``TimeoutError`` on the supported Pythons, so catching
``socket.timeout`` catches :class:`SSHTimeoutError` too.
"""

from __future__ import annotations

import enum
from typing import Any


class DisconnectReason(enum.IntEnum):
    """SSH_MSG_DISCONNECT reason codes (RFC 4253 section 11.1)."""

    HOST_NOT_ALLOWED_TO_CONNECT = 1
    PROTOCOL_ERROR = 2
    KEY_EXCHANGE_FAILED = 3
    RESERVED = 4
    MAC_ERROR = 5
    COMPRESSION_ERROR = 6
    SERVICE_NOT_AVAILABLE = 7
    PROTOCOL_VERSION_NOT_SUPPORTED = 8
    HOST_KEY_NOT_VERIFIABLE = 9
    CONNECTION_LOST = 10
    BY_APPLICATION = 11
    TOO_MANY_CONNECTIONS = 12
    AUTH_CANCELLED_BY_USER = 13
    NO_MORE_AUTH_METHODS_AVAILABLE = 14
    ILLEGAL_USER_NAME = 15


class SSHException(Exception):
    """Base class of every error blockssh raises."""


SSHError = SSHException


class DisconnectError(SSHException):
    """The connection ended, by our decision or the peer's.

    ``code`` is a :class:`DisconnectReason`; ``remote`` is True when the peer
    sent the disconnect (or broke the protocol) and False when we ended it.
    """

    default_code: DisconnectReason = DisconnectReason.BY_APPLICATION

    def __init__(
        self,
        reason: str = "",
        code: int | None = None,
        *,
        lang: str = "",
        remote: bool = False,
    ) -> None:
        self.code = (
            DisconnectReason(code) if code in _REASON_VALUES else (code if code is not None else self.default_code)
        )
        self.reason = reason
        self.lang = lang
        self.remote = remote
        super().__init__(reason or getattr(self.code, "name", str(self.code)))

    @staticmethod
    def from_code(code: int, reason: str, *, lang: str = "", remote: bool = True) -> DisconnectError:
        """Build the most specific subclass for a received reason code."""
        cls = _BY_CODE.get(code, DisconnectError)
        return cls(reason, code, lang=lang, remote=remote)


_REASON_VALUES = {r.value for r in DisconnectReason}


class ProtocolError(DisconnectError):
    """The peer sent something the protocol does not allow."""

    default_code = DisconnectReason.PROTOCOL_ERROR


class PacketDecodeError(ProtocolError):
    """A message was truncated, had trailing bytes, or held an invalid field."""


class PacketTooLargeError(ProtocolError):
    """A packet length was above the negotiated cap (or below the minimum)."""


class MessageOrderError(ProtocolError):
    """A message arrived when the protocol forbids it (e.g. during strict kex)."""


class KeyExchangeFailed(DisconnectError):
    """Key exchange failed: bad signature, bad public value, ..."""

    default_code = DisconnectReason.KEY_EXCHANGE_FAILED


class IncompatiblePeer(KeyExchangeFailed):
    """The two sides share no algorithm in some category."""


class MACError(DisconnectError):
    """A packet failed its integrity check."""

    default_code = DisconnectReason.MAC_ERROR


class CompressionError(DisconnectError):
    """Compressed data could not be inflated, or inflated past its limit."""

    default_code = DisconnectReason.COMPRESSION_ERROR


class ServiceNotAvailable(DisconnectError):
    """The peer asked for a service we do not offer (or refused ours)."""

    default_code = DisconnectReason.SERVICE_NOT_AVAILABLE


class ProtocolVersionNotSupported(DisconnectError):
    """The peer's identification string was missing, malformed or not SSH-2."""

    default_code = DisconnectReason.PROTOCOL_VERSION_NOT_SUPPORTED


class HostKeyNotVerifiable(DisconnectError):
    """The server's host key was not trusted."""

    default_code = DisconnectReason.HOST_KEY_NOT_VERIFIABLE


class BadHostKeyException(HostKeyNotVerifiable):
    """The server presented a key other than the one known for that host."""

    def __init__(self, hostname: str, got_key: Any, expected_key: Any) -> None:
        self.hostname = hostname
        self.key = got_key
        self.expected_key = expected_key
        got = _fingerprint(got_key)
        expected = _fingerprint(expected_key)
        super().__init__(f"Host key for server '{hostname}' does not match: got '{got}', expected '{expected}'")

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.__class__, (self.hostname, self.key, self.expected_key))


def _fingerprint(key: Any) -> str:
    try:
        return str(key.get_base64())
    except Exception:  # noqa: BLE001 - only used to build a message
        return repr(key)


class ConnectionLost(DisconnectError):
    """The transport closed or failed without a DISCONNECT message."""

    default_code = DisconnectReason.CONNECTION_LOST


class TooManyConnections(DisconnectError):
    """The peer refused us because it is serving too many connections."""

    default_code = DisconnectReason.TOO_MANY_CONNECTIONS


class IllegalUserName(DisconnectError):
    """The user name was refused outright."""

    default_code = DisconnectReason.ILLEGAL_USER_NAME


_BY_CODE: dict[int, type[DisconnectError]] = {
    DisconnectReason.PROTOCOL_ERROR: ProtocolError,
    DisconnectReason.KEY_EXCHANGE_FAILED: KeyExchangeFailed,
    DisconnectReason.MAC_ERROR: MACError,
    DisconnectReason.COMPRESSION_ERROR: CompressionError,
    DisconnectReason.SERVICE_NOT_AVAILABLE: ServiceNotAvailable,
    DisconnectReason.PROTOCOL_VERSION_NOT_SUPPORTED: ProtocolVersionNotSupported,
    DisconnectReason.HOST_KEY_NOT_VERIFIABLE: HostKeyNotVerifiable,
    DisconnectReason.CONNECTION_LOST: ConnectionLost,
    DisconnectReason.TOO_MANY_CONNECTIONS: TooManyConnections,
    DisconnectReason.ILLEGAL_USER_NAME: IllegalUserName,
}


class AuthenticationException(SSHException):
    """Authentication failed; ``allowed_types`` lists what the server still accepts."""

    def __init__(self, message: str = "Authentication failed.", allowed_types: list[str] | None = None) -> None:
        self.allowed_types = list(allowed_types or [])
        super().__init__(message)


class PermissionDenied(AuthenticationException):
    """Every authentication method we could try was refused."""


class BadAuthenticationType(AuthenticationException):
    """The server does not accept the authentication method that was tried."""

    def __init__(self, explanation: str = "Bad authentication type", types: list[str] | None = None) -> None:
        super().__init__(f"{explanation}; allowed types: {list(types or [])!r}", types)
        self.explanation = explanation


class PartialAuthentication(AuthenticationException):
    """A method succeeded, but the server requires more."""

    def __init__(self, types: list[str] | None = None) -> None:
        super().__init__(f"Partial authentication; allowed types: {list(types or [])!r}", types)


class PasswordRequiredException(AuthenticationException):
    """A private key is encrypted and no passphrase was given."""

    def __init__(self, message: str = "Private key file is encrypted") -> None:
        super().__init__(message)


class UnableToAuthenticate(AuthenticationException):
    """No usable credentials were available."""


class ChannelException(SSHException):
    """A channel could not be opened (``code`` is the RFC 4254 reason code)."""

    def __init__(self, code: int, text: str) -> None:
        self.code = code
        self.text = text
        super().__init__(f"ChannelException({code!r}, {text!r})")

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.__class__, (self.code, self.text))


ChannelOpenError = ChannelException


class ChannelClosedError(SSHException, OSError):
    """The channel (or its connection) is closed; also an ``OSError`` like a closed socket's."""


class SSHTimeoutError(SSHException, TimeoutError):
    """A blocking call or a connect step ran past its timeout."""


class AuthenticationTimeout(AuthenticationException, SSHTimeoutError):
    """The server did not answer an authentication request in time (also a ``socket.timeout``)."""


class NoValidConnectionsError(SSHException, OSError):
    """Connecting failed for every address the host name resolved to.

    ``errors`` maps each ``(address, port)`` tried to the exception it raised.
    """

    def __init__(self, errors: dict[tuple[Any, ...], Exception]) -> None:
        self.errors = errors
        addrs = sorted(str(k[0]) for k in errors)
        body = ", ".join(addrs[:-1]) + (" or " if len(addrs) > 1 else "") + (addrs[-1] if addrs else "")
        ports = sorted({str(k[1]) for k in errors})
        message = f"Unable to connect to port {', '.join(ports)} on {body}"
        SSHException.__init__(self, None, message)
        self.errno = None
        self.strerror = message

    def __str__(self) -> str:
        return self.strerror or ""

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.__class__, (self.errors,))


class LoopThreadError(SSHException, RuntimeError):
    """A blocking blockssh call was made on blockssh's own event-loop thread."""


class ConcurrencyError(SSHException, RuntimeError):
    """Two threads used an object that allows one user at a time."""


class ProcessError(SSHException):
    """A remote command failed and the caller asked for ``check=True``."""

    def __init__(
        self,
        command: str | None,
        exit_status: int | None,
        exit_signal: tuple[str, bool, str, str] | None,
        stdout: Any,
        stderr: Any,
        reason: str = "",
    ) -> None:
        self.command = command
        self.exit_status = exit_status
        self.exit_signal = exit_signal
        self.returncode = exit_status if exit_status is not None else (-1 if exit_signal is None else -128)
        self.stdout = stdout
        self.stderr = stderr
        if not reason:
            if exit_signal is not None:
                reason = f"Process exited with signal {exit_signal[0]}"
            else:
                reason = f"Process exited with non-zero exit status {exit_status}"
        self.reason = reason
        super().__init__(f"{command!r}: {reason}" if command else reason)


class KeyImportError(SSHException, ValueError):
    """Key or certificate data could not be parsed."""


class UnknownKeyType(KeyImportError):
    """The key type is not one blockssh supports."""

    def __init__(self, key_type: str | None = None, key_bytes: bytes | None = None) -> None:
        self.key_type = key_type
        self.key_bytes = key_bytes
        super().__init__(f"UnknownKeyType(type={key_type!r})")


class CertificateError(KeyImportError):
    """A certificate parsed fine but is not valid for the requested use (expired, wrong principal, ...)."""


class KeyUsageError(SSHException, ValueError):
    """A key cannot do what was asked (no private part, unsuitable algorithm or format, bad size)."""


class ProxyCommandFailure(SSHException):
    """A ProxyCommand subprocess failed."""

    def __init__(self, command: str, error: str) -> None:
        self.command = command
        self.error = error
        super().__init__(f'ProxyCommand("{command}") returned nonzero exit status: {error}')

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.__class__, (self.command, self.error))


class ConfigurationError(SSHException, ValueError):
    """An option passed to blockssh is invalid (unknown algorithm, bad limit, ...)."""


class ConfigParseError(SSHException):
    """An ssh_config file could not be parsed."""


class CouldNotCanonicalize(SSHException):
    """CanonicalizeHostname failed and fallback was not allowed."""


class SFTPError(SSHException):
    """An SFTP protocol error, or a status the server reported."""


class SOCKSError(SSHException):
    """A SOCKS client sent something we cannot serve (bad version, command, address type, size)."""


class X11Error(SSHException):
    """X11 forwarding could not be set up (no display, bad display name, bad cookie)."""


class TunTapError(SSHException):
    """A tunnel packet was malformed, or a tun/tap device could not be opened."""


class ForwardingError(SSHException):
    """A forwarding request was refused by the peer, or could not be set up locally."""


__all__ = [name for name in dir() if not name.startswith("_") and name not in {"annotations", "enum", "Any"}]
