"""listen(): options, algorithm policies, our client against our server for every algorithm, the acceptor."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

import blockssh.aio as aio
from blockssh.aio.server import (
    DEFAULT_LOGIN_TIMEOUT,
    DEFAULT_MAX_AUTH_TRIES,
    DEFAULT_MAX_UNAUTHENTICATED,
    PQ_ONLY_ALGORITHMS,
    SERVER_DEFAULT_ALGORITHMS,
    SSHServer,
    listen,
)
from blockssh.exceptions import ConfigurationError, DisconnectReason, KeyExchangeFailed
from blockssh.keys import generate_private_key
from blockssh.proto import events as ev

from interop.server_helpers import CoreClient, keys, serving, until

pytestmark = pytest.mark.timeout(60)

KEX = [
    "mlkem768x25519-sha256",
    "curve25519-sha256",
    "curve25519-sha256@libssh.org",
    "ecdh-sha2-nistp256",
    "ecdh-sha2-nistp384",
    "ecdh-sha2-nistp521",
    "diffie-hellman-group-exchange-sha256",
    "diffie-hellman-group16-sha512",
    "diffie-hellman-group18-sha512",
    "diffie-hellman-group14-sha256",
]
CIPHERS = [
    "chacha20-poly1305@openssh.com",
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "aes128-ctr",
    "aes192-ctr",
    "aes256-ctr",
]
MACS = [
    "hmac-sha2-256-etm@openssh.com",
    "hmac-sha2-512-etm@openssh.com",
    "hmac-sha1-etm@openssh.com",
    "hmac-sha2-256",
    "hmac-sha2-512",
    "hmac-sha1",
]
HOST_KEYS = [
    ("ssh-ed25519", "ed25519"),
    ("ecdsa-sha2-nistp256", "ecdsa"),
    ("ecdsa-sha2-nistp384", "ecdsa384"),
    ("ecdsa-sha2-nistp521", "ecdsa521"),
    ("rsa-sha2-512", "rsa"),
    ("rsa-sha2-256", "rsa"),
]


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 50))


class Echo(aio.SSHServerSession[bytes]):
    def connection_made(self, chan: Any) -> None:
        self.chan = chan

    def exec_requested(self, command: str) -> bool:
        self.command = command
        return True

    def session_started(self) -> None:
        self.chan.write(self.command.encode())
        self.chan.exit(0)


class Server(SSHServer):
    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return password == "pw"

    def session_requested(self) -> Any:
        return Echo()


async def login(port: int, **kwargs: Any) -> aio.SSHClientConnection:
    return await aio.connect("127.0.0.1", port, username="u", password="pw", known_hosts=None, client_keys=(), **kwargs)


def test_defaults_are_named_and_match_openssh() -> None:
    assert (DEFAULT_LOGIN_TIMEOUT, DEFAULT_MAX_AUTH_TRIES, DEFAULT_MAX_UNAUTHENTICATED) == (120.0, 6, 100)
    default = SERVER_DEFAULT_ALGORITHMS
    assert default.kex == ("mlkem768x25519-sha256", "curve25519-sha256", "curve25519-sha256@libssh.org")
    assert all(m.endswith("-etm@openssh.com") and "sha1" not in m for m in default.macs)
    assert not any(k.startswith(("ecdh-", "diffie-hellman")) for k in default.kex)
    assert PQ_ONLY_ALGORITHMS.kex == ("mlkem768x25519-sha256",)
    assert not any("ecdsa" in k for k in PQ_ONLY_ALGORITHMS.host_key)
    assert all("256" in c or "chacha20" in c for c in PQ_ONLY_ALGORITHMS.ciphers)


@pytest.mark.parametrize("kex", KEX)
def test_our_client_every_kex(kex: str) -> None:
    async def main() -> None:
        async with serving(server_factory=Server, kex_algs=kex) as acceptor:
            conn = await login(acceptor.get_port(), kex_algs=kex)
            assert conn.get_extra_info("kex") == kex
            assert (await conn.run("hi")).stdout == "hi"
            conn.close()

    run(main())


def test_our_client_every_cipher_mac_and_host_key() -> None:
    ks = keys()

    async def main() -> None:
        for cipher in CIPHERS:
            async with serving(server_factory=Server, encryption_algs=cipher) as acceptor:
                conn = await login(acceptor.get_port(), encryption_algs=cipher)
                assert conn.get_extra_info("send_cipher") == cipher and (await conn.run("c")).stdout == "c"
                conn.close()
        for mac in MACS:
            async with serving(server_factory=Server, encryption_algs="aes128-ctr", mac_algs=mac) as acceptor:
                conn = await login(acceptor.get_port(), encryption_algs="aes128-ctr", mac_algs=mac)
                assert conn.get_extra_info("recv_mac") == mac and (await conn.run("m")).stdout == "m"
                conn.close()
        for algorithm, name in HOST_KEYS:
            async with serving(
                server_factory=Server, server_host_keys=[ks.host[name]], server_host_key_algs=algorithm
            ) as acceptor:
                conn = await login(acceptor.get_port(), server_host_key_algs=algorithm)
                assert conn.get_extra_info("host_key_algorithm") == algorithm
                assert conn.server_host_key == ks.host[name]
                conn.close()

    run(main())


def test_client_keys_of_every_type_and_compression() -> None:
    ks = keys()
    path = ks.authorized_keys()

    async def main() -> None:
        async with serving(server_factory=Server, authorized_client_keys=path) as acceptor:
            for name in ("ed25519", "ecdsa", "rsa"):
                conn = await aio.connect(
                    "127.0.0.1", acceptor.get_port(), username="u", known_hosts=None, client_keys=[ks.client[name]]
                )
                conn.close()
            conn = await login(acceptor.get_port(), compression_algs="zlib@openssh.com")
            assert conn.get_extra_info("compression") == "zlib@openssh.com"
            assert (await conn.run("z" * 10000)).stdout == "z" * 10000
            conn.close()

    run(main())


def test_pq_only_policy() -> None:
    async def main() -> None:
        async with serving(server_factory=Server, pq_only=True) as acceptor:
            conn = await login(acceptor.get_port())
            assert conn.get_extra_info("kex") == "mlkem768x25519-sha256"
            conn.close()
            with pytest.raises(KeyExchangeFailed):
                await login(acceptor.get_port(), kex_algs="curve25519-sha256")
        with pytest.raises(ConfigurationError, match="host keys"):  # ECDSA host keys are outside the policy
            await listen("127.0.0.1", 0, server_host_keys=[keys().host["ecdsa"]], pq_only=True)

    run(main())


def test_configuration_errors(tmp_path: Path) -> None:
    host = keys().host["ed25519"]

    async def main() -> None:
        with pytest.raises(ConfigurationError, match="server_host_keys"):
            await listen("127.0.0.1", 0)
        with pytest.raises(ConfigurationError, match="cannot read host key"):
            await listen("127.0.0.1", 0, server_host_keys=[tmp_path / "missing"])
        with pytest.raises(ConfigurationError, match="private"):
            await listen("127.0.0.1", 0, server_host_keys=[host.public_only()])
        with pytest.raises(ConfigurationError, match="unsupported"):
            await listen("127.0.0.1", 0, server_host_keys=[host], kex_algs="sntrup761x25519-sha512")
        with pytest.raises(ConfigurationError, match="max_auth_tries"):
            await listen("127.0.0.1", 0, server_host_keys=[host], max_auth_tries=0)
        with pytest.raises(ConfigurationError, match="version"):
            await listen("127.0.0.1", 0, server_host_keys=[host], server_version="bad version")
        key_file = tmp_path / "host_key"
        key_file.write_bytes(generate_private_key("ssh-ed25519").export_private())
        acceptor = await listen("127.0.0.1", 0, server_host_keys=str(key_file))
        assert acceptor.is_serving() and acceptor.sockets
        acceptor.close()
        await acceptor.wait_closed()
        assert not acceptor.is_serving()

    run(main())


def test_acceptor_close_disconnects_clients() -> None:
    async def main() -> None:
        acceptor = await listen("127.0.0.1", 0, server_factory=Server, server_host_keys=[keys().host["ed25519"]])
        async with acceptor:
            conn = await login(acceptor.get_port())
            assert len(acceptor.connections) == 1
        await asyncio.wait_for(conn.wait_closed(), 5)
        assert conn.is_closed()

    run(main())


def test_oldest_idle_unauthenticated_connection_makes_room() -> None:
    async def main() -> None:
        async with serving(server_factory=Server, max_unauthenticated=3) as acceptor:
            port = acceptor.get_port()
            authenticating = await CoreClient.open(port)
            await authenticating.handshake()  # finished kex: evicted only after the idle ones
            idle = [await CoreClient.open(port) for _ in range(2)]
            await until(lambda: acceptor.unauthenticated_count == 3)
            conn = await login(port)  # a fourth: the oldest idle one goes
            await idle[0].read_until_closed()
            assert idle[0].error is not None and idle[0].error.code == DisconnectReason.TOO_MANY_CONNECTIONS
            assert not authenticating.eof
            authenticating.core.auth_password("u", "pw")
            assert await authenticating.wait_for(ev.AuthSuccess) is not None
            conn.close()
            for client in (authenticating, *idle):
                await client.close()

    run(main())
