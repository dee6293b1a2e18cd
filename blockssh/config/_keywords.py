"""The ssh_config(5) client keywords, and parse-time validation of their values.

Each keyword has a :class:`Kind` that says how its arguments are read and how
repeated occurrences combine. Values are checked when the file is parsed (as
OpenSSH does, whether or not the line's block applies), so a bad port or a
malformed forward is reported with its file and line even if no host uses it.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from ._lex import argv_split

__all__ = [
    "Forward",
    "JumpHost",
    "KEYWORDS",
    "Keyword",
    "Kind",
    "parse_forward",
    "parse_jump",
    "parse_port",
    "parse_time",
    "parse_value",
]


class Kind(enum.Enum):
    """How a keyword's arguments are parsed and combined."""

    FLAG = "flag"  # one yes/no style word -> bool
    CHOICE = "choice"  # one word from a table -> canonical str
    INT = "int"
    TIME = "time"  # OpenSSH time format -> seconds, "none" -> None
    PORT = "port"
    STRING = "string"  # one argument
    STRLIST = "strlist"  # several arguments, first line wins
    COMMAND = "command"  # the raw rest of the line
    FILE = "file"  # one argument, accumulates (IdentityFile, CertificateFile)
    FORWARD = "forward"  # Local/Remote/DynamicForward, accumulate
    SENDENV = "sendenv"
    SETENV = "setenv"
    PROXYJUMP = "proxyjump"
    SPECIAL = "special"  # parsed by a keyword-specific function
    RAW = "raw"  # known but not modelled: any arguments, first line wins
    IGNORED = "ignored"  # deprecated or unsupported: accepted and ignored
    HOST = "host"
    MATCH = "match"
    INCLUDE = "include"


@dataclass(frozen=True)
class Keyword:
    """One ssh_config keyword: display name, canonical key and kind."""

    name: str
    key: str
    kind: Kind
    choices: Mapping[str, str] | None = None


class JumpHost(NamedTuple):
    """One ProxyJump hop; ``user`` and ``port`` are None when not given."""

    user: str | None
    host: str
    port: int | None

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        user = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port else ""
        return f"{user}{host}{port}"


class Forward(NamedTuple):
    """A parsed Local/Remote/DynamicForward.

    ``listen_path``/``connect_path`` are set for Unix-domain sockets (then the
    matching host and port are None). A dynamic (SOCKS) forward has no connect
    side at all.
    """

    listen_host: str | None
    listen_port: int | None
    listen_path: str | None
    connect_host: str | None
    connect_port: int | None
    connect_path: str | None

    @property
    def dynamic(self) -> bool:
        """True for a SOCKS forward (no fixed destination)."""
        return self.connect_host is None and self.connect_path is None


_FLAG = {"yes": "yes", "true": "yes", "no": "no", "false": "no"}
_YESNOASK = {**_FLAG, "ask": "ask"}
_CHOICES: dict[str, dict[str, str]] = {
    "stricthostkeychecking": {**_YESNOASK, "off": "no", "accept-new": "accept-new"},
    "controlmaster": {**_YESNOASK, "auto": "auto", "autoask": "autoask"},
    "addressfamily": {"inet": "inet", "inet6": "inet6", "any": "any"},
    "tunnel": {**_FLAG, "ethernet": "ethernet", "point-to-point": "point-to-point"},
    "requesttty": {**_FLAG, "force": "force", "auto": "auto"},
    "sessiontype": {"none": "none", "subsystem": "subsystem", "default": "default"},
    "canonicalizehostname": {**_FLAG, "always": "always"},
    "pubkeyauthentication": {**_FLAG, "unbound": "unbound", "host-bound": "host-bound"},
    "verifyhostkeydns": _YESNOASK,
    "updatehostkeys": _YESNOASK,
    "loglevel": {w.lower(): w for w in ("QUIET", "FATAL", "ERROR", "INFO", "VERBOSE", "DEBUG", "DEBUG2", "DEBUG3")}
    | {"debug1": "DEBUG"},
    "syslogfacility": {
        w.lower(): w for w in ("DAEMON", "USER", "AUTH", "AUTHPRIV") + tuple(f"LOCAL{i}" for i in range(8))
    },
    "fingerprinthash": {"md5": "MD5", "sha256": "SHA256"},
}
_COMPRESSION = {"yes": "yes", "no": "no"}

