"""Every blocking call honours its timeout, raises socket.timeout and cancels what it started.

The peer is frozen with SIGSTOP (the listening sshd and every per-connection child): TCP
still accepts and acknowledges, but nothing answers. Nothing may block past its timeout,
and keepalives with a count limit must close the dead connection with a clear exception.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import blockssh
from blockssh.exceptions import AuthenticationException, ConnectionLost, SSHTimeoutError

from interop.sshd_fixture import _descendants

pytestmark = pytest.mark.timeout(90)


@contextlib.contextmanager
def frozen(server: Any) -> Iterator[None]:
    pids = [server.pid, *_descendants(server.pid)]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in [server.pid, *_descendants(server.pid), *pids]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


def _client(server: Any, **kwargs: Any) -> blockssh.SSHClient:
    c = blockssh.SSHClient()
    c.load_host_keys(server.known_hosts)
    c.connect(
        server.host,
        server.port,
        username=server.user,
        key_filename=server.client_keys["ed25519"],
        look_for_keys=False,
        **kwargs,
    )
    return c


def timed(fn: Callable[[], Any], limit: float) -> BaseException:
    """Run fn, expecting socket.timeout within ``limit`` seconds; return the exception."""
    start = time.monotonic()
    with pytest.raises(socket.timeout) as info:
        fn()
    elapsed = time.monotonic() - start
    assert elapsed < limit, f"took {elapsed:.2f} s (limit {limit} s)"
    assert isinstance(info.value, blockssh.SSHException)
    return info.value


def test_every_blocking_call_times_out_against_a_frozen_peer(sshd_factory: Callable[..., Any]) -> None:
    server = sshd_factory()
    client = _client(server, channel_timeout=0.5)
    t = client.get_transport()
    conn = t._conn  # noqa: SLF001 - inspect the asyncio connection for leftovers
    chan = t.open_session()
    chan.exec_command("cat")  # reads stdin, prints nothing until fed
    t.handshake_timeout = 0.5
    other = _client(server)
    with frozen(server):
        start = time.monotonic()
        other.close()  # sends DISCONNECT and closes; never waits for the frozen peer
        assert time.monotonic() - start < 1
        # channel opens and requests
        timed(lambda: client.exec_command("true", timeout=0.5), 3)
        timed(lambda: t.open_session(timeout=0.5), 3)
        timed(lambda: t.open_session(), 3)  # channel_timeout=0.5 from connect()
        assert not conn._open_waiters  # noqa: SLF001 - the timed-out opens were withdrawn
        # reads and the exit status
        chan.settimeout(0.3)
        timed(lambda: chan.recv(10), 2)
        timed(lambda: chan.recv_stderr(10), 2)
        timed(lambda: chan.makefile().read(), 2)
        timed(lambda: chan.makefile().readline(), 2)
        timed(chan.recv_exit_status, 2)
        timed(lambda: chan.recv_exit_status(timeout=0.2), 2)
        # writes: the frozen peer stops granting window, then send blocks and times out
        chan.settimeout(0.5)
        big = b"x" * (1 << 20)
        timed(lambda: [chan.sendall(big) for _ in range(64)], 10)
        # connection-level requests
        timed(t.renegotiate_keys, 3)
        t.channel_timeout = 0.3
        timed(lambda: t.global_request("no-such@example.com"), 3)
        timed(lambda: client.run("true", timeout=0.5), 3)
        # a new connection to the frozen listener: TCP connects (backlog), no banner comes
        timed(lambda: _client(server, banner_timeout=0.5), 3)
        timed(lambda: _client(server, timeout=0.5), 3)
    # The peer is back: the connection still works and the timed-out opens left nothing behind.
    t.channel_timeout = 10.0
    t.handshake_timeout = 10.0
    _, stdout, _ = client.exec_command("echo alive", timeout=10)
    assert stdout.read() == b"alive\n"
    deadline = time.monotonic() + 5
    while len(conn._channels) > 2 and time.monotonic() < deadline:  # noqa: SLF001 - late confirmations closed
        time.sleep(0.05)
    assert len(conn._channels) <= 2  # noqa: SLF001 - the cat channel (and possibly the echo one)
    client.close()


def test_keepalive_count_closes_a_dead_connection(sshd_factory: Callable[..., Any]) -> None:
    server = sshd_factory()
    client = _client(server)
    t = client.get_transport()
    chan = t.open_session()
    chan.exec_command("sleep 60")
    outcome: dict[str, BaseException | bytes | int] = {}

    def blocked(name: str, fn: Callable[[], Any]) -> threading.Thread:
        def run() -> None:
            try:
                outcome[name] = fn()
            except BaseException as exc:  # noqa: BLE001
                outcome[name] = exc

        thread = threading.Thread(target=run)
        thread.start()
        return thread

    with frozen(server):
        t.set_keepalive(0.3, count_max=2)
        start = time.monotonic()
        readers = [blocked("recv", lambda: chan.recv(10)), blocked("status", chan.recv_exit_status)]
        for r in readers:
            r.join(10)
        elapsed = time.monotonic() - start
        assert not any(r.is_alive() for r in readers)
        assert elapsed < 5, elapsed  # about (count_max + 1) * interval
    assert not t.is_active()
    for name in ("recv", "status"):
        exc = outcome[name]
        assert isinstance(exc, ConnectionLost), (name, exc)
        assert "keepalive" in str(exc)
    assert isinstance(t.get_exception(), ConnectionLost)
    with pytest.raises(blockssh.SSHException):
        client.exec_command("true")
    client.close()


def test_keepalive_keeps_a_live_connection(sshd: Any) -> None:
    client = _client(sshd)
    t = client.get_transport()
    t.set_keepalive(0.2, count_max=2)
    time.sleep(1.2)  # several idle intervals: the server answers each keepalive
    assert t.is_active()
    _, stdout, _ = client.exec_command("echo ok")
    assert stdout.read() == b"ok\n"
    client.close()


def test_auth_timeout_is_an_authentication_exception_and_a_timeout(sshd_factory: Callable[..., Any]) -> None:
    server = sshd_factory()
    t = blockssh.Transport((server.host, server.port))
    t.start_client(timeout=10)
    t.auth_timeout = 0.5
    key = blockssh.Ed25519Key.from_private_key_file(server.client_keys["ed25519"])
    with frozen(server):
        exc = timed(lambda: t.auth_publickey(server.user, key), 3)
    assert isinstance(exc, AuthenticationException)
    assert isinstance(exc, SSHTimeoutError)
    assert not t.is_active()  # the exchange was abandoned, so the connection is closed
    t.close()


def test_exec_command_timeout_becomes_the_channel_timeout(sshd: Any) -> None:
    client = _client(sshd)
    _, stdout, _ = client.exec_command("sleep 10", timeout=0.3)
    assert stdout.channel.gettimeout() == 0.3
    timed(stdout.read, 2)
    timed(stdout.channel.recv_exit_status, 2)
    stdout.channel.close()
    client.close()
