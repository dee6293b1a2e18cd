"""The blocking :class:`SSHClient` and host key policies, with paramiko's names.

``connect`` follows paramiko step by step: it tries every address the host
name resolves to, negotiates keys, checks the host key (system keys, then the
client's own, then the missing-host-key policy, which runs in the calling
thread), then authenticates in paramiko's legacy order: ``pkey``, each
``key_filename``, the agent, ``~/.ssh/id_*``, the password (with the
two-factor continuation). Where paramiko is known to hurt, this client
differs, and says so in docs/paramiko-migration.md: reading output after
``recv_exit_status()`` never deadlocks, every blocking call has a timeout,
``NoValidConnectionsError`` is also an ``SSHException``, and keepalives can
close a dead connection.
"""

from __future__ import annotations

import errno
import getpass
import logging
import os
import socket
import warnings
from binascii import hexlify
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..aio.client import DEFAULT_CONNECT_TIMEOUT
from ..aio.process import SSHCompletedProcess
from ..exceptions import BadHostKeyException, NoValidConnectionsError, SSHException, SSHTimeoutError
from ..keys import HostKeys
from ..keys.pkey import PKey
from ._portal import portal
from .channel import Channel
from .file import ChannelFile, ChannelStderrFile, ChannelStdinFile
from .transport import Transport

if TYPE_CHECKING:
    from .forward import ForwardHandle

__all__ = [
    "SSHClient",
    "MissingHostKeyPolicy",
    "AutoAddPolicy",
    "RejectPolicy",
    "WarningPolicy",
    "connect",
]

_log = logging.getLogger("blockssh.client")
_TWO_FACTOR_TYPES = {"keyboard-interactive", "password"}


class MissingHostKeyPolicy:
    """Decides about a server whose host key is not known: return to accept, raise to refuse.

    ``missing_host_key(client, hostname, key)`` runs in the thread that called
    ``connect``; ``hostname`` is ``host`` or ``[host]:port`` when the port is not 22.
    """

    def missing_host_key(self, client: SSHClient, hostname: str, key: PKey) -> None:
        """Called with the unknown key; the base class accepts it."""


class AutoAddPolicy(MissingHostKeyPolicy):
    """Accept unknown keys, remember them, and save them if a host keys file was loaded."""

    def missing_host_key(self, client: SSHClient, hostname: str, key: PKey) -> None:
        """Add the key to the client's host keys (and save them to the loaded file)."""
        client._host_keys.add(hostname, key.get_name(), key)  # noqa: SLF001 - paramiko's contract
        if client._host_keys_filename is not None:  # noqa: SLF001
            client.save_host_keys(client._host_keys_filename)  # noqa: SLF001
        client._log(logging.DEBUG, f"Adding {key.get_name()} host key for {hostname}: {_hex_fp(key)}")  # noqa: SLF001


class RejectPolicy(MissingHostKeyPolicy):
    """Refuse unknown keys (the default)."""

    def missing_host_key(self, client: SSHClient, hostname: str, key: PKey) -> None:
        """Raise :class:`SSHException`."""
        client._log(logging.DEBUG, f"Rejecting {key.get_name()} host key for {hostname}: {_hex_fp(key)}")  # noqa: SLF001
        raise SSHException(f"Server {hostname!r} not found in known_hosts")


class WarningPolicy(MissingHostKeyPolicy):
    """Accept unknown keys with a warning (``warnings.warn``)."""

    def missing_host_key(self, client: SSHClient, hostname: str, key: PKey) -> None:
        """Warn and accept."""
        warnings.warn(f"Unknown {key.get_name()} host key for {hostname}: {_hex_fp(key)}", stacklevel=2)


def _hex_fp(key: PKey) -> str:
    return hexlify(key.get_fingerprint()).decode()


def _host_label(hostname: str, port: int) -> str:
    return hostname if port == 22 else f"[{hostname}]:{port}"