_FLAGS = (
    "BatchMode CheckHostIP ClearAllForwardings EnableEscapeCommandline EnableSSHKeysign ExitOnForwardFailure "
    "ForkAfterAuthentication ForwardX11 ForwardX11Trusted GatewayPorts GSSAPIAuthentication "
    "GSSAPIDelegateCredentials HashKnownHosts HostbasedAuthentication IdentitiesOnly "
    "KbdInteractiveAuthentication NoHostAuthenticationForLocalhost PasswordAuthentication PermitLocalCommand "
    "ProxyUseFdpass StdinNull StreamLocalBindUnlink TCPKeepAlive VisualHostKey CanonicalizeFallbackLocal "
    "GSSAPIKeyExchange GSSAPITrustDNS GSSAPIRenewalForcesRekey"
)
_CHOICE_NAMES = (
    "StrictHostKeyChecking ControlMaster AddressFamily Tunnel RequestTTY SessionType CanonicalizeHostname "
    "PubkeyAuthentication VerifyHostKeyDNS UpdateHostKeys LogLevel SyslogFacility FingerprintHash"
)
_STRINGS = (
    "User Hostname HostKeyAlias BindAddress BindInterface PKCS11Provider SecurityKeyProvider XAuthLocation "
    "KbdInteractiveDevices PreferredAuthentications ControlPath RevokedHostKeys Ciphers MACs KexAlgorithms "
    "HostKeyAlgorithms CASignatureAlgorithms HostbasedAcceptedAlgorithms PubkeyAcceptedAlgorithms IgnoreUnknown "
    "IdentityAgent Tag GSSAPIKexAlgorithms GSSAPIClientIdentity GSSAPIServerIdentity VersionAddendum"
)
_STRLISTS = "GlobalKnownHostsFile UserKnownHostsFile CanonicalDomains LogVerbose PermitRemoteOpen"
_RAW = "IPQoS TunnelDevice ChannelTimeout ObscureKeystrokeTiming RefuseConnection WarnWeakCrypto"
_SPECIAL = "AddKeysToAgent ControlPersist RekeyLimit EscapeChar StreamLocalBindMask CanonicalizePermittedCNAMEs"
_IGNORED = (
    "Protocol Cipher FallBackToRsh GlobalKnownHostsFile2 RhostsAuthentication UserKnownHostsFile2 UseRoaming "
    "UseRsh UsePrivilegedPort AFSTokenPassing KerberosAuthentication KerberosTGTPassing RSAAuthentication "
    "RhostsRSAAuthentication CompressionLevel"
)
_ALIASES = {
    "challengeresponseauthentication": "kbdinteractiveauthentication",
    "skeyauthentication": "kbdinteractiveauthentication",
    "tisauthentication": "kbdinteractiveauthentication",
    "dsaauthentication": "pubkeyauthentication",
    "identityfile2": "identityfile",
    "keepalive": "tcpkeepalive",
    "hostbasedkeytypes": "hostbasedacceptedalgorithms",
    "pubkeyacceptedkeytypes": "pubkeyacceptedalgorithms",
    "smartcarddevice": "pkcs11provider",
}


def _build() -> dict[str, Keyword]:
    table: dict[str, Keyword] = {}

    def add(names: str, kind: Kind) -> None:
        for name in names.split():
            key = name.lower()
            table[key] = Keyword(name, key, kind, _CHOICES.get(key))

    add(_FLAGS, Kind.FLAG)
    add(_CHOICE_NAMES, Kind.CHOICE)
    add(_STRINGS, Kind.STRING)
    add(_STRLISTS, Kind.STRLIST)
    add(_RAW, Kind.RAW)
    add(_SPECIAL, Kind.SPECIAL)
    add(_IGNORED, Kind.IGNORED)
    add("ConnectionAttempts NumberOfPasswordPrompts ServerAliveCountMax CanonicalizeMaxDots RequiredRSASize", Kind.INT)
    add("ConnectTimeout ServerAliveInterval ForwardX11Timeout", Kind.TIME)
    add("Port", Kind.PORT)
    add("ProxyCommand LocalCommand RemoteCommand KnownHostsCommand", Kind.COMMAND)
    add("IdentityFile CertificateFile", Kind.FILE)
    add("LocalForward RemoteForward DynamicForward", Kind.FORWARD)
    add("SendEnv", Kind.SENDENV)
    add("SetEnv", Kind.SETENV)
    add("ProxyJump", Kind.PROXYJUMP)
    add("ForwardAgent", Kind.SPECIAL)
    add("Host", Kind.HOST)
    add("Match", Kind.MATCH)
    add("Include", Kind.INCLUDE)
    table["compression"] = Keyword("Compression", "compression", Kind.CHOICE, _COMPRESSION)
    for alias, target in _ALIASES.items():
        base = table[target]
        table[alias] = Keyword(base.name, base.key, base.kind, base.choices)
    return table


