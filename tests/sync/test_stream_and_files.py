"""The buffers and file objects of the blocking layer, without a network (fed from the loop thread)."""

from __future__ import annotations

import gc
import socket
import time

import pytest

from blockssh.sync._bridge import Stream
from blockssh.sync.file import ChannelFile, ChannelStderrFile, ChannelStdinFile
from sync.helpers import FakeChannel, feed, make_bridge, on_loop

pytestmark = pytest.mark.timeout(30)


def stream_of(*chunks: bytes) -> Stream:
    s = Stream()
    for c in chunks:
        s.append(memoryview(c))
    return s


def test_stream_take_across_chunks() -> None:
    s = stream_of(b"abc", b"defg", b"h")
    assert s.take(2) == b"ab"
    assert s.take(4) == b"cdef"
    assert s.size == 2
    assert s.take(10) == b"gh"
    assert s.size == 0
    assert s.take(5) == b""


def test_stream_line_ends() -> None:
    assert stream_of(b"ab", b"c\nd").find_line_end() == 4
    assert stream_of(b"abc").find_line_end() == -1
    assert stream_of(b"a\rb").find_line_end(universal=True) == 2
    assert stream_of(b"a\r", b"\nb").find_line_end(universal=True) == 3
    assert stream_of(b"a\r").find_line_end(universal=True) == -2  # undecided: LF may follow
    assert stream_of(b"a\r").find_line_end() == -1


def test_move_to_keeps_order() -> None:
    a, b = stream_of(b"1"), stream_of(b"2", b"3")
    b.move_to(a)
    assert (a.take_all(), b.size) == (b"123", 0)


def test_read_is_bytes_lines_are_str() -> None:
    bridge, _ = make_bridge()
    f = ChannelFile(FakeChannel(bridge), "r")
    feed(bridge, b"one\ntw")
    feed(bridge, b"o\nthree")
    assert f.readline() == "one\n"
    assert f.read(2) == b"tw"
    on_loop(bridge.eof_received)
    assert list(f) == ["o\n", "three"]
    assert f.read() == b""
    assert f.readline() == ""
    assert f.tell() == len(b"one\ntwo\nthree")


def test_binary_and_universal_modes() -> None:
    bridge, _ = make_bridge()
    feed(bridge, b"a\r\nb\rc\r")
    feed(bridge, b"\nd\r")
    on_loop(bridge.eof_received)
    f = ChannelFile(FakeChannel(bridge), "rbU")
    assert f.readlines() == [b"a\n", b"b\n", b"c\n", b"d\n"]
    assert f.newlines == (b"\r\n", b"\r")


def test_readline_size_and_readlines_sizehint() -> None:
    bridge, _ = make_bridge()
    feed(bridge, b"abcdef\nxy\nz\n")
    on_loop(bridge.eof_received)
    f = ChannelFile(FakeChannel(bridge), "r")
    assert f.readline(3) == "abc"
    assert f.readlines(1) == ["def\n"]
    assert f.readlines() == ["xy\n", "z\n"]


def test_invalid_utf8_line_raises() -> None:
    bridge, _ = make_bridge()
    feed(bridge, b"\xff\xfe\n")
    with pytest.raises(UnicodeDecodeError):
        ChannelFile(FakeChannel(bridge), "r").readline()


def test_stderr_file_reads_stderr() -> None:
    bridge, _ = make_bridge()
    feed(bridge, b"out", None)
    feed(bridge, b"err", 1)
    on_loop(bridge.eof_received)
    chan = FakeChannel(bridge)
    assert ChannelStderrFile(chan).read() == b"err"
    assert ChannelFile(chan).read() == b"out"


def test_read_times_out_with_socket_timeout() -> None:
    bridge, _ = make_bridge()
    f = ChannelFile(FakeChannel(bridge, timeout=0.1), "r")
    start = time.monotonic()
    with pytest.raises(socket.timeout):
        f.read()
    with pytest.raises(socket.timeout):
        f.readline()
    assert time.monotonic() - start < 2


def test_connection_error_is_raised_after_the_buffered_data() -> None:
    bridge, _ = make_bridge()
    feed(bridge, b"partial")
    on_loop(bridge.connection_lost, ConnectionResetError("gone"))
    f = ChannelFile(FakeChannel(bridge), "r")
    assert f.read() == b"partial"
    with pytest.raises(ConnectionResetError):
        f.read()


def test_closed_and_wrong_mode_files() -> None:
    bridge, _ = make_bridge()
    f = ChannelFile(FakeChannel(bridge), "r")
    with pytest.raises(OSError, match="not open for writing"):
        f.write("x")
    f.close()
    assert f.closed
    with pytest.raises(OSError, match="closed"):
        f.read()
    w = ChannelFile(FakeChannel(bridge), "w")
    with pytest.raises(OSError, match="not open for reading"):
        w.read()
    with pytest.raises(OSError):
        w.seek(0)


@pytest.mark.parametrize(
    ("bufsize", "writes", "sent_before_flush"),
    [
        (-1, ["ab", "c"], [b"ab", b"c"]),  # paramiko's default: unbuffered
        (0, ["ab"], [b"ab"]),
        (1, ["ab", "c\nd", "e"], [b"abc\n"]),  # line buffered
        (4, ["ab", "cd", "e"], [b"abcd"]),  # flushed once 4 bytes collected
    ],
)
def test_write_buffering_follows_bufsize(bufsize: int, writes: list[str], sent_before_flush: list[bytes]) -> None:
    bridge, _ = make_bridge()
    chan = FakeChannel(bridge)
    f = ChannelStdinFile(chan, "wb", bufsize)
    for w in writes:
        assert f.write(w) is None
    assert chan.sent == sent_before_flush
    f.close()
    assert b"".join(chan.sent) == "".join(writes).encode()
    assert chan.shutdowns == 1  # closing stdin sends EOF


def test_dropping_stdin_sends_eof_without_locks() -> None:
    bridge, aio_chan = make_bridge()
    chan = FakeChannel(bridge)
    stdin = ChannelStdinFile(chan, "wb", 10)
    stdin.write(b"left")

    def drop_while_locked() -> None:
        # The collector may run on the loop thread while it holds the bridge's lock: no deadlock.
        nonlocal stdin
        with bridge.cond:
            del stdin
            gc.collect()

    on_loop(drop_while_locked)
    deadline = time.monotonic() + 5
    while not aio_chan.eof and time.monotonic() < deadline:
        on_loop(lambda: None)
    assert aio_chan.written == [(b"left", None)]
    assert aio_chan.eof
    assert bridge.eof_sent
