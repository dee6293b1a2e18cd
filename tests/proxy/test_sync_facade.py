"""The blocking facade over jump hosts and proxies: sock=<Channel>, sock=ProxyCommand, socket-likes, config=."""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import blockssh
from blockssh.exceptions import ConfigurationError
from blockssh.keys.pkey import pkey_from_sshkey

from interop.server_helpers import keys

pytestmark = pytest.mark.timeout(60)

RELAY = str(Path(__file__).with_name("relay.py"))


@pytest.fixture
def pair() -> Iterator[tuple[blockssh.ServerHandle, blockssh.ServerHandle]]:
    """A jump server (direct-tcpip allowed) and a target server, both accepting the test keys."""
    user = keys().client["ed25519"].public_only()
    host_key = keys().host["ed25519"]
    with blockssh.serve(server_host_keys=[host_key], authorized_keys=user, allow_tcp_forwarding="local") as jump:
        with blockssh.serve(server_host_keys=[host_key], authorized_keys=user) as target:
            yield jump, target


def client_for(*servers: blockssh.ServerHandle) -> blockssh.SSHClient:
    client = blockssh.SSHClient()
    for server in servers:
        key = pkey_from_sshkey(keys().host["ed25519"])
        client.get_host_keys().add(f"[127.0.0.1]:{server.port}", key.get_name(), key)
    return client


def login() -> dict[str, Any]:
    return {
        "username": "tester",
        "key_filename": str(keys().client_paths["ed25519"]),
        "allow_agent": False,
        "look_for_keys": False,
    }


def test_connect_over_a_jump_channel_and_transport_over_it(pair: Any) -> None:
    jump, target = pair
    with client_for(jump) as jclient:
        jclient.connect("127.0.0.1", jump.port, **login())
        transport = jclient.get_transport()
        assert transport is not None
        chan = transport.open_channel("direct-tcpip", ("127.0.0.1", target.port), ("", 0))
        with client_for(target) as client:
            client.connect("127.0.0.1", target.port, sock=chan, **login())
            assert client.run("echo nested").stdout == "nested\n"
        # pysftp style: Transport(sock=chan) + connect(username, pkey)
        chan2 = transport.open_channel("direct-tcpip", ("127.0.0.1", target.port), ("", 0))
        t = blockssh.Transport(chan2)
        t.connect(username="tester", pkey=pkey_from_sshkey(keys().client["ed25519"]))
        assert t.is_authenticated()
        t.close()


class SocketLike:
    """A minimal paramiko-style socket object (send/recv/close/settimeout), no fileno."""

    def __init__(self, port: int) -> None:
        self._sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.closed = False

    def send(self, data: bytes) -> int:
        return self._sock.send(data)

    def recv(self, n: int) -> bytes:
        return self._sock.recv(n)

    def settimeout(self, timeout: float | None) -> None:
        self._sock.settimeout(timeout)

    def close(self) -> None:
        self.closed = True
        self._sock.close()


def test_connect_over_a_socket_like_object(pair: Any) -> None:
    _, target = pair
    sock = SocketLike(target.port)
    with client_for(target) as client:
        client.connect("127.0.0.1", target.port, sock=sock, **login())
        data = bytes(range(256)) * 4096  # 1 MiB each way through the helper threads
        result = client.run("cat", input=data, encoding=None)
        assert result.stdout == data
    deadline = time.monotonic() + 5
    while not sock.closed and time.monotonic() < deadline:  # the writer thread closes it after the last bytes
        time.sleep(0.01)
    assert sock.closed


def test_connect_over_proxycommand(pair: Any) -> None:
    _, target = pair
    proxy = blockssh.ProxyCommand(f"{sys.executable} {RELAY} 127.0.0.1 {target.port}")
    with client_for(target) as client:
        client.connect("127.0.0.1", target.port, sock=proxy, **login())
        assert client.run("echo proxied").stdout == "proxied\n"
    assert proxy.process.wait(10) is not None  # the command ends with the connection


def test_config_proxyjump_and_accept_new(pair: Any, tmp_path: Path) -> None:
    jump, target = pair
    known = tmp_path / "known_hosts"
    config = tmp_path / "config"
    config.write_text(
        f"Host hop\n  HostName 127.0.0.1\n  Port {jump.port}\n"
        f"Host dest\n  HostName 127.0.0.1\n  Port {target.port}\n  ProxyJump tester@hop\n"
        f"Host *\n  User tester\n  IdentityFile {keys().client_paths['ed25519']}\n"
        f"  UserKnownHostsFile {known}\n  StrictHostKeyChecking accept-new\n  IdentityAgent none\n"
    )
    with blockssh.connect("dest", config=str(config)) as client:
        assert client.run("echo $SSH_CONNECTION").stdout.split()[3] == str(target.port)
        jumps = client._jump_clients  # noqa: SLF001
        assert len(jumps) == 1
    assert jumps[0].get_transport() is None  # closed with the client
    learned = known.read_text()
    assert f"[127.0.0.1]:{jump.port}" in learned and f"[127.0.0.1]:{target.port}" in learned
    # StrictHostKeyChecking yes with an empty known_hosts refuses.
    config.write_text(config.read_text().replace("accept-new", "yes").replace(str(known), str(tmp_path / "none")))
    with pytest.raises(blockssh.SSHException, match="not found in known_hosts"):
        blockssh.connect("dest", config=str(config))


def test_blockssh_connect_reads_the_user_config(pair: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, target = pair
    ssh_dir = tmp_path / ".ssh"
    ssh_dir.mkdir(mode=0o700)
    known = ssh_dir / "known_hosts"
    known.write_text(f"[127.0.0.1]:{target.port} {keys().host['ed25519'].export_public('')}\n")
    (ssh_dir / "config").write_text(
        f"Host my-alias\n  HostName 127.0.0.1\n  Port {target.port}\n  User tester\n"
        f"  IdentityFile {keys().client_paths['ed25519']}\n  IdentityAgent none\n"
    )
    (ssh_dir / "config").chmod(0o600)
    monkeypatch.setenv("HOME", str(tmp_path))
    with blockssh.connect("my-alias") as client:  # ~/.ssh/config by default
        assert client.run("echo aliased").stdout == "aliased\n"
    with pytest.raises(OSError):  # config=False: "my-alias" is just an unknown host name
        blockssh.connect("my-alias", config=False, timeout=5)


def test_config_proxyjump_loop_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("Host a\n  ProxyJump b\nHost b\n  ProxyJump a\nHost *\n  HostName 127.0.0.1\n  Port 1\n")
    client = blockssh.SSHClient()
    client.set_missing_host_key_policy(blockssh.AutoAddPolicy())
    with pytest.raises((ConfigurationError, OSError)):
        client.connect("a", config=str(config), timeout=5)
    client.close()
