"""Hostile clients against blockssh's server.

Each test attacks a running server, checks that the bad connection ends with an SSH DISCONNECT
carrying the right reason code (or at the login grace timeout), and that the same server then
serves a legitimate client normally.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

import blockssh.aio as aio
from blockssh.aio.server import SSHAcceptor, SSHServer
from blockssh.exceptions import DisconnectReason
from blockssh.proto import events as ev
from blockssh.proto.connection import CoreOptions
from blockssh.proto.constants import Msg
from blockssh.proto.packet import PacketEncoder
from blockssh.proto.transport import TransportOptions
from blockssh.proto.wire import byte, string

from interop.server_helpers import CoreClient, serving, until

pytestmark = pytest.mark.timeout(60)


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


async def still_serves(acceptor: SSHAcceptor) -> None:
    """A legitimate client can log in and run a command."""
    conn = await aio.connect(
        "127.0.0.1", acceptor.get_port(), username="u", password="pw", known_hosts=None, client_keys=()
    )
    try:
        result = await asyncio.wait_for(conn.run("alive"), 10)
        assert result.stdout == "alive" and result.exit_status == 0
    finally:
        conn.close()


async def disconnected(client: CoreClient) -> int:
    """Read until the server hangs up; return the reason code of its DISCONNECT."""
    await client.read_until_closed()
    await client.close()
    assert client.error is not None, f"closed without a DISCONNECT; events: {client.events}"
    return int(client.error.code)


def test_garbage_instead_of_a_banner() -> None:
    async def main() -> None:
        async with serving(server_factory=Server) as acceptor:
            for garbage in (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"\x00\x01\x02" * 100, b"SSH-1.5-old\r\n"):
                client = await CoreClient.open(acceptor.get_port())
                client.writer.write(garbage)
                assert await disconnected(client) == DisconnectReason.PROTOCOL_VERSION_NOT_SUPPORTED
            client = await CoreClient.open(acceptor.get_port())  # a banner that never ends
            client.writer.write(b"SSH-2.0-" + b"x" * 300)
            assert await disconnected(client) == DisconnectReason.PROTOCOL_VERSION_NOT_SUPPORTED
            await still_serves(acceptor)

    run(main())


def test_oversize_packet_length() -> None:
    async def main() -> None:
        async with serving(server_factory=Server) as acceptor:
            client = await CoreClient.open(acceptor.get_port())
            client.core.start()
            client.flush()
            client.writer.write(b"\x7f\xff\xff\xff" + b"\x00" * 64)  # a 2 GiB packet, announced
            assert await disconnected(client) == DisconnectReason.PROTOCOL_ERROR
            await still_serves(acceptor)

    run(main())


@pytest.mark.parametrize(
    ("cipher", "mac"),
    [
        ("chacha20-poly1305@openssh.com", None),
        ("aes128-gcm@openssh.com", None),
        ("aes256-ctr", "hmac-sha2-256-etm@openssh.com"),
    ],
)
def test_bad_mac(cipher: str, mac: str | None) -> None:
    async def main() -> None:
        kwargs: dict[str, Any] = {"encryption_algs": cipher}
        if mac:
            kwargs["mac_algs"] = mac
        async with serving(server_factory=Server, **kwargs) as acceptor:
            client = await CoreClient.open(acceptor.get_port())
            await client.handshake()
            client.core.auth_password("u", "pw")
            packet = bytearray(client.core.data_to_send())
            packet[-1] ^= 0x40  # the last byte belongs to the tag
            client.writer.write(bytes(packet))
            assert await disconnected(client) == DisconnectReason.MAC_ERROR
            await still_serves(acceptor)

    run(main())


def test_non_kex_messages_during_strict_kex() -> None:
    async def main() -> None:
        async with serving(server_factory=Server) as acceptor:
            for payload in (byte(Msg.IGNORE) + string(b"pad"), byte(Msg.SERVICE_REQUEST) + string("ssh-userauth")):
                client = await CoreClient.open(acceptor.get_port())
                client.core.start()
                client.flush()  # our identification line and KEXINIT (offering strict kex)
                client.writer.write(_plain_packet(payload, seq=1))
                assert await disconnected(client) == DisconnectReason.PROTOCOL_ERROR
            # An IGNORE before a KEXINIT that turns strict kex on: KEXINIT was not the first packet.
            client = await CoreClient.open(acceptor.get_port())
            client.core.start()
            version, kexinit = client.core.data_to_send().split(b"\r\n", 1)
            client.writer.write(version + b"\r\n" + _plain_packet(byte(Msg.IGNORE) + string(b""), seq=0) + kexinit)
            assert await disconnected(client) == DisconnectReason.PROTOCOL_ERROR
            await still_serves(acceptor)

    run(main())


def _plain_packet(payload: bytes, seq: int) -> bytes:
    encoder = PacketEncoder()
    encoder.seq = seq
    return encoder.encode(payload)


def test_connection_messages_before_authentication() -> None:
    """The libssh CVE-2018-10933 family: USERAUTH_SUCCESS or CHANNEL_OPEN sent by an unauthenticated client."""

    async def main() -> None:
        async with serving(server_factory=Server) as acceptor:
            for payload in (
                byte(Msg.USERAUTH_SUCCESS),
                byte(Msg.CHANNEL_OPEN) + string("session") + bytes(4) + b"\x00\x20\x00\x00" + b"\x00\x00\x80\x00",
                byte(Msg.GLOBAL_REQUEST) + string("tcpip-forward") + b"\x01" + string("0.0.0.0") + bytes(4),
            ):
                client = await CoreClient.open(acceptor.get_port())
                await client.handshake()
                client.core.transport.send(payload)
                assert await disconnected(client) == DisconnectReason.PROTOCOL_ERROR
            await still_serves(acceptor)

    run(main())


def test_hundred_idle_unauthenticated_connections() -> None:
    async def main() -> None:
        async with serving(server_factory=Server, login_timeout=2.0) as acceptor:
            port = acceptor.get_port()
            idle: list[CoreClient] = []
            for i in range(100):
                client = await CoreClient.open(port)
                if i % 2:  # half of them send a version line and stop there
                    client.writer.write(b"SSH-2.0-slowloris\r\n")
                idle.append(client)
            await until(lambda: acceptor.unauthenticated_count == 100)
            await still_serves(acceptor)  # served meanwhile (the oldest idle connection made room)
            codes = await asyncio.gather(*(disconnected(c) for c in idle))
            assert set(codes) <= {DisconnectReason.CONNECTION_LOST, DisconnectReason.TOO_MANY_CONNECTIONS}
            assert codes.count(DisconnectReason.TOO_MANY_CONNECTIONS) == 1
            timed_out = [c for c in idle if c.error is not None and c.error.code == DisconnectReason.CONNECTION_LOST]
            assert all("login grace time" in str(c.error) for c in timed_out)
            await until(lambda: not acceptor.connections)
            await still_serves(acceptor)

    run(main())


def test_client_that_never_finishes_authentication() -> None:
    async def main() -> None:
        async with serving(server_factory=Server, login_timeout=1.0) as acceptor:
            stuck = await CoreClient.open(acceptor.get_port())
            await stuck.handshake()
            stuck.core.auth_password("u", "wrong")
            assert await stuck.wait_for(ev.AuthFailure) is not None
            await still_serves(acceptor)  # while it hangs around
            start = asyncio.get_running_loop().time()
            assert await disconnected(stuck) == DisconnectReason.CONNECTION_LOST
            assert asyncio.get_running_loop().time() - start < 3
            await still_serves(acceptor)

    run(main())


def test_flood_while_a_slow_auth_callback_runs() -> None:
    """Input is not read while an authentication callback runs, so a flood cannot pile up in memory."""

    class Slow(Server):
        async def validate_password(self, username: str, password: str) -> bool:
            await asyncio.sleep(0.5)
            return password == "pw"

    async def main() -> None:
        async with serving(server_factory=Slow) as acceptor:
            client = await CoreClient.open(acceptor.get_port())
            await client.handshake()
            client.core.auth_password("u", "x")
            client.flush()
            await asyncio.sleep(0.05)
            conn = next(iter(acceptor.connections))
            assert conn._reading_paused  # noqa: SLF001 - the socket is not being read
            sent = 0
            with contextlib.suppress(asyncio.TimeoutError):
                while sent < 64 << 20:  # the kernel buffers fill up: the writer blocks, the server does not buffer
                    client.writer.write(b"\x00" * 65536)
                    sent += 65536
                    await asyncio.wait_for(client.writer.drain(), 0.3)
            assert sent < 64 << 20
            await client.close()
            await still_serves(acceptor)

    run(main())


def test_strict_kex_is_negotiated_with_compliant_clients() -> None:
    async def main() -> None:
        async with serving(server_factory=Server) as acceptor:
            client = await CoreClient.open(acceptor.get_port())
            await client.handshake()
            assert client.core.transport.strict_kex
            await client.close()
            options = CoreOptions(transport=TransportOptions(strict_kex=False))
            client = await CoreClient.open(acceptor.get_port(), options)
            await client.handshake()
            assert not client.core.transport.strict_kex
            await client.close()

    run(main())
