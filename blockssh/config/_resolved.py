"""Typed, fully expanded client options for one destination (blockssh's native view)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from ._eval import Evaluation
from ._keywords import Forward, JumpHost, Kind, forward_from_args, parse_jump
from ._lex import ExpandError, dollar_expand, match_pattern, percent_expand, tilde_expand
from ._parse import Directive, config_error

__all__ = ["ALGORITHM_KEYS", "OPENSSH_CLIENT_DEFAULTS", "Expander", "ResolvedConfig", "apply_algorithm_spec"]

_CERT = "-cert-v01@openssh.com"
_HOSTKEY_PLAIN = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "rsa-sha2-512",
    "rsa-sha2-256",
)
_HOSTKEY = tuple(n.replace("@openssh.com", "") + _CERT for n in _HOSTKEY_PLAIN) + _HOSTKEY_PLAIN

#: OpenSSH 10's client defaults, used when ``resolve()`` is given no defaults of its own.
OPENSSH_CLIENT_DEFAULTS: Mapping[str, tuple[str, ...]] = {
    "kexalgorithms": (
        "mlkem768x25519-sha256",
        "sntrup761x25519-sha512",
        "sntrup761x25519-sha512@openssh.com",
        "curve25519-sha256",
        "curve25519-sha256@libssh.org",
        "ecdh-sha2-nistp256",
        "ecdh-sha2-nistp384",
        "ecdh-sha2-nistp521",
        "diffie-hellman-group-exchange-sha256",
        "diffie-hellman-group16-sha512",
        "diffie-hellman-group18-sha512",
        "diffie-hellman-group14-sha256",
    ),
    "ciphers": (
        "chacha20-poly1305@openssh.com",
        "aes128-gcm@openssh.com",
        "aes256-gcm@openssh.com",
        "aes128-ctr",
        "aes192-ctr",
        "aes256-ctr",
    ),
    "macs": (
        "umac-64-etm@openssh.com",
        "umac-128-etm@openssh.com",
        "hmac-sha2-256-etm@openssh.com",
        "hmac-sha2-512-etm@openssh.com",
        "hmac-sha1-etm@openssh.com",
        "umac-64@openssh.com",
        "umac-128@openssh.com",
        "hmac-sha2-256",
        "hmac-sha2-512",
        "hmac-sha1",
    ),
    "hostkeyalgorithms": _HOSTKEY,
    "pubkeyacceptedalgorithms": _HOSTKEY,
    "hostbasedacceptedalgorithms": _HOSTKEY,
    "casignaturealgorithms": _HOSTKEY_PLAIN,
}
ALGORITHM_KEYS = tuple(OPENSSH_CLIENT_DEFAULTS)

_DEFAULT_IDENTITIES = ("id_rsa", "id_ecdsa", "id_ecdsa_sk", "id_ed25519", "id_ed25519_sk", "id_xmss", "id_dsa")
_DEFAULT_TOKENS = "CLiklnpdhruj"


def _cat(first: Sequence[str], second: Sequence[str]) -> list[str]:
    out: list[str] = []
    for name in (*first, *second):
        if name and name not in out:
            out.append(name)
    return out


def apply_algorithm_spec(spec: str | None, default: Sequence[str], supported: Sequence[str] | None = None) -> list[str]:
    """Apply an OpenSSH algorithm list (``+`` append, ``-`` remove, ``^`` prepend, or explicit).

    Wildcards are expanded against ``supported`` (all algorithms the caller
    implements); without it, against ``default`` plus the names given literally.
    Raises ValueError when the result would be empty.
    """
    if not spec:
        return list(default)
    if spec[0] == "-":
        patterns = spec[1:].split(",")
        return [a for a in default if not any(match_pattern(a, p) for p in patterns)]
    if spec[0] == "+":
        names = _cat(default, spec[1:].split(","))
    elif spec[0] == "^":
        names = _cat(spec[1:].split(","), default)
    else:
        names = spec.split(",")
    if supported is None:
        supported = _cat(default, [n for n in names if "*" not in n and "?" not in n])
    out: list[str] = []
    for pattern in names:
        if pattern.startswith("!"):
            raise ValueError(f"negated algorithm pattern {pattern!r} is not allowed here")
        out.extend(a for a in supported if match_pattern(a, pattern) and a not in out)
    if not out:
        raise ValueError(f"algorithm list {spec!r} selects nothing")
    return out


class Expander:
    """Expands ``~``, ``${VAR}`` and %tokens in values, per keyword, as ssh(1) does."""

    def __init__(self, ev: Evaluation, *, strict: bool) -> None:
        self.ev = ev
        self.strict = strict
        self.tokens = ev.tokens()
        self.home = ev.local.home
        self.environ = ev.local.environ

    def expand(
        self,
        value: str,
        d: Directive | None,
        *,
        tilde: bool = False,
        dollar: bool = False,
        tokens: str = _DEFAULT_TOKENS,
        keep: Collection[str] = (),
    ) -> str | None:
        """Expand one value; None when a ``${VAR}`` is unset (OpenSSH then ignores the setting)."""
        try:
            if tilde:
                value = tilde_expand(value, self.home)
            table = {k: v for k, v in self.tokens.items() if k in tokens}
            value = percent_expand(value, table, keep=keep, strict=self.strict)
            if dollar:
                value = dollar_expand(value, self.environ)
        except ExpandError as exc:
            if "is not set" in str(exc):
                return None
            if self.strict:
                raise config_error(d.source if d else None, f"{d.name if d else 'value'}: {exc}") from None
            return value
        return value

    def path(self, d: Directive, value: str | None = None) -> str | None:
        """A file-ish value: ``~``, default tokens and ``${VAR}``."""
        return self.expand(d.text() if value is None else value, d, tilde=True, dollar=True)

    def proxy_command(self, d: Directive) -> str:
        """ProxyCommand: %h %n %p %r only; a leading ``~`` in any word is expanded too."""
        text = self.expand(str(d.value), d, tokens="hnpr") or ""
        words = text.split(" ")
        return " ".join(tilde_expand(w, self.home) if w == "~" or w.startswith("~/") else w for w in words)

    def forward(self, d: Directive) -> Forward | None:
        """Parse a forward after ``${VAR}`` expansion, then expand tokens in its socket paths."""
        try:
            args = tuple(dollar_expand(a, self.environ) for a in d.args)
            fwd = forward_from_args(d.key, args)
        except ExpandError:
            return None
        except ValueError as exc:
            raise config_error(d.source, str(exc)) from None
        lpath = self.expand(fwd.listen_path, d) if fwd.listen_path else None
        cpath = self.expand(fwd.connect_path, d) if fwd.connect_path else None
        return fwd._replace(listen_path=lpath, connect_path=cpath)

    def forward_text(self, d: Directive) -> str:
        """lookup()'s string form of a forward: the arguments, with socket paths expanded."""
        out = []
        for arg in d.args:
            if "/" in arg and not arg.startswith("["):
                arg = self.expand(arg, d, dollar=True) or arg
            out.append(arg)
        return " ".join(out)


