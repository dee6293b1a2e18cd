"""Running the ready-made server from blocking code: :func:`serve`.

The server runs on the shared loop thread, next to every blocking client in
the process; :func:`serve` returns once it listens.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Mapping
from typing import Any

from ..aio.server import SSHAcceptor
from ..keys import AuthorizedKeys, SSHKey, generate_private_key, import_public_key
from ..server import start_server
from ._portal import LoopThread, portal

__all__ = ["ServerHandle", "serve"]

DEFAULT_CLOSE_TIMEOUT = 10.0


class ServerHandle:
    """A running server: its address, host key, and :meth:`close`."""

    def __init__(self, acceptor: SSHAcceptor, host: str, host_key: SSHKey, loop_thread: LoopThread) -> None:
        self._acceptor = acceptor
        self._portal = loop_thread
        self.host = host
        self.port = acceptor.get_port()
        self.host_key = host_key.public_only()

    def __repr__(self) -> str:
        state = "serving" if self.is_serving() else "closed"
        return f"<blockssh.ServerHandle {self.host}:{self.port} ({state})>"

    def is_serving(self) -> bool:
        """True until :meth:`close`."""
        return self._acceptor.is_serving()

    def known_hosts_line(self) -> str:
        """A known_hosts line for this server's host key (``[host]:port`` when the port is not 22)."""
        label = self.host if self.port == 22 else f"[{self.host}]:{self.port}"
        return f"{label} {self.host_key.export_public(comment='')}".rstrip()

    @property
    def connections(self) -> int:
        """Connections currently open."""
        return len(self._acceptor.connections)

    def close(self, timeout: float | None = DEFAULT_CLOSE_TIMEOUT) -> None:
        """Stop listening, disconnect every client and wait (up to ``timeout``) until all is closed."""

        async def shutdown() -> None:
            self._acceptor.close()
            await self._acceptor.wait_closed()

        if self._acceptor.is_serving() or self._acceptor.connections:
            self._portal.call(shutdown(), timeout, what="closing the server")

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    server_host_keys: Any = None,
    authorized_keys: Any = None,
    password_checker: Callable[[str, str], bool] | None = None,
    allowed_users: Collection[str] | None = None,
    shell: str | None = None,
    env: Mapping[str, str] | None = None,
    subsystems: Mapping[str, Any] | None = None,
    timeout: float | None = 30.0,
    **listen_kwargs: Any,
) -> ServerHandle:
    """Start the ready server (running commands as OS processes) and return a handle.

    ``port=0`` picks a free port (see ``handle.port``). Without
    ``server_host_keys`` a fresh Ed25519 host key is generated.
    ``authorized_keys`` may be a path, an :class:`AuthorizedKeys`, a public key
    object or OpenSSH public key text; ``password_checker(user, password)`` runs
    in a worker thread. Other keywords go to :func:`blockssh.aio.listen`.
    """
    loop_thread = portal()
    loop_thread.check_not_loop_thread("serve")
    keys = server_host_keys if server_host_keys is not None else [generate_private_key("ssh-ed25519")]
    if not isinstance(keys, (list, tuple)):
        keys = [keys]
    acceptor = loop_thread.call(
        start_server(
            host,
            port,
            server_host_keys=list(keys),
            authorized_keys=_authorized(authorized_keys),
            password_checker=password_checker,
            allowed_users=allowed_users,
            shell=shell,
            env=env,
            subsystems=subsystems,
            **listen_kwargs,
        ),
        timeout,
        what="starting the server",
    )
    first = keys[0]
    host_key = first if isinstance(first, SSHKey) else _loaded_host_key(acceptor)
    return ServerHandle(acceptor, host, host_key, loop_thread)


def _authorized(value: Any) -> Any:
    if isinstance(value, SSHKey):
        return AuthorizedKeys.from_text(value.export_public())
    if isinstance(value, str) and value.lstrip().startswith(("ssh-", "ecdsa-", "sk-")):
        import_public_key(value)  # validate now, with a clear error
        return AuthorizedKeys.from_text(value)
    if isinstance(value, (str, os.PathLike)):
        return os.path.expanduser(os.fspath(value))
    return value


def _loaded_host_key(acceptor: SSHAcceptor) -> SSHKey:
    return acceptor.options.host_keys[0]