KEYWORDS: dict[str, Keyword] = _build()

# Keywords whose lookup() value is a list (OpenSSH accumulates them).
LIST_KEYS = frozenset(
    {"identityfile", "certificatefile", "localforward", "remoteforward", "dynamicforward", "sendenv", "setenv"}
)

_TIME_RE = re.compile(r"(\d+)([sSmMhHdDwW]?)")
_TIME_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_INT_MAX = 2**31 - 1


def parse_time(text: str) -> int:
    """Parse an OpenSSH time value (``90``, ``1m30s``, ``2h``) into seconds."""
    if not text:
        raise ValueError("missing time value")
    total = 0
    pos = 0
    while pos < len(text):
        m = _TIME_RE.match(text, pos)
        if m is None:
            raise ValueError(f"invalid time value {text!r}")
        total += int(m.group(1)) * _TIME_UNITS[m.group(2).lower()]
        pos = m.end()
        if total > _INT_MAX:
            raise ValueError(f"time value {text!r} is too large")
    return total


def parse_port(text: str) -> int:
    """Parse a port number (1-65535) or a TCP service name from the services database."""
    if text.isdigit():
        port = int(text)
        if 0 < port <= 65535:
            return port
        raise ValueError(f"bad port {text!r}")
    try:
        import socket

        return socket.getservbyname(text, "tcp")
    except (OSError, UnicodeError):
        raise ValueError(f"bad port {text!r}") from None


def _parse_scaled(text: str) -> int:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGTPEkmgtpe]?)[Bb]?", text)
    if m is None:
        raise ValueError(f"bad number {text!r}")
    power = " KMGTPE".index(m.group(2).upper() or " ")
    return int(float(m.group(1)) * (1024**power))


def _fwd_fields(spec: str) -> list[tuple[str, bool]] | None:
    """Split a forward spec on ``:`` honouring ``[...]`` and backslashes; (text, is_path) pairs."""
    fields: list[tuple[str, bool]] = []
    i = 0
    spec = spec.lstrip()
    n = len(spec)
    while i < n and len(fields) < 5:
        if spec[i] == "[":
            end = spec.find("]", i)
            if end < 0 or (end + 1 < n and spec[end + 1] != ":"):
                return None
            text = spec[i + 1 : end]
            fields.append((text, "/" in text))
            i = end + 2
            continue
        buf: list[str] = []
        is_path = False
        while i < n and spec[i] != ":":
            c = spec[i]
            if c == "\\":
                i += 1
                if i >= n:
                    return None
                c = spec[i]
            elif c == "/":
                is_path = True
            buf.append(c)
            i += 1
        fields.append(("".join(buf), is_path))
        i += 1
    return fields


def _fwd_port(text: str) -> int:
    if text.isdigit() and int(text) <= 65535:
        return int(text)
    try:
        return parse_port(text)
    except ValueError:
        return -1


def parse_forward(spec: str, dynamic: bool, remote: bool) -> Forward:
    """Parse a forwarding spec already joined as ``listen:connect`` (OpenSSH's parse_forward)."""
    f = _fwd_fields(spec)
    bad = ValueError(f"bad forwarding specification {spec!r}")
    if f is None or not f or len(f) > 4:
        raise bad
    lh = lpath = ch = cpath = None
    lport: int | None = None
    cport: int | None = None
    if len(f) == 1:
        if f[0][1]:
            lpath = f[0][0]
        else:
            lport = _fwd_port(f[0][0])
    elif len(f) == 2:
        if f[0][1] and f[1][1]:
            lpath, cpath = f[0][0], f[1][0]
        elif f[1][1]:
            lport, cpath = _fwd_port(f[0][0]), f[1][0]
        else:
            lh, lport = f[0][0], _fwd_port(f[1][0])
    elif len(f) == 3:
        if f[0][1]:
            lpath, ch, cport = f[0][0], f[1][0], _fwd_port(f[2][0])
        elif f[2][1]:
            lh, lport, cpath = f[0][0], _fwd_port(f[1][0]), f[2][0]
        else:
            lport, ch, cport = _fwd_port(f[0][0]), f[1][0], _fwd_port(f[2][0])
    else:
        lh, lport, ch, cport = f[0][0], _fwd_port(f[1][0]), f[2][0], _fwd_port(f[3][0])
    if dynamic:
        if len(f) > 2 or ch is not None or cpath is not None:
            raise bad
    else:
        if len(f) < 3 and cpath is None and lpath is None:
            raise bad
        if cpath is None and (cport is None or cport <= 0):
            raise bad
    if lpath is None and (lport is None or lport < 0 or (not remote and lport == 0)):
        raise bad
    return Forward(lh, lport, lpath, ch, cport, cpath)