@dataclass
class ResolvedConfig:
    """Every client option for one destination, typed and expanded, defaults filled like ``ssh -G``.

    ``extra`` holds keywords blockssh does not model (and unknown ones) as raw
    argument tuples. ``dump()`` renders the modelled options in ``ssh -G`` form.
    """

    host: str
    hostname: str
    user: str
    port: int = 22
    identity_files: list[str] = field(default_factory=list)
    certificate_files: list[str] = field(default_factory=list)
    identities_only: bool = False
    identity_agent: str | None = None
    add_keys_to_agent: str = "no"
    add_keys_to_agent_lifespan: int = 0
    forward_agent: bool = False
    forward_agent_path: str | None = None
    proxy_command: str | None = None
    proxy_jump: list[JumpHost] = field(default_factory=list)
    local_forwards: list[Forward] = field(default_factory=list)
    remote_forwards: list[Forward] = field(default_factory=list)
    dynamic_forwards: list[Forward] = field(default_factory=list)
    clear_all_forwardings: bool = False
    exit_on_forward_failure: bool = False
    gateway_ports: bool = False
    connect_timeout: int | None = None
    connection_attempts: int = 1
    server_alive_interval: int = 0
    server_alive_count_max: int = 3
    tcp_keep_alive: bool = True
    compression: bool = False
    address_family: str = "any"
    bind_address: str | None = None
    bind_interface: str | None = None
    strict_host_key_checking: str = "ask"
    user_known_hosts_files: list[str] = field(default_factory=list)
    global_known_hosts_files: list[str] = field(
        default_factory=lambda: ["/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"]
    )
    known_hosts_command: str | None = None
    hash_known_hosts: bool = False
    check_host_ip: bool = False
    update_host_keys: str = "yes"
    verify_host_key_dns: str = "no"
    host_key_alias: str | None = None
    revoked_host_keys: str | None = None
    no_host_authentication_for_localhost: bool = False
    ciphers: list[str] = field(default_factory=list)
    macs: list[str] = field(default_factory=list)
    kex_algorithms: list[str] = field(default_factory=list)
    host_key_algorithms: list[str] = field(default_factory=list)
    pubkey_accepted_algorithms: list[str] = field(default_factory=list)
    hostbased_accepted_algorithms: list[str] = field(default_factory=list)
    ca_signature_algorithms: list[str] = field(default_factory=list)
    preferred_authentications: list[str] | None = None
    password_authentication: bool = True
    kbd_interactive_authentication: bool = True
    kbd_interactive_devices: str | None = None
    pubkey_authentication: str = "yes"
    hostbased_authentication: bool = False
    gssapi_authentication: bool = False
    gssapi_delegate_credentials: bool = False
    batch_mode: bool = False
    number_of_password_prompts: int = 3
    required_rsa_size: int = 1024
    canonicalize_hostname: str = "no"
    canonical_domains: list[str] = field(default_factory=list)
    canonicalize_max_dots: int = 1
    canonicalize_fallback_local: bool = True
    canonicalize_permitted_cnames: list[tuple[str, str]] = field(default_factory=list)
    control_master: str = "no"
    control_path: str | None = None
    control_persist: bool = False
    control_persist_timeout: int = 0
    send_env: list[str] = field(default_factory=list)
    set_env: dict[str, str] = field(default_factory=dict)
    remote_command: str | None = None
    local_command: str | None = None
    permit_local_command: bool = False
    request_tty: str = "auto"
    session_type: str = "default"
    stdin_null: bool = False
    fork_after_authentication: bool = False
    forward_x11: bool = False
    forward_x11_timeout: int = 1200
    escape_char: str = "~"
    log_level: str = "INFO"
    rekey_limit: int = 0
    rekey_interval: int = 0
    enable_ssh_keysign: bool = False
    visual_host_key: bool = False
    fingerprint_hash: str = "SHA256"
    proxy_use_fdpass: bool = False
    stream_local_bind_unlink: bool = False
    stream_local_bind_mask: int = 0o177
    tag: str | None = None
    ignore_unknown: str | None = None
    extra: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def dump(self) -> dict[str, list[str]]:
        """The modelled options as ``ssh -G`` prints them: keyword -> list of output values."""
        return _dump(self)


