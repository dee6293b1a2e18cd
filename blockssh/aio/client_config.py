"""Applying ssh_config to :func:`blockssh.aio.connect`: ``connect(host, config=...)``.

The destination is resolved like ``ssh host`` does (:meth:`SSHConfig.resolve`, run in a
worker thread: ``Match exec`` and canonicalization may block), then the resolved values
fill every :func:`~blockssh.aio.client.connect_to` keyword the caller left at its
default. Explicit keywords always win.

Keywords applied: HostName, Port, User, IdentityFile, CertificateFile, IdentitiesOnly,
IdentityAgent, ProxyJump (each jump host resolved from the same config, nested chains
included), ProxyCommand, ConnectTimeout, ServerAliveInterval, ServerAliveCountMax,
Ciphers, KexAlgorithms, MACs, HostKeyAlgorithms (names blockssh does not implement are
dropped), HostKeyAlias, UserKnownHostsFile, GlobalKnownHostsFile, StrictHostKeyChecking
(``yes``/``ask`` refuse unknown keys, ``accept-new`` adds them to the first user
known_hosts file, ``no``/``off`` accept them; a *changed* key is refused in every mode),
ForwardAgent, Compression, PreferredAuthentications, PasswordAuthentication,
KbdInteractiveAuthentication, PubkeyAuthentication, RekeyLimit, LocalForward,
RemoteForward and DynamicForward (started after login; a failure is logged, or raised
with ExitOnForwardFailure).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..config import JumpHost, ResolvedConfig, SSHConfig, load_user_config
from ..exceptions import ConfigurationError, SSHException
from ..keys import SSHCertificate, add_to_file, read_public_key
from ..proto.algorithms.cipher import CIPHER_ALGORITHMS
from ..proto.algorithms.mac import MAC_ALGORITHMS
from ..proto.algorithms.policy import HOST_KEY_ALGORITHMS, Algorithms
from ..proto.kex.methods import KEX_ALGORITHMS

if TYPE_CHECKING:
    from .client import SSHClientConnection

__all__ = [
    "config_connect_arguments",
    "connect_with_config",
    "load_config",
    "resolve_host",
    "start_config_forwards",
]

logger = logging.getLogger("blockssh.config")

# Keywords a jump host takes over from the target's explicit arguments (credentials and checks).
_INHERITED = (
    "client_keys",
    "passphrase",
    "known_hosts",
    "host_key_checker",
    "kbdint_handler",
    "agent_path",
    "identities_only",
    "connect_timeout",
    "banner_timeout",
    "handshake_timeout",
    "auth_timeout",
    "client_version",
)
_COMPRESSION_ON = ("zlib@openssh.com", "zlib", "none")
# What ResolvedConfig lists when the config names no IdentityFile (ssh's defaults): blockssh then
# loads its own defaults (client_keys=None).
_DEFAULT_IDENTITY_NAMES = ("id_rsa", "id_ecdsa", "id_ecdsa_sk", "id_ed25519", "id_ed25519_sk", "id_xmss", "id_dsa")


def load_config(config: Any) -> SSHConfig:
    """An :class:`SSHConfig` from ``config``: itself, a path, or True for ``~/.ssh/config``."""
    if isinstance(config, SSHConfig):
        return config
    if config is True:
        return load_user_config()
    if isinstance(config, (str, os.PathLike)):
        try:
            return SSHConfig.from_path(os.path.expanduser(os.fspath(config)))
        except OSError as exc:
            raise ConfigurationError(f"cannot read ssh_config {os.fspath(config)!r}: {exc.strerror or exc}") from None
    raise ConfigurationError(f"config must be an SSHConfig, a path or True, not {type(config).__name__}")


def _algorithm_tables() -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    ours = Algorithms()
    defaults = {
        "kexalgorithms": ours.kex,
        "ciphers": ours.ciphers,
        "macs": ours.macs,
        "hostkeyalgorithms": ours.host_key,
    }
    supported = {
        "kexalgorithms": tuple(KEX_ALGORITHMS),
        "ciphers": tuple(CIPHER_ALGORITHMS),
        "macs": tuple(MAC_ALGORITHMS),
        "hostkeyalgorithms": HOST_KEY_ALGORITHMS,
    }
    return defaults, supported


def resolve_host(config: SSHConfig, host: str, *, user: str | None = None, port: int | None = None) -> ResolvedConfig:
    """Resolve ``host`` with blockssh's algorithm defaults (blocking: may run ``Match exec``)."""
    defaults, supported = _algorithm_tables()
    return config.resolve(host, user=user, port=port, algorithms=defaults, supported=supported)


