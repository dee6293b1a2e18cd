"""Forwarding between blockssh's asyncio client and blockssh's server, over loopback.

Local and remote TCP, UNIX sockets both ways, SOCKS4/4a/5, streams, session factories,
the server's policy, callbacks and authorized_keys restrictions, flow control, limits,
X11 with cookie substitution, and tunnel channel framing (without a device).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import struct
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import pytest

import blockssh.aio as aio
from blockssh.aio.forward import ForwardingError, open_channel_with_session
from blockssh.aio.forward_server import ForwardingPolicy, permit_match
from blockssh.exceptions import ChannelException, ConfigurationError
from blockssh.proto.constants import ChannelOpenFailure
from blockssh.proto.wire import string, uint32

from interop.forward_helpers import (
    ForwardingServer,
    echo_server,
    pump_through,
    short_socket_dir,
    wait_port,
)
from interop.server_helpers import keys, ready_server, serving

pytestmark = pytest.mark.timeout(60)

ALLOW_ALL = ForwardingPolicy.allow_all()


def run(coro: Awaitable[Any], timeout: float = 50) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))  # type: ignore[arg-type]


async def client(acceptor: aio.SSHAcceptor, **kwargs: Any) -> aio.SSHClientConnection:
    kwargs.setdefault("username", "tester")
    kwargs.setdefault("client_keys", ())
    return await aio.connect("127.0.0.1", acceptor.get_port(), known_hosts=None, **kwargs)


class Recorder(aio.SSHTCPSession[bytes]):
    def __init__(self) -> None:
        self.data = bytearray()
        self.eof = asyncio.Event()
        self.closed = asyncio.Event()

    def data_received(self, data: bytes, datatype: int | None) -> None:
        self.data += data

    def eof_received(self) -> bool:
        self.eof.set()
        return True

    def connection_lost(self, exc: BaseException | None) -> None:
        self.closed.set()


async def connect_refused(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return True
    writer.close()
    return False


# -- TCP ------------------------------------------------------------------------------------------------


def test_local_forward_carries_data_both_ways() -> None:
    async def main() -> None:
        async with echo_server() as echo, serving(server_factory=ForwardingServer, forwarding=ALLOW_ALL) as acc:
            conn = await client(acc)
            async with await conn.forward_local_port("127.0.0.1", 0, "127.0.0.1", echo.port) as listener:
                assert listener.get_port() > 0 and listener in conn.listeners
                reader, writer = await asyncio.open_connection("127.0.0.1", listener.get_port())
                received, same = await pump_through(reader, writer, 8 << 20)
                assert (received, same) == (8 << 20, True)
                writer.close()
            assert await connect_refused(listener.get_port())
            assert not conn.listeners
            conn.close()
            await conn.wait_closed()

    run(main())


def test_remote_forward_with_server_picked_port_and_cancel() -> None:
    async def main() -> None:
        async with echo_server() as echo, serving(server_factory=ForwardingServer, forwarding=ALLOW_ALL) as acc:
            conn = await client(acc)
            listener = await conn.forward_remote_port("127.0.0.1", 0, "127.0.0.1", echo.port)
            port = listener.get_port()
            assert port > 0
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            assert await pump_through(reader, writer, 4 << 20) == (4 << 20, True)
            writer.close()
            listener.close()
            await listener.wait_closed()
            assert await connect_refused(port)
            # the port can be asked for again, by number
            again = await conn.forward_remote_port("127.0.0.1", port, "127.0.0.1", echo.port)
            assert again.get_port() == port
            conn.close()
            await conn.wait_closed()
            await asyncio.sleep(0.05)
            assert await connect_refused(port)  # the server closed it with the connection

    run(main())


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


async def _echoes_on(host: str, port: int) -> bool:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        return await pump_through(reader, writer, 64 << 10) == (64 << 10, True)
    finally:
        writer.close()


@pytest.mark.parametrize("gateway_ports", ["yes", "clientspecified"])
def test_remote_forward_on_every_address_listens_on_ipv4_and_ipv6(gateway_ports: str) -> None:
    """With GatewayPorts, a remote forward on "" is reachable over IPv4 and IPv6, like sshd's."""
    policy = ForwardingPolicy("yes", "yes", gateway_ports=gateway_ports)

    async def main() -> None:
        async with echo_server() as echo, serving(server_factory=ForwardingServer, forwarding=policy) as acc:
            conn = await client(acc)
            listener = await conn.forward_remote_port("", 0, "127.0.0.1", echo.port)
            port = listener.get_port()
            assert await _echoes_on("127.0.0.1", port)
            if _ipv6_loopback():
                assert await _echoes_on("::1", port)
            conn.close()
            await conn.wait_closed()

    run(main())