# Options copied straight from the first-obtained value: keyword -> attribute.
_DIRECT = {
    "identitiesonly": "identities_only",
    "clearallforwardings": "clear_all_forwardings",
    "exitonforwardfailure": "exit_on_forward_failure",
    "gatewayports": "gateway_ports",
    "connecttimeout": "connect_timeout",
    "connectionattempts": "connection_attempts",
    "serveraliveinterval": "server_alive_interval",
    "serveralivecountmax": "server_alive_count_max",
    "tcpkeepalive": "tcp_keep_alive",
    "addressfamily": "address_family",
    "bindaddress": "bind_address",
    "bindinterface": "bind_interface",
    "stricthostkeychecking": "strict_host_key_checking",
    "hashknownhosts": "hash_known_hosts",
    "checkhostip": "check_host_ip",
    "verifyhostkeydns": "verify_host_key_dns",
    "nohostauthenticationforlocalhost": "no_host_authentication_for_localhost",
    "passwordauthentication": "password_authentication",
    "kbdinteractiveauthentication": "kbd_interactive_authentication",
    "kbdinteractivedevices": "kbd_interactive_devices",
    "pubkeyauthentication": "pubkey_authentication",
    "hostbasedauthentication": "hostbased_authentication",
    "gssapiauthentication": "gssapi_authentication",
    "gssapidelegatecredentials": "gssapi_delegate_credentials",
    "batchmode": "batch_mode",
    "numberofpasswordprompts": "number_of_password_prompts",
    "requiredrsasize": "required_rsa_size",
    "canonicalizehostname": "canonicalize_hostname",
    "canonicalizemaxdots": "canonicalize_max_dots",
    "canonicalizefallbacklocal": "canonicalize_fallback_local",
    "controlmaster": "control_master",
    "permitlocalcommand": "permit_local_command",
    "requesttty": "request_tty",
    "sessiontype": "session_type",
    "stdinnull": "stdin_null",
    "forkafterauthentication": "fork_after_authentication",
    "forwardx11": "forward_x11",
    "forwardx11timeout": "forward_x11_timeout",
    "escapechar": "escape_char",
    "loglevel": "log_level",
    "enablesshkeysign": "enable_ssh_keysign",
    "visualhostkey": "visual_host_key",
    "fingerprinthash": "fingerprint_hash",
    "proxyusefdpass": "proxy_use_fdpass",
    "streamlocalbindunlink": "stream_local_bind_unlink",
    "streamlocalbindmask": "stream_local_bind_mask",
    "tag": "tag",
    "ignoreunknown": "ignore_unknown",
}
_ALGO_ATTR = {
    "ciphers": "ciphers",
    "macs": "macs",
    "kexalgorithms": "kex_algorithms",
    "hostkeyalgorithms": "host_key_algorithms",
    "pubkeyacceptedalgorithms": "pubkey_accepted_algorithms",
    "hostbasedacceptedalgorithms": "hostbased_accepted_algorithms",
    "casignaturealgorithms": "ca_signature_algorithms",
}
_HANDLED = frozenset(
    {
        *_DIRECT,
        *_ALGO_ATTR,
        "user",
        "hostname",
        "port",
        "identityagent",
        "addkeystoagent",
        "forwardagent",
        "userknownhostsfile",
        "globalknownhostsfile",
        "knownhostscommand",
        "hostkeyalias",
        "revokedhostkeys",
        "preferredauthentications",
        "canonicaldomains",
        "canonicalizepermittedcnames",
        "controlpath",
        "controlpersist",
        "remotecommand",
        "localcommand",
        "rekeylimit",
        "compression",
        "updatehostkeys",
    }
)