def _defaults() -> dict[str, Any]:
    from .client import connect_to

    return {name: p.default for name, p in inspect.signature(connect_to).parameters.items()}


def _given(arguments: Mapping[str, Any], defaults: Mapping[str, Any], name: str) -> bool:
    value, default = arguments[name], defaults[name]
    if value is default:
        return False
    try:
        return bool(type(value) is not type(default) or value != default)
    except Exception:  # noqa: BLE001 - incomparable values: treat as given
        return True


def _algorithm_list(values: list[str], default: tuple[str, ...], supported: tuple[str, ...]) -> list[str] | None:
    usable = [a for a in values if a in supported]
    if not usable:
        raise ConfigurationError(f"ssh_config selects no algorithm blockssh implements: {', '.join(values)}")
    return None if tuple(usable) == default else usable


def _certificate_pairs(identity_files: list[str], certificate_files: list[str]) -> list[Any]:
    """``(key path, certificate path)`` for each CertificateFile whose key is one of the identity files."""
    pairs: list[Any] = []
    for cert_path in certificate_files:
        try:
            cert = read_public_key(cert_path)
        except (OSError, SSHException):
            continue
        if not isinstance(cert, SSHCertificate):
            continue
        for key_path in identity_files:
            try:
                public = read_public_key(key_path + ".pub")
            except (OSError, SSHException):
                continue
            if public == cert.key:
                pairs.append((key_path, cert_path))
    return pairs


def _accept_new(path: str | None) -> Callable[[str, int, Any], Awaitable[bool]]:
    target = os.path.expanduser(path) if path is not None else None

    async def checker(host: str, port: int, key: Any) -> bool:
        if target is not None:
            loop = asyncio.get_running_loop()
            try:
                await loop.run_in_executor(None, add_to_file, target, host, port, key)
            except OSError as exc:
                logger.warning("cannot add the host key of %s to %s: %s", host, path, exc)
        return True

    return checker


def _accept_unknown(host: str, port: int, key: Any) -> bool:
    return True


def _hop(config: SSHConfig, jump: JumpHost, inherited: dict[str, Any]) -> Callable[[Any], Awaitable[Any]]:
    """One ProxyJump hop: a connection to ``jump`` resolved from the same config (``ssh -J`` semantics)."""

    async def connect(previous: SSHClientConnection | None) -> SSHClientConnection:
        from .client import connect_to

        kwargs = dict(inherited)
        kwargs.update(host=jump.host, port=jump.port, username=jump.user, config=config)
        if previous is not None:
            kwargs["tunnel"] = previous  # the hops before it replace its own ProxyJump/ProxyCommand
        conn: SSHClientConnection = await connect_to(**kwargs)
        return conn

    connect.__qualname__ = f"jump to {jump}"
    return connect


