"""``python -m blockssh demo``: the embedded server and the blocking client, talking to each other.

The demo starts blockssh's server on a free 127.0.0.1 port with fresh keys,
then drives it with the paramiko-style blocking client (``SSHClient``):
a command and its exit status, stderr kept apart, a line through a pty
shell, an SFTP upload and download, and a local port forward. It prints what
happened, and the same text every time, so the README can show it.
"""

from __future__ import annotations

import hashlib
import os
import socket
import socketserver
import sys
import tempfile
import threading
from collections.abc import Callable
from typing import TextIO

from .aio.forward_server import ForwardingPolicy
from .keys import generate_private_key
from .keys.pkey import pkey_from_sshkey
from .sftp import sftp_factory
from .sync.client import SSHClient
from .sync.serve import serve

__all__ = ["run_demo"]

SFTP_PAYLOAD_SIZE = 1024 * 1024


def _say(out: TextIO) -> Callable[[str, str], None]:
    def say(tag: str, text: str) -> None:
        first, *rest = text.splitlines() or [""]
        print(f"[{tag}]".ljust(10) + first, file=out)
        for line in rest:
            print(" " * 10 + line, file=out)

    return say


def run_demo(out: TextIO = sys.stdout) -> int:
    """Run the demo, printing to ``out``; returns a process exit status."""
    say = _say(out)
    print("blockssh demo: the embedded server on 127.0.0.1 and the blocking client, talking to each other", file=out)
    host_key = generate_private_key("ssh-ed25519")
    user_key = generate_private_key("ssh-ed25519")
    with tempfile.TemporaryDirectory(prefix="blockssh-demo-") as workdir:
        remote_root = os.path.join(workdir, "server")
        local_dir = os.path.join(workdir, "client")
        os.mkdir(remote_root)
        os.mkdir(local_dir)
        server = serve(
            "127.0.0.1",
            0,
            server_host_keys=[host_key],
            authorized_keys=user_key,
            cwd=remote_root,
            env={"HISTFILE": "/dev/null"},
            subsystems={"sftp": sftp_factory(remote_root)},
            forwarding=ForwardingPolicy(allow_tcp_forwarding="local", permit_open=("127.0.0.1:*",)),
        )
        with server:
            say("server", "listening on 127.0.0.1 (a free port) with a fresh Ed25519 host key")
            client = SSHClient()
            client.get_host_keys().add(f"[127.0.0.1]:{server.port}", host_key.algorithm, pkey_from_sshkey(host_key))
            with client:
                client.connect(
                    "127.0.0.1",
                    server.port,
                    username="demo",
                    pkey=pkey_from_sshkey(user_key),
                    look_for_keys=False,
                    allow_agent=False,
                )
                transport = client.get_transport()
                assert transport is not None
                say("client", "connected: the host key matched the known one; logged in with a fresh Ed25519 key")
                _exec(client, say)
                _shell(client, say)
                _sftp(client, say, local_dir)
                _forward(client, say)
        say("server", "closed")
    print("done.", file=out)
    return 0


def _exec(client: SSHClient, say: Callable[[str, str], None]) -> None:
    command = "echo hello from blockssh"
    _, stdout, _ = client.exec_command(command)
    text = stdout.read().decode()
    say("exec", f"$ {command}\n{text.rstrip()}\nexit status {stdout.channel.recv_exit_status()}")
    command = "echo to stdout; echo to stderr >&2; exit 3"
    result = client.run(command)
    lines = [f"$ {command}", f"stdout: {result.stdout.rstrip()}", f"stderr: {result.stderr.rstrip()}"]
    say("stderr", "\n".join([*lines, f"exit status {result.exit_status}"]))


def _shell(client: SSHClient, say: Callable[[str, str], None]) -> None:
    chan = client.invoke_shell(term="xterm", width=100, height=30)
    chan.settimeout(10)
    chan.sendall(b"stty size; exit\n")
    output = b""
    while True:
        data = chan.recv(4096)
        if not data:
            break
        output += data
    lines = [line.strip() for line in output.decode(errors="replace").splitlines()]
    size = "30 100" if "30 100" in lines else "?"
    say("shell", f"pty 100x30, typed 'stty size' -> {size}; exit status {chan.recv_exit_status()}")


def _sftp(client: SSHClient, say: Callable[[str, str], None], local_dir: str) -> None:
    try:
        sftp = client.open_sftp()
    except Exception as exc:  # noqa: BLE001 - the demo reports what is not available
        say("sftp", f"not available: {exc}")
        return
    payload = os.urandom(SFTP_PAYLOAD_SIZE)
    local = os.path.join(local_dir, "local.bin")
    back = os.path.join(local_dir, "downloaded.bin")
    with open(local, "wb") as f:
        f.write(payload)
    with sftp:
        sftp.put(local, "uploaded.bin")
        sftp.get("uploaded.bin", back)
        listing = sorted(sftp.listdir("."))
    with open(back, "rb") as f:
        same = hashlib.sha256(f.read()).digest() == hashlib.sha256(payload).digest()
    say(
        "sftp",
        f"put {SFTP_PAYLOAD_SIZE} bytes, got them back: SHA-256 {'matches' if same else 'DIFFERS'}\n"
        f"remote listing: {', '.join(listing)}",
    )


class _UpperCaseHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        for line in self.rfile:
            self.wfile.write(line.upper())


def _forward(client: SSHClient, say: Callable[[str, str], None]) -> None:
    """``ssh -L``: a local port, through the server, to a small TCP service next to it."""
    service = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _UpperCaseHandler)
    service.daemon_threads = True
    threading.Thread(target=service.serve_forever, daemon=True).start()
    try:
        service_port = service.server_address[1]
        with client.forward_local_port("127.0.0.1", 0, "127.0.0.1", service_port) as forward:
            with socket.create_connection(("127.0.0.1", forward.port), timeout=10) as sock:
                sock.sendall(b"through the tunnel\n")
                reply = sock.makefile("rb").readline().decode().strip()
        say("forward", f"local port -> server -> an upper-casing TCP service: sent 'through the tunnel', got '{reply}'")
    finally:
        service.shutdown()
        service.server_close()