def build_resolved(
    ev: Evaluation,
    *,
    defaults: Mapping[str, Sequence[str]],
    supported: Mapping[str, Sequence[str]],
) -> ResolvedConfig:
    """Fill a ResolvedConfig from an evaluation (strict expansion, OpenSSH defaults)."""
    col = ev.collected
    x = Expander(ev, strict=True)
    rc = ResolvedConfig(host=ev.original, hostname=ev.hostname, user=ev.user, port=ev.port)
    for key, attr in _DIRECT.items():
        d = col.first.get(key)
        if d is not None and d.value is not None:
            setattr(rc, attr, d.value)
    for key, attr in _ALGO_ATTR.items():
        d = col.first.get(key)
        try:
            algos = apply_algorithm_spec(
                str(d.value) if d else None, defaults.get(key, OPENSSH_CLIENT_DEFAULTS[key]), supported.get(key)
            )
        except ValueError as exc:
            raise config_error(d.source if d else None, str(exc)) from None
        setattr(rc, attr, algos)
    rc.compression = col.get("compression") == "yes"

    for key, attr in (("identityfile", "identity_files"), ("certificatefile", "certificate_files")):
        paths = [x.path(d) for d in col.files.get(key, [])]
        setattr(rc, attr, [p for p in paths if p is not None])
    if not col.files.get("identityfile"):
        rc.identity_files = [f"{ev.local.home.rstrip('/')}/.ssh/{name}" for name in _DEFAULT_IDENTITIES]

    d = col.first.get("identityagent")
    if d is not None:
        rc.identity_agent = x.path(d)
    d = col.first.get("forwardagent")
    if d is not None:
        if isinstance(d.value, bool):
            rc.forward_agent = d.value
        else:
            rc.forward_agent, rc.forward_agent_path = True, x.path(d)
    d = col.first.get("addkeystoagent")
    if d is not None and isinstance(d.value, tuple):
        rc.add_keys_to_agent, rc.add_keys_to_agent_lifespan = d.value

    if col.proxy is not None:
        p = col.proxy
        if p.key == "proxycommand":
            if str(p.value).lower() != "none":
                rc.proxy_command = x.proxy_command(p)
        else:
            text = x.expand(str(p.value), p, tokens="hnpr") or ""
            try:
                rc.proxy_jump = parse_jump(text) or []
            except ValueError as exc:
                raise config_error(p.source, str(exc)) from None

    if not rc.clear_all_forwardings:
        for d in col.forwards:
            fwd = x.forward(d)
            if fwd is None:
                continue
            if d.key == "remoteforward":
                rc.remote_forwards.append(fwd)
            elif fwd.dynamic:
                rc.dynamic_forwards.append(fwd)
            else:
                rc.local_forwards.append(fwd)

    d = col.first.get("userknownhostsfile")
    files = list(d.value) if d is not None and isinstance(d.value, tuple) else []
    rc.update_host_keys = "yes" if not files or files == ["~/.ssh/known_hosts"] else "no"
    if rc.verify_host_key_dns != "no":
        rc.update_host_keys = "no"
    explicit = col.first.get("updatehostkeys")
    if explicit is not None:
        rc.update_host_keys = str(explicit.value)
    if d is None:
        files = ["~/.ssh/known_hosts", "~/.ssh/known_hosts2"]
    if files and files[0].lower() == "none":
        rc.user_known_hosts_files = []
    else:
        expanded = [x.path(d, f) if d else tilde_expand(f, ev.local.home) for f in files]
        rc.user_known_hosts_files = [f for f in expanded if f is not None]
    d = col.first.get("globalknownhostsfile")
    if d is not None and isinstance(d.value, tuple):
        g = list(d.value)
        rc.global_known_hosts_files = [] if g[0].lower() == "none" else [tilde_expand(f, ev.local.home) for f in g]

    _strings(rc, x, col.first)
    d = col.first.get("canonicaldomains")
    if d is not None and isinstance(d.value, tuple) and d.value[0].lower() != "none":
        rc.canonical_domains = list(d.value)
    d = col.first.get("canonicalizepermittedcnames")
    if d is not None and isinstance(d.value, tuple):
        rc.canonicalize_permitted_cnames = list(d.value)
    d = col.first.get("controlpersist")
    if d is not None and isinstance(d.value, tuple):
        rc.control_persist, rc.control_persist_timeout = d.value
    d = col.first.get("rekeylimit")
    if d is not None and isinstance(d.value, tuple):
        rc.rekey_limit = d.value[0]
        rc.rekey_interval = d.value[1] or 0
    rc.send_env = list(col.sendenv)
    if col.setenv is not None:
        for item in col.setenv.args:
            name, _, val = item.partition("=")
            rc.set_env.setdefault(name, val)
    if rc.update_host_keys == "ask" and (
        (rc.control_persist and rc.control_path) or rc.remote_command or rc.request_tty == "no"
    ):
        rc.update_host_keys = "no"
    for key, d in col.first.items():
        if key not in _HANDLED and d.kind is not Kind.IGNORED:
            rc.extra[key] = d.args
    return rc


