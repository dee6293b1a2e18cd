"""A ready SSH server: logins from authorized_keys and/or a password checker, sessions as OS processes.

::

    acceptor = await start_server(
        "127.0.0.1",
        2222,
        server_host_keys=["ssh_host_ed25519_key"],
        authorized_keys="~/.ssh/authorized_keys",
        subsystems={"sftp": "/usr/lib/openssh/sftp-server"},
    )

Commands run as the user the server runs as, whatever name the client logs
in with (``allowed_users`` restricts the names accepted). ``authorized_keys``
options are honoured: ``from=`` and ``expiry-time`` at login, ``no-pty`` /
``restrict`` and ``command=`` (a forced command, with
``SSH_ORIGINAL_COMMAND`` set) in sessions; a certificate's ``force-command``
and missing ``permit-pty`` likewise. Environment variables from ``env``
requests are admitted by the ``accept_env`` patterns of :func:`listen`.
``subsystems`` maps a name to a program (OpenSSH's ``Subsystem``) or to a
factory of in-process :class:`~blockssh.aio.session.SSHServerSession`
objects, which is how an SFTP server plugs in.

Forwarding is off unless enabled, with sshd_config's names:
``allow_tcp_forwarding`` ("yes", "local", "remote", "no"),
``allow_streamlocal_forwarding``, ``permit_open``, ``permit_listen``,
``gateway_ports`` and ``permit_tunnel`` (see
:class:`~blockssh.aio.forward_server.ForwardingPolicy`). A client key's
``no-port-forwarding``, ``restrict``, ``permitopen=``, ``permitlisten=`` and
``tunnel=`` options narrow what its sessions get.

Agent forwarding is off unless ``agent_forwarding=True`` (AllowAgentForwarding);
a session that asks then runs its process with ``SSH_AUTH_SOCK`` pointing at a
private socket relayed to the client's agent (``no-agent-forwarding`` and a
certificate without ``permit-agent-forwarding`` refuse it). User certificates
log in with ``trusted_user_ca_keys`` (TrustedUserCAKeys; ``authorized_principals``
as AuthorizedPrincipalsFile), and ``revoked_keys`` (RevokedKeys) refuses keys; both
are :func:`~blockssh.aio.server.listen` options passed through.
"""

from __future__ import annotations

import os
import time
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from ..aio.forward_server import ForwardingPolicy
from ..aio.server import SSHAcceptor, SSHServer, SSHServerConnection, listen
from ..aio.session import SSHServerSession
from ..exceptions import ConfigurationError
from ..keys import AuthorizedKeyEntry, SSHCertificate, SSHKey, generate_private_key, read_private_key
from .auth import AuthPolicy, PasswordChecker, PasswordTable, check_password
from .process import DEFAULT_KILL_GRACE, ProcessOptions, ProcessSession, SubsystemSpec, apply_terminal_modes

__all__ = [
    "ProcessServer",
    "ProcessSession",
    "ProcessOptions",
    "AuthPolicy",
    "PasswordChecker",
    "PasswordTable",
    "SubsystemSpec",
    "check_password",
    "apply_terminal_modes",
    "load_or_create_host_key",
    "start_server",
    "DEFAULT_KILL_GRACE",
]

KBDINT_PROMPT = "Password: "