def config_connect_arguments(config: SSHConfig, rc: ResolvedConfig, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The :func:`connect_to` keywords for a resolved destination: ``arguments`` filled from ``rc``."""
    defaults = _defaults()
    given = functools.partial(_given, arguments, defaults)
    out = dict(arguments)
    out["config"] = None
    out["host"] = rc.hostname
    out["port"] = rc.port
    out["username"] = rc.user
    if not given("host_key_alias") and rc.host_key_alias:
        out["host_key_alias"] = rc.host_key_alias
    home = config.local.home.rstrip("/")
    default_files = [f"{home}/.ssh/{n}" for n in _DEFAULT_IDENTITY_NAMES]
    if not given("client_keys") and rc.identity_files != default_files:
        files = [f for f in rc.identity_files if os.path.exists(f)]
        out["client_keys"] = files + _certificate_pairs(files, rc.certificate_files)
    if not given("identities_only"):
        out["identities_only"] = rc.identities_only
    if not given("agent_path"):
        agent = rc.identity_agent
        if agent is None or agent == "SSH_AUTH_SOCK":
            out["agent_path"] = os.environ.get("SSH_AUTH_SOCK") or None
        elif agent.lower() == "none":
            out["agent_path"] = None
        else:
            out["agent_path"] = os.environ.get(agent[1:]) if agent.startswith("$") else agent
    if not given("agent_forwarding") and rc.forward_agent:
        out["agent_forwarding"] = rc.forward_agent_path or True
    if not given("tunnel") and not given("proxy_command") and not given("sock"):
        if rc.proxy_command:
            out["proxy_command"] = rc.proxy_command
        elif rc.proxy_jump:
            inherited = {k: arguments[k] for k in _INHERITED if given(k)}
            out["tunnel"] = [_hop(config, jump, inherited) for jump in rc.proxy_jump]
    if not given("connect_timeout") and rc.connect_timeout is not None:
        out["connect_timeout"] = float(rc.connect_timeout)
    if not given("keepalive_interval") and rc.server_alive_interval > 0:
        out["keepalive_interval"] = float(rc.server_alive_interval)
        if not given("keepalive_count_max"):
            out["keepalive_count_max"] = max(1, rc.server_alive_count_max)
    if not given("known_hosts"):
        files = [*rc.user_known_hosts_files, *(f for f in rc.global_known_hosts_files if os.path.exists(f))]
        out["known_hosts"] = [os.path.expanduser(f) for f in files]
    if not given("host_key_checker"):
        mode = rc.strict_host_key_checking
        if mode in ("no", "off"):
            out["host_key_checker"] = _accept_unknown
        elif mode == "accept-new":
            first = rc.user_known_hosts_files[0] if rc.user_known_hosts_files else None
            out["host_key_checker"] = _accept_new(first)
    _apply_algorithms(rc, out, given)
    if not given("compression_algs") and rc.compression:
        out["compression_algs"] = list(_COMPRESSION_ON)
    if not given("preferred_auth"):
        methods = list(rc.preferred_authentications or ("publickey", "keyboard-interactive", "password"))
        if rc.pubkey_authentication == "no":
            methods = [m for m in methods if m != "publickey"]
        if not rc.password_authentication:
            methods = [m for m in methods if m != "password"]
        if not rc.kbd_interactive_authentication:
            methods = [m for m in methods if m != "keyboard-interactive"]
        out["preferred_auth"] = [m for m in methods if m in ("publickey", "keyboard-interactive", "password")]
    if not given("rekey_bytes") and rc.rekey_limit > 0:
        out["rekey_bytes"] = rc.rekey_limit
    if not given("rekey_seconds") and rc.rekey_interval > 0:
        out["rekey_seconds"] = float(rc.rekey_interval)
    return out


def _apply_algorithms(rc: ResolvedConfig, out: dict[str, Any], given: Callable[[str], bool]) -> None:
    defaults, supported = _algorithm_tables()
    for keyword, attr, argument in (
        ("kexalgorithms", "kex_algorithms", "kex_algs"),
        ("ciphers", "ciphers", "encryption_algs"),
        ("macs", "macs", "mac_algs"),
        ("hostkeyalgorithms", "host_key_algorithms", "server_host_key_algs"),
    ):
        if given(argument):
            continue
        values = getattr(rc, attr)
        if keyword == "hostkeyalgorithms":
            values = [v for v in values if not v.endswith("-cert-v01@openssh.com")]  # offered from known_hosts CAs
        chosen = _algorithm_list(values, defaults[keyword], supported[keyword])
        if chosen is not None:
            out[argument] = chosen


async def start_config_forwards(conn: SSHClientConnection, rc: ResolvedConfig) -> list[Any]:
    """Start the LocalForward/RemoteForward/DynamicForward listeners of ``rc`` on ``conn``.

    A forward that cannot start is logged (raised with ExitOnForwardFailure).
    """
    started: list[Any] = []
    jobs: list[tuple[str, Callable[[], Awaitable[Any]]]] = []
    for fwd in rc.local_forwards:
        host = "" if fwd.listen_host == "*" else (fwd.listen_host or "localhost")
        if fwd.listen_path or fwd.connect_path:
            jobs.append(("LocalForward", functools.partial(_local_unix, conn, fwd, host)))
        else:
            jobs.append(
                (
                    "LocalForward",
                    functools.partial(
                        _call, conn, "forward_local_port", host, fwd.listen_port, fwd.connect_host, fwd.connect_port
                    ),
                )
            )
    for fwd in rc.dynamic_forwards:
        host = "" if fwd.listen_host == "*" else (fwd.listen_host or "localhost")
        jobs.append(("DynamicForward", functools.partial(_call, conn, "forward_socks", host, fwd.listen_port)))
    for fwd in rc.remote_forwards:
        host = "" if fwd.listen_host in (None, "*") else fwd.listen_host
        if fwd.listen_path or fwd.connect_path:
            jobs.append(("RemoteForward", functools.partial(_remote_unix, conn, fwd, host)))
        elif fwd.dynamic:
            raise ConfigurationError("dynamic RemoteForward (a SOCKS proxy on the server) is not supported")
        else:
            jobs.append(
                (
                    "RemoteForward",
                    functools.partial(
                        _call, conn, "forward_remote_port", host, fwd.listen_port, fwd.connect_host, fwd.connect_port
                    ),
                )
            )
    for what, job in jobs:
        try:
            started.append(await job())
        except (SSHException, OSError) as exc:
            if rc.exit_on_forward_failure:
                raise
            logger.warning("%s could not start: %s", what, exc)
    return started


async def _call(conn: Any, method: str, *args: Any) -> Any:
    fn = getattr(conn, method, None)
    if fn is None:
        raise ConfigurationError(f"this blockssh build cannot {method.replace('_', ' ')}")
    return await fn(*args)


async def _local_unix(conn: Any, fwd: Any, host: str) -> Any:
    if fwd.listen_path and fwd.connect_path:
        return await _call(conn, "forward_local_path", fwd.listen_path, fwd.connect_path)
    if fwd.listen_path:
        return await _call(conn, "forward_local_path_to_port", fwd.listen_path, fwd.connect_host, fwd.connect_port)
    return await _call(conn, "forward_local_port_to_path", host, fwd.listen_port, fwd.connect_path)


async def _remote_unix(conn: Any, fwd: Any, host: str) -> Any:
    if fwd.listen_path and fwd.connect_path:
        return await _call(conn, "forward_remote_path", fwd.listen_path, fwd.connect_path)
    if fwd.listen_path:
        return await _call(conn, "forward_remote_path_to_port", fwd.listen_path, fwd.connect_host, fwd.connect_port)
    return await _call(conn, "forward_remote_port_to_path", host, fwd.listen_port, fwd.connect_path)


async def connect_with_config(config: Any, arguments: Mapping[str, Any]) -> SSHClientConnection:
    """:func:`connect_to` with ``config`` applied to ``arguments`` (its keywords); forwards started after login."""
    from .client import connect_to

    loop = asyncio.get_running_loop()
    cfg = config if isinstance(config, SSHConfig) else await loop.run_in_executor(None, load_config, config)
    rc = await loop.run_in_executor(
        None,
        functools.partial(resolve_host, cfg, arguments["host"], user=arguments["username"], port=arguments["port"]),
    )
    kwargs = config_connect_arguments(cfg, rc, arguments)
    conn: SSHClientConnection = await connect_to(**kwargs)
    try:
        await start_config_forwards(conn, rc)
    except BaseException:
        conn.close()
        raise
    return conn
