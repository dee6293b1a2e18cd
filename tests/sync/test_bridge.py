"""Flow control and wake-ups of the ChannelBridge, with a fake asyncio channel."""

from __future__ import annotations

import select
import threading
import time

import pytest

from blockssh.sync import _bridge
from blockssh.sync._bridge import ChannelBridge
from sync.helpers import feed, make_bridge, on_loop

pytestmark = pytest.mark.timeout(30)


def wait_until(predicate: object, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        on_loop(lambda: None)
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


def test_nobody_waiting_pauses_at_the_limit_and_reading_resumes() -> None:
    bridge, chan = make_bridge(buffer_limit=1000)
    feed(bridge, b"x" * 600)
    assert not chan.paused
    feed(bridge, b"y" * 600)
    assert chan.paused and bridge.read_paused
    with bridge.cond:
        bridge.stdout.take(1000)
        bridge.after_read()
    assert wait_until(lambda: not chan.paused)


def test_a_waiting_reader_keeps_the_channel_draining() -> None:
    bridge, chan = make_bridge(buffer_limit=1000)
    feed(bridge, b"e" * 1500, 1)  # stderr over the limit: paused
    assert chan.paused
    got: list[bytes] = []

    def read_stdout() -> None:
        with bridge.cond:
            bridge.wait_for(lambda: bridge.stdout.size > 0, 5, "recv")
            got.append(bridge.stdout.take_all())

    reader = threading.Thread(target=read_stdout)
    reader.start()
    assert wait_until(lambda: not chan.paused)  # a waiter resumes reading although stderr is full
    feed(bridge, b"e" * 5000, 1)
    assert not chan.paused  # and more stderr does not pause it while someone waits
    feed(bridge, b"out", None)
    reader.join(5)
    assert got == [b"out"]


def test_exit_status_poll_counts_as_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_bridge, "POLL_GRACE", 0.3)
    bridge, chan = make_bridge(buffer_limit=100)
    with bridge.cond:
        bridge.note_poll()
    feed(bridge, b"z" * 500)
    assert not chan.paused
    time.sleep(0.35)
    feed(bridge, b"z")
    assert chan.paused  # the grace ran out


def test_fileno_tracks_readability() -> None:
    bridge, _ = make_bridge()
    fd = bridge.fileno()
    assert select.select([fd], [], [], 0)[0] == []
    feed(bridge, b"data")
    assert select.select([fd], [], [], 1)[0] == [fd]
    with bridge.cond:
        bridge.stdout.take_all()
        bridge.after_read()
    assert select.select([fd], [], [], 0)[0] == []
    on_loop(bridge.eof_received)
    assert select.select([fd], [], [], 1)[0] == [fd]
    bridge.close_pipe()


def test_send_queue_and_close_markers() -> None:
    bridge, chan = make_bridge(write_limit=10)
    bridge.enqueue((b"abc", None), 3, 1)
    bridge.send_eof()
    with pytest.raises(Exception, match="shut down for writing"):
        bridge.enqueue((b"late", None), 4, 1)
    bridge.request_close()
    assert wait_until(lambda: chan.closed)
    assert chan.written == [(b"abc", None)] and chan.eof


def test_wait_for_timeout_zero_does_not_block() -> None:
    bridge = ChannelBridge(make_bridge()[0]._portal)
    start = time.monotonic()
    with bridge.cond, pytest.raises(TimeoutError):
        bridge.wait_for(lambda: False, 0, "recv")
    assert time.monotonic() - start < 0.5


def test_gc_leaves_an_adopted_channel_alone() -> None:
    # After an SFTP client (say) took the channel over, dropping the blocking Channel must not close it.
    bridge, chan = make_bridge()
    chan._session = object()  # type: ignore[attr-defined]
    bridge.schedule_eof()
    bridge.schedule_close()
    on_loop(lambda: None)
    on_loop(lambda: None)
    assert not chan.closed and not chan.eof