def _parse_host_port(text: str) -> JumpHost:
    """Parse ``[user@]host[:port]`` or ``ssh://[user@]host[:port]`` into a JumpHost."""
    bad = ValueError(f"invalid ProxyJump host {text!r}")
    user: str | None = None
    if text.startswith("ssh://"):
        rest = text[6:]
        if "@" in rest:
            user, rest = rest.split("@", 1)
            user = user.split(";", 1)[0]
            if not user:
                raise bad
            from urllib.parse import unquote

            user = unquote(user)
        if rest.endswith("/"):
            rest = rest[:-1]
        if "/" in rest.lstrip("[").split("]")[-1]:
            raise bad
    else:
        rest = text
        if "@" in rest:
            user, rest = rest.rsplit("@", 1)
            if not user:
                raise bad
    port: int | None = None
    if rest.startswith("["):
        end = rest.find("]")
        if end < 0:
            raise bad
        host, tail = rest[1:end], rest[end + 1 :]
        if tail:
            if not tail.startswith(":"):
                raise bad
            port = parse_port(tail[1:]) if tail[1:] else None
    else:
        host, sep, tail = rest.partition(":")
        if sep and tail:
            port = parse_port(tail)
    if not host:
        raise bad
    return JumpHost(user, host, port)


def parse_jump(text: str) -> list[JumpHost] | None:
    """Parse a ProxyJump value into hops (first hop first); None for ``none``."""
    text = text.split("#", 1)[0].strip()
    if text.lower() == "none":
        return None
    if not text:
        raise ValueError("missing ProxyJump argument")
    return [_parse_host_port(part) for part in text.split(",")]


def _one(args: list[str], kw: Keyword) -> str:
    if not args or not args[0]:
        raise ValueError(f"missing argument for {kw.name}")
    if len(args) > 1:
        raise ValueError(f"{kw.name}: extra arguments at end of line")
    return args[0]


def _strlist(args: list[str], kw: Keyword) -> tuple[str, ...]:
    if not args:
        raise ValueError(f"missing argument for {kw.name}")
    for i, arg in enumerate(args):
        if not arg:
            raise ValueError(f"{kw.name}: empty argument")
        if kw.key != "permitremoteopen" and arg.lower() == "none" and (i > 0 or len(args) > 1):
            raise ValueError(f'{kw.name}: "none" must appear alone')
    return tuple(args)


def _special(kw: Keyword, args: list[str]) -> object:
    key = kw.key
    if key == "forwardagent":
        arg = _one(args, kw)
        if arg.lower() in _FLAG:
            return _FLAG[arg.lower()] == "yes"
        if arg.startswith("$") and not arg.startswith("${") and not re.fullmatch(r"\w+", arg[1:]):
            raise ValueError(f"invalid environment name {arg!r}")
        return arg
    if key == "addkeystoagent":
        if not args or len(args) > 2:
            raise ValueError("AddKeysToAgent: unsupported option")
        word = args[0].lower()
        choices = {**_YESNOASK, "confirm": "confirm"}
        if word in choices:
            if len(args) == 2 and choices[word] != "confirm":
                raise ValueError("AddKeysToAgent: unsupported option")
            return (choices[word], parse_time(args[1]) if len(args) == 2 else 0)
        if len(args) == 1:
            return ("yes", parse_time(args[0]))
        raise ValueError("AddKeysToAgent: unsupported option")
    if key == "controlpersist":
        arg = _one(args, kw)
        if arg in ("no", "false"):
            return (False, 0)
        if arg in ("yes", "true"):
            return (True, 0)
        return (True, parse_time(arg))
    if key == "rekeylimit":
        if not args or len(args) > 2:
            raise ValueError("RekeyLimit: wrong number of arguments")
        limit = 0 if args[0] == "default" else _parse_scaled(args[0])
        if 0 < limit < 16:
            raise ValueError("RekeyLimit too small")
        interval: int | None = None
        if len(args) == 2 and args[1] != "none":
            interval = parse_time(args[1])
        return (limit, interval)
    if key == "escapechar":
        arg = _one(args, kw)
        if arg == "none" or len(arg) == 1:
            return arg
        if len(arg) == 2 and arg[0] == "^" and 64 <= ord(arg[1]) < 128:
            return chr(ord(arg[1]) & 31)
        raise ValueError("bad escape character")
    if key == "streamlocalbindmask":
        arg = _one(args, kw)
        if not re.fullmatch(r"[0-7]+", arg) or int(arg, 8) > 0o777:
            raise ValueError("bad mask")
        return int(arg, 8)
    if key == "canonicalizepermittedcnames":
        rules: list[tuple[str, str]] = []
        if not args:
            raise ValueError("missing argument for CanonicalizePermittedCNAMEs")
        for i, arg in enumerate(args):
            if arg.lower() == "none":
                if i > 0 or len(args) > 1:
                    raise ValueError('CanonicalizePermittedCNAMEs: "none" must appear alone')
                return ()
            if arg == "*":
                rules.append(("*", "*"))
                continue
            src, sep, dst = arg.lower().partition(":")
            if not sep or not dst:
                raise ValueError(f"invalid permitted CNAME {arg!r}")
            rules.append((src, dst))
        return tuple(rules)
    raise AssertionError(key)  # pragma: no cover