def _strings(rc: ResolvedConfig, x: Expander, first: Mapping[str, Directive]) -> None:
    def text(key: str) -> tuple[Directive, str] | None:
        d = first.get(key)
        if d is None:
            return None
        value = d.text()
        return None if value.lower() == "none" else (d, value)

    if (t := text("controlpath")) is not None:
        rc.control_path = x.path(t[0])
    if (t := text("revokedhostkeys")) is not None:
        rc.revoked_host_keys = x.path(t[0])
    if (t := text("knownhostscommand")) is not None:
        rc.known_hosts_command = x.expand(t[1], t[0], dollar=True, keep="fHIKt")
    if (t := text("remotecommand")) is not None:
        rc.remote_command = x.expand(t[1], t[0])
    if (t := text("localcommand")) is not None:
        rc.local_command = x.expand(t[1], t[0], keep="T")
    d = first.get("hostkeyalias")
    if d is not None:
        rc.host_key_alias = d.text().lower()
    d = first.get("preferredauthentications")
    if d is not None:
        rc.preferred_authentications = d.text().split(",")


_G_WORDS = {"yes": "true", "no": "false"}


def _yn(value: bool) -> str:
    return "yes" if value else "no"


def _fwd(f: Forward, with_connect: bool) -> str:
    if f.listen_path is not None:
        out = f.listen_path
    elif f.listen_host is None:
        out = str(f.listen_port)
    else:
        out = f"[{f.listen_host}]:{f.listen_port}"
    if with_connect:
        if f.connect_path is not None:
            out += f" {f.connect_path}"
        elif f.connect_host is None:
            out += " [socks]:0"
        else:
            out += f" [{f.connect_host}]:{f.connect_port}"
    return out


