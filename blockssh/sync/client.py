"""The blocking :class:`SSHClient` and host key policies, with paramiko's names.

Where paramiko is known to hurt, this client differs (and says so): reading
output after ``recv_exit_status()`` never deadlocks, every blocking call has
a timeout, and ``NoValidConnectionsError`` is also an ``SSHException``.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import warnings
from binascii import hexlify
from collections.abc import Mapping, Sequence
from typing import Any

from ..aio.client import (
    DEFAULT_AUTH_TIMEOUT,
    DEFAULT_BANNER_TIMEOUT,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_HANDSHAKE_TIMEOUT,
    SSHClientConnectionOptions,
    connect_with_options,
)
from ..aio.process import SSHCompletedProcess
from ..exceptions import BadHostKeyException, SSHException
from ..keys import HostKeys
from ..keys.pkey import PKey, pkey_from_sshkey
from ..proto.algorithms.policy import Algorithms
from ._portal import portal
from .channel import Channel
from .file import ChannelFile, ChannelStderrFile, ChannelStdinFile
from .transport import DEFAULT_CHANNEL_TIMEOUT, Transport

__all__ = [
    "SSHClient",
    "MissingHostKeyPolicy",
    "AutoAddPolicy",
    "RejectPolicy",
    "WarningPolicy",
    "connect",
]

_DEFAULT_KEY_FILES = ("id_rsa", "id_ecdsa", "id_ed25519")


class MissingHostKeyPolicy:
    """Decides about a server whose host key is not known: return to accept, raise to refuse."""

    def missing_host_key(self, client: SSHClient, hostname: str, key: PKey) -> None:
        """Called with the unknown key; the base class accepts it."""


class AutoAddPolicy(MissingHostKeyPolicy):
    """Accept unknown keys, remember them, and save them if a host keys file was loaded."""

    def missing_host_key(self, client: SSHClient, hostname: str, key: PKey) -> None:
        """Add the key to the client's host keys (and its file)."""
        client._host_keys.add(hostname, key.get_name(), key)  # noqa: SLF001 - paramiko's contract
        if client._host_keys_filename is not None:  # noqa: SLF001
            client.save_host_keys(client._host_keys_filename)  # noqa: SLF001


class RejectPolicy(MissingHostKeyPolicy):
    """Refuse unknown keys (the default)."""

    def missing_host_key(self, client: SSHClient, hostname: str, key: PKey) -> None:
        """Raise :class:`SSHException`."""
        raise SSHException(f"Server {hostname!r} not found in known_hosts")


class WarningPolicy(MissingHostKeyPolicy):
    """Accept unknown keys with a warning."""

    def missing_host_key(self, client: SSHClient, hostname: str, key: PKey) -> None:
        """Warn and accept."""
        fingerprint = hexlify(key.get_fingerprint()).decode()
        warnings.warn(f"Unknown {key.get_name()} host key for {hostname}: {fingerprint}", stacklevel=2)


def _host_label(hostname: str, port: int) -> str:
    return hostname if port == 22 else f"[{hostname}]:{port}"


