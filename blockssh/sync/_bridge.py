"""Session callbacks on the loop thread -> thread-safe blocking buffers.

:class:`ChannelBridge` is the session handler of every blocking channel. The
loop thread appends received data to per-stream buffers under a
:class:`threading.Condition`; caller threads read from them without a round
trip through the loop.

Flow control: stdout and stderr share one SSH window. Data is granted back
to the peer as soon as it is buffered, while the buffered total stays under
``buffer_limit``. Past it, reading from the peer pauses (so an idle reader
costs at most the limit plus one window) *unless* some thread is blocked
waiting on this channel: a thread reading one stream, or waiting for the
exit status, keeps the channel draining so it can never deadlock on the
other stream (paramiko #448, #1778).

Writes from caller threads are queued and handed to the loop in batches;
``send`` blocks while more than ``write_limit`` bytes wait for the peer's
window.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from ..aio.session import SSHClientSession
from ..exceptions import ChannelClosedError, SSHTimeoutError
from ._portal import LoopThread

if TYPE_CHECKING:
    from ..aio.channel import SSHChannel

__all__ = ["ChannelBridge", "DEFAULT_BUFFER_LIMIT", "DEFAULT_WRITE_LIMIT", "Stream"]

DEFAULT_BUFFER_LIMIT = 8 * 1024 * 1024  # per channel, stdout + stderr, while nobody waits
DEFAULT_WRITE_LIMIT = 1024 * 1024  # queued outgoing bytes before send() blocks
_RESUME_FRACTION = 2  # resume reading once buffered data falls below limit / 2

_EOF = object()
_CLOSE = object()


class Stream:
    """One direction of received data (stdout or stderr) as a queue of chunks."""

    __slots__ = ("chunks", "size")

    def __init__(self) -> None:
        self.chunks: deque[bytes | memoryview] = deque()
        self.size = 0

    def take(self, n: int) -> bytes:
        """Remove and return up to ``n`` bytes."""
        chunks = self.chunks
        first = chunks[0]
        if len(first) <= n:
            chunks.popleft()
            if len(first) == n or not chunks:
                self.size -= len(first)
                return bytes(first)
            parts = [first]
            got = len(first)
            while chunks and got < n:
                nxt = chunks[0]
                if got + len(nxt) <= n:
                    parts.append(chunks.popleft())
                    got += len(nxt)
                else:
                    view = memoryview(nxt)
                    parts.append(view[: n - got])
                    chunks[0] = view[n - got :]
                    got = n
            self.size -= got
            return b"".join(parts)
        view = memoryview(first)
        chunks[0] = view[n:]
        self.size -= n
        return bytes(view[:n])

    def take_all(self) -> bytes:
        """Remove and return everything."""
        data = b"".join(self.chunks)
        self.chunks.clear()
        self.size = 0
        return data

    def find_newline(self) -> int:
        """Offset just past the first newline, or -1 (converts scanned chunks to bytes once)."""
        offset = 0
        chunks = self.chunks
        for i, chunk in enumerate(chunks):
            if not isinstance(chunk, bytes):
                chunk = bytes(chunk)
                chunks[i] = chunk
            idx = chunk.find(b"\n")
            if idx >= 0:
                return offset + idx + 1
            offset += len(chunk)
        return -1


class ChannelBridge(SSHClientSession[bytes]):
    """Blocking access to one channel for any number of caller threads."""

    accepts_buffers = True  # take memoryviews from the channel without copying

    def __init__(
        self,
        loop_thread: LoopThread,
        *,
        buffer_limit: int = DEFAULT_BUFFER_LIMIT,
        write_limit: int = DEFAULT_WRITE_LIMIT,
    ) -> None:
        self._portal = loop_thread
        self.cond = threading.Condition(threading.Lock())
        self.buffer_limit = buffer_limit
        self.write_limit = write_limit
        self.stdout = Stream()
        self.stderr = Stream()
        self.combine_stderr = False
        self.eof = False  # the peer sent EOF (or the channel closed)
        self.closed = False
        self.error: BaseException | None = None
        self.exit_status: int | None = None
        self.exit_signal: tuple[str, bool, str, str] | None = None
        self.chan: SSHChannel[Any] | None = None
        self.waiters = 0
        self._read_paused = False
        self._resume_scheduled = False
        self._wake_scheduled = False
        # outgoing
        self._outq: list[Any] = []
        self._out_bytes = 0  # queued by callers, not yet written to the channel
        self._out_scheduled = False
        self._chan_queued = 0  # waiting inside the channel for the peer's window
        self.eof_sent = False
        self.close_requested = False
        # select() support
        self._pipe: tuple[int, int] | None = None
        self._pipe_set = False

    # -- loop-thread side (session callbacks) -------------------------------

    def connection_made(self, chan: SSHChannel[Any]) -> None:
        """Remember the channel."""
        self.chan = chan
        chan.set_write_buffer_limits(high=self.write_limit, low=self.write_limit // 4)

    def data_received(self, data: bytes, datatype: int | None) -> None:
        """Buffer data; pause the channel if nobody waits and the buffer is full.

        Readers are woken once per batch of packets (after the loop finishes
        the current socket read), not once per packet.
        """
        with self.cond:
            stream = self.stdout if datatype is None or self.combine_stderr else self.stderr
            stream.chunks.append(data)
            stream.size += len(data)
            if self.stdout.size + self.stderr.size >= self.buffer_limit and self.waiters == 0 and self.chan:
                self._read_paused = True
                self.chan.pause_reading()
            if not self._wake_scheduled:
                self._wake_scheduled = True
                self._portal.loop.call_soon(self._wake_batch)

    def _wake_batch(self) -> None:
        with self.cond:
            self._wake_scheduled = False
            self._wake()

    def eof_received(self) -> bool:
        """Record EOF; keep our side open (the caller decides when to close)."""
        with self.cond:
            self.eof = True
            self._wake()
        return True

    def exit_status_received(self, status: int) -> None:
        """Record the exit status."""
        with self.cond:
            self.exit_status = status
            self.cond.notify_all()

    def exit_signal_received(self, signal: str, core_dumped: bool, msg: str, lang: str) -> None:
        """Record death by signal."""
        with self.cond:
            self.exit_signal = (signal, core_dumped, msg, lang)
            self.cond.notify_all()

    def pause_writing(self) -> None:
        """The channel's queue is full (peer window exhausted)."""

    def resume_writing(self) -> None:
        """The channel's queue drained: let blocked senders continue."""
        with self.cond:
            self._update_chan_queued()
            self.cond.notify_all()

    def connection_lost(self, exc: BaseException | None) -> None:
        """The channel closed."""
        with self.cond:
            self.closed = True
            self.eof = True
            if exc is not None and self.error is None:
                self.error = exc
            self._wake()

    def _wake(self) -> None:
        # caller holds the lock
        self.cond.notify_all()
        if self._pipe is not None and not self._pipe_set:
            self._pipe_set = True
            try:
                os.write(self._pipe[1], b"*")
            except OSError:  # pragma: no cover - pipe closed during shutdown
                pass

    def _update_chan_queued(self) -> None:
        chan = self.chan
        self._chan_queued = chan.get_write_buffer_size() if chan is not None else 0

    def _resume_on_loop(self) -> None:
        with self.cond:
            self._resume_scheduled = False
            if not self._read_paused:
                return
            buffered = self.stdout.size + self.stderr.size
            if self.waiters == 0 and buffered >= self.buffer_limit // _RESUME_FRACTION:
                return
            self._read_paused = False
        if self.chan is not None:
            self.chan.resume_reading()

    def _drain_outq(self) -> None:
        with self.cond:
            items = self._outq
            self._outq = []
            self._out_scheduled = False
        chan = self.chan
        error: BaseException | None = None
        for item in items:
            if chan is None:
                break
            try:
                if item is _EOF:
                    chan.write_eof()
                elif item is _CLOSE:
                    chan.close()
                else:
                    data, datatype = item
                    chan.write(data, datatype)
            except BaseException as exc:  # noqa: BLE001 - reported to the caller
                error = exc
                break
        with self.cond:
            self._out_bytes -= sum(len(i[0]) for i in items if isinstance(i, tuple))
            self._update_chan_queued()
            if error is not None and self.error is None and not self.closed:
                self.error = error
            self.cond.notify_all()

    # -- caller-thread side ------------------------------------------------

    def _check_caller(self) -> None:
        self._portal.check_not_loop_thread("a blocking channel call")

    def wait_for(self, predicate: Any, timeout: float | None, what: str) -> None:
        """Wait (holding the lock) until ``predicate()``; keeps the channel draining meanwhile."""
        if predicate():
            return
        self._check_caller()
        deadline = None if timeout is None else time.monotonic() + timeout
        self.waiters += 1
        try:
            if self._read_paused and not self._resume_scheduled:
                self._resume_scheduled = True
                self._portal.call_soon(self._resume_on_loop)
            while not predicate():
                if deadline is None:
                    self.cond.wait()
                else:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise SSHTimeoutError(f"{what} timed out")
                    self.cond.wait(left)
        finally:
            self.waiters -= 1

    def after_read(self) -> None:
        """Called with the lock held after data was taken: resume the peer if we had paused it."""
        if self._read_paused and not self._resume_scheduled:
            if self.stdout.size + self.stderr.size < self.buffer_limit // _RESUME_FRACTION:
                self._resume_scheduled = True
                self._portal.call_soon(self._resume_on_loop)
        if self._pipe is not None and self._pipe_set and not self._readable_now():
            self._clear_pipe()

    def _readable_now(self) -> bool:
        return bool(self.stdout.size or self.stderr.size or self.eof)

    def enqueue(self, item: Any, nbytes: int, timeout: float | None) -> None:
        """Hand data (or an EOF/close marker) to the loop, blocking while too much is queued."""
        with self.cond:
            if nbytes:
                self.wait_for(
                    lambda: (
                        self.closed or self.error is not None or self._out_bytes + self._chan_queued < self.write_limit
                    ),
                    timeout,
                    "send",
                )
            if self.error is not None:
                raise self.error
            if self.closed or self.close_requested:
                raise ChannelClosedError("channel is closed")
            if item is _EOF:
                if self.eof_sent:
                    return
                self.eof_sent = True
            elif item is _CLOSE:
                self.close_requested = True
            elif self.eof_sent:
                raise ChannelClosedError("channel is shut down for writing")
            self._outq.append(item)
            self._out_bytes += nbytes
            if not self._out_scheduled:
                self._out_scheduled = True
                self._portal.call_soon(self._drain_outq)

    def send_eof(self) -> None:
        """Queue EOF after pending data."""
        self.enqueue(_EOF, 0, None)

    def request_close(self) -> None:
        """Queue a close after pending data (no-op if already closed)."""
        with self.cond:
            if self.closed or self.close_requested:
                return
        try:
            self.enqueue(_CLOSE, 0, None)
        except ChannelClosedError:
            pass

    def wait_sent(self, timeout: float | None) -> None:
        """Block until everything queued has reached the channel and its window."""
        with self.cond:
            self.wait_for(
                lambda: self.closed or self.error is not None or (self._out_bytes == 0 and self._chan_queued == 0),
                timeout,
                "sendall",
            )

    # -- select() support ----------------------------------------------------

    def fileno(self) -> int:
        """A file descriptor that is readable while data or EOF is pending."""
        with self.cond:
            if self._pipe is None:
                self._pipe = os.pipe()
                os.set_blocking(self._pipe[0], False)
                os.set_blocking(self._pipe[1], False)
                if self._readable_now():
                    self._pipe_set = True
                    os.write(self._pipe[1], b"*")
            return self._pipe[0]

    def _clear_pipe(self) -> None:
        assert self._pipe is not None
        try:
            while os.read(self._pipe[0], 64):
                pass
        except BlockingIOError:
            pass
        self._pipe_set = False

    def close_pipe(self) -> None:
        """Release the select() pipe."""
        with self.cond:
            if self._pipe is not None:
                for fd in self._pipe:
                    try:
                        os.close(fd)
                    except OSError:  # pragma: no cover
                        pass
                self._pipe = None


EOF_MARKER = _EOF
CLOSE_MARKER = _CLOSE
