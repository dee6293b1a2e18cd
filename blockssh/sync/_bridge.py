"""Session callbacks on the loop thread -> thread-safe blocking buffers.

:class:`ChannelBridge` is the session handler of every blocking channel. The
loop thread appends received data to per-stream buffers under a
:class:`threading.Condition`; caller threads read from them without a round
trip through the loop.

Flow control: stdout and stderr share one SSH window. Data is granted back
to the peer as soon as it is buffered, while the buffered total stays under
``buffer_limit`` (:data:`DEFAULT_BUFFER_LIMIT`, 8 MiB). Past it, reading from
the peer pauses, so a channel nobody reads costs at most the limit plus one
window (2 MiB by default) and the remote writer blocks -- *unless* some thread
is waiting on this channel: a thread blocked reading one stream, or waiting
for the exit status (``recv_exit_status``, or polling ``exit_status_ready``
within the last :data:`POLL_GRACE` seconds), keeps the channel draining, so
it can never deadlock on the other stream (paramiko #448, #1778). The price
is memory: what the waiting thread does not read stays buffered.

Writes from caller threads are queued and handed to the loop in batches;
``send`` blocks while more than ``write_limit`` bytes wait for the peer's
window.

Errors: a connection that ends abnormally (keepalive failure, reset, protocol
error) is stored as :attr:`ChannelBridge.error` and raised by readers once the
data buffered before it is consumed; a normal close reads as EOF.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..aio.session import SSHClientSession
from ..exceptions import ChannelClosedError, SSHTimeoutError
from ._portal import LoopThread

if TYPE_CHECKING:
    from ..aio.channel import SSHChannel

__all__ = ["ChannelBridge", "DEFAULT_BUFFER_LIMIT", "DEFAULT_WRITE_LIMIT", "POLL_GRACE", "Stream"]

DEFAULT_BUFFER_LIMIT = 8 * 1024 * 1024  # per channel, stdout + stderr, while nobody waits
DEFAULT_WRITE_LIMIT = 1024 * 1024  # queued outgoing bytes before send() blocks
POLL_GRACE = 5.0  # seconds an exit_status_ready() poll counts as a waiter
_RESUME_FRACTION = 2  # resume reading once buffered data falls below limit / 2

_EOF = object()
_CLOSE = object()


class Stream:
    """One direction of received data (stdout or stderr) as a queue of chunks."""

    __slots__ = ("chunks", "size")

    def __init__(self) -> None:
        self.chunks: deque[bytes | memoryview] = deque()
        self.size = 0

    def append(self, data: bytes | memoryview) -> None:
        """Add a chunk at the end."""
        self.chunks.append(data)
        self.size += len(data)

    def take(self, n: int) -> bytes:
        """Remove and return up to ``n`` bytes."""
        chunks = self.chunks
        if not chunks or n <= 0:
            return b""
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
        if len(self.chunks) == 1:
            data = bytes(self.chunks[0])
        else:
            data = b"".join(self.chunks)
        self.chunks.clear()
        self.size = 0
        return data

    def move_to(self, other: Stream) -> None:
        """Append everything buffered here to ``other``."""
        other.chunks.extend(self.chunks)
        other.size += self.size
        self.chunks.clear()
        self.size = 0

    def _as_bytes(self, i: int) -> bytes:
        chunk = self.chunks[i]
        if not isinstance(chunk, bytes):
            chunk = bytes(chunk)
            self.chunks[i] = chunk
        return chunk

    def find_line_end(self, universal: bool = False) -> int:
        """Offset just past the first line ending, or a negative number when none is complete yet.

        With ``universal``, CR and CR LF end lines too; a CR as the last buffered byte is
        not decided yet (-2: it may be followed by LF).
        """
        offset = 0
        n = len(self.chunks)
        for i in range(n):
            chunk = self._as_bytes(i)
            nl = chunk.find(b"\n")
            if universal:
                cr = chunk.find(b"\r")
                if cr >= 0 and (nl < 0 or cr < nl):
                    if cr + 1 < len(chunk):
                        return offset + cr + (2 if chunk[cr + 1 : cr + 2] == b"\n" else 1)
                    if i + 1 < n:  # the next byte lives in the next chunk
                        nxt = self._as_bytes(i + 1)
                        return offset + cr + (2 if nxt[:1] == b"\n" else 1)
                    return -2  # undecided trailing CR
            if nl >= 0:
                return offset + nl + 1
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
        self.error: BaseException | None = None  # why the connection ended abnormally
        self.send_error: BaseException | None = None  # a failed write, raised by the next send
        self.exit_status: int | None = None
        self.exit_signal: tuple[str, bool, str, str] | None = None
        self.chan: SSHChannel[Any] | None = None
        self.waiters = 0
        self.poll_until = 0.0  # monotonic time until which an exit_status_ready() poll counts as waiting
        self.read_paused = False
        self._resume_scheduled = False
        self._wake_scheduled = False
        # outgoing
        self._outq: list[Any] = []
        self.out_bytes = 0  # queued by callers, not yet written to the channel
        self._out_scheduled = False
        self.chan_queued = 0  # waiting inside the channel for the peer's window
        self.eof_sent = False
        self.close_requested = False
        # select() support
        self._pipe: tuple[int, int] | None = None
        self._pipe_set = False

    # -- loop-thread side (session callbacks) -------------------------------

    def connection_made(self, chan: SSHChannel[Any]) -> None:
        """Remember the channel; ask to hear about every change of its output queue."""
        self.chan = chan
        # high = low = 0: pause_writing as soon as anything waits for window, resume_writing when it
        # has all gone out. That keeps chan_queued exact for send() and sendall().
        chan.set_write_buffer_limits(high=0, low=0)

    def data_received(self, data: bytes, datatype: int | None) -> None:
        """Buffer data; pause the channel if nobody waits and the buffer is full.

        Readers are woken once per batch of packets (after the loop finishes
        the current socket read), not once per packet.
        """
        with self.cond:
            stream = self.stdout if datatype is None or self.combine_stderr else self.stderr
            stream.chunks.append(data)
            stream.size += len(data)
            if (
                self.stdout.size + self.stderr.size >= self.buffer_limit
                and self.waiters == 0
                and self.chan is not None
                and time.monotonic() >= self.poll_until
            ):
                self.read_paused = True
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
        """Something waits in the channel for the peer's window."""
        with self.cond:
            self._update_chan_queued()

    def resume_writing(self) -> None:
        """The channel's queue drained: let blocked senders continue."""
        with self.cond:
            self._update_chan_queued()
            self.cond.notify_all()

    def connection_lost(self, exc: BaseException | None) -> None:
        """The channel closed (``exc`` set when the whole connection failed)."""
        with self.cond:
            self.closed = True
            self.eof = True
            self.chan_queued = 0
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
        self.chan_queued = chan.get_write_buffer_size() if chan is not None else 0

    def _resume_on_loop(self) -> None:
        with self.cond:
            self._resume_scheduled = False
            if not self.read_paused:
                return
            buffered = self.stdout.size + self.stderr.size
            waiting = self.waiters > 0 or time.monotonic() < self.poll_until
            if not waiting and buffered >= self.buffer_limit // _RESUME_FRACTION:
                return
            self.read_paused = False
        if self.chan is not None:
            self.chan.resume_reading()  # delivers held data; the window adjusts go out with it

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
            except Exception as exc:  # noqa: BLE001 - reported to the caller's next send
                error = exc
                break
        with self.cond:
            self.out_bytes -= sum(len(i[0]) for i in items if isinstance(i, tuple))
            self._update_chan_queued()
            if error is not None and self.send_error is None and not self.closed:
                self.send_error = error
            self.cond.notify_all()

    def _adopted(self) -> bool:
        """True when another session handler took the channel over (an SFTP client, say)."""
        chan = self.chan
        return chan is not None and getattr(chan, "_session", self) is not self

    def _eof_from_gc(self) -> None:
        """Loop side of :meth:`schedule_eof`: queue EOF unless already sent or closing."""
        with self.cond:
            if self.eof_sent or self.closed or self.close_requested or self._adopted():
                return
            self.eof_sent = True
            self._outq.append(_EOF)
            if not self._out_scheduled:
                self._out_scheduled = True
                self._portal.loop.call_soon(self._drain_outq)

    def _write_from_gc(self, data: bytes, datatype: int | None) -> None:
        with self.cond:
            if self.eof_sent or self.closed or self.close_requested or self._adopted():
                return
            self._outq.append((data, datatype))
            self.out_bytes += len(data)
            if not self._out_scheduled:
                self._out_scheduled = True
                self._portal.loop.call_soon(self._drain_outq)

    def _close_from_gc(self) -> None:
        with self.cond:
            if self.closed or self.close_requested or self._adopted():
                return
            self.close_requested = True
            self._outq.append(_CLOSE)
            if not self._out_scheduled:
                self._out_scheduled = True
                self._portal.loop.call_soon(self._drain_outq)
        self.close_pipe()

    # -- caller-thread side ------------------------------------------------

    def _check_caller(self) -> None:
        self._portal.check_not_loop_thread("a blocking channel call")

    def wait_for(self, predicate: Callable[[], bool], timeout: float | None, what: str) -> None:
        """Wait (holding the lock) until ``predicate()``; keeps the channel draining meanwhile.

        Raises :class:`SSHTimeoutError` (a ``socket.timeout``) after ``timeout`` seconds;
        ``timeout=0`` fails at once unless the predicate already holds.
        """
        if predicate():
            return
        self._check_caller()
        if timeout is not None and timeout <= 0:
            raise SSHTimeoutError(f"{what} would block")
        deadline = None if timeout is None else time.monotonic() + timeout
        self.waiters += 1
        try:
            self._schedule_resume()
            while not predicate():
                if deadline is None:
                    self.cond.wait()
                else:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise SSHTimeoutError(f"{what} timed out after {timeout:g} s")
                    self.cond.wait(left)
        finally:
            self.waiters -= 1

    def _schedule_resume(self) -> None:
        # caller holds the lock
        if self.read_paused and not self._resume_scheduled:
            self._resume_scheduled = True
            self._portal.call_soon(self._resume_on_loop)

    def note_poll(self) -> None:
        """An exit-status poll: count as a waiter for :data:`POLL_GRACE` seconds (lock held)."""
        self.poll_until = time.monotonic() + POLL_GRACE
        self._schedule_resume()

    def after_read(self) -> None:
        """Called with the lock held after data was taken: resume the peer if we had paused it."""
        if self.read_paused and not self._resume_scheduled:
            if self.stdout.size + self.stderr.size < self.buffer_limit // _RESUME_FRACTION:
                self._resume_scheduled = True
                self._portal.call_soon(self._resume_on_loop)
        if self._pipe is not None and self._pipe_set and not self._readable_now():
            self._clear_pipe()

    def _readable_now(self) -> bool:
        return bool(self.stdout.size or self.stderr.size or self.eof)

    def raise_if_failed(self) -> None:
        """Raise the connection's error, if it ended abnormally (lock held)."""
        if self.error is not None:
            raise self.error

    def enqueue(self, item: Any, nbytes: int, timeout: float | None) -> None:
        """Hand data (or an EOF/close marker) to the loop, blocking while too much is queued."""
        with self.cond:
            if nbytes:
                self.wait_for(
                    lambda: (
                        self.closed
                        or self.send_error is not None
                        or self.out_bytes + self.chan_queued < self.write_limit
                    ),
                    timeout,
                    "send",
                )
            if self.send_error is not None:
                raise self.send_error
            if self.closed or self.close_requested:
                if self.error is not None:
                    raise self.error
                raise ChannelClosedError("Socket is closed")
            if item is _EOF:
                if self.eof_sent:
                    return
                self.eof_sent = True
            elif item is _CLOSE:
                self.close_requested = True
            elif self.eof_sent:
                raise ChannelClosedError("channel is shut down for writing")
            self._outq.append(item)
            self.out_bytes += nbytes
            if not self._out_scheduled:
                self._out_scheduled = True
                self._portal.call_soon(self._drain_outq)

    def send_eof(self) -> None:
        """Queue EOF after pending data."""
        self.enqueue(_EOF, 0, None)

    def request_close(self) -> None:
        """Queue a close after pending data (no-op if already closed). Never blocks."""
        with self.cond:
            if self.closed or self.close_requested:
                return
            self.close_requested = True
            self._outq.append(_CLOSE)
            if not self._out_scheduled:
                self._out_scheduled = True
                self._portal.call_soon(self._drain_outq)

    def schedule_eof(self) -> None:
        """Send EOF without taking any lock (safe from ``__del__`` on any thread, the loop's included)."""
        try:
            self._portal.loop.call_soon_threadsafe(self._eof_from_gc)
        except RuntimeError:  # pragma: no cover - the loop is gone (interpreter exit)
            pass

    def schedule_write(self, data: bytes, datatype: int | None) -> None:
        """Queue data without taking any lock (safe from ``__del__``)."""
        try:
            self._portal.loop.call_soon_threadsafe(self._write_from_gc, data, datatype)
        except RuntimeError:  # pragma: no cover - the loop is gone (interpreter exit)
            pass

    def schedule_close(self) -> None:
        """Close without taking any lock (safe from ``__del__``)."""
        try:
            self._portal.loop.call_soon_threadsafe(self._close_from_gc)
        except RuntimeError:  # pragma: no cover - the loop is gone (interpreter exit)
            pass

    def wait_sent(self, timeout: float | None) -> None:
        """Block until everything queued has reached the channel and its window."""
        with self.cond:
            self.wait_for(
                lambda: self.closed or self.send_error is not None or (self.out_bytes == 0 and self.chan_queued == 0),
                timeout,
                "sendall",
            )
            if self.send_error is not None:
                raise self.send_error

    # -- diagnostics -------------------------------------------------------

    def memory(self) -> dict[str, int]:
        """Bytes held in memory for this channel.

        ``buffered``: readable now; ``held``: received while paused, not yet granted back to
        the peer; ``outgoing``: queued to send.
        """
        chan = self.chan
        held = 0
        if chan is not None:
            for _attempt in range(100):  # the loop thread may change the deque while we copy it
                try:
                    held = sum(len(data) for data, _ in list(getattr(chan, "_held", ())) if data is not None)
                    break
                except RuntimeError:
                    continue
        with self.cond:
            return {
                "buffered": self.stdout.size + self.stderr.size,
                "held": held,
                "outgoing": self.out_bytes + self.chan_queued,
            }

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
                self._pipe_set = False


EOF_MARKER = _EOF
CLOSE_MARKER = _CLOSE
