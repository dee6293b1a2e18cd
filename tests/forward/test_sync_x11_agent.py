"""paramiko's ``Channel.request_x11`` and ``Channel.request_forward_agent`` against blockssh's server.

The server side is the asyncio server: an X11 session that listens on a display with the
client's cookie (the "X client on the server" is a plain socket connecting to it), and the
ready server with agent forwarding (a program there running ``ssh-add -l``). The client is
the blocking facade, run in a worker thread.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import blockssh
import blockssh.aio as aio
from blockssh.exceptions import ConfigurationError
from blockssh.keys.agent_codec import AgentMsg
from blockssh.proto.wire import string, uint32

from interop.forward_helpers import ForwardingServer
from interop.server_helpers import keys, known_hosts, ready_server, serving

pytestmark = pytest.mark.timeout(60)


def run(coro: Awaitable[Any], timeout: float = 50) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))  # type: ignore[arg-type]


def connect(port: int) -> blockssh.SSHClient:
    client = blockssh.SSHClient()
    client.load_host_keys(str(known_hosts(port, [keys().host["ed25519"]])))
    client.connect(
        "127.0.0.1",
        port,
        username="tester",
        key_filename=str(keys().client_paths["ed25519"]),
        look_for_keys=False,
        allow_agent=False,
        timeout=10,
    )
    return client


def recv_exactly(chan: Any, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = chan.recv(n - len(data))
        assert chunk, f"EOF after {data!r}"
        data += chunk
    return data


# -- X11 -----------------------------------------------------------------------------------------------------


class X11State:
    """What the server saw: the x11-req, and the display it listens on."""

    def __init__(self, accept: bool) -> None:
        self.accept = accept
        self.requests: list[tuple[bool, str, str, int]] = []
        self.listeners: list[Any] = []


def x11_server(state: X11State) -> type[aio.SSHServer]:
    """A server whose sessions accept (or refuse) x11-req, then print the display they listen on."""

    class X11Session(aio.SSHServerSession[bytes]):
        def connection_made(self, chan: Any) -> None:
            self.chan = chan

        def x11_requested(self, single: bool, protocol: str, cookie: str, screen: int) -> bool:
            state.requests.append((single, protocol, cookie, screen))
            return state.accept

        def exec_requested(self, command: str) -> bool:
            return True

        def session_started(self) -> None:
            request = self.chan.get_x11_request()
            if request is None:
                self.chan.write(b"no x11\n")
                return
            single, protocol, cookie, screen = request

            async def start() -> None:
                listener = await self.chan.get_extra_info("connection").create_x11_listener(
                    protocol, cookie, screen, single_connection=single
                )
                state.listeners.append(listener)
                self.chan.write(f"{listener.get_port()}\n".encode())

            asyncio.ensure_future(start())

    class X11Server(ForwardingServer):
        def session_requested(self) -> X11Session:
            return X11Session()

    return X11Server


def x11_port(chan: Any) -> int:
    """The display port the server's session printed."""
    line = b""
    while not line.endswith(b"\n"):
        chunk = chan.recv(100)
        assert chunk, line
        line += chunk
    return int(line)


def in_thread(fn: Callable[[], Any]) -> Awaitable[Any]:
    return asyncio.get_running_loop().run_in_executor(None, fn)


