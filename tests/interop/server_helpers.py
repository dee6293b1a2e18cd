"""Helpers for the tests of blockssh's server: keys on disk, a loopback server, OpenSSH's ssh against it.

Keys are generated once per test process (RSA generation is the slow part) in a private
temporary directory, in OpenSSH's file format so that ``ssh -i`` reads them too.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blockssh.aio.server import SSHAcceptor, listen
from blockssh.keys import SSHKey, generate_private_key

SSH = shutil.which("ssh") or "/usr/bin/ssh"
HOST_KEY_TYPES = {
    "ed25519": ("ssh-ed25519", None),
    "ecdsa": ("ecdsa-sha2-nistp256", None),
    "ecdsa384": ("ecdsa-sha2-nistp384", None),
    "ecdsa521": ("ecdsa-sha2-nistp521", None),
    "rsa": ("ssh-rsa", 3072),
}
CLIENT_KEY_TYPES = {"ed25519": ("ssh-ed25519", None), "ecdsa": ("ecdsa-sha2-nistp256", None), "rsa": ("ssh-rsa", 3072)}
ASKPASS_SCRIPT = "#!/bin/sh\nprintf '%s\\n' \"$BLOCKSSH_ASKPASS_SECRET\"\n"


@dataclass
class KeySet:
    """Host and client keys, as objects and as files."""

    directory: Path
    host: dict[str, SSHKey]
    client: dict[str, SSHKey]
    client_paths: dict[str, Path]
    askpass: Path

    def authorized_keys(self, *names: str, options: str = "") -> Path:
        """Write an authorized_keys file listing the named client keys (all by default)."""
        names = names or tuple(self.client)
        text = "".join(
            (f"{options} " if options else "") + self.client[n].export_public(f"test-{n}") + "\n" for n in names
        )
        fd, path = tempfile.mkstemp(prefix="authorized_keys-", dir=self.directory)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        return Path(path)


@functools.lru_cache(maxsize=1)
def keys() -> KeySet:
    """The process-wide test keys."""
    directory = Path(tempfile.mkdtemp(prefix="blockssh-server-tests-"))
    atexit.register(shutil.rmtree, directory, True)
    host = {name: generate_private_key(alg, bits) for name, (alg, bits) in HOST_KEY_TYPES.items()}
    client = {name: generate_private_key(alg, bits) for name, (alg, bits) in CLIENT_KEY_TYPES.items()}
    paths = {}
    for name, key in client.items():
        path = directory / f"id_{name}"
        path.write_bytes(key.export_private("openssh"))
        path.chmod(0o600)
        (directory / f"id_{name}.pub").write_text(key.export_public(f"test-{name}") + "\n")
        paths[name] = path
    askpass = directory / "askpass"
    askpass.write_text(ASKPASS_SCRIPT)
    askpass.chmod(0o700)
    return KeySet(directory, host, client, paths, askpass)


@contextlib.asynccontextmanager
async def serving(**kwargs: Any) -> AsyncIterator[SSHAcceptor]:
    """``listen()`` on 127.0.0.1 with a free port; closes and waits at the end."""
    kwargs.setdefault("server_host_keys", [keys().host["ed25519"]])
    acceptor = await listen("127.0.0.1", 0, **kwargs)
    try:
        yield acceptor
    finally:
        acceptor.close()
        await asyncio.wait_for(acceptor.wait_closed(), 10)


@contextlib.asynccontextmanager
async def ready_server(**kwargs: Any) -> AsyncIterator[SSHAcceptor]:
    """The ready server (``blockssh.server.start_server``) on 127.0.0.1 with a free port."""
    from blockssh.server import start_server

    kwargs.setdefault("server_host_keys", [keys().host["ed25519"]])
    acceptor = await start_server("127.0.0.1", 0, **kwargs)
    try:
        yield acceptor
    finally:
        acceptor.close()
        await asyncio.wait_for(acceptor.wait_closed(), 10)


def known_hosts(port: int, host_keys: Sequence[SSHKey], directory: Path | None = None) -> Path:
    """A known_hosts file trusting ``host_keys`` for [127.0.0.1]:port."""
    fd, path = tempfile.mkstemp(prefix="known_hosts-", dir=directory or keys().directory)
    with os.fdopen(fd, "w") as f:
        for key in host_keys:
            f.write(f"[127.0.0.1]:{port} {key.export_public('')}\n")
    return Path(path)


def ssh_argv(
    port: int,
    *remote: str,
    known: Path,
    key: str | None = "ed25519",
    user: str = "tester",
    options: Sequence[str] = (),
    flags: Sequence[str] = (),
) -> list[str]:
    """argv for OpenSSH's ssh against our server (``key=None``: password/kbd-interactive only)."""
    argv = [SSH, *ssh_options(known=known, key=key, options=options)]
    return [*argv, *flags, "-p", str(port), "-l", user, "127.0.0.1", *remote]