def test_create_connection_and_open_connection() -> None:
    async def main() -> None:
        async with echo_server() as echo, serving(server_factory=ForwardingServer, forwarding=ALLOW_ALL) as acc:
            conn = await client(acc)
            chan, session = await conn.create_connection(Recorder, "127.0.0.1", echo.port, "10.1.2.3", 4567)
            assert isinstance(chan, aio.SSHTCPChannel)
            assert chan.get_extra_info("remote_peername") == ("127.0.0.1", echo.port)
            chan.write(b"hello ")
            chan.write(b"world")
            chan.write_eof()
            await asyncio.wait_for(session.closed.wait(), 10)
            assert bytes(session.data) == b"hello world" and session.eof.is_set()

            reader, writer = await conn.open_connection("127.0.0.1", echo.port)
            writer.write(b"line one\nline two\n")
            await writer.drain()
            assert await reader.readline() == b"line one\n"
            writer.write_eof()
            assert await reader.read() == b"line two\n"
            writer.close()
            await writer.wait_closed()

            with pytest.raises(ChannelException) as info:
                await conn.create_connection(Recorder, "127.0.0.1", 1)  # nothing listens on port 1
            assert info.value.code == ChannelOpenFailure.CONNECT_FAILED
            conn.close()

    run(main())


def test_create_server_and_start_server() -> None:
    async def main() -> None:
        async with serving(server_factory=ForwardingServer, forwarding=ALLOW_ALL) as acc:
            conn = await client(acc)
            origins: list[tuple[str, int]] = []
            sessions: list[Recorder] = []

            def factory(orig_host: str, orig_port: int) -> Recorder | None:
                origins.append((orig_host, orig_port))
                if len(origins) == 2:
                    return None  # the second connection is refused
                sessions.append(Recorder())
                return sessions[-1]

            listener = await conn.create_server(factory, "localhost", 0)
            reader, writer = await asyncio.open_connection("127.0.0.1", listener.get_port())
            writer.write(b"to the session")
            writer.write_eof()
            for _ in range(500):
                if sessions:
                    break
                await asyncio.sleep(0.01)
            await asyncio.wait_for(sessions[0].eof.wait(), 10)
            assert bytes(sessions[0].data) == b"to the session"
            assert origins[0] == writer.get_extra_info("sockname")[:2]
            writer.close()
            reader2, writer2 = await asyncio.open_connection("127.0.0.1", listener.get_port())
            assert await asyncio.wait_for(reader2.read(), 10) == b""  # refused: the server drops it
            writer2.close()

            async def shout(reader: asyncio.StreamReader, writer: aio.SSHStreamWriter) -> None:
                data = await reader.read()
                writer.write(data.upper())
                writer.close()

            streams = await conn.start_server(lambda host, port: shout, "127.0.0.1", 0)
            reader3, writer3 = await asyncio.open_connection("127.0.0.1", streams.get_port())
            writer3.write(b"quiet please")
            writer3.write_eof()
            assert await asyncio.wait_for(reader3.read(), 10) == b"QUIET PLEASE"
            writer3.close()
            conn.close()

    run(main())


# -- UNIX sockets -------------------------------------------------------------------------------------------


