"""paramiko's ``ProxyCommand``, and what the blocking facade can run SSH over.

``ProxyCommand(command_line)`` starts ``command_line`` (split with :func:`shlex.split`,
no shell, as paramiko does) with pipes; pass it as ``SSHClient.connect(sock=...)`` or
``Transport(sock)``. Given to a transport, its pipes are handed to blockssh's event
loop (no thread per connection); on its own it is a socket-like object with ``send``,
``recv`` (honouring :meth:`ProxyCommand.settimeout`), ``close`` and ``closed``.
Failures raise :class:`~blockssh.exceptions.ProxyCommandFailure`.

:func:`aio_sock` maps a ``sock=`` argument to what :func:`blockssh.aio.connect` runs over:
a socket as is, a blocking :class:`~blockssh.sync.channel.Channel` (paramiko's jump host
pattern, ``open_channel("direct-tcpip", ...)``) as its asyncio channel with the data
already buffered, a ProxyCommand as its process, any other object with ``send``/``recv``
through helper threads.
"""

from __future__ import annotations

import contextvars
import logging
import os
import select
import shlex
import signal
import socket
import subprocess
import time
from typing import TYPE_CHECKING, Any

from ..aio.agent import default_agent_path
from ..aio.client_config import _DEFAULT_IDENTITY_NAMES, _algorithm_tables, load_config, resolve_host
from ..aio.proxy import DEFAULT_MAX_JUMP_HOPS, ChannelSock, PipeSock
from ..exceptions import ConfigurationError, ProxyCommandFailure, SSHException, SSHTimeoutError
from .channel import Channel

if TYPE_CHECKING:
    from ..config import ResolvedConfig, SSHConfig
    from .client import SSHClient

__all__ = ["ProxyCommand", "aio_sock", "connect_with_config"]

_log = logging.getLogger("blockssh.client")


class ProxyCommand:
    """A command whose stdin/stdout carry an SSH connection (ssh_config's ProxyCommand).

    Args:
        command_line: the command, split like a shell would (no shell runs it).
    """

    def __init__(self, command_line: str) -> None:
        self.cmd = shlex.split(command_line)
        if not self.cmd:
            raise ProxyCommandFailure(command_line, "empty command")
        self.timeout: float | None = None
        try:
            self.process: subprocess.Popen[bytes] = subprocess.Popen(
                self.cmd,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                bufsize=0,
                start_new_session=True,
            )
        except OSError as exc:
            raise ProxyCommandFailure(" ".join(self.cmd), exc.strerror or str(exc)) from None

    @property
    def command(self) -> str:
        """The command line, for messages."""
        return " ".join(self.cmd)

    def send(self, content: bytes) -> int:
        """Write ``content`` to the command's stdin; returns its length."""
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(content)
            self.process.stdin.flush()
        except OSError as exc:
            raise ProxyCommandFailure(self.command, exc.strerror or str(exc)) from None
        return len(content)

    def recv(self, size: int) -> bytes:
        """Read up to ``size`` bytes (fewer at end of output); ``socket.timeout`` if none arrive in time."""
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        buffer = b""
        start = time.monotonic()
        try:
            while len(buffer) < size:
                wait: float | None = None
                if self.timeout is not None:
                    wait = self.timeout - (time.monotonic() - start)
                    if wait <= 0:
                        break
                ready, _, _ = select.select([fd], [], [], wait)
                if not ready:
                    break
                data = os.read(fd, size - len(buffer))
                if not data:
                    return buffer  # end of output
                buffer += data
        except OSError as exc:
            raise ProxyCommandFailure(self.command, exc.strerror or str(exc)) from None
        if not buffer and size:
            raise SSHTimeoutError(f"no data from the proxy command within {self.timeout} s")
        return buffer

    def close(self) -> None:
        """Terminate the command (SIGTERM) and close the pipes."""
        if self.process.poll() is None:
            try:
                self.process.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
        for pipe in (self.process.stdin, self.process.stdout, self.process.stderr):
            if pipe is not None:
                try:
                    pipe.close()
                except OSError:
                    pass

    @property
    def closed(self) -> bool:
        """True once the command has exited."""
        return self.process.poll() is not None

    @property
    def _closed(self) -> bool:
        return self.closed

    def settimeout(self, timeout: float | None) -> None:
        """Limit each :meth:`recv` (None: wait as long as it takes)."""
        self.timeout = timeout

    def __enter__(self) -> ProxyCommand:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "exited" if self.closed else "running"
        return f"<blockssh.ProxyCommand {self.command!r} {state}>"