def parse_value(kw: Keyword, args: list[str], raw: str) -> object:
    """Validate one directive's arguments and return its parsed value.

    Raises ValueError with a short message on malformed input.
    """
    kind = kw.kind
    if kind is Kind.FLAG:
        arg = _one(args, kw).lower()
        if arg not in _FLAG:
            raise ValueError(f"unsupported option {args[0]!r} for {kw.name}")
        return _FLAG[arg] == "yes"
    if kind is Kind.CHOICE:
        arg = _one(args, kw).lower()
        assert kw.choices is not None
        if arg not in kw.choices:
            raise ValueError(f"unsupported option {args[0]!r} for {kw.name}")
        return kw.choices[arg]
    if kind is Kind.INT:
        arg = _one(args, kw)
        if not re.fullmatch(r"-?\d+", arg) or abs(int(arg)) > _INT_MAX:
            raise ValueError(f"{kw.name}: bad integer {arg!r}")
        return int(arg)
    if kind is Kind.TIME:
        arg = _one(args, kw)
        return None if arg == "none" else parse_time(arg)
    if kind is Kind.PORT:
        return parse_port(_one(args, kw))
    if kind in (Kind.STRING, Kind.FILE):
        return _one(args, kw)
    if kind is Kind.STRLIST:
        return _strlist(args, kw)
    if kind is Kind.COMMAND:
        value = raw.lstrip(" \t=")
        if not value:
            raise ValueError(f"missing argument for {kw.name}")
        return value
    if kind is Kind.FORWARD:
        return _forward_args(kw, args)
    if kind is Kind.SENDENV:
        for arg in args:
            if not arg or "=" in arg:
                raise ValueError("invalid environment name")
        return tuple(args)
    if kind is Kind.SETENV:
        for arg in args:
            if "=" not in arg:
                raise ValueError(f"invalid SetEnv {arg!r}")
        return tuple(args)
    if kind is Kind.PROXYJUMP:
        value = raw.lstrip(" \t=")
        parse_jump(value)
        return value
    if kind is Kind.SPECIAL:
        return _special(kw, args)
    return tuple(args)


def _forward_args(kw: Keyword, args: list[str]) -> tuple[str, ...]:
    """Check the argument count (and, without ``${}``, the syntax) of a forward."""
    if not args or not args[0]:
        raise ValueError(f"missing argument for {kw.name}")
    limit = 1 if kw.key == "dynamicforward" else 2
    if len(args) > limit:
        raise ValueError(f"{kw.name}: extra arguments at end of line")
    if kw.key == "localforward" and len(args) < 2:
        raise ValueError("LocalForward: missing target argument")
    spec = ":".join(args)
    if "${" not in spec:
        forward_from_args(kw.key, tuple(args))
    return tuple(args)


def forward_from_args(key: str, args: tuple[str, ...]) -> Forward:
    """Turn a forward directive's (already ``${}``-expanded) arguments into a :class:`Forward`."""
    remote = key == "remoteforward"
    dynamic = key == "dynamicforward" or (remote and len(args) == 1)
    return parse_forward(":".join(args), dynamic, remote)


def split_args(rest: str) -> list[str]:
    """argv-split a directive's arguments (re-exported for the parser)."""
    return argv_split(rest)
