"""The thread side of the blocking SFTP client: :class:`SFTPFile` and the hand-off buffers.

Only :mod:`blockssh.sync.sftp` imports this module (the layering test keeps
asyncio code away from it). Objects here block caller threads on
:class:`threading.Condition` variables that the event loop thread signals;
they reach the loop through a *portal* (``call``, ``call_soon``,
``submit``), the loop-thread object of :mod:`blockssh.sync`.
"""

from __future__ import annotations

import concurrent.futures
import errno
import io
import threading
from collections import deque
from collections.abc import Callable, Coroutine, Iterable, Iterator
from typing import Any, Protocol, TypeVar

from ..exceptions import SFTPError, SSHException, SSHTimeoutError
from ..proto.wire import string
from . import codec, transfer
from .attrs import SFTPAttributes, SFTPVFSAttributes
from .client import SFTPClient as AsyncSFTPClient
from .codec import FX, FXP
from .file import SFTPClientFile

__all__ = [
    "SFTPFile",
    "Handoff",
    "WriteTracker",
    "Portal",
    "DEFAULT_MAX_READAHEAD",
    "DEFAULT_PREFETCH_BUFFER",
    "DEFAULT_HANDOFF_BUFFER",
]

T = TypeVar("T")
DEFAULT_MAX_READAHEAD = 8 * 1024 * 1024  # largest read-ahead of sequential SFTPFile.read() calls
DEFAULT_PREFETCH_BUFFER = 64 * 1024 * 1024  # prefetched bytes held before prefetching pauses
DEFAULT_HANDOFF_BUFFER = 16 * 1024 * 1024  # bytes queued between the loop and the caller's file I/O
READV_BATCH = 8 * 1024 * 1024  # bytes of readv ranges fetched per loop call
WAKE_BYTES = 1024 * 1024  # a caller waiting for downloaded data is woken once this much is queued


class Portal(Protocol):
    """The loop thread, as :mod:`blockssh.sync` provides it."""

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None, *, what: str = ...) -> T:
        """Run ``coro`` on the loop and wait for its result."""

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Start ``coro`` on the loop."""

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Schedule a callback on the loop."""

    def check_not_loop_thread(self, what: str = ...) -> None:
        """Raise when called on the loop thread."""


class _Owner(Protocol):
    """What a blocking SFTPFile needs from its blocking SFTPClient."""

    @property
    def _portal(self) -> Portal: ...

    @property
    def _client(self) -> AsyncSFTPClient: ...

    @property
    def _timeout(self) -> float | None: ...


