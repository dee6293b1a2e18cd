"""blockssh's client forwarding through OpenSSH's sshd: TCP and UNIX sockets both ways, SOCKS, paramiko's API.

The bulk cases push 64 MiB through an echo server and compare SHA-256 digests of what
was sent and what came back.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import select
import socket
import struct
import threading
import time
from typing import Any

import pytest

import blockssh
from blockssh.aio.forward import ForwardingError
from blockssh.aio.session import SSHClientSession
from blockssh.exceptions import ChannelException, ConfigurationError, SSHException

from interop.aio_helpers import connected, run
from interop.forward_helpers import echo_server, pump_through, short_socket_dir
from interop.sshd_fixture import SSHD

pytestmark = pytest.mark.timeout(90)

BULK = 64 << 20


def test_local_tcp_forward_64mib(sshd: SSHD) -> None:
    async def main() -> None:
        async with echo_server() as echo, connected(sshd) as conn:
            async with await conn.forward_local_port("127.0.0.1", 0, "127.0.0.1", echo.port) as listener:
                reader, writer = await asyncio.open_connection("127.0.0.1", listener.get_port())
                assert await pump_through(reader, writer, BULK) == (BULK, True)
                writer.close()
            assert echo.connections == 1

    run(main(), 80)


def test_remote_tcp_forward_64mib_with_server_picked_port(sshd: SSHD) -> None:
    async def main() -> None:
        async with echo_server() as echo, connected(sshd) as conn:
            listener = await conn.forward_remote_port("127.0.0.1", 0, "127.0.0.1", echo.port)
            port = listener.get_port()
            assert port > 0
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            assert await pump_through(reader, writer, BULK) == (BULK, True)
            writer.close()
            listener.close()
            await listener.wait_closed()
            with pytest.raises(OSError):
                await asyncio.open_connection("127.0.0.1", port)

    run(main(), 80)


def test_direct_tcpip_sessions_and_refusal(sshd: SSHD) -> None:
    async def main() -> None:
        async with echo_server() as echo, connected(sshd) as conn:
            reader, writer = await conn.open_connection("127.0.0.1", echo.port, "127.0.0.1", 5555)
            writer.write(b"through sshd")
            writer.write_eof()
            assert await asyncio.wait_for(reader.read(), 10) == b"through sshd"
            writer.close()
            with pytest.raises(ChannelException) as info:
                await conn.open_connection("127.0.0.1", 1)
            assert info.value.code == 2 and "refused" in str(info.value).lower()

    run(main())


def test_unix_socket_forwarding_both_ways(sshd: SSHD) -> None:
    async def main() -> None:
        tmp = short_socket_dir()
        echo_path = str(tmp / "echo")
        async with echo_server(echo_path) as echo, connected(sshd) as conn:
            os.chmod(echo_path, 0o777)  # sshd runs as its test user
            # here -> there: sshd connects to the echo socket
            local = await conn.forward_local_path(str(tmp / "in"), echo_path)
            reader, writer = await asyncio.open_unix_connection(str(tmp / "in"))
            assert await pump_through(reader, writer, 16 << 20) == (16 << 20, True)
            writer.close()
            local.close()
            # there -> here: sshd listens in a directory its user may write
            remote_path = os.path.join(sshd.scratch_dir, f"fwd-{os.getpid()}")
            remote = await conn.forward_remote_path(remote_path, echo_path)
            reader, writer = await asyncio.open_unix_connection(remote_path)
            assert await pump_through(reader, writer, 16 << 20) == (16 << 20, True)
            writer.close()
            remote.close()
            await remote.wait_closed()
            chan_reader, chan_writer = await conn.open_unix_connection(echo_path)
            chan_writer.write(b"unix")
            chan_writer.write_eof()
            assert await chan_reader.read() == b"unix"
            assert echo.connections == 3

    run(main())


def test_refused_remote_forward(sshd_factory: Any) -> None:
    server = sshd_factory(AllowTcpForwarding="local")

    async def main() -> None:
        async with connected(server) as conn:
            with pytest.raises(ForwardingError):
                await conn.forward_remote_port("127.0.0.1", 0, "127.0.0.1", 9)

    run(main())


def test_socks_through_sshd(sshd: SSHD) -> None:
    async def main() -> None:
        async with echo_server() as echo, connected(sshd) as conn:
            socks = await conn.forward_socks("127.0.0.1", 0)
            reader, writer = await asyncio.open_connection("127.0.0.1", socks.get_port())
            writer.write(b"\x05\x01\x00")
            assert await reader.readexactly(2) == b"\x05\x00"
            writer.write(b"\x05\x01\x00\x03\x09localhost" + echo.port.to_bytes(2, "big"))
            assert (await reader.readexactly(10))[:2] == b"\x05\x00"
            assert await pump_through(reader, writer, 4 << 20) == (4 << 20, True)
            writer.close()

    run(main())


# -- the blocking, paramiko-compatible API ---------------------------------------------------------------


@pytest.fixture
def client(sshd: SSHD) -> Any:
    c = blockssh.SSHClient()
    c.load_host_keys(sshd.known_hosts)
    c.connect(sshd.host, sshd.port, username=sshd.user, key_filename=sshd.client_keys["ed25519"], look_for_keys=False)
    yield c
    c.close()


class ThreadedEcho:
    """A blocking echo server in a thread (what a paramiko script would talk to)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(1 << 16):
                conn.sendall(data)

    def close(self) -> None:
        self.sock.close()