def _early_data(chan: Channel) -> list[bytes]:
    """Take what the blocking channel has buffered (runs on the loop thread, just before the handover)."""
    bridge = chan._bridge  # noqa: SLF001 - the facade's own channel
    with bridge.cond:
        early = [bytes(c) for c in bridge.stdout.chunks]
        bridge.stdout.chunks.clear()
        bridge.stdout.size = 0
    return early


def aio_sock(sock: Any) -> Any:
    """What :func:`blockssh.aio.client.connect_with_options` runs SSH over, for a facade ``sock=`` argument."""
    if isinstance(sock, socket.socket):
        return sock
    if isinstance(sock, Channel):
        return ChannelSock(sock._chan, lambda: _early_data(sock))  # noqa: SLF001
    if isinstance(sock, ProxyCommand):
        return PipeSock(sock.process, sock.command)
    return sock


# ---------------------------------------------------------------------------------------------
# ssh_config for SSHClient.connect(config=...)
# ---------------------------------------------------------------------------------------------

_jump_depth: contextvars.ContextVar[int] = contextvars.ContextVar("blockssh_sync_jump_depth", default=0)


def _touch(path: str) -> None:
    directory = os.path.dirname(path)
    if directory and not os.path.isdir(directory):
        os.makedirs(directory, mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.close(fd)


def _host_keys_from_config(client: SSHClient, rc: ResolvedConfig) -> None:
    """UserKnownHostsFile/GlobalKnownHostsFile/StrictHostKeyChecking, unless the caller set them up."""
    from .client import AutoAddPolicy, RejectPolicy

    caller_keys = client._host_keys_filename is not None or len(client._host_keys) > 0  # noqa: SLF001
    policy_set = client._policy_set  # noqa: SLF001
    adds = rc.strict_host_key_checking in ("no", "off", "accept-new") and not policy_set
    if not caller_keys:
        files = [os.path.expanduser(f) for f in rc.user_known_hosts_files]
        for index, path in enumerate(files):
            if index == 0 and adds:
                _touch(path)  # new keys are saved here (ssh creates the file too)
            if os.path.exists(path):
                if index == 0 and adds:
                    client.load_host_keys(path)  # AutoAddPolicy saves new keys here
                else:
                    client.load_system_host_keys(path)  # read only, as paramiko treats system keys
        for path in rc.global_known_hosts_files:
            if os.path.exists(path):
                client.load_system_host_keys(path)
    if not policy_set:
        client.set_missing_host_key_policy(AutoAddPolicy() if adds else RejectPolicy())
        client._policy_set = False  # noqa: SLF001 - still the config's choice, not the caller's


def _jump_sock(
    client: SSHClient, cfg: SSHConfig, rc: ResolvedConfig, timeout: float | None, passphrase: str | None
) -> Any:
    """Connect the ProxyJump chain (each hop resolved from the same config) and open the channel to the target."""
    from .client import SSHClient

    depth = _jump_depth.get()
    if depth + len(rc.proxy_jump) > DEFAULT_MAX_JUMP_HOPS:
        raise ConfigurationError(f"more than {DEFAULT_MAX_JUMP_HOPS} jump hosts (is there a ProxyJump loop?)")
    jumps = client._jump_clients  # noqa: SLF001 - closed with the client
    # Where each hop's channel leads: the next hop's real address, then the target's.
    destinations = [resolve_host(cfg, h.host, user=h.user, port=h.port) for h in rc.proxy_jump[1:]]
    addresses = [(d.hostname, d.port) for d in destinations] + [(rc.hostname, rc.port)]
    sock: Any = None
    token = _jump_depth.set(depth + len(rc.proxy_jump))
    try:
        for hop, dest in zip(rc.proxy_jump, addresses, strict=True):
            jump = SSHClient()
            jump._system_host_keys = client._system_host_keys  # noqa: SLF001 - the same trust as the client
            if client._host_keys_filename is not None or len(client._host_keys):  # noqa: SLF001
                jump._host_keys = client._host_keys  # noqa: SLF001
                jump._host_keys_filename = client._host_keys_filename  # noqa: SLF001
            if client._policy_set:  # noqa: SLF001
                jump.set_missing_host_key_policy(client._policy)  # noqa: SLF001
            jumps.append(jump)
            jump.connect(
                hop.host,
                hop.port or 22,
                username=hop.user,
                timeout=timeout,
                sock=sock,
                passphrase=passphrase,
                config=cfg,
            )
            transport = jump.get_transport()
            assert transport is not None
            sock = transport.open_channel("direct-tcpip", dest, ("", 0), timeout=timeout)
    finally:
        _jump_depth.reset(token)
    return sock


def connect_with_config(client: SSHClient, config: Any, arguments: dict[str, Any]) -> Any:
    """``SSHClient.connect`` with ssh_config applied to the arguments the caller left at their defaults."""
    cfg = load_config(config)
    given_port = arguments["port"] if arguments["port"] != 22 else None
    rc = resolve_host(cfg, arguments["hostname"], user=arguments["username"], port=given_port)
    kw = dict(arguments)
    kw["config"] = None
    kw["hostname"], kw["port"], kw["username"] = rc.hostname, rc.port, rc.user
    home = cfg.local.home.rstrip("/")
    default_files = [f"{home}/.ssh/{n}" for n in _DEFAULT_IDENTITY_NAMES]
    if kw["key_filename"] is None and rc.identity_files != default_files:
        kw["key_filename"] = [f for f in rc.identity_files if os.path.exists(f)]
        if rc.identities_only:
            kw["look_for_keys"] = False
    if rc.identity_agent is not None and rc.identity_agent.lower() == "none":
        kw["allow_agent"] = False
    if kw["timeout"] is None and rc.connect_timeout is not None:
        kw["timeout"] = float(rc.connect_timeout)
    if not kw["compress"] and rc.compression:
        kw["compress"] = True
    _host_keys_from_config(client, rc)
    if kw["sock"] is None:
        if rc.proxy_command:
            kw["sock"] = ProxyCommand(rc.proxy_command)
        elif rc.proxy_jump:
            kw["sock"] = _jump_sock(client, cfg, rc, kw["timeout"], kw["passphrase"])
    if kw["disabled_algorithms"] is None:
        kw["disabled_algorithms"] = _disabled_from_config(rc)
    result = client.connect(**kw)
    transport = client.get_transport()
    assert transport is not None
    if rc.server_alive_interval > 0:
        transport.set_keepalive(rc.server_alive_interval, rc.server_alive_count_max)
    if rc.forward_agent:
        conn = transport._check_active()  # noqa: SLF001
        path = rc.forward_agent_path or default_agent_path()
        transport._portal.call_soon(conn.enable_agent_forwarding, path)  # noqa: SLF001
    _start_forwards(client, rc)
    return result


def _disabled_from_config(rc: ResolvedConfig) -> dict[str, list[str]] | None:
    """The ``disabled_algorithms`` (paramiko's form) removing what the config's Ciphers/MACs/KexAlgorithms leave out."""
    defaults, supported = _algorithm_tables()
    disabled: dict[str, list[str]] = {}
    for attr, keyword, paramiko_key in (
        ("ciphers", "ciphers", "ciphers"),
        ("macs", "macs", "macs"),
        ("kex_algorithms", "kexalgorithms", "kex"),
        ("host_key_algorithms", "hostkeyalgorithms", "keys"),
    ):
        wanted = [a for a in getattr(rc, attr) if a in supported[keyword]]
        if not wanted:
            raise ConfigurationError(f"ssh_config selects no {keyword} blockssh implements")
        dropped = [a for a in defaults[keyword] if a not in wanted]
        if dropped:
            disabled[paramiko_key] = dropped
    return disabled or None


def _start_forwards(client: SSHClient, rc: ResolvedConfig) -> None:
    for fwd in rc.local_forwards:
        if fwd.listen_path or fwd.connect_path or fwd.connect_host is None or fwd.connect_port is None:
            _log.warning("LocalForward with UNIX sockets is not applied by the blocking client")
            continue
        host = "" if fwd.listen_host == "*" else (fwd.listen_host or "localhost")
        _forward(client, rc, "forward_local_port", host, fwd.listen_port or 0, fwd.connect_host, fwd.connect_port)
    for fwd in rc.remote_forwards:
        if fwd.listen_path or fwd.connect_path or fwd.connect_host is None or fwd.connect_port is None:
            _log.warning("RemoteForward with UNIX sockets or SOCKS is not applied by the blocking client")
            continue
        host = "" if fwd.listen_host in (None, "*") else fwd.listen_host
        _forward(client, rc, "forward_remote_port", host, fwd.listen_port or 0, fwd.connect_host, fwd.connect_port)


def _forward(client: SSHClient, rc: ResolvedConfig, method: str, *args: Any) -> None:
    start = getattr(client, method, None)
    try:
        if start is None:
            raise ConfigurationError(f"this blockssh build has no {method}")
        start(*args)
    except (SSHException, OSError) as exc:
        if rc.exit_on_forward_failure:
            raise
        _log.warning("%s%r could not start: %s", method, args, exc)