def test_request_x11_handler_gets_channels_carrying_data_both_ways() -> None:
    state = X11State(accept=True)
    calls: list[tuple[Any, tuple[str, int], str]] = []
    done = threading.Event()

    def handler(chan: Any, origin: tuple[str, int]) -> None:
        calls.append((chan, origin, threading.current_thread().name))
        chan.settimeout(10)
        assert recv_exactly(chan, 14) == b"X client hello"
        chan.sendall(b"X server reply")
        assert chan.recv(10) == b""  # the X client's EOF comes through
        chan.close()
        done.set()

    async def main() -> None:
        async with serving(server_factory=x11_server(state)) as acc:

            def blocking() -> None:
                client = connect(acc.get_port())
                try:
                    chan = client.get_transport().open_session()
                    chan.settimeout(10)
                    cookie = chan.request_x11(handler=handler)
                    assert isinstance(cookie, bytes) and len(cookie) == 32
                    assert bytes.fromhex(cookie.decode())  # 16 random bytes, as hex
                    assert state.requests == [(False, "MIT-MAGIC-COOKIE-1", cookie.decode(), 0)]
                    chan.exec_command("xterm")
                    port = x11_port(chan)
                    for _ in range(2):  # each X connection is a new channel for the handler
                        done.clear()
                        with socket.create_connection(("127.0.0.1", port), timeout=10) as xclient:
                            xclient.sendall(b"X client hello")
                            assert xclient.recv(14) == b"X server reply"
                            xclient.shutdown(socket.SHUT_WR)
                            assert done.wait(10)
                    assert len(calls) == 2 and calls[0][0] is not calls[1][0]
                    for x11_chan, origin, thread_name in calls:
                        assert origin[0] == "127.0.0.1" and origin[1] > 0
                        assert thread_name != "blockssh-loop"
                        assert x11_chan.transport is client.get_transport()
                        assert x11_chan.closed
                    assert client.get_transport().accept(0.2) is None  # handled, not queued
                finally:
                    client.close()

            await in_thread(blocking)
            for listener in state.listeners:
                listener.close()

    run(main())


def test_request_x11_without_handler_queues_channels_for_accept() -> None:
    state = X11State(accept=True)

    async def main() -> None:
        async with serving(server_factory=x11_server(state)) as acc:

            def blocking() -> None:
                client = connect(acc.get_port())
                try:
                    transport = client.get_transport()
                    chan = transport.open_session()
                    chan.settimeout(10)
                    cookie = chan.request_x11(
                        screen_number=2,
                        auth_protocol="MIT-MAGIC-COOKIE-1",
                        auth_cookie="00" * 16,
                        single_connection=True,
                    )
                    assert cookie == "00" * 16  # returned as given (paramiko)
                    assert state.requests == [(True, "MIT-MAGIC-COOKIE-1", "00" * 16, 2)]
                    chan.exec_command("xterm")
                    port = x11_port(chan)
                    assert transport.accept(0.2) is None
                    with socket.create_connection(("127.0.0.1", port), timeout=10) as xclient:
                        xclient.sendall(b"ping")
                        x11_chan = transport.accept(10)
                        assert x11_chan is not None
                        x11_chan.settimeout(10)
                        assert x11_chan.origin_addr == xclient.getsockname()
                        assert recv_exactly(x11_chan, 4) == b"ping"
                        x11_chan.sendall(b"pong")
                        assert xclient.recv(4) == b"pong"
                        x11_chan.close()
                        assert xclient.recv(4) == b""
                    with pytest.raises(OSError):  # single_connection: the server stopped listening
                        socket.create_connection(("127.0.0.1", port), timeout=10).close()
                finally:
                    client.close()
                assert transport.accept(5) is None  # a closed transport ends the wait

            await in_thread(blocking)

    run(main())


def test_request_x11_refused_raises_and_closes_the_channel() -> None:
    state = X11State(accept=False)

    async def main() -> None:
        async with serving(server_factory=x11_server(state)) as acc:

            def blocking() -> None:
                client = connect(acc.get_port())
                try:
                    chan = client.get_transport().open_session()
                    chan.settimeout(10)
                    with pytest.raises(blockssh.SSHException, match="x11"):
                        chan.request_x11(handler=lambda c, o: None)
                    assert chan.closed
                    assert len(state.requests) == 1
                finally:
                    client.close()

            await in_thread(blocking)

    run(main())