class Handoff:
    """Blocks moving between the loop thread and a caller thread, with flow control both ways.

    Downloads: the loop's sink :meth:`put` queues blocks, the caller takes
    them. Uploads: the caller queues blocks, the loop's source :meth:`get`
    takes them. An engine that ran out of room or data pauses and is resumed
    from the caller's side. Wake-ups are batched: a waiting caller is woken
    once ``wake_bytes`` are queued (downloads), once the queue has drained to
    half of ``limit`` (uploads), or when the transfer ends.
    """

    def __init__(self, loop_thread: Portal, limit: int = DEFAULT_HANDOFF_BUFFER, wake_bytes: int = WAKE_BYTES) -> None:
        self.portal = loop_thread
        self.cond = threading.Condition(threading.Lock())
        self.chunks: deque[Any] = deque()
        self.size = 0
        self.limit = limit
        self.wake_bytes = wake_bytes
        self.eof = False  # upload: the caller has queued everything
        self.done = False  # the transfer finished (or failed)
        self.error: BaseException | None = None
        self.engine: transfer.Download | transfer.Upload | None = None
        self.engine_waiting = False
        self.caller_waiting = False
        self.progress: tuple[int, int] | None = None
        self.first_progress: tuple[int, int] | None = None  # always shown: where a resumed transfer starts
        self._reported = 0

    # -- loop side -----------------------------------------------------------------

    def bind(self, engine: transfer.Download | transfer.Upload) -> None:
        """Remember the engine to pause and resume."""
        with self.cond:
            self.engine = engine

    def put(self, data: list[memoryview]) -> None:
        """Download sink: queue a block (views) for the caller; pause the engine when the queue is full."""
        with self.cond:
            self.chunks.extend(data)
            self.size += sum(len(v) for v in data)
            if self.size >= self.limit and self.engine is not None:
                self.engine.pause()
                self.engine_waiting = True
            if self.caller_waiting and self.size >= self.wake_bytes:
                self.caller_waiting = False
                self.cond.notify()

    def get(self, limit: int) -> bytes | list[bytes] | None:
        """Upload source: the next block from the caller, ``b""`` at the end, None when none is ready."""
        with self.cond:
            if self.chunks:
                data: bytes | list[bytes] = self.chunks.popleft()
                self.size -= len(data) if isinstance(data, bytes) else sum(len(p) for p in data)
                if self.caller_waiting and self.size <= self.limit // 2:
                    self.caller_waiting = False
                    self.cond.notify()
                return data
            if self.eof:
                return b""
            self.engine_waiting = True
            return None

    def report(self, done: int, total: int) -> None:
        """Progress, for the caller's callback (a waiting caller is woken every ``wake_bytes``)."""
        with self.cond:
            self.progress = (done, total)
            if self.first_progress is None:
                self.first_progress = self.progress
            if self.caller_waiting and (abs(done - self._reported) >= self.wake_bytes or done >= total):
                self._reported = done
                self.caller_waiting = False
                self.cond.notify()

    def finish(self, error: BaseException | None = None) -> None:
        """The transfer is over."""
        with self.cond:
            self.done = True
            if error is not None and self.error is None:
                self.error = error
            self.cond.notify_all()

    # -- caller side ---------------------------------------------------------------------

    def wait(self, ready: Callable[[], bool], timeout: float | None = None) -> bool:
        """Wait (lock held) until ``ready()`` or the transfer ends; the loop wakes us in batches."""
        while not (ready() or self.done):
            self.caller_waiting = True
            if not self.cond.wait(timeout):
                self.caller_waiting = False
                return False
        self.caller_waiting = False
        return True

    def wake_engine(self) -> None:
        """Resume a paused engine (caller holds the lock)."""
        if self.engine_waiting and self.engine is not None:
            self.engine_waiting = False
            self.portal.call_soon(self.engine.resume)


class WriteTracker:
    """Outstanding pipelined WRITE requests of one SFTPFile (thread-safe)."""

    def __init__(self, limit: int) -> None:
        self.cond = threading.Condition(threading.Lock())
        self.outstanding = 0
        self.limit = max(1, limit)
        self.error: BaseException | None = None

    def acquire(self, timeout: float | None) -> None:
        """Wait for a free slot and take it (raises a stored error)."""
        with self.cond:
            if not self.cond.wait_for(lambda: self.outstanding < self.limit or self.error is not None, timeout):
                raise SSHTimeoutError("SFTP write timed out")
            self._raise()
            self.outstanding += 1

    def release(self, error: BaseException | None) -> None:
        """A write was answered (``error`` when it failed)."""
        with self.cond:
            self.outstanding -= 1
            if error is not None and self.error is None:
                self.error = error
            self.cond.notify_all()

    def wait_all(self, timeout: float | None) -> None:
        """Wait until every write was answered; raise the first error."""
        with self.cond:
            if not self.cond.wait_for(lambda: self.outstanding == 0, timeout):
                raise SSHTimeoutError("SFTP write acknowledgements timed out")
            self._raise()

    def _raise(self) -> None:
        if self.error is not None:
            error, self.error = self.error, None
            raise error