def _escape(ch: str) -> str:
    if ch == "none":
        return "none"
    if ord(ch) < 32:
        return "\\^" + chr(ord(ch) + 64)
    return ch


def _dump(rc: ResolvedConfig) -> dict[str, list[str]]:
    g: dict[str, list[str]] = {
        "host": [rc.host],
        "user": [rc.user],
        "hostname": [rc.hostname],
        "port": [str(rc.port)],
    }
    flags = {
        "batchmode": rc.batch_mode,
        "canonicalizefallbacklocal": rc.canonicalize_fallback_local,
        "checkhostip": rc.check_host_ip,
        "compression": rc.compression,
        "enablesshkeysign": rc.enable_ssh_keysign,
        "clearallforwardings": rc.clear_all_forwardings,
        "exitonforwardfailure": rc.exit_on_forward_failure,
        "forwardx11": rc.forward_x11,
        "gatewayports": rc.gateway_ports,
        "hashknownhosts": rc.hash_known_hosts,
        "hostbasedauthentication": rc.hostbased_authentication,
        "identitiesonly": rc.identities_only,
        "kbdinteractiveauthentication": rc.kbd_interactive_authentication,
        "nohostauthenticationforlocalhost": rc.no_host_authentication_for_localhost,
        "passwordauthentication": rc.password_authentication,
        "permitlocalcommand": rc.permit_local_command,
        "proxyusefdpass": rc.proxy_use_fdpass,
        "stdinnull": rc.stdin_null,
        "forkafterauthentication": rc.fork_after_authentication,
        "streamlocalbindunlink": rc.stream_local_bind_unlink,
        "tcpkeepalive": rc.tcp_keep_alive,
        "visualhostkey": rc.visual_host_key,
    }
    g.update({k: [_yn(v)] for k, v in flags.items()})
    words = {
        "addressfamily": rc.address_family,
        "canonicalizehostname": rc.canonicalize_hostname,
        "controlmaster": rc.control_master,
        "pubkeyauthentication": rc.pubkey_authentication,
        "requesttty": rc.request_tty,
        "sessiontype": rc.session_type,
        "stricthostkeychecking": rc.strict_host_key_checking,
        "verifyhostkeydns": rc.verify_host_key_dns,
        "updatehostkeys": rc.update_host_keys,
        "fingerprinthash": rc.fingerprint_hash,
        "loglevel": rc.log_level,
    }
    g.update({k: [_G_WORDS.get(v, v)] for k, v in words.items()})
    ints = {
        "canonicalizemaxdots": rc.canonicalize_max_dots,
        "connectionattempts": rc.connection_attempts,
        "forwardx11timeout": rc.forward_x11_timeout,
        "numberofpasswordprompts": rc.number_of_password_prompts,
        "serveralivecountmax": rc.server_alive_count_max,
        "serveraliveinterval": rc.server_alive_interval,
        "requiredrsasize": rc.required_rsa_size,
    }
    g.update({k: [str(v)] for k, v in ints.items()})
    for key, attr in _ALGO_ATTR.items():
        g[key] = [",".join(getattr(rc, attr))]
    optional = {
        "bindaddress": rc.bind_address,
        "bindinterface": rc.bind_interface,
        "controlpath": rc.control_path,
        "hostkeyalias": rc.host_key_alias,
        "identityagent": rc.identity_agent,
        "kbdinteractivedevices": rc.kbd_interactive_devices,
        "localcommand": rc.local_command,
        "remotecommand": rc.remote_command,
        "revokedhostkeys": rc.revoked_host_keys,
        "knownhostscommand": rc.known_hosts_command,
        "preferredauthentications": ",".join(rc.preferred_authentications)
        if rc.preferred_authentications is not None
        else None,
    }
    g.update({k: [v] for k, v in optional.items() if v is not None})
    g["dynamicforward"] = [_fwd(f, False) for f in rc.dynamic_forwards]
    g["localforward"] = [_fwd(f, True) for f in rc.local_forwards]
    g["remoteforward"] = [_fwd(f, True) for f in rc.remote_forwards]
    g["identityfile"] = list(rc.identity_files)
    g["certificatefile"] = list(rc.certificate_files)
    g["canonicaldomains"] = [" ".join(rc.canonical_domains) or "none"]
    g["globalknownhostsfile"] = [" ".join(rc.global_known_hosts_files) or "none"]
    g["userknownhostsfile"] = [" ".join(rc.user_known_hosts_files) or "none"]
    g["sendenv"] = list(rc.send_env)
    g["setenv"] = [f"{k}={v}" for k, v in rc.set_env.items()]
    if rc.add_keys_to_agent_lifespan <= 0:
        g["addkeystoagent"] = [_G_WORDS.get(rc.add_keys_to_agent, rc.add_keys_to_agent)]
    else:
        prefix = "confirm " if rc.add_keys_to_agent == "confirm" else ""
        g["addkeystoagent"] = [f"{prefix}{rc.add_keys_to_agent_lifespan}"]
    g["forwardagent"] = [rc.forward_agent_path or _yn(rc.forward_agent)]
    g["connecttimeout"] = ["none" if rc.connect_timeout is None else str(rc.connect_timeout)]
    cnames = " ".join(f"{s}:{t}" for s, t in rc.canonicalize_permitted_cnames)
    g["canonicalizepermittedcnames"] = [cnames or "none"]
    if rc.control_persist and rc.control_persist_timeout:
        g["controlpersist"] = [str(rc.control_persist_timeout)]
    else:
        g["controlpersist"] = [_yn(rc.control_persist)]
    g["escapechar"] = [_escape(rc.escape_char)]
    g["rekeylimit"] = [f"{rc.rekey_limit} {rc.rekey_interval}"]
    g["streamlocalbindmask"] = [f"0{rc.stream_local_bind_mask:o}"]
    if rc.proxy_jump:
        g["proxyjump"] = [",".join(str(h) for h in rc.proxy_jump)]
    elif rc.proxy_command is not None:
        g["proxycommand"] = [rc.proxy_command]
    return {k: v for k, v in g.items() if v}