def _tunnel_loop(sock: socket.socket, chan: Any, stop: threading.Event) -> None:
    """Fabric's Tunnel / sshtunnel's handler: select() over the socket and the channel."""
    while not stop.is_set():
        r, _, _ = select.select([sock, chan], [], [], 1)
        if sock in r:
            data = sock.recv(1 << 16)
            if not data:
                chan.shutdown_write()
                sock_done = True
            else:
                chan.sendall(data)
                continue
        else:
            sock_done = False
        if chan in r:
            data = chan.recv(1 << 16)
            if not data:
                break
            sock.sendall(data)
        if sock_done:
            # keep draining the channel until it reports EOF
            while data := chan.recv(1 << 16):
                sock.sendall(data)
            break
    chan.close()
    sock.close()


def test_paramiko_direct_tcpip_select_tunnel(client: Any) -> None:
    """Transport.open_channel("direct-tcpip") + a select() loop over sockets and channels, as sshtunnel does."""
    echo = ThreadedEcho()
    transport = client.get_transport()
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        sock, peer = listener.accept()
        chan = transport.open_channel("direct-tcpip", ("127.0.0.1", echo.port), peer, timeout=10)
        _tunnel_loop(sock, chan, stop)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        payload = os.urandom(8 << 20)
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            got = bytearray()

            def reader() -> None:
                while chunk := s.recv(1 << 16):
                    got.extend(chunk)

            t = threading.Thread(target=reader, daemon=True)
            t.start()
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
            t.join(30)
        assert hashlib.sha256(got).digest() == hashlib.sha256(payload).digest()
        thread.join(10)
        assert not thread.is_alive()
    finally:
        stop.set()
        listener.close()
        echo.close()


def test_paramiko_request_port_forward_with_handler(client: Any) -> None:
    echo = ThreadedEcho()
    transport = client.get_transport()
    stop = threading.Event()
    calls: list[tuple[Any, Any, str]] = []

    def handler(chan: Any, origin: tuple[str, int], server: tuple[str, int]) -> None:
        calls.append((origin, server, threading.current_thread().name))
        sock = socket.create_connection(("127.0.0.1", echo.port))
        threading.Thread(target=_tunnel_loop, args=(sock, chan, stop), daemon=True).start()

    try:
        port = transport.request_port_forward("127.0.0.1", 0, handler)
        assert port > 0
        for i in range(3):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(b"hello %d" % i)
                s.shutdown(socket.SHUT_WR)
                data = b""
                while chunk := s.recv(1024):
                    data += chunk
                assert data == b"hello %d" % i
        assert len(calls) == 3
        assert all(server == ("127.0.0.1", port) for _, server, _ in calls)
        assert all(name != "blockssh-loop" for _, _, name in calls)
        transport.cancel_port_forward("127.0.0.1", port)
        time.sleep(0.2)
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
    finally:
        stop.set()
        echo.close()


