"""No deadlock where paramiko has one (#448, #1778), and bounded memory when nobody reads.

A remote command writes 64 MiB to stdout and 64 MiB to stderr, interleaved in 64 KiB
chunks. paramiko hangs on each of the three reading orders below once the unread stream
fills its 2 MiB window; blockssh must return every byte and the exit status each time.
With nobody reading or waiting, the channel must hold at most its documented cap and the
remote writer must stall (flow control), then finish once someone reads.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import blockssh
from blockssh.sync._bridge import DEFAULT_BUFFER_LIMIT
from blockssh.sync.transport import DEFAULT_WINDOW_SIZE

pytestmark = pytest.mark.skipif(shutil.which("python3") is None, reason="the remote writer needs python3")

CHUNK = 64 * 1024
CHUNKS = 1024  # 64 MiB per stream
OUT_CHUNK = bytes(range(256)) * (CHUNK // 256)
ERR_CHUNK = bytes(reversed(range(256))) * (CHUNK // 256)
EXPECTED_OUT = hashlib.sha256(OUT_CHUNK * CHUNKS).hexdigest()
EXPECTED_ERR = hashlib.sha256(ERR_CHUNK * CHUNKS).hexdigest()

WRITER = """
import sys
out, err = sys.stdout.buffer, sys.stderr.buffer
a = bytes(range(256)) * 256
b = bytes(reversed(range(256))) * 256
for i in range({n}):
    out.write(a)
    out.flush()
    err.write(b)
    err.flush()
    if {progress!r}:
        with open({progress!r}, "w") as f:
            f.write(str(i + 1))
"""


def _writer(chunks: int, progress: str | None = None) -> str:
    script = WRITER.format(n=chunks, progress=progress or "")
    encoded = base64.b64encode(script.encode()).decode()
    return f"python3 -c 'import base64; exec(base64.b64decode(\"{encoded}\"))'"


@pytest.fixture
def client(sshd: Any) -> Any:
    c = blockssh.SSHClient()
    c.load_host_keys(sshd.known_hosts)
    c.connect(sshd.host, sshd.port, username=sshd.user, key_filename=sshd.client_keys["ed25519"], look_for_keys=False)
    yield c
    c.close()


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _after_exit_status(client: Any) -> tuple[int, str, str]:
    _, stdout, stderr = client.exec_command(_writer(CHUNKS), timeout=60)
    status = stdout.channel.recv_exit_status()
    return status, _digest(stdout.read()), _digest(stderr.read())


def _stderr_first(client: Any) -> tuple[int, str, str]:
    _, stdout, stderr = client.exec_command(_writer(CHUNKS), timeout=60)
    err = _digest(stderr.read())
    out = _digest(stdout.read())
    return stdout.channel.recv_exit_status(), out, err


def _stdout_first(client: Any) -> tuple[int, str, str]:
    _, stdout, stderr = client.exec_command(_writer(CHUNKS), timeout=60)
    out = _digest(stdout.read())
    err = _digest(stderr.read())
    return stdout.channel.recv_exit_status(), out, err


@pytest.mark.timeout(90)
def test_three_reading_orders_never_deadlock(client: Any) -> None:
    # The three orders run at once, on three channels of one connection.
    variants = {
        "after recv_exit_status": _after_exit_status,
        "stderr first": _stderr_first,
        "stdout first": _stdout_first,
    }
    with ThreadPoolExecutor(len(variants)) as pool:
        futures = {name: pool.submit(fn, client) for name, fn in variants.items()}
        results = {name: fut.result(timeout=80) for name, fut in futures.items()}
    for name, (status, out, err) in results.items():
        assert (status, out, err) == (0, EXPECTED_OUT, EXPECTED_ERR), name


@pytest.mark.timeout(60)
def test_unread_channel_is_capped_and_the_writer_stalls(client: Any, sshd: Any, tmp_path: Path) -> None:
    progress = Path(sshd.scratch_dir) / f"progress-{time.monotonic_ns()}"
    chan = client.get_transport().open_session()
    chan.exec_command(_writer(CHUNKS, str(progress)))
    cap = DEFAULT_BUFFER_LIMIT + DEFAULT_WINDOW_SIZE
    peak = 0
    last_progress = -1
    stalled_since: float | None = None
    deadline = time.monotonic() + 30
    # Nobody reads and nobody waits for the exit status: watch memory and the writer's progress.
    while time.monotonic() < deadline:
        mem = chan.memory()
        peak = max(peak, mem["buffered"] + mem["held"])
        text = progress.read_text() if progress.exists() else ""
        if not text:  # not started yet (python3 may start slowly on a busy machine), or mid-rewrite
            time.sleep(0.05)
            continue
        done = int(text)
        if done == last_progress and chan._bridge.read_paused:  # noqa: SLF001 - stalled by flow control
            stalled_since = stalled_since or time.monotonic()
            if time.monotonic() - stalled_since > 1.0:
                break
        else:
            last_progress, stalled_since = done, None
        time.sleep(0.05)
    else:
        pytest.fail("the remote writer never stalled")
    assert 0 < last_progress < CHUNKS // 2, last_progress  # flow-controlled well before the end
    assert chan._bridge.exit_status is None  # noqa: SLF001 - still blocked, not finished
    assert peak <= cap, f"{peak} bytes held, cap {cap}"
    assert peak >= DEFAULT_BUFFER_LIMIT // 2  # it did buffer up to (about) the limit first
    # Reading drains it: everything arrives, in order, and the command finishes.
    out = bytearray()
    err = bytearray()

    def read_err() -> None:
        while data := chan.recv_stderr(1 << 20):
            err.extend(data)

    reader = threading.Thread(target=read_err)
    reader.start()
    while data := chan.recv(1 << 20):
        out.extend(data)
    reader.join(30)
    assert chan.recv_exit_status() == 0
    assert (_digest(bytes(out)), _digest(bytes(err))) == (EXPECTED_OUT, EXPECTED_ERR)
    assert progress.read_text() == str(CHUNKS)


@pytest.mark.timeout(60)
def test_polling_exit_status_ready_before_reading(client: Any) -> None:
    # The other #448 pattern: poll until the command is done, then read. The output (3 x 8 MiB per
    # stream) is far above the cap, so the poller must keep the channel draining.
    _, stdout, stderr = client.exec_command(_writer(128 * 3), timeout=60)
    deadline = time.monotonic() + 45
    while not stdout.channel.exit_status_ready():
        assert time.monotonic() < deadline, "exit status never arrived"
        time.sleep(0.05)
    assert stdout.channel.recv_exit_status() == 0
    assert _digest(stdout.read()) == _digest(OUT_CHUNK * 128 * 3)
    assert _digest(stderr.read()) == _digest(ERR_CHUNK * 128 * 3)