def _open_socket(hostname: str, port: int, timeout: float | None) -> socket.socket:
    """Paramiko's address fallback: every getaddrinfo address in turn.

    Refused or unreachable everywhere: :class:`NoValidConnectionsError`; any other socket
    error is raised as is; a timeout raises ``socket.timeout`` (:class:`SSHTimeoutError`).
    """
    infos = socket.getaddrinfo(hostname, port, socket.AF_UNSPEC, socket.SOCK_STREAM)
    targets = [(family, addr) for family, socktype, _, _, addr in infos if socktype == socket.SOCK_STREAM]
    if not targets:
        targets = [(family, addr) for family, _, _, _, addr in infos]
    wait = timeout if timeout is not None else DEFAULT_CONNECT_TIMEOUT
    errors: dict[tuple[Any, ...], Exception] = {}
    for family, addr in targets:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(wait)
        try:
            sock.connect(addr)
            return sock
        except TimeoutError:
            sock.close()
            raise SSHTimeoutError(f"connecting to {addr[0]!s} port {addr[1]!s} timed out after {wait:g} s") from None
        except OSError as exc:
            sock.close()
            if exc.errno not in (errno.ECONNREFUSED, errno.EHOSTUNREACH):
                raise
            errors[addr] = exc
    raise NoValidConnectionsError(errors)


