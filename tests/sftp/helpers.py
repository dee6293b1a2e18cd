"""Shared helpers of the SFTP tests: blockssh's SSH server with the SFTP subsystem in a thread, clients."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import blockssh
from blockssh.aio.server import SSHServer, listen
from blockssh.aio.session import SSHServerSession

HOST = "127.0.0.1"


@dataclass
class ServerKeys:
    host_key_path: Path
    client_key_path: Path
    authorized_keys: Path
    host_public: str


@dataclass
class RunningServer:
    host: str
    port: int
    root: Path
    keys: ServerKeys
    known_hosts: Path
    user: str = "tester"

    @property
    def client_key_path(self) -> Path:
        return self.keys.client_key_path


class LoopThread:
    """An event loop in a daemon thread, for servers the tests talk to with blocking clients."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="sftp-test-server", daemon=True)
        self.thread.start()

    def run(self, coro: Any, timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        if not self.thread.is_alive():
            self.loop.close()


def start_server(
    lt: LoopThread, keys: ServerKeys, root: Path, make_session: Callable[[], SSHServerSession[Any]], tmp: Path
) -> tuple[RunningServer, Any]:
    class Server(SSHServer):
        def session_requested(self) -> SSHServerSession[Any]:
            return make_session()

    async def start() -> Any:
        return await listen(
            HOST,
            0,
            server_factory=Server,
            server_host_keys=[str(keys.host_key_path)],
            authorized_client_keys=str(keys.authorized_keys),
        )

    acceptor = lt.run(start())
    port = acceptor.get_port()
    known_hosts = tmp / f"known_hosts_{port}"
    known_hosts.write_text(f"[{HOST}]:{port} {keys.host_public}\n")
    return RunningServer(HOST, port, root, keys, known_hosts), acceptor


def stop_server(lt: LoopThread, acceptor: Any) -> None:
    async def stop() -> None:
        acceptor.close()
        await acceptor.wait_closed()

    lt.run(stop())


def connect_blocking(server: Any, **kwargs: Any) -> blockssh.SSHClient:
    """A blocking SSHClient logged in to ``server`` (ours or the sshd fixture)."""
    client = blockssh.SSHClient()
    client.load_host_keys(str(server.known_hosts))
    key = server.client_key_path if isinstance(server, RunningServer) else server.client_keys["ed25519"]
    client.connect(
        server.host,
        server.port,
        username=server.user,
        key_filename=str(key),
        look_for_keys=False,
        allow_agent=False,
        **kwargs,
    )
    return client