def test_unix_socket_forwarding_both_ways() -> None:
    async def main() -> None:
        tmp = short_socket_dir()
        async with (
            echo_server(str(tmp / "echo")) as echo,
            serving(server_factory=ForwardingServer, forwarding=ALLOW_ALL) as acc,
        ):
            assert echo.path is not None
            conn = await client(acc)
            local = await conn.forward_local_path(str(tmp / "local"), echo.path)
            reader, writer = await asyncio.open_unix_connection(str(tmp / "local"))
            assert await pump_through(reader, writer, 4 << 20) == (4 << 20, True)
            writer.close()

            remote = await conn.forward_remote_path(str(tmp / "remote"), echo.path)
            assert remote.get_path() == str(tmp / "remote")
            assert oct(os.stat(tmp / "remote").st_mode & 0o777) == oct(0o600)  # streamlocal_bind_mask 0o177
            reader, writer = await asyncio.open_unix_connection(str(tmp / "remote"))
            assert await pump_through(reader, writer, 4 << 20) == (4 << 20, True)
            writer.close()

            chan, session = await conn.create_unix_connection(Recorder, echo.path)
            assert isinstance(chan, aio.SSHUNIXChannel) and chan.get_extra_info("path") == echo.path
            chan.write(b"unix")
            chan.write_eof()
            await asyncio.wait_for(session.closed.wait(), 10)
            assert bytes(session.data) == b"unix"

            # TCP port here -> UNIX socket there, and a remote UNIX socket -> a TCP port here
            async with echo_server() as tcp_echo:
                to_path = await conn.forward_local_port_to_path("127.0.0.1", 0, echo.path)
                reader, writer = await asyncio.open_connection("127.0.0.1", to_path.get_port())
                assert await pump_through(reader, writer, 1 << 20) == (1 << 20, True)
                writer.close()
                from_path = await conn.forward_remote_path_to_port(str(tmp / "r2"), "127.0.0.1", tcp_echo.port)
                reader, writer = await asyncio.open_unix_connection(str(tmp / "r2"))
                assert await pump_through(reader, writer, 1 << 20) == (1 << 20, True)
                writer.close()
                from_path.close()
                await from_path.wait_closed()
            # an existing file is never replaced (StreamLocalBindUnlink is off by default)
            with pytest.raises(ForwardingError, match="exists"):
                await conn.forward_local_path(str(tmp / "remote"), echo.path)
            with pytest.raises(ForwardingError):
                await conn.forward_remote_path(str(tmp / "local"), echo.path)
            remote.close()
            await remote.wait_closed()
            local.close()
            await local.wait_closed()
            assert not (tmp / "local").exists()
            conn.close()
            await conn.wait_closed()
        assert not (tmp / "remote").exists()  # the server removes its socket when the forward ends

    run(main())


# -- SOCKS -------------------------------------------------------------------------------------------------