def test_paramiko_request_port_forward_with_accept(client: Any) -> None:
    transport = client.get_transport()
    port = transport.request_port_forward("127.0.0.1", 0)
    assert transport.accept(0.2) is None
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"ping")
        chan = transport.accept(10)
        assert chan is not None
        chan.settimeout(10)
        assert chan.origin_addr[0] == "127.0.0.1"
        assert chan.recv(4) == b"ping"
        chan.sendall(b"pong")
        chan.close()
        assert s.recv(4) == b"pong"
    transport.cancel_port_forward("127.0.0.1", port)
    client.close()
    assert transport.accept(5) is None  # a closed transport ends the wait


def test_blocking_forward_helpers(client: Any) -> None:
    echo = ThreadedEcho()
    try:
        with client.forward_local_port("127.0.0.1", 0, "127.0.0.1", echo.port) as local:
            with socket.create_connection(("127.0.0.1", local.port), timeout=10) as s:
                s.sendall(b"local")
                assert s.recv(5) == b"local"
        assert local.closed
        remote = client.forward_remote_port("127.0.0.1", 0, "127.0.0.1", echo.port)
        with socket.create_connection(("127.0.0.1", remote.port), timeout=10) as s:
            s.sendall(b"remote")
            assert s.recv(6) == b"remote"
        remote.close()
        remote.close()  # idempotent
        with pytest.raises(ConfigurationError):
            client.forward_local_port("127.0.0.1", -5, "127.0.0.1", echo.port)
        with pytest.raises(SSHException, match="denied"):
            client.get_transport().request_port_forward("127.0.0.1", 70000)
    finally:
        echo.close()


# -- X11 through sshd ---------------------------------------------------------------------------------------

X_CLIENT = r"""
import os, socket, struct, subprocess
display = os.environ["DISPLAY"]
number = int(display.rpartition(":")[2].split(".")[0])
fields = subprocess.run(["xauth", "list", display], capture_output=True, text=True, check=True).stdout.split()
name, cookie = fields[1].encode(), bytes.fromhex(fields[2])
pad = lambda b: b + bytes((4 - len(b) % 4) % 4)
s = socket.create_connection(("localhost", 6000 + number))
s.sendall(b"l\0" + struct.pack("<HHHH", 11, 0, len(name), len(cookie)) + b"\0\0" + pad(name) + pad(cookie) + b"tail")
print(display, s.recv(100).decode())
"""