class SSHClient:
    """A blocking SSH client: connect, run commands, open shells and SFTP sessions.

    Thread-safe: any number of threads may share one connected client (each call opens
    its own channel). Usable as a context manager (closes on exit).
    """

    def __init__(self) -> None:
        self._system_host_keys = HostKeys()
        self._host_keys = HostKeys()
        self._host_keys_filename: str | None = None
        self._log_channel: str | None = None
        self._policy: MissingHostKeyPolicy = RejectPolicy()
        self._transport: Transport | None = None
        self._agent: Any = None
        self._portal = portal()
        self._policy_set = False  # set_missing_host_key_policy was called (ssh_config must not override it)
        self._jump_clients: list[SSHClient] = []  # ProxyJump hops opened for ssh_config; closed with us

    # -- host keys -------------------------------------------------------

    def load_system_host_keys(self, filename: str | None = None) -> None:
        """Load ``~/.ssh/known_hosts`` (missing or unreadable: ignored) or ``filename``; never saved back."""
        if filename is None:
            try:
                self._system_host_keys.load(os.path.expanduser("~/.ssh/known_hosts"))
            except OSError:
                pass
            return
        self._system_host_keys.load(filename)

    def load_host_keys(self, filename: str) -> None:
        """Load host keys from ``filename``; :class:`AutoAddPolicy` then saves new keys there."""
        self._host_keys_filename = filename
        self._host_keys.load(filename)

    def save_host_keys(self, filename: str) -> None:
        """Write the client's own host keys (not the system ones) to ``filename``.

        The file loaded with :meth:`load_host_keys` is re-read first, so entries other
        programs added meanwhile survive.
        """
        if self._host_keys_filename is not None:
            self.load_host_keys(self._host_keys_filename)
        with open(filename, "w") as f:
            for hostname, keys in self._host_keys.items():
                for keytype, key in keys.items():
                    f.write(f"{hostname} {keytype} {key.get_base64()}\n")

    def get_host_keys(self) -> HostKeys:
        """The client's own (non-system) host keys."""
        return self._host_keys

    def set_log_channel(self, name: str) -> None:
        """Log through the logger ``name``."""
        self._log_channel = name

    def set_missing_host_key_policy(self, policy: MissingHostKeyPolicy | type[MissingHostKeyPolicy]) -> None:
        """Set what happens with unknown host keys (a policy class or instance)."""
        if isinstance(policy, type):
            policy = policy()
        self._policy = policy
        self._policy_set = True

    def _log(self, level: int, msg: str) -> None:
        if self._transport is not None:
            self._transport._log(level, msg)  # noqa: SLF001
        else:
            logging.getLogger(self._log_channel or "blockssh.client").log(level, msg)

    # -- connecting --------------------------------------------------------

    def connect(
        self,
        hostname: str,
        port: int = 22,
        username: str | None = None,
        password: str | None = None,
        pkey: PKey | None = None,
        key_filename: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
        timeout: float | None = None,
        allow_agent: bool = True,
        look_for_keys: bool = True,
        compress: bool = False,
        sock: Any = None,
        banner_timeout: float | None = None,
        auth_timeout: float | None = None,
        channel_timeout: float | None = None,
        passphrase: str | None = None,
        disabled_algorithms: Mapping[str, Iterable[str]] | None = None,
        transport_factory: Any = None,
        auth_strategy: Any = None,
        *,
        gss_auth: bool = False,
        gss_kex: bool = False,
        gss_deleg_creds: bool = True,
        gss_host: str | None = None,
        gss_trust_dns: bool = True,
        config: Any = None,
    ) -> Any:
        """Connect, check the host key and authenticate (paramiko 5.1's keywords and order).

        Args:
            hostname: the server; every address it resolves to is tried in turn.
            port: the server's port.
            username: defaults to the local user.
            password: for password authentication, and to decrypt keys when ``passphrase`` is None.
            pkey: a :class:`PKey` to try first.
            key_filename: a key file or list of them (``-cert.pub`` certificates are loaded too).
            timeout: TCP connect timeout (default 30 s) and key-exchange limit.
            allow_agent: accepted; agent keys are used once blockssh's agent support is present.
            look_for_keys: try ``~/.ssh/id_rsa``, ``id_ecdsa``, ``id_ed25519``.
            compress: offer zlib compression.
            sock: what to run SSH over instead of a new TCP connection: a connected socket, a
                :class:`Channel` of another connection (a jump host's ``direct-tcpip`` channel),
                a :class:`~blockssh.ProxyCommand`, or any object with ``send``/``recv``.
            banner_timeout: limit for the server's identification line (default 15 s).
            auth_timeout: limit for each authentication answer (default 30 s).
            channel_timeout: limit for channel opens and requests (default 3600 s).
            passphrase: decrypts private keys.
            disabled_algorithms: paramiko's ``{"ciphers": [...], ...}`` mapping.
            transport_factory: ``factory(sock, disabled_algorithms=...)`` building the Transport.
            auth_strategy: an object whose ``authenticate(transport=t)`` replaces the legacy order;
                its result is returned.
            gss_auth: must be false (GSS-API is not supported; so are the other ``gss_*``).
            gss_kex: must be false.
            gss_deleg_creds: ignored.
            gss_host: ignored.
            gss_trust_dns: ignored.
            config: apply ssh_config (docs/ssh-config.md): an :class:`~blockssh.SSHConfig`, a path,
                or True for ``~/.ssh/config``. ``hostname`` is then looked up like ``ssh hostname``
                (HostName, Port, User, IdentityFile, ProxyJump, ProxyCommand, known hosts files,
                StrictHostKeyChecking, ...); arguments left at their defaults take the config's values.

        Raises:
            BadHostKeyException: the server's key differs from the known one.
            AuthenticationException: authentication failed (``BadAuthenticationType``,
                ``PasswordRequiredException``... as paramiko).
            NoValidConnectionsError: every address refused the connection (also an OSError).
            socket.timeout: a step ran past its timeout (:class:`SSHTimeoutError`).
            SSHException: any other failure (including a policy's refusal).
        """
        if gss_auth or gss_kex:
            raise SSHException("GSS-API authentication is not supported")
        if config is not None and config is not False:
            from .proxy import connect_with_config

            arguments = {
                "hostname": hostname,
                "port": port,
                "username": username,
                "password": password,
                "pkey": pkey,
                "key_filename": key_filename,
                "timeout": timeout,
                "allow_agent": allow_agent,
                "look_for_keys": look_for_keys,
                "compress": compress,
                "sock": sock,
                "banner_timeout": banner_timeout,
                "auth_timeout": auth_timeout,
                "channel_timeout": channel_timeout,
                "passphrase": passphrase,
                "disabled_algorithms": disabled_algorithms,
                "transport_factory": transport_factory,
                "auth_strategy": auth_strategy,
            }
            return connect_with_config(self, config, arguments)
        self._portal.check_not_loop_thread("SSHClient.connect")
        if sock is None:
            sock = _open_socket(hostname, port, timeout)
        factory = transport_factory if transport_factory is not None else Transport
        t: Transport = factory(sock, disabled_algorithms=disabled_algorithms)
        self._transport = t
        t.hostname = hostname
        try:
            return self._connect_transport(
                t,
                hostname,
                port,
                username,
                password,
                pkey,
                key_filename,
                timeout,
                allow_agent,
                look_for_keys,
                compress,
                banner_timeout,
                auth_timeout,
                channel_timeout,
                passphrase,
                auth_strategy,
            )
        except BaseException:
            t.close()
            raise

    def _connect_transport(
        self,
        t: Transport,
        hostname: str,
        port: int,
        username: str | None,
        password: str | None,
        pkey: PKey | None,
        key_filename: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None,
        timeout: float | None,
        allow_agent: bool,
        look_for_keys: bool,
        compress: bool,
        banner_timeout: float | None,
        auth_timeout: float | None,
        channel_timeout: float | None,
        passphrase: str | None,
        auth_strategy: Any,
    ) -> Any:
        t.use_compression(compress=compress)
        if self._log_channel is not None:
            t.set_log_channel(self._log_channel)
        if banner_timeout is not None:
            t.banner_timeout = banner_timeout
        if auth_timeout is not None:
            t.auth_timeout = auth_timeout
        if channel_timeout is not None:
            t.channel_timeout = channel_timeout
        label = _host_label(hostname, port)
        known = self._system_host_keys.get(label)
        if known is None:
            known = self._host_keys.get(label)
        if known is not None:
            keytype = list(known.keys())[0]
            options = t.get_security_options()
            candidates: tuple[str, ...] = ("rsa-sha2-512", "rsa-sha2-256") if keytype == "ssh-rsa" else (keytype,)
            preferred = [k for k in candidates if k in options.key_types]
            options.key_types = tuple(preferred + [k for k in options.key_types if k not in preferred])
        t.start_client(timeout=timeout)
        server_key = t.get_remote_server_key()
        if known is None:
            self._policy.missing_host_key(self, label, server_key)
        else:
            ours = known.get(server_key.get_name())
            if ours != server_key:
                if ours is None:
                    ours = list(known.values())[0]
                raise BadHostKeyException(hostname, server_key, ours)
        if username is None:
            username = getpass.getuser()
        if auth_strategy is not None:
            return auth_strategy.authenticate(transport=t)
        if key_filename is None:
            filenames: list[str] = []
        elif isinstance(key_filename, (str, os.PathLike)):
            filenames = [os.fspath(key_filename)]
        else:
            filenames = [os.fspath(k) for k in key_filename]
        self._auth(username, password, pkey, filenames, allow_agent, look_for_keys, passphrase)
        return None

    def _key_from_filepath(self, filename: str, password: str | None) -> PKey:
        suffix = "-cert.pub"
        if filename.endswith(suffix):
            key_path, cert_path = filename[: -len(suffix)], filename
        else:
            key_path, cert_path = filename, filename + suffix
        key = PKey.from_private_key_file(key_path, password)
        self._log(logging.DEBUG, f"Trying discovered key {_hex_fp(key)} in {key_path}")
        if os.path.isfile(cert_path):
            key.load_certificate(cert_path)
            self._log(logging.DEBUG, f"Adding public certificate {cert_path}")
        return key

    def _agent_keys(self) -> list[Any]:
        """Keys from the SSH agent, once blockssh's agent support is installed (silently none before)."""
        if self._agent is None:
            try:
                from . import agent  # type: ignore[attr-defined,unused-ignore]
            except ImportError:
                return []
            try:
                self._agent = agent.Agent()
            except Exception:  # noqa: BLE001 - no agent: nothing to offer
                return []
        return list(self._agent.get_keys())

    def _auth(
        self,
        username: str,
        password: str | None,
        pkey: PKey | None,
        key_filenames: list[str],
        allow_agent: bool,
        look_for_keys: bool,
        passphrase: str | None,
    ) -> None:
        """Paramiko's legacy order: pkey, key files, agent, ~/.ssh/id_*, password (or 2FA)."""
        t = self._transport
        assert t is not None
        saved_exception: BaseException | None = None
        two_factor = False
        allowed_types: set[str] = set()
        if passphrase is None and password is not None:
            passphrase = password

        def try_key(key: Any) -> bool:
            nonlocal allowed_types, two_factor
            allowed_types = set(t.auth_publickey(username, key))
            two_factor = bool(allowed_types & _TWO_FACTOR_TYPES)
            return not two_factor  # authenticated (no second factor wanted)

        if pkey is not None:
            try:
                self._log(logging.DEBUG, f"Trying SSH key {_hex_fp(pkey)}")
                if try_key(pkey):
                    return
            except SSHException as exc:
                saved_exception = exc
        if not two_factor:
            for filename in key_filenames:  # (like paramiko, a second factor does not stop this loop)
                try:
                    key = self._key_from_filepath(filename, passphrase)
                    if try_key(key):
                        return
                except SSHException as exc:
                    saved_exception = exc
        if not two_factor and allow_agent:
            for key in self._agent_keys():
                try:
                    self._log(logging.DEBUG, f"Trying SSH agent key {_hex_fp(key)}")
                    if try_key(key):
                        return
                    break
                except SSHException as exc:
                    saved_exception = exc
        if not two_factor and look_for_keys:
            keyfiles: list[str] = []
            for name in ("rsa", "ecdsa", "ed25519"):
                for directory in (".ssh", "ssh"):
                    path = os.path.expanduser(f"~/{directory}/id_{name}")
                    if os.path.isfile(path):
                        keyfiles.append(path)
            for filename in keyfiles:
                try:
                    key = self._key_from_filepath(filename, passphrase)
                    if try_key(key):
                        return
                    break
                except (SSHException, OSError) as exc:
                    saved_exception = exc
        if password is not None:
            try:
                t.auth_password(username, password)
                return
            except SSHException as exc:
                saved_exception = exc
        elif two_factor:
            try:
                t.auth_interactive_dumb(username)
                return
            except SSHException as exc:
                saved_exception = exc
        if saved_exception is not None:
            raise saved_exception
        raise SSHException("No authentication methods available")

    def get_transport(self) -> Transport | None:
        """The connection's :class:`Transport`, or None before ``connect``."""
        return self._transport

    def _require(self) -> Transport:
        if self._transport is None:
            raise SSHException("SSHClient is not connected")
        return self._transport

    def close(self) -> None:
        """Close the connection (and the agent connection). Never blocks for long."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        if self._agent is not None:
            self._agent.close()
            self._agent = None
        jumps, self._jump_clients = self._jump_clients, []
        for jump in reversed(jumps):
            jump.close()

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

        ``timeout`` bounds the channel open and the server's answer, then becomes the
        channel's timeout for every read and write (``socket.timeout`` past it).
        ``environment`` variables are sent first (servers drop names AcceptEnv does not list).
        """
        chan = self._require()._open_exec(  # noqa: SLF001
            command, get_pty=get_pty, environment=environment, timeout=timeout
        )
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
        """Start an interactive shell on a new channel with a pseudo-terminal.

        Unlike paramiko (which ignores it), ``environment`` is sent.
        """
        chan = self._require().open_session()
        chan.get_pty(term, width, height, width_pixels, height_pixels)
        if environment:
            chan.update_environment(environment)
        chan.invoke_shell()
        return chan

    # -- port forwarding (blockssh/sync/forward.py) ---------------------------------

    def forward_local_port(self, listen_host: str, listen_port: int, dest_host: str, dest_port: int) -> ForwardHandle:
        """``ssh -L``: listen on ``listen_host``:``listen_port`` (0 picks one); forward to ``dest_host``:``dest_port``.

        Returns a :class:`~blockssh.sync.forward.ForwardHandle` (``.port``, ``.close()``, a
        context manager); the forwarding runs on blockssh's loop thread.
        """
        from .forward import forward_local_port

        return forward_local_port(self._require(), listen_host, listen_port, dest_host, dest_port)

    def forward_remote_port(self, listen_host: str, listen_port: int, dest_host: str, dest_port: int) -> ForwardHandle:
        """``ssh -R``: the server listens on ``listen_host``:``listen_port``; we connect each to dest_host:dest_port.

        Returns a :class:`~blockssh.sync.forward.ForwardHandle` whose ``port`` is the server's.
        """
        from .forward import forward_remote_port

        return forward_remote_port(self._require(), listen_host, listen_port, dest_host, dest_port)

    def forward_socks(self, listen_host: str = "127.0.0.1", listen_port: int = 0) -> ForwardHandle:
        """``ssh -D``: a local SOCKS4/4a/5 proxy through the server; returns a ForwardHandle."""
        from .forward import forward_socks

        return forward_socks(self._require(), listen_host, listen_port)

    def open_sftp(self) -> Any:
        """An SFTP session on this connection (``SFTPClient``)."""
        return self._require().open_sftp_client()

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
        """Run a command to completion (blockssh extra, like :func:`subprocess.run`).

        Returns a result with ``command``, ``stdout``, ``stderr`` (str, or bytes with
        ``encoding=None``), ``exit_status``/``returncode``, ``exit_signal`` and ``ok``.
        With ``check=True`` a failing command raises :class:`blockssh.ProcessError`; past
        ``timeout`` seconds the command is abandoned (its channel closed) with ``socket.timeout``.
        """
        conn = self._require()._check_active()  # noqa: SLF001
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