async def socks_connect(port: int, version: str, host: str, dest_port: int) -> tuple[asyncio.StreamReader, Any, int]:
    """A tiny SOCKS client: returns (reader, writer, reply code)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    if version == "5":
        writer.write(b"\x05\x02\x02\x00")  # offers username/password and no authentication
        assert await reader.readexactly(2) == b"\x05\x00"
        try:
            packed = socket.inet_aton(host)
            address = b"\x01" + packed
        except OSError:
            address = b"\x03" + bytes([len(host)]) + host.encode()
        writer.write(b"\x05\x01\x00" + address + struct.pack(">H", dest_port))
        reply = await reader.readexactly(10)
        return reader, writer, reply[1]
    if version == "4":
        writer.write(b"\x04\x01" + struct.pack(">H", dest_port) + socket.inet_aton(host) + b"user\x00")
    else:  # 4a
        writer.write(b"\x04\x01" + struct.pack(">H", dest_port) + b"\x00\x00\x00\x07user\x00" + host.encode() + b"\x00")
    reply = await reader.readexactly(8)
    return reader, writer, reply[1]


@pytest.mark.parametrize(
    ("version", "host", "ok_code"),
    [("5", "127.0.0.1", 0), ("5", "localhost", 0), ("4", "127.0.0.1", 90), ("4a", "localhost", 90)],
)
def test_socks_versions(version: str, host: str, ok_code: int) -> None:
    async def main() -> None:
        async with echo_server() as echo, serving(server_factory=ForwardingServer, forwarding=ALLOW_ALL) as acc:
            conn = await client(acc)
            socks = await conn.forward_socks("127.0.0.1", 0)
            reader, writer, code = await socks_connect(socks.get_port(), version, host, echo.port)
            assert code == ok_code
            assert await pump_through(reader, writer, 1 << 20) == (1 << 20, True)
            writer.close()
            # a refused destination gets a failure reply, then the connection closes
            reader, writer, code = await socks_connect(socks.get_port(), version, "127.0.0.1", 1)
            assert code == (5 if version == "5" else 91)
            assert await asyncio.wait_for(reader.read(), 10) == b""
            writer.close()
            conn.close()

    run(main())


def test_socks_bad_handshakes_and_timeout() -> None:
    async def main() -> None:
        async with serving(server_factory=ForwardingServer, forwarding=ALLOW_ALL) as acc:
            conn = await client(acc)
            socks = await conn.forward_socks("127.0.0.1", 0, handshake_timeout=0.3)
            for junk, expect in (
                (b"GET / HTTP/1.0\r\n\r\n", b""),  # not SOCKS: dropped
                (b"\x05\x01\x02", b"\x05\xff"),  # no acceptable method
                (b"\x05\x01\x00\x05\x02\x00\x01\x7f\x00\x00\x01\x00\x50", b"\x05\x00\x05\x07"),  # BIND
            ):
                reader, writer = await asyncio.open_connection("127.0.0.1", socks.get_port())
                writer.write(junk)
                answer = await asyncio.wait_for(reader.read(), 10)
                assert answer[: len(expect)] == expect
                writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", socks.get_port())
            writer.write(b"\x05")  # and then nothing: the handshake timeout closes it
            assert await asyncio.wait_for(reader.read(), 10) == b""
            writer.close()
            conn.close()

    run(main())


# -- the server's policy, callbacks and key restrictions ----------------------------------------------------------


def test_default_policy_refuses_everything() -> None:
    async def main() -> None:
        async with echo_server() as echo, serving(server_factory=ForwardingServer) as acc:
            conn = await client(acc)
            with pytest.raises(ChannelException) as info:
                await conn.create_connection(Recorder, "127.0.0.1", echo.port)
            assert info.value.code == ChannelOpenFailure.ADMINISTRATIVELY_PROHIBITED
            with pytest.raises(ForwardingError):
                await conn.forward_remote_port("127.0.0.1", 0, "127.0.0.1", echo.port)
            with pytest.raises(ChannelException):
                await conn.create_unix_connection(Recorder, "/tmp/nothing")  # noqa: S108
            with pytest.raises(ForwardingError):
                await conn.forward_remote_path("/tmp/nothing", "/tmp/nothing")  # noqa: S108
            with pytest.raises(ChannelException):
                await conn.create_tun(aio.SSHTunTapSession)
            assert echo.connections == 0
            conn.close()

    run(main())


def test_policy_directions_and_permit_lists() -> None:
    async def main() -> None:
        async with echo_server() as echo, echo_server() as other:
            policy = ForwardingPolicy(allow_tcp_forwarding="local", permit_open=[f"127.0.0.1:{echo.port}"])
            async with serving(server_factory=ForwardingServer, forwarding=policy) as acc:
                conn = await client(acc)
                chan, _ = await conn.create_connection(Recorder, "127.0.0.1", echo.port)
                chan.close()
                with pytest.raises(ChannelException):
                    await conn.create_connection(Recorder, "127.0.0.1", other.port)
                with pytest.raises(ForwardingError):
                    await conn.forward_remote_port("127.0.0.1", 0, "127.0.0.1", echo.port)
                conn.close()
            policy = ForwardingPolicy(allow_tcp_forwarding="remote", permit_listen=["127.0.0.1:*"])
            async with serving(server_factory=ForwardingServer, forwarding=policy) as acc:
                conn = await client(acc)
                listener = await conn.forward_remote_port("127.0.0.1", 0, "127.0.0.1", echo.port)
                assert listener.get_port()
                with pytest.raises(ForwardingError):
                    await conn.forward_remote_port("localhost", 0, "127.0.0.1", echo.port)
                with pytest.raises(ChannelException):
                    await conn.create_connection(Recorder, "127.0.0.1", echo.port)
                conn.close()
        assert echo.connections == 1 and other.connections == 0

    run(main())


def test_permit_match_and_policy_validation() -> None:
    assert permit_match(["any"], "h", 1)
    assert not permit_match(["none"], "h", 1)
    assert permit_match(["example.com:80"], "EXAMPLE.com", 80)
    assert not permit_match(["example.com:80"], "example.com", 81)
    assert permit_match(["*:443", "[::1]:22"], "x", 443) and permit_match(["[::1]:22"], "::1", 22)
    assert permit_match(["8080"], "0.0.0.0", 8080)
    assert ForwardingPolicy(allow_tcp_forwarding=True).tcp("remote")
    assert ForwardingPolicy.from_options(permit_open="a:1, b:2").permit_open == ("a:1", "b:2")
    for bad in (
        {"allow_tcp_forwarding": "sometimes"},
        {"permit_open": ["noport"]},
        {"permit_listen": ["host:99999"]},
        {"permit_tunnel": "layer3"},
        {"gateway_ports": "maybe"},
        {"permit_open": 5},
    ):
        with pytest.raises(ConfigurationError):
            ForwardingPolicy(**bad)


def test_callbacks_decide_and_replies_stay_in_order() -> None:
    class Callbacks(ForwardingServer):
        def connection_requested(self, host: str, port: int, orig_host: str, orig_port: int) -> Any:
            if port == 7:
                return Echo7()  # served in-process, nothing is connected to
            if port == 9:
                raise RuntimeError("a broken callback refuses")
            return False

        async def server_requested(self, host: str, port: int) -> bool:
            if port == 1111:
                await asyncio.sleep(0.3)  # slow, and answered before the fast one after it
                return False
            return port == 0

    class Echo7(aio.SSHTCPSession[bytes]):
        def connection_made(self, chan: Any) -> None:
            self.chan = chan

        def data_received(self, data: bytes, datatype: int | None) -> None:
            self.chan.write(b"7:" + data)

    async def main() -> None:
        async with serving(server_factory=Callbacks) as acc:
            conn = await client(acc)
            reader, writer = await conn.open_connection("anything", 7)
            writer.write(b"ping")
            assert await reader.readexactly(6) == b"7:ping"
            writer.close()
            for port in (9, 10):
                with pytest.raises(ChannelException):
                    await conn.create_connection(Recorder, "127.0.0.1", port)
            slow = asyncio.ensure_future(conn.global_request("tcpip-forward", string("127.0.0.1") + uint32(1111)))
            fast = asyncio.ensure_future(conn.global_request("tcpip-forward", string("127.0.0.1") + uint32(0)))
            (ok1, _), (ok2, data2) = await asyncio.gather(slow, fast)
            assert not ok1 and ok2 and len(data2) == 4
            conn.close()

    run(main())


def test_authorized_keys_restrictions() -> None:
    async def main() -> None:
        async with echo_server() as echo, echo_server() as other:
            for options, direct_ok, other_ok, remote_ok in (
                ("", True, True, True),
                ("no-port-forwarding", False, False, False),
                ("restrict", False, False, False),
                (f'permitopen="127.0.0.1:{echo.port}",permitlisten="127.0.0.1:*"', True, False, True),
                ('permitlisten="localhost:5"', True, True, False),
            ):
                auth = keys().authorized_keys("ed25519", options=options)
                async with ready_server(
                    authorized_keys=auth, allow_tcp_forwarding="yes", server_host_keys=[keys().host["ed25519"]]
                ) as acc:
                    conn = await client(acc, client_keys=[keys().client["ed25519"]])
                    for port, expected in ((echo.port, direct_ok), (other.port, other_ok)):
                        try:
                            chan, _ = await conn.create_connection(Recorder, "127.0.0.1", port)
                            chan.close()
                            ok = True
                        except ChannelException:
                            ok = False
                        assert ok == expected, (options, port)
                    try:
                        await conn.forward_remote_port("127.0.0.1", 0, "127.0.0.1", echo.port)
                        ok = True
                    except ForwardingError:
                        ok = False
                    assert ok == remote_ok, options
                    conn.close()
                    await conn.wait_closed()

    run(main())


# -- flow control and limits ---------------------------------------------------------------------------------------


def test_flow_control_holds_a_fast_sender_back() -> None:
    """A destination that does not read: the sender stalls with bounded buffers, then everything arrives intact."""

    async def main() -> None:
        reading = asyncio.Event()
        got = hashlib.sha256()
        total = 0
        done = asyncio.Event()

        async def lazy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal total
            await reading.wait()
            while chunk := await reader.read(1 << 20):
                got.update(chunk)
                total += len(chunk)
            writer.close()
            done.set()

        sink = await asyncio.start_server(lazy, "127.0.0.1", 0)
        sink_port = sink.sockets[0].getsockname()[1]
        async with serving(server_factory=ForwardingServer, forwarding=ALLOW_ALL) as acc:
            conn = await client(acc)
            listener = await conn.forward_local_port("127.0.0.1", 0, "127.0.0.1", sink_port)
            _, writer = await asyncio.open_connection("127.0.0.1", listener.get_port())
            block = os.urandom(1 << 20)
            sent = hashlib.sha256()
            written = 0
            while True:
                writer.write(block)
                sent.update(block)
                written += len(block)
                try:
                    await asyncio.wait_for(writer.drain(), 1.0)
                except asyncio.TimeoutError:
                    break
                assert written < (256 << 20), "the sender was never held back"
            # Windows (2 MiB each way), socket buffers and write buffers: bounded, far below what we offered.
            assert written <= 48 << 20
            reading.set()
            await writer.drain()
            writer.write_eof()
            await asyncio.wait_for(done.wait(), 20)
            assert total == written and got.digest() == sent.digest()
            writer.close()
            conn.close()
        sink.close()

    run(main())


def test_listener_limit_and_bad_arguments() -> None:
    async def main() -> None:
        async with echo_server() as echo, serving(server_factory=ForwardingServer, forwarding=ALLOW_ALL) as acc:
            conn = await client(acc)
            conn.max_listeners = 2
            await conn.forward_local_port("127.0.0.1", 0, "127.0.0.1", echo.port)
            await conn.forward_remote_port("127.0.0.1", 0, "127.0.0.1", echo.port)
            with pytest.raises(ForwardingError, match="too many"):
                await conn.forward_socks("127.0.0.1", 0)
            conn.max_listeners = 10
            every = await conn.forward_local_port("", 0, "127.0.0.1", echo.port)  # IPv4 and IPv6, one port
            assert {sock.getsockname()[1] for sock in every.sockets} == {every.get_port()}
            reader, writer = await asyncio.open_connection("127.0.0.1", every.get_port())
            writer.write(b"x")
            assert await reader.readexactly(1) == b"x"
            writer.close()
            busy = await conn.forward_local_port("127.0.0.1", 0, "127.0.0.1", echo.port)
            with pytest.raises(ForwardingError, match="cannot listen"):
                await conn.forward_local_port("127.0.0.1", busy.get_port(), "127.0.0.1", echo.port)
            for bad in (
                lambda: conn.forward_local_port("127.0.0.1", 70000, "h", 1),
                lambda: conn.forward_local_port("127.0.0.1", 0, "h", -1),
                lambda: conn.create_connection(Recorder, "h\0", 1),
                lambda: conn.forward_remote_port(None, 0, "h", 1),  # type: ignore[arg-type]
                lambda: conn.forward_local_path("", "/x"),
                lambda: conn.create_tun(aio.SSHTunTapSession, remote_unit=-1),
            ):
                with pytest.raises(ConfigurationError):
                    await bad()
            conn.close()

    run(main())


def test_unsolicited_forwarded_channels_are_refused() -> None:
    """A server cannot open forwarded-tcpip, forwarded-streamlocal or x11 channels nobody asked for."""
    server_conn: list[Any] = []

    class Keep(ForwardingServer):
        def connection_made(self, conn: Any) -> None:
            server_conn.append(conn)

    async def main() -> None:
        async with serving(server_factory=Keep, forwarding=ALLOW_ALL) as acc:
            conn = await client(acc)
            server = server_conn[0]
            for kind, extra in (
                ("forwarded-tcpip", string("127.0.0.1") + uint32(22) + string("1.2.3.4") + uint32(5)),
                ("forwarded-streamlocal@openssh.com", string("/tmp/x") + string("")),
                ("x11", string("127.0.0.1") + uint32(6000)),
                ("no-such-kind@example.com", b""),
            ):
                with pytest.raises(ChannelException):
                    await open_channel_with_session(
                        server,
                        kind,
                        extra,
                        lambda cid, kind=kind: aio.SSHTCPChannel(server, cid, kind),
                        Recorder(),
                        timeout=10,
                    )
            conn.close()

    run(main())


# -- X11 ---------------------------------------------------------------------------------------------------------


def _xauth_entry(number: int, cookie: bytes) -> bytes:
    def field(b: bytes) -> bytes:
        return struct.pack(">H", len(b)) + b

    return (
        struct.pack(">H", 256)
        + field(socket.gethostname().encode())
        + field(str(number).encode())
        + field(b"MIT-MAGIC-COOKIE-1")
        + field(cookie)
    )


def _x_setup(cookie: bytes, name: bytes = b"MIT-MAGIC-COOKIE-1") -> bytes:
    def pad(b: bytes) -> bytes:
        return b + bytes((4 - len(b) % 4) % 4)

    return b"l\x00" + struct.pack("<HHHH", 11, 0, len(name), len(cookie)) + b"\x00\x00" + pad(name) + pad(cookie)


def test_x11_forwarding_swaps_the_cookie(tmp_path: Path) -> None:
    real_cookie = os.urandom(16)
    server_conn: list[Any] = []
    listeners: list[Any] = []

    class X11Session(aio.SSHServerSession[bytes]):
        def connection_made(self, chan: Any) -> None:
            self.chan = chan

        def x11_requested(self, single: bool, protocol: str, cookie: str, screen: int) -> bool:
            return True

        def exec_requested(self, command: str) -> bool:
            return True

        def session_started(self) -> None:
            single, protocol, cookie, screen = self.chan.get_x11_request()

            async def start() -> None:
                listener = await server_conn[0].create_x11_listener(protocol, cookie, screen)
                listeners.append(listener)
                self.chan.write(listener.display.encode() + b"\n")

            asyncio.ensure_future(start())

    class X11Server(ForwardingServer):
        def connection_made(self, conn: Any) -> None:
            server_conn.append(conn)

        def session_requested(self) -> X11Session:
            return X11Session()

    class Lines(aio.SSHClientSession[bytes]):
        def __init__(self) -> None:
            self.got = asyncio.Queue[bytes]()

        def data_received(self, data: bytes, datatype: int | None) -> None:
            self.got.put_nowait(data)

    async def main() -> None:
        received: list[bytes] = []

        async def fake_x(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            received.append(await reader.readexactly(len(_x_setup(real_cookie))))
            writer.write(b"X server says hi")
            await writer.drain()
            received.append(await reader.read())
            writer.close()

        # A fake X server on a free TCP display number, and an Xauthority file with its cookie.
        for number in range(60, 100):
            try:
                xserver = await asyncio.start_server(fake_x, "127.0.0.1", 6000 + number)
                break
            except OSError:
                continue
        xauth = tmp_path / "Xauthority"
        xauth.write_bytes(_xauth_entry(number, real_cookie))
        async with xserver, serving(server_factory=X11Server) as acc:
            conn = await client(acc)
            chan, session = await conn.open_session(Lines)
            assert await conn.request_x11_forwarding(chan, f"127.0.0.1:{number}", str(xauth))
            assert await chan.request_exec("xterm")
            display = (await asyncio.wait_for(session.got.get(), 10)).decode().strip()
            port = 6000 + int(display.split(":")[1].split(".")[0])
            fake_cookie = conn._x11.fake[1]  # what the server was given
            # An X client on the server side, with the fake cookie: the real X server sees the real one.
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(_x_setup(fake_cookie) + b"request")
            assert await asyncio.wait_for(reader.readexactly(16), 10) == b"X server says hi"
            writer.write_eof()
            await asyncio.sleep(0.2)
            assert received[0] == _x_setup(real_cookie)
            assert received[1] == b"request"
            writer.close()
            # A wrong cookie never reaches the X server.
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(_x_setup(os.urandom(16)))
            assert await asyncio.wait_for(reader.read(), 10) == b""
            writer.close()
            assert len(received) == 2
            listeners[0].close()
            conn.close()

    run(main())


# -- tunnels (framing only: no device) ---------------------------------------------------------------------------


def test_tunnel_channels_keep_packet_boundaries() -> None:
    class PacketEcho(aio.SSHTunTapSession):
        def connection_made(self, chan: Any) -> None:
            self.chan = chan

        def data_received(self, data: bytes, datatype: int | None) -> None:
            self.chan.write(data[::-1] if data[0] >> 4 not in (4, 6) else data)

    units: list[Any] = []

    class Tunnels(ForwardingServer):
        def tun_requested(self, unit: int | None) -> PacketEcho:
            units.append(("tun", unit))
            return PacketEcho()

        def tap_requested(self, unit: int | None) -> PacketEcho:
            units.append(("tap", unit))
            return PacketEcho()

    class Packets(aio.SSHTunTapSession):
        def __init__(self) -> None:
            self.packets: asyncio.Queue[bytes] = asyncio.Queue()

        def data_received(self, data: bytes, datatype: int | None) -> None:
            self.packets.put_nowait(data)

    async def main() -> None:
        async with serving(server_factory=Tunnels) as acc:
            conn = await client(acc)
            chan, session = await conn.create_tun(Packets, 5)
            assert chan.layer == 3
            sent = [b"\x45" + os.urandom(n) for n in (19, 1, 1499, 30000)] + [b"\x60" + bytes(39)]
            for packet in sent:
                chan.write(packet)
            chan.write(b"\x45" + bytes(40000))  # more than the peer's maximum packet size: dropped
            for packet in sent:
                assert await asyncio.wait_for(session.packets.get(), 10) == packet
            assert chan.dropped == 1
            # far more than one window's worth: packets wait for window space, whole, in order
            many = [b"\x45" + i.to_bytes(4, "big") + bytes(1400) for i in range(3000)]
            for packet in many:
                chan.write(packet)
            got = [await asyncio.wait_for(session.packets.get(), 10) for _ in range(3000 - chan.dropped + 1)]
            assert got == [p for p in many if p in set(got)] and len(got) > 150
            with pytest.raises(Exception, match="not an IPv4 or IPv6"):
                chan.write(b"\x00abc")
            chan.close()
            chan2, session2 = await conn.create_tap(Packets)
            frame = bytes(range(256)) * 6
            chan2.write(frame)
            assert await asyncio.wait_for(session2.packets.get(), 10) == frame[::-1]
            assert units == [("tun", 5), ("tap", None)]
            conn.close()

    run(main())


def test_forward_to_a_dead_end_reports_why() -> None:
    async def main() -> None:
        async with serving(server_factory=ForwardingServer, forwarding=ALLOW_ALL) as acc:
            conn = await client(acc)
            listener = await conn.forward_local_port("127.0.0.1", 0, "127.0.0.1", 1)
            reader, writer = await asyncio.open_connection("127.0.0.1", listener.get_port())
            assert await asyncio.wait_for(reader.read(), 10) == b""  # refused over SSH: closed here
            writer.close()
            assert listener.connection_count == 0
            await wait_port(listener.get_port())  # still listening
            conn.close()
            await conn.wait_closed()
            assert await connect_refused(listener.get_port())  # closed with the connection

    run(main())