def test_aio_x11_session_factory_mode_does_not_mix_with_a_display() -> None:
    """The aio side of request_x11: a session_factory instead of a display; the modes do not mix."""
    state = X11State(accept=True)

    async def main() -> None:
        async with serving(server_factory=x11_server(state)) as acc:
            conn = await aio.connect("127.0.0.1", acc.get_port(), username="tester", client_keys=(), known_hosts=None)
            chan, _ = await conn.open_session(aio.SSHClientSession)
            assert conn.x11_auth is None
            with pytest.raises(ConfigurationError):
                await conn.request_x11_forwarding(chan, "127.0.0.1:99", session_factory=lambda h, p: None)
            assert await conn.request_x11_forwarding(chan, session_factory=lambda h, p: None, auth_cookie="ab" * 16)
            assert conn.x11_auth == ("MIT-MAGIC-COOKIE-1", "ab" * 16)
            assert state.requests == [(False, "MIT-MAGIC-COOKIE-1", "ab" * 16, 0)]
            with pytest.raises(ConfigurationError):  # this connection hands x11 channels to a factory now
                await conn.request_x11_forwarding(chan, "127.0.0.1:99")
            conn.close()
            await conn.wait_closed()

    run(main())


# -- agent ---------------------------------------------------------------------------------------------------


def fake_agent(chan: Any) -> None:
    """A one-key agent: answers the identities request with the client's ed25519 key."""
    chan.settimeout(10)
    try:
        while True:
            header = chan.recv(4)
            if not header:
                return
            (length,) = struct.unpack(">I", header + recv_exactly(chan, 4 - len(header)))
            body = recv_exactly(chan, length)
            if body[0] == AgentMsg.REQUEST_IDENTITIES:
                blob = keys().client["ed25519"].public_blob
                answer = bytes([AgentMsg.IDENTITIES_ANSWER]) + uint32(1) + string(blob) + string("from the handler")
            else:
                answer = bytes([AgentMsg.FAILURE])
            chan.sendall(uint32(len(answer)) + answer)
    finally:
        chan.close()


def test_request_forward_agent_handler_answers_the_remote_program() -> None:
    fingerprint = keys().client["ed25519"].fingerprint_sha256()
    threads: list[str] = []

    def handler(chan: Any) -> None:
        threads.append(threading.current_thread().name)
        assert chan.get_transport() is not None
        fake_agent(chan)

    async def main() -> None:
        async with ready_server(authorized_keys=keys().authorized_keys(), agent_forwarding=True) as server:

            def blocking() -> str:
                client = connect(server.get_port())
                try:
                    chan = client.get_transport().open_session()
                    chan.settimeout(20)
                    assert chan.request_forward_agent(handler) is True
                    chan.exec_command("ssh-add -l")
                    out = chan.makefile("r").read()
                    assert chan.recv_exit_status() == 0
                    return out.decode() if isinstance(out, bytes) else out
                finally:
                    client.close()

            out = await in_thread(blocking)
            assert fingerprint in out and "from the handler" in out, out
            assert threads and all(name != "blockssh-loop" for name in threads)

    run(main())


def test_request_forward_agent_refused_raises_and_keeps_the_channel() -> None:
    calls: list[Any] = []

    async def main() -> None:
        async with ready_server(authorized_keys=keys().authorized_keys()) as server:  # agent forwarding off

            def blocking() -> None:
                client = connect(server.get_port())
                try:
                    chan = client.get_transport().open_session()
                    chan.settimeout(10)
                    with pytest.raises(blockssh.SSHException, match="refused the agent forwarding"):
                        chan.request_forward_agent(calls.append)
                    assert not chan.closed  # the command can still run, without an agent
                    chan.exec_command('echo "[$SSH_AUTH_SOCK]"')
                    assert chan.makefile("r").read() in (b"[]\n", "[]\n")
                    assert chan.recv_exit_status() == 0
                finally:
                    client.close()

            await in_thread(blocking)
            assert calls == []

    run(main())