def connect(
    hostname: str,
    port: int = 22,
    *,
    policy: MissingHostKeyPolicy | type[MissingHostKeyPolicy] | None = None,
    known_hosts: str | None = None,
    keepalive_interval: float = 0.0,
    keepalive_count_max: int = 3,
    config: Any = True,
    **kwargs: Any,
) -> SSHClient:
    """Connect and return a ready :class:`SSHClient` (blockssh extra).

    ``~/.ssh/config`` is applied (``config``: True, an :class:`~blockssh.SSHConfig`, a path, or
    False to skip it): ``hostname`` may be a ``Host`` alias, and its known hosts files,
    StrictHostKeyChecking, ProxyJump and the rest apply (docs/ssh-config.md). Without a config
    the system known_hosts file is loaded. ``known_hosts``, when given, is loaded too (and then
    replaces the config's files); unknown hosts are refused unless ``policy`` (or the config's
    StrictHostKeyChecking) says otherwise. Keepalives start when ``keepalive_interval`` is set.
    Other keywords are :meth:`SSHClient.connect`'s.
    """
    client = SSHClient()
    if config is None or config is False:
        client.load_system_host_keys()
    if known_hosts is not None:
        client.load_host_keys(known_hosts)
    if policy is not None:
        client.set_missing_host_key_policy(policy)
    try:
        client.connect(hostname, port, config=config, **kwargs)
        if keepalive_interval:
            client._require().set_keepalive(keepalive_interval, keepalive_count_max)  # noqa: SLF001
    except BaseException:
        client.close()
        raise
    return client