class _Prefetch:
    """A background download of a file region into a bounded buffer (``SFTPFile.prefetch``)."""

    def __init__(self, f: SFTPFile, start: int, size: int | None, max_requests: int | None) -> None:
        self.next = start  # file offset of the next byte a reader gets
        self.handoff = h = Handoff(f.sftp._portal, DEFAULT_PREFETCH_BUFFER, wake_bytes=1)  # noqa: SLF001
        client = f.sftp._client  # noqa: SLF001
        handle = f.handle
        timeout = f.gettimeout()

        async def run() -> None:
            block = client.read_block_size
            dl = transfer.Download(
                client,
                handle,
                offset=start,
                size=size,
                block_size=block,
                max_requests=max_requests or client.default_max_requests(block),
                sink=h.put,
                timeout=timeout,
            )
            h.bind(dl)
            try:
                await dl.run()
            except BaseException as exc:
                h.finish(exc)
                raise
            h.finish(None)

        self.future = f.sftp._portal.submit(run())  # noqa: SLF001

    def read(self, n: int, timeout: float | None) -> bytes:
        """Up to ``n`` prefetched bytes (waiting for the first); ``b""`` at the end."""
        h = self.handoff
        with h.cond:
            if not h.wait(lambda: bool(h.chunks), timeout):
                raise SSHTimeoutError("SFTP prefetch timed out")
            if not h.chunks:
                if h.error is not None:
                    raise h.error
                return b""
            parts = []
            got = 0
            while h.chunks and got < n:
                chunk = h.chunks[0]
                if got + len(chunk) <= n:
                    h.chunks.popleft()
                    parts.append(chunk)
                    got += len(chunk)
                else:
                    parts.append(chunk[: n - got])
                    h.chunks[0] = chunk[n - got :]
                    got = n
            h.size -= got
            if h.size < h.limit // 2:
                h.wake_engine()
        self.next += got
        return b"".join(parts)

    def cancel(self) -> None:
        """Stop prefetching (data already buffered is dropped)."""
        if not self.future.done():
            self.future.cancel()