class ProcessServer(SSHServer):
    """The ready server's callbacks: logins checked by an :class:`AuthPolicy`, sessions as :class:`ProcessSession`."""

    def __init__(self, policy: AuthPolicy, process_options: ProcessOptions | None = None) -> None:
        self.policy = policy
        self.process_options = process_options or ProcessOptions()
        self.conn: SSHServerConnection | None = None

    def connection_made(self, conn: SSHServerConnection) -> None:
        """Keep the connection (for the client address)."""
        self.conn = conn

    def public_key_auth_supported(self) -> bool:
        """Offered when authorized_keys were configured."""
        return self.policy.keys is not None

    def validate_public_key(self, username: str, key: SSHKey | SSHCertificate) -> AuthorizedKeyEntry | None:
        """Match the key against authorized_keys (its ``from=`` against the client address)."""
        peer = self.conn.get_extra_info("peername") if self.conn is not None else None
        addr = peer[0] if isinstance(peer, tuple) and peer else None
        return self.policy.match_key(username, key, addr, time.time())

    def validate_ca_certificate(self, username: str, cert: SSHCertificate) -> bool:
        """A certificate from a trusted user CA logs in only as an allowed user."""
        return self.policy.user_allowed(username)

    def password_auth_supported(self) -> bool:
        """Offered when a password checker was configured."""
        return self.policy.password_checker is not None

    async def validate_password(self, username: str, password: str) -> bool:
        """Ask the password checker (off the event loop)."""
        return await self.policy.check_password(username, password)

    def kbdint_auth_supported(self) -> bool:
        """Keyboard-interactive asks for the password (what OpenSSH's ssh tries before ``password``)."""
        return self.policy.kbdint

    def get_kbdint_challenge(self, username: str, lang: str, submethods: str) -> tuple[str, str, str, list[Any]]:
        """One non-echoed password prompt."""
        return ("", "", "", [(KBDINT_PROMPT, False)])

    async def validate_kbdint_response(self, username: str, responses: list[str]) -> bool:
        """Check the answer as a password."""
        return len(responses) == 1 and await self.policy.check_password(username, responses[0])

    def session_requested(self) -> SSHServerSession[Any]:
        """Every session runs processes."""
        return ProcessSession(self.process_options)


def load_or_create_host_key(path: str | os.PathLike[str], algorithm: str = "ssh-ed25519") -> SSHKey:
    """Read a host key, or create it (mode 0600, with ``.pub`` beside it) when the file does not exist."""
    path = os.path.expanduser(os.fspath(path))
    if os.path.exists(path):
        return read_private_key(path)
    key = generate_private_key(algorithm, comment=f"blockssh host key {os.path.basename(path)}")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.export_private())
    with open(path + ".pub", "w", encoding="ascii") as f:
        f.write(key.export_public() + "\n")
    return key


async def start_server(
    host: str | None = "127.0.0.1",
    port: int = 0,
    *,
    server_host_keys: Any,
    authorized_keys: Any = None,
    password_checker: PasswordChecker | None = None,
    allowed_users: Collection[str] | None = None,
    kbdint: bool = True,
    shell: str | None = None,
    cwd: str | None = None,
    env: Mapping[str, str] | None = None,
    subsystems: Mapping[str, SubsystemSpec] | None = None,
    allow_pty: bool = True,
    kill_grace: float = DEFAULT_KILL_GRACE,
    allow_tcp_forwarding: str | bool = "no",
    allow_streamlocal_forwarding: str | bool = "no",
    permit_open: Sequence[str] | str = ("any",),
    permit_listen: Sequence[str] | str = ("any",),
    gateway_ports: str | bool = "no",
    permit_tunnel: str | bool = "no",
    **listen_kwargs: Any,
) -> SSHAcceptor:
    """Start the ready server (see the module documentation); other keywords go to :func:`listen`.

    Raises :class:`ConfigurationError` when neither ``authorized_keys`` nor
    ``password_checker`` is given, or for an invalid :func:`listen` option.
    """
    if "server_factory" in listen_kwargs:
        raise ConfigurationError("start_server() makes its own server_factory; use listen() for a custom one")
    if listen_kwargs.get("encoding") is not None or listen_kwargs.get("line_editor"):
        raise ConfigurationError("process sessions carry bytes and use the pty's own line discipline")
    policy = AuthPolicy(
        authorized_keys=authorized_keys,
        password_checker=password_checker,
        allowed_users=allowed_users,
        kbdint=kbdint,
        certificates=listen_kwargs.get("trusted_user_ca_keys") is not None,
    )
    if "forwarding" not in listen_kwargs:
        listen_kwargs["forwarding"] = ForwardingPolicy.from_options(
            allow_tcp_forwarding=allow_tcp_forwarding,
            allow_streamlocal_forwarding=allow_streamlocal_forwarding,
            permit_open=permit_open,
            permit_listen=permit_listen,
            gateway_ports=gateway_ports,
            permit_tunnel=permit_tunnel,
        )
    options = ProcessOptions(
        shell=shell,
        cwd=cwd,
        env=dict(env or {}),
        subsystems=dict(subsystems or {}),
        allow_pty=allow_pty,
        kill_grace=kill_grace,
    )
    return await listen(
        host,
        port,
        server_factory=lambda: ProcessServer(policy, options),
        server_host_keys=server_host_keys,
        **listen_kwargs,
    )
