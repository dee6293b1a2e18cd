"""Many threads on one connection, and invoke/Fabric-style use of one channel from several threads."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import pytest

import blockssh


@pytest.fixture
def client(sshd: Any) -> Any:
    c = blockssh.SSHClient()
    c.load_host_keys(sshd.known_hosts)
    c.connect(sshd.host, sshd.port, username=sshd.user, key_filename=sshd.client_keys["ed25519"], look_for_keys=False)
    yield c
    c.close()


@pytest.mark.timeout(90)
def test_sixteen_threads_share_one_client(client: Any) -> None:
    errors: list[str] = []
    done = [0] * 16

    def work(n: int) -> None:
        try:
            for i in range(20):
                stdin, stdout, stderr = client.exec_command(f"echo out-{n}-{i}; echo err-{n}-{i} >&2; exit {i % 5}")
                out = stdout.read()
                err = stderr.read()
                status = stdout.channel.recv_exit_status()
                if (out, err, status) != (f"out-{n}-{i}\n".encode(), f"err-{n}-{i}\n".encode(), i % 5):
                    errors.append(f"thread {n} command {i}: {out!r} {err!r} {status}")
                done[n] += 1
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(f"thread {n}: {exc!r}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(80)
    assert not errors
    assert done == [20] * 16


@pytest.mark.timeout(60)
def test_invoke_style_reader_writer_and_poller_threads(client: Any) -> None:
    """What invoke's Runner does: reader threads with 1000-byte reads, a stdin thread, a 10 ms poller."""
    payload = os.urandom(1 << 20).hex().encode()  # 2 MiB of text, in lines
    lines = b"".join(payload[i : i + 100] + b"\n" for i in range(0, len(payload), 100))
    chan = client.get_transport().open_session()
    chan.exec_command("tee /dev/stderr")  # stdin comes back on stdout and on stderr
    out = bytearray()
    err = bytearray()
    failures: list[BaseException] = []

    def read(recv: Any, into: bytearray) -> None:
        try:
            while data := recv(1000):
                into.extend(data)
        except BaseException as exc:  # noqa: BLE001
            failures.append(exc)

    def write() -> None:
        try:
            for i in range(0, len(lines), 4096):
                chan.sendall(lines[i : i + 4096])
                time.sleep(0.0005)
            chan.shutdown_write()
        except BaseException as exc:  # noqa: BLE001
            failures.append(exc)

    workers = [
        threading.Thread(target=read, args=(chan.recv, out)),
        threading.Thread(target=read, args=(chan.recv_stderr, err)),
        threading.Thread(target=write),
    ]
    for w in workers:
        w.start()
    polls = 0
    deadline = time.monotonic() + 45
    while not chan.exit_status_ready():
        assert time.monotonic() < deadline, "the command never finished"
        polls += 1
        time.sleep(0.01)
    for w in workers:
        w.join(30)
    assert not failures
    assert chan.recv_exit_status() == 0
    assert bytes(out) == lines
    assert bytes(err) == lines
    assert polls > 1


@pytest.mark.timeout(60)
def test_channels_opened_and_read_from_many_threads_with_select(client: Any) -> None:
    """Each thread selects on its own channel's fileno while the others run."""
    import select

    errors: list[str] = []

    def work(n: int) -> None:
        try:
            chan = client.get_transport().open_session()
            chan.exec_command(f"for i in 1 2 3; do echo {n}-$i; sleep 0.05; done")
            got = b""
            while True:
                r, _, _ = select.select([chan], [], [], 10)
                if not r:
                    errors.append(f"{n}: select timed out")
                    return
                data = chan.recv(100)
                if not data:
                    break
                got += data
            if got != f"{n}-1\n{n}-2\n{n}-3\n".encode():
                errors.append(f"{n}: {got!r}")
            chan.close()
        except BaseException as exc:  # noqa: BLE001
            errors.append(f"{n}: {exc!r}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