@pytest.mark.skipif(not os.path.exists("/usr/bin/xauth"), reason="sshd's X11 forwarding needs xauth")
def test_x11_forwarding_through_sshd(sshd_factory: Any, tmp_path: Any) -> None:
    """sshd (X11Forwarding yes) gives the remote program a display; its X client reaches our fake X server."""
    server = sshd_factory(X11Forwarding="yes", X11UseLocalhost="yes")
    real_cookie = os.urandom(16)

    class Output(SSHClientSession[bytes]):
        def __init__(self) -> None:
            self.out = b""

        def data_received(self, data: bytes, datatype: int | None) -> None:
            self.out += data

    async def main() -> None:
        seen: list[bytes] = []

        async def fake_x(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            seen.append(await reader.readexactly(12 + 20 + 16 + 4))
            writer.write(b"hello from X")
            await writer.drain()
            writer.close()

        for number in range(60, 100):
            try:
                xserver = await asyncio.start_server(fake_x, "127.0.0.1", 6000 + number)
                break
            except OSError:
                continue
        entry = struct.pack(">H", 65535) + b"".join(
            struct.pack(">H", len(f)) + f for f in (b"", str(number).encode(), b"MIT-MAGIC-COOKIE-1", real_cookie)
        )
        (tmp_path / "Xauthority").write_bytes(entry)
        async with xserver, connected(server) as conn:
            chan, session = await conn.open_session(Output)
            assert await conn.request_x11_forwarding(chan, f"127.0.0.1:{number}", str(tmp_path / "Xauthority"))
            assert await chan.request_exec(f"python3 -c '{X_CLIENT}'")
            await asyncio.wait_for(chan.wait_closed(), 30)
            assert b"hello from X" in session.out, session.out
            assert seen and seen[0][12:48] == b"MIT-MAGIC-COOKIE-1\0\0" + real_cookie
            assert seen[0].endswith(b"tail")

    run(main())


# -- paramiko's Channel.request_x11 / request_forward_agent through sshd -----------------------------------------


def _sync_client(server: SSHD) -> Any:
    c = blockssh.SSHClient()
    c.load_host_keys(server.known_hosts)
    c.connect(
        server.host, server.port, username=server.user, key_filename=server.client_keys["ed25519"], look_for_keys=False
    )
    return c


def _recv_exactly(chan: Any, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = chan.recv(n - len(data))
        assert chunk, f"EOF after {data!r}"
        data += chunk
    return data


@pytest.mark.skipif(not os.path.exists("/usr/bin/xauth"), reason="sshd's X11 forwarding needs xauth")
@pytest.mark.parametrize("mode", ["handler", "accept"])
def test_paramiko_request_x11_through_sshd(sshd_factory: Any, mode: str) -> None:
    """The X client sshd's program starts reaches us as a raw x11 Channel, with our cookie in its setup."""
    server = sshd_factory(X11Forwarding="yes", X11UseLocalhost="yes")
    handled: list[tuple[Any, tuple[str, int], str]] = []
    setups: list[bytes] = []

    def fake_x_server(chan: Any) -> None:
        chan.settimeout(20)
        setups.append(_recv_exactly(chan, 12 + 20 + 16 + 4))
        chan.sendall(b"hello from X")
        chan.close()

    def handler(chan: Any, origin: tuple[str, int]) -> None:
        handled.append((chan, origin, threading.current_thread().name))
        fake_x_server(chan)

    client = _sync_client(server)
    try:
        transport = client.get_transport()
        chan = transport.open_session()
        chan.settimeout(30)
        cookie = chan.request_x11(handler=handler if mode == "handler" else None)
        assert isinstance(cookie, bytes) and len(bytes.fromhex(cookie.decode())) == 16
        chan.exec_command(f"python3 -c '{X_CLIENT}'")
        if mode == "accept":
            x11_chan = transport.accept(30)
            assert x11_chan is not None and x11_chan.origin_addr[0] == "127.0.0.1"
            fake_x_server(x11_chan)
        out = chan.makefile("r").read()
        out = out.decode() if isinstance(out, bytes) else out
        assert chan.recv_exit_status() == 0, chan.makefile_stderr("r").read()
        assert "hello from X" in out, out
        assert setups and setups[0][12:48] == b"MIT-MAGIC-COOKIE-1\0\0" + bytes.fromhex(cookie.decode())
        assert setups[0].endswith(b"tail")
        if mode == "handler":
            assert len(handled) == 1 and handled[0][1][0] == "127.0.0.1"
            assert handled[0][2] != "blockssh-loop"
        else:
            assert not handled
    finally:
        client.close()


def test_paramiko_request_forward_agent_through_sshd(sshd_factory: Any, sshd: SSHD) -> None:
    """sshd's agent socket reaches the handler (an answer of no keys); AllowAgentForwarding=no raises."""
    opened: list[str] = []

    def handler(chan: Any) -> None:
        opened.append(threading.current_thread().name)
        chan.settimeout(20)
        (length,) = struct.unpack(">I", _recv_exactly(chan, 4))
        assert _recv_exactly(chan, length)[0] == 11  # SSH_AGENTC_REQUEST_IDENTITIES
        chan.sendall(struct.pack(">IBI", 5, 12, 0))  # SSH_AGENT_IDENTITIES_ANSWER, no keys
        chan.close()

    client = _sync_client(sshd)
    try:
        chan = client.get_transport().open_session()
        chan.settimeout(30)
        assert chan.request_forward_agent(handler) is True
        chan.exec_command("ssh-add -l; echo status=$?")
        out = chan.makefile("r").read()
        out = out.decode() if isinstance(out, bytes) else out
        assert "no identities" in out and "status=1" in out, out  # the agent answered: no keys
        assert len(opened) == 1 and opened[0] != "blockssh-loop"
    finally:
        client.close()

    client = _sync_client(sshd_factory(AllowAgentForwarding="no"))
    try:
        chan = client.get_transport().open_session()
        chan.settimeout(30)
        with pytest.raises(SSHException, match="agent forwarding"):
            chan.request_forward_agent(handler)
        chan.exec_command('echo "[$SSH_AUTH_SOCK]"')
        out = chan.makefile("r").read()
        assert (out.decode() if isinstance(out, bytes) else out) == "[]\n"
    finally:
        client.close()