class SFTPFile:
    """A remote file opened by :meth:`SFTPClient.open`: a blocking, buffered, seekable file object.

    ``read()`` and ``readline()`` give bytes and lines (``str`` unless the
    mode has ``b``, like paramiko). Sequential reads fetch ahead with pipelined
    requests (the read-ahead doubles up to :data:`DEFAULT_MAX_READAHEAD`).
    Writes go out in block-size requests that are in flight together; like
    paramiko's they are unbuffered unless ``bufsize`` > 1 was given to
    ``open``, and without :meth:`set_pipelined` a write waits for the server's
    acknowledgements before returning.
    """

    MAX_REQUEST_SIZE = 32768

    def __init__(self, sftp: _Owner, afile: SFTPClientFile, mode: str = "r", bufsize: int = -1) -> None:
        """Wrap an asyncio file (use :meth:`SFTPClient.open`)."""
        self.sftp = sftp
        self._afile = afile
        self.handle = afile.handle
        self.name = afile.name
        self.mode = mode
        self._binary = "b" in mode
        self._pos = afile.tell()
        self._rbuf = b""
        self._rbuf_at = 0
        self._fill_end = -1
        self._readahead = sftp._client.read_block_size  # noqa: SLF001
        self._wbuf = bytearray()
        self._wbuf_at = 0
        self._bufsize = bufsize if bufsize > 0 else 0  # paramiko: -1 and 0 mean unbuffered, 1 line buffered
        self.pipelined = False
        self._writes = WriteTracker(sftp._client.default_max_requests(sftp._client.write_block_size))  # noqa: SLF001
        self._prefetch: _Prefetch | None = None
        self._timeout: float | None | bool = False  # False: the client's timeout
        self._closed = False
        self._handle_str = string(afile.handle)

    # -- plumbing ---------------------------------------------------------------------------

    def gettimeout(self) -> float | None:
        """The timeout of blocking calls on this file (the client's unless set)."""
        return self.sftp._timeout if self._timeout is False else self._timeout  # noqa: SLF001

    def settimeout(self, timeout: float | None) -> None:
        """Set the timeout of blocking calls on this file."""
        self._timeout = timeout

    def setblocking(self, blocking: bool) -> None:
        """``False`` is a zero timeout, ``True`` no timeout (paramiko's)."""
        self.settimeout(None if blocking else 0.0)

    def _run(self, coro: Coroutine[Any, Any, T], what: str) -> T:
        return self.sftp._portal.call(coro, self.gettimeout(), what=what)  # noqa: SLF001

    def _check(self, reading: bool | None = None) -> None:
        if self._closed:
            raise OSError("File is closed")
        if reading is True and not self._afile.readable():
            raise OSError("File is not open for reading")
        if reading is False and not self._afile.writable():
            raise OSError("File is not open for writing")

    @property
    def closed(self) -> bool:
        """True once closed."""
        return self._closed

    def readable(self) -> bool:
        """True if open for reading."""
        return self._afile.readable()

    def writable(self) -> bool:
        """True if open for writing."""
        return self._afile.writable()

    def seekable(self) -> bool:
        """Always True."""
        return True

    def set_pipelined(self, pipelined: bool = True) -> None:
        """With True, writes return without waiting for acknowledgements (errors surface at flush or close)."""
        self.pipelined = pipelined

    def __enter__(self) -> SFTPFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<blockssh.SFTPFile {self.name!r} mode={self.mode!r}{' closed' if self._closed else ''}>"

    # -- writing ------------------------------------------------------------------------------

    def write(self, data: str | bytes | bytearray | memoryview) -> None:
        """Write at the position (str is UTF-8 encoded).

        As in paramiko, files are unbuffered unless opened with ``bufsize`` > 1
        (1: line buffered): the data is sent at once, in block-size requests in
        flight together, and unless :meth:`set_pipelined` was called this waits
        for the server's acknowledgements (so errors are raised here).
        """
        self._check(reading=False)
        raw = data.encode("utf-8") if isinstance(data, str) else data
        view = memoryview(raw).cast("B")
        if not view:
            return
        self._drop_read_state()
        if self._wbuf and self._wbuf_at + len(self._wbuf) != self._pos:
            self._send_buffer()
        if not self._wbuf:
            self._wbuf_at = self._pos
        self._wbuf += view
        self._pos += len(view)
        bufsize = self._bufsize
        if bufsize == 0 or (bufsize > 1 and len(self._wbuf) >= bufsize) or (bufsize == 1 and 10 in view):
            self._send_buffer()
            if not self.pipelined:
                self._writes.wait_all(self.gettimeout())

    def writelines(self, lines: Iterable[str | bytes]) -> None:
        """Write each item."""
        for line in lines:
            self.write(line)

    def _send_buffer(self) -> None:
        if self._wbuf:
            data = bytes(self._wbuf)
            self._wbuf.clear()
            self._send(self._wbuf_at, data)
            self._wbuf_at += len(data)

    def _send(self, offset: int, data: bytes) -> None:
        client = self.sftp._client  # noqa: SLF001
        block = client.write_block_size
        view = memoryview(data)
        for start in range(0, len(view), block):
            chunk = view[start : start + block]
            self._writes.acquire(self.gettimeout())
            self.sftp._portal.call_soon(self._loop_write, offset + start, chunk)  # noqa: SLF001

    def _loop_write(self, offset: int, chunk: memoryview) -> None:
        client = self.sftp._client  # noqa: SLF001
        tracker = self._writes
        if client._error is not None:  # noqa: SLF001
            tracker.release(client._error)  # noqa: SLF001
            return
        request_id = client._allocate_id()  # noqa: SLF001
        path = self.name

        def handler(kind: int, payload: bytes, exc: BaseException | None) -> None:
            if exc is not None:
                tracker.release(exc)
                return
            if kind != FXP.STATUS:
                tracker.release(SFTPError("unexpected reply to WRITE"))
                raise SFTPError(f"unexpected SFTP reply {kind} to WRITE")
            code, message, _ = codec.decode_status(payload)
            tracker.release(None if code == FX.OK else codec.status_error(code, message, path))

        client._pending[request_id] = handler  # noqa: SLF001
        header = codec.data_header(FXP.WRITE, request_id, self._handle_str + codec.u64(offset), len(chunk))
        try:
            client._send(header + chunk)  # noqa: SLF001
        except SSHException as exc:
            client._pending.pop(request_id, None)  # noqa: SLF001
            tracker.release(exc)

    def flush(self) -> None:
        """Send buffered data and wait until the server acknowledged every write."""
        if self._closed:
            return
        self._send_buffer()
        self._writes.wait_all(self.gettimeout())

    # -- reading --------------------------------------------------------------------------------

    def _drop_read_state(self) -> None:
        self._rbuf = b""
        self._fill_end = -1
        if self._prefetch is not None:
            self._prefetch.cancel()
            self._prefetch = None

    def _buffered_at(self, pos: int) -> int:
        """Bytes of the read buffer available at ``pos``."""
        start = self._rbuf_at
        if start <= pos < start + len(self._rbuf):
            return start + len(self._rbuf) - pos
        return 0

    def _fill(self, want: int) -> bool:
        """Make at least ``want`` bytes available at the position (fewer at end of file); False at EOF."""
        pos = self._pos
        have = self._buffered_at(pos)
        fetch_at = pos + have
        if self._prefetch is not None:
            if self._prefetch.next == fetch_at:
                data = self._prefetch.read(max(want - have, 1 << 20), self.gettimeout())
            else:
                self._prefetch.cancel()
                self._prefetch = None
                return self._fill(want)
        else:
            sequential = fetch_at == self._fill_end
            self._readahead = min(self._readahead * 2, DEFAULT_MAX_READAHEAD) if sequential else self._readahead
            length = max(want - have, self._readahead)
            data = self._run(self._afile.pread(fetch_at, length), "read")
            self._fill_end = fetch_at + len(data)
        if not data:
            return False
        if have:
            rel = pos - self._rbuf_at
            self._rbuf = self._rbuf[rel:] + data
        else:
            self._rbuf = data
        self._rbuf_at = pos
        return True

    def read(self, size: int | None = None) -> bytes:
        """Read up to ``size`` bytes (everything left when None or negative); ``b""`` at end of file."""
        self._check(reading=True)
        if self._wbuf or self._writes.outstanding:
            self.flush()
        if size is None or size < 0:
            return self._read_all()
        while self._buffered_at(self._pos) < size:
            if not self._fill(size):
                break
        have = min(self._buffered_at(self._pos), size)
        rel = self._pos - self._rbuf_at
        data = self._rbuf[rel : rel + have]
        self._pos += have
        return data

    def _read_all(self) -> bytes:
        parts = []
        have = self._buffered_at(self._pos)
        if have:
            rel = self._pos - self._rbuf_at
            parts.append(self._rbuf[rel:])
            self._pos += have
        if self._prefetch is not None and self._prefetch.next == self._pos:
            while True:
                chunk = self._prefetch.read(1 << 30, self.gettimeout())
                if not chunk:
                    break
                parts.append(chunk)
                self._pos += len(chunk)
        data = self._run(self._afile.pread(self._pos, -1), "read")
        parts.append(data)
        self._pos += len(data)
        self._rbuf = b""
        return b"".join(parts)

    def readline(self, size: int | None = None) -> str | bytes:
        """The next line, with its newline (``str`` unless the file was opened with ``b``)."""
        self._check(reading=True)
        if self._wbuf or self._writes.outstanding:
            self.flush()
        limit = size if size is not None and size >= 0 else None
        start_scan = 0
        while True:
            have = self._buffered_at(self._pos)
            rel = self._pos - self._rbuf_at
            idx = self._rbuf.find(b"\n", rel + start_scan, rel + have)
            if idx >= 0:
                end = idx + 1
                break
            if limit is not None and have >= limit:
                end = rel + limit
                break
            start_scan = have
            if not self._fill(have + 1):
                end = rel + have
                break
        rel = self._pos - self._rbuf_at
        if limit is not None:
            end = min(end, rel + limit)
        line = self._rbuf[rel:end]
        self._pos += len(line)
        return line if self._binary else line.decode("utf-8")

    def readlines(self, sizehint: int | None = None) -> list[str | bytes]:
        """All remaining lines."""
        lines = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                break
            lines.append(line)
            total += len(line)
            if sizehint is not None and sizehint > 0 and total >= sizehint:
                break
        return lines

    def __iter__(self) -> SFTPFile:
        return self

    def __next__(self) -> str | bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def prefetch(self, file_size: int | None = None, max_concurrent_requests: int | None = None) -> None:
        """Start downloading the rest of the file in the background; ``read()`` then takes from it."""
        self._check(reading=True)
        if self._prefetch is not None:
            return
        if file_size is None:
            file_size = self.stat().st_size
        start = self._pos + self._buffered_at(self._pos)
        self._prefetch = _Prefetch(self, start, file_size, max_concurrent_requests)

    def readv(
        self, chunks: Iterable[tuple[int, int]], max_concurrent_prefetch_requests: int | None = None
    ) -> Iterator[bytes]:
        """Read several ``(offset, length)`` ranges, pipelined; yields each range's data in order."""
        self._check(reading=True)
        batch: list[tuple[int, int]] = []
        size = 0
        for offset, length in chunks:
            batch.append((offset, length))
            size += length
            if size >= READV_BATCH:
                yield from self._run(self._afile.readv(batch, max_requests=max_concurrent_prefetch_requests), "readv")
                batch, size = [], 0
        if batch:
            yield from self._run(self._afile.readv(batch, max_requests=max_concurrent_prefetch_requests), "readv")

    # -- position -------------------------------------------------------------------------------

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Move the position (``SEEK_SET``, ``SEEK_CUR``, ``SEEK_END``); returns it."""
        self._check()
        self.flush()
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = (self.stat().st_size or 0) + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if pos < 0:
            raise OSError(errno.EINVAL, "negative seek position")
        self._pos = pos
        return pos

    def tell(self) -> int:
        """The current position."""
        return self._pos

    # -- metadata ----------------------------------------------------------------------------------

    def stat(self) -> SFTPAttributes:
        """The file's attributes (after pending writes)."""
        self._check()
        self.flush()
        return self._run(self._afile.stat(), "stat")

    def chmod(self, mode: int) -> None:
        """Change permissions."""
        self._check()
        self._run(self._afile.chmod(mode), "chmod")

    def chown(self, uid: int, gid: int) -> None:
        """Change owner and group."""
        self._check()
        self._run(self._afile.chown(uid, gid), "chown")

    def utime(self, times: tuple[float, float] | None) -> None:
        """Set ``(atime, mtime)`` (None: now)."""
        self._check()
        if times is None:
            import time

            now = time.time()
            times = (now, now)
        self._run(self._afile.utime(times), "utime")

    def truncate(self, size: int) -> None:
        """Change the file's size."""
        self._check()
        self.flush()
        self._drop_read_state()
        self._run(self._afile.truncate(size), "truncate")

    def fsync(self) -> None:
        """Flush and ask the server to sync the file to disk (``fsync@openssh.com``)."""
        self.flush()
        self._run(self._afile.fsync(), "fsync")

    def statvfs(self) -> SFTPVFSAttributes:
        """File system statistics (``fstatvfs@openssh.com``)."""
        self._check()
        return self._run(self._afile.statvfs(), "statvfs")

    def check(self, hash_algorithm: str, offset: int = 0, length: int = 0, block_size: int = 0) -> bytes:
        """Paramiko's ``check-file`` hashing: OpenSSH and blockssh servers do not offer it."""
        raise OSError("the server does not support the check-file extension")

    # -- closing -----------------------------------------------------------------------------------

    def close(self) -> None:
        """Send pending writes, wait for their acknowledgements and release the handle (idempotent)."""
        if self._closed:
            return
        self._drop_read_state()
        try:
            if not self.sftp._client.closed:  # noqa: SLF001
                self.flush()
        finally:
            self._closed = True
            if not self.sftp._client.closed:  # noqa: SLF001
                self._run(self._afile.close(), "close")