class SSHClient:
    """A blocking SSH client: connect, run commands, open shells and SFTP sessions."""

    def __init__(self) -> None:
        self._system_host_keys = HostKeys()
        self._host_keys = HostKeys()
        self._host_keys_filename: str | None = None
        self._log_channel: str | None = None
        self._policy: MissingHostKeyPolicy = RejectPolicy()
        self._transport: Transport | None = None
        self._agent: Any = None
        self._portal = portal()

    # -- host keys -------------------------------------------------------

    def load_system_host_keys(self, filename: str | None = None) -> None:
        """Load ``~/.ssh/known_hosts`` (missing or unreadable: ignored) or ``filename``."""
        if filename is None:
            path = os.path.expanduser("~/.ssh/known_hosts")
            try:
                self._system_host_keys.load(path)
            except OSError:
                pass
            return
        self._system_host_keys.load(filename)

    def load_host_keys(self, filename: str) -> None:
        """Load host keys from ``filename``; AutoAddPolicy then saves new keys there."""
        self._host_keys_filename = filename
        self._host_keys.load(filename)

    def save_host_keys(self, filename: str) -> None:
        """Write the client's own host keys (not the system ones) to ``filename``."""
        if self._host_keys_filename is not None and os.path.exists(self._host_keys_filename):
            self.load_host_keys(self._host_keys_filename)
        with open(filename, "w") as f:
            for hostname, keys in self._host_keys.items():
                for keytype, key in keys.items():
                    f.write(f"{hostname} {keytype} {key.get_base64()}\n")

    def get_host_keys(self) -> HostKeys:
        """The client's own (non-system) host keys."""
        return self._host_keys

    def set_log_channel(self, name: str) -> None:
        """Set the logger name (kept for paramiko compatibility)."""
        self._log_channel = name

    def set_missing_host_key_policy(self, policy: MissingHostKeyPolicy | type[MissingHostKeyPolicy]) -> None:
        """Set what happens with unknown host keys (a policy class or instance)."""
        if isinstance(policy, type):
            policy = policy()
        self._policy = policy

    def _known_types(self, label: str) -> list[str]:
        types: list[str] = []
        for store in (self._system_host_keys, self._host_keys):
            entry = store.lookup(label)
            if entry:
                types += [t for t in entry.keys() if t not in types]
        return types

    async def _check_host_key(self, label: str, key: Any) -> bool:
        pkey = pkey_from_sshkey(getattr(key, "key", key))
        for store in (self._system_host_keys, self._host_keys):
            known = store.lookup(label)
            if known:
                ours = known.get(pkey.get_name())
                if ours is None:
                    ours = next(iter(known.values()))
                if ours != pkey:
                    raise BadHostKeyException(label, pkey, ours)
                return True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._policy.missing_host_key, self, label, pkey)
        return True

    # -- connecting --------------------------------------------------------

    def connect(
        self,
        hostname: str,
        port: int = 22,
        username: str | None = None,
        password: str | None = None,
        pkey: PKey | None = None,
        key_filename: str | Sequence[str] | None = None,
        timeout: float | None = None,
        allow_agent: bool = True,
        look_for_keys: bool = True,
        compress: bool = False,
        sock: Any = None,
        gss_auth: bool = False,
        gss_kex: bool = False,
        gss_deleg_creds: bool = True,
        gss_host: str | None = None,
        banner_timeout: float | None = None,
        auth_timeout: float | None = None,
        channel_timeout: float | None = None,
        gss_trust_dns: bool = True,
        passphrase: str | None = None,
        disabled_algorithms: Mapping[str, Sequence[str]] | None = None,
        transport_factory: Any = None,
        auth_strategy: Any = None,
    ) -> None:
        """Connect and authenticate (paramiko's keywords; GSS-API is not supported).

        Timeouts default to blockssh's: ``timeout`` (TCP connect and key
        exchange) 30 s / 15 s, ``banner_timeout`` 15 s, ``auth_timeout`` 30 s,
        ``channel_timeout`` 3600 s; each raises ``socket.timeout``.
        """
        if gss_auth or gss_kex:
            raise SSHException("GSS-API authentication is not supported")
        self._portal.check_not_loop_thread("SSHClient.connect")
        label = _host_label(hostname, port)
        algorithms = Algorithms()
        if compress:
            algorithms = algorithms.edit(compression=["zlib@openssh.com", "zlib", "none"])
        algorithms = algorithms.without(disabled_algorithms)
        known_types = self._known_types(label)
        if known_types:
            algorithms = _prefer_host_key_types(algorithms, known_types)
        keys: list[Any] = []
        if pkey is not None:
            keys.append(pkey)
        if key_filename is not None:
            keys += [key_filename] if isinstance(key_filename, (str, os.PathLike)) else list(key_filename)
        if look_for_keys:
            for directory in ("~/.ssh", "~/ssh"):
                for name in _DEFAULT_KEY_FILES:
                    path = os.path.expanduser(os.path.join(directory, name))
                    if os.path.isfile(path) and path not in keys:
                        keys.append(path)

        async def checker(host: str, port_: int, key: Any) -> bool:
            return await self._check_host_key(label, key)

        options = SSHClientConnectionOptions(
            host=hostname,
            port=port,
            username=username or getpass.getuser(),
            password=password,
            client_keys=keys,
            load_default_keys=False,
            passphrase=passphrase if passphrase is not None else password,
            known_hosts=None,
            host_key_checker=checker,
            preferred_auth=("publickey", "password", "keyboard-interactive"),
            algorithms=algorithms.validate(),
            connect_timeout=timeout if timeout is not None else DEFAULT_CONNECT_TIMEOUT,
            banner_timeout=banner_timeout if banner_timeout is not None else DEFAULT_BANNER_TIMEOUT,
            handshake_timeout=timeout if timeout is not None else DEFAULT_HANDSHAKE_TIMEOUT,
            auth_timeout=auth_timeout if auth_timeout is not None else DEFAULT_AUTH_TIMEOUT,
        )
        conn = self._portal.call(connect_with_options(options, sock=sock), None, what="connect")
        transport = Transport._wrap(conn, self._portal)  # noqa: SLF001
        transport.channel_timeout = channel_timeout if channel_timeout is not None else DEFAULT_CHANNEL_TIMEOUT
        self._transport = transport

    def get_transport(self) -> Transport | None:
        """The connection's :class:`Transport`, or None before ``connect``."""
        return self._transport

    def _require(self) -> Transport:
        if self._transport is None:
            raise SSHException("SSHClient is not connected")
        return self._transport

    def close(self) -> None:
        """Close the connection."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        if self._agent is not None:
            self._agent.close()
            self._agent = None

    def __enter__(self) -> SSHClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- commands ----------------------------------------------------------

    def exec_command(
        self,
        command: str,
        bufsize: int = -1,
        timeout: float | None = None,
        get_pty: bool = False,
        environment: Mapping[str, str] | None = None,
    ) -> tuple[ChannelStdinFile, ChannelFile, ChannelStderrFile]:
        """Run ``command``; returns ``(stdin, stdout, stderr)`` file objects.

        ``timeout`` bounds the channel open and every later read or write.
        """
        chan = self._require().open_session(timeout=timeout)
        if get_pty:
            chan.get_pty()
        chan.settimeout(timeout)
        if environment:
            chan.update_environment(environment)
        chan.exec_command(command)
        return (
            chan.makefile_stdin("wb", bufsize),
            chan.makefile("r", bufsize),
            chan.makefile_stderr("r", bufsize),
        )

    def invoke_shell(
        self,
        term: str = "vt100",
        width: int = 80,
        height: int = 24,
        width_pixels: int = 0,
        height_pixels: int = 0,
        environment: Mapping[str, str] | None = None,
    ) -> Channel:
        """Start an interactive shell on a new pty channel."""
        chan = self._require().open_session()
        chan.get_pty(term, width, height, width_pixels, height_pixels)
        if environment:
            chan.update_environment(environment)
        chan.invoke_shell()
        return chan

    def run(
        self,
        command: str,
        check: bool = False,
        timeout: float | None = None,
        input: str | bytes | None = None,  # noqa: A002 - subprocess's name
        env: Mapping[str, str] | None = None,
        pty: bool = False,
        encoding: str | None = "utf-8",
    ) -> SSHCompletedProcess:
        """Run a command to completion; returns stdout, stderr, exit_status/returncode, exit_signal, ok.

        With ``check=True`` a failing command raises :class:`blockssh.ProcessError`;
        past ``timeout`` seconds the command is abandoned with ``socket.timeout``.
        """
        conn = self._require()._require()  # noqa: SLF001
        return self._portal.call(
            conn.run(
                command,
                input=input,
                check=check,
                timeout=timeout,
                env=env,
                term_type="xterm" if pty else None,
                encoding=encoding,
            ),
            None,
            what="run",
        )


def _prefer_host_key_types(algorithms: Algorithms, types: Sequence[str]) -> Algorithms:
    wanted: list[str] = []
    for key_type in types:
        names = ("rsa-sha2-512", "rsa-sha2-256") if key_type == "ssh-rsa" else (key_type,)
        wanted += [n for n in algorithms.host_key if n in names and n not in wanted]
    if not wanted:
        return algorithms
    return algorithms.edit(host_key=wanted + [n for n in algorithms.host_key if n not in wanted])


def connect(hostname: str, port: int = 22, *, policy: MissingHostKeyPolicy | None = None, **kwargs: Any) -> SSHClient:
    """Connect and return an :class:`SSHClient`.

    The system known_hosts file is loaded; unknown hosts are refused unless ``policy`` says otherwise.
    """
    client = SSHClient()
    client.load_system_host_keys()
    if policy is not None:
        client.set_missing_host_key_policy(policy)
    try:
        client.connect(hostname, port, **kwargs)
    except BaseException:
        client.close()
        raise
    return client