def ssh_options(*, known: Path, key: str | None = "ed25519", options: Sequence[str] = ()) -> list[str]:
    """The ``-F``, ``-o`` and ``-i`` arguments of :func:`ssh_argv` (also good for OpenSSH's sftp)."""
    argv = ["-F", "/dev/null"]
    for option in options:
        argv += ["-o", option]
    defaults = [
        f"UserKnownHostsFile={known}",
        "GlobalKnownHostsFile=/dev/null",
        "StrictHostKeyChecking=yes",
        "CheckHostIP=no",
        "UpdateHostKeys=no",
        "IdentityAgent=none",
        "IdentitiesOnly=yes",
        "ConnectTimeout=10",
        "LogLevel=ERROR",
        f"BatchMode={'yes' if key else 'no'}",
    ]
    if key is None:
        defaults.append("PubkeyAuthentication=no")
    for option in defaults:
        argv += ["-o", option]
    if key is not None:
        argv += ["-i", str(keys().client_paths[key])]
    return argv


def ssh_env(secret: str | None = None) -> dict[str, str]:
    """Environment for ssh: prompts answered with ``secret`` through SSH_ASKPASS."""
    env = {k: v for k, v in os.environ.items() if k not in ("SSH_AUTH_SOCK", "SSH_AGENT_PID", "DISPLAY")}
    if secret is None:
        env["SSH_ASKPASS_REQUIRE"] = "never"
    else:
        env.update(SSH_ASKPASS=str(keys().askpass), SSH_ASKPASS_REQUIRE="force", BLOCKSSH_ASKPASS_SECRET=secret)
    return env


async def run_ssh(
    argv: Sequence[str],
    *,
    input: bytes | None = None,
    secret: str | None = None,
    timeout: float = 20.0,
    env: Mapping[str, str] | None = None,
) -> tuple[int, bytes, bytes]:
    """Run ssh without blocking the loop the server runs on; returns (returncode, stdout, stderr)."""
    full_env = ssh_env(secret)
    full_env.update(env or {})
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=full_env,
        start_new_session=True,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(input), timeout)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return proc.returncode, out, err


def open_fds() -> int:
    """How many file descriptors this process has open."""
    return len(os.listdir("/proc/self/fd"))


class CoreClient:
    """A bare protocol-core client over a real socket, for driving the server step by step.

    ``events`` collects every core event; ``error`` is the DisconnectError the core raised (for
    example when the server sent DISCONNECT); ``eof`` is set once the server closed the socket.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, core: Any) -> None:
        self.reader = reader
        self.writer = writer
        self.core = core
        self.events: list[Any] = []
        self.error: BaseException | None = None
        self.eof = False

    @classmethod
    async def open(cls, port: int, options: Any = None) -> CoreClient:
        from blockssh.proto.connection import SSHConnectionCore

        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer, SSHConnectionCore(is_server=False, options=options))

    def flush(self) -> None:
        data = self.core.data_to_send()
        if data and not self.writer.is_closing():
            self.writer.write(data)

    def feed(self, data: bytes) -> None:
        from blockssh.exceptions import DisconnectError

        try:
            self.core.receive_data(data)
        except DisconnectError as exc:
            self.error = exc
        self.events += self.core.events_received()

    async def wait_for(self, kind: type, timeout: float = 10.0) -> Any:
        """Exchange data until an event of ``kind`` arrives (returned and removed); None if the link ends."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for i, event in enumerate(self.events):
                if isinstance(event, kind):
                    return self.events.pop(i)
            self.flush()
            if self.error is not None or self.eof:
                return None
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"no {kind.__name__} within {timeout} s; events: {self.events}")
            data = await asyncio.wait_for(self.reader.read(65536), remaining)
            if not data:
                self.eof = True
                self.core.receive_eof()
                self.events += self.core.events_received()
                continue
            self.feed(data)

    async def handshake(self) -> None:
        """Key exchange (trusting any host key) up to the point where authentication may start."""
        from blockssh.proto import events as ev

        self.core.start()
        assert await self.wait_for(ev.HostKeyReceived) is not None, self.error
        self.core.accept_host_key()
        assert await self.wait_for(ev.AuthReady) is not None, self.error

    async def read_until_closed(self, timeout: float = 10.0) -> None:
        """Send what is queued, then read until the server closes the socket."""
        self.flush()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.eof:
            data = await asyncio.wait_for(self.reader.read(65536), max(0.01, deadline - loop.time()))
            if not data:
                self.eof = True
                break
            self.feed(data)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


async def until(predicate: Any, timeout: float = 10.0, interval: float = 0.01) -> None:
    """Poll ``predicate()`` until it is true; TimeoutError after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():  # noqa: ASYNC110 - state changed by callbacks, not an event
        if loop.time() > deadline:
            raise TimeoutError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)
