"""Whole-file and whole-tree transfers of the asyncio SFTP client: ``get``, ``put``, ``glob``.

The local side of a transfer never makes the event loop wait for a slow
disk. Local files are read and written *on the loop* while each call is
fast (page-cache speed: no thread hand-off, no lock, the least CPU); the
first read or write that takes longer than :data:`SLOW_LOCAL_IO` moves the
rest of that transfer's file I/O to a worker thread. File objects other than
our own files always use the worker thread, as their ``read``/``write`` may
block. Progress callbacks ``callback(bytes_so_far, total)`` run on the loop.
"""

from __future__ import annotations

import asyncio
import fnmatch
import io
import os
import posixpath
import queue
import stat as _stat
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..exceptions import SFTPError
from .attrs import SFTPAttributes
from .codec import OpenFlags
from .transfer import Download, Upload, read_block

if TYPE_CHECKING:
    from .client import SFTPClient

__all__ = [
    "get",
    "put",
    "glob",
    "writev_all",
    "ProgressCallback",
    "SLOW_LOCAL_IO",
    "LOCAL_QUEUE_LIMIT",
]

ProgressCallback = Callable[[int, int], Any]
SLOW_LOCAL_IO = 0.005  # seconds: a local read or write slower than this moves the rest of the I/O to a thread
LOCAL_QUEUE_LIMIT = 16 * 1024 * 1024  # downloaded bytes waiting for the local disk before the download pauses
_IOV_MAX = 1024


def _is_dir(attrs: SFTPAttributes) -> bool:
    return attrs.st_mode is not None and _stat.S_ISDIR(attrs.st_mode)


def writev_all(fd: int, views: list[memoryview]) -> None:
    """Write every view to ``fd`` with as few ``writev`` calls as possible (no joining copy)."""
    while views:
        batch = views[:_IOV_MAX]
        n = os.writev(fd, batch)
        total = sum(len(v) for v in batch)
        if n == total:
            views = views[len(batch) :]
            continue
        rest: list[memoryview] = []
        for v in views:
            if n >= len(v):
                n -= len(v)
            elif n:
                rest.append(v[n:])
                n = 0
            else:
                rest.append(v)
        views = rest


class _LocalWorker:
    """The local file I/O of one transfer, in a thread of the loop's default executor.

    The event loop never waits for the disk: downloaded blocks are queued to
    the thread (the download pauses while :data:`LOCAL_QUEUE_LIMIT` bytes wait),
    and an upload's blocks are read ahead by the thread (at most
    ``ahead`` blocks). The thread reports back with ``call_soon_threadsafe``.
    """

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.queued = 0
        self.engine: Download | Upload | None = None
        self.waiting = False
        self.stop = False
        self.credits = threading.Semaphore(0)
        self.future: asyncio.Future[Any] | None = None
        self.error: BaseException | None = None

    # -- download side ----------------------------------------------------------------

    def sink(self, data: list[memoryview]) -> None:
        n = sum(len(v) for v in data)
        self.queue.put((data, n))
        self.queued += n
        if self.queued >= LOCAL_QUEUE_LIMIT and self.engine is not None:
            self.engine.pause()
            self.waiting = True

    def _written(self, n: int) -> None:
        self.queued -= n
        if self.waiting and self.queued < LOCAL_QUEUE_LIMIT // 2 and self.engine is not None:
            self.waiting = False
            self.engine.resume()

    def _failed(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc
        if self.engine is not None:
            self.engine._finish(exc)  # noqa: SLF001

    def start_writer(self, write: Callable[[list[memoryview]], Any], close: Callable[[], Any]) -> None:
        """Run ``write`` for every queued block (a list of views) in the worker, then ``close``."""
        call = self.loop.call_soon_threadsafe

        def work() -> None:
            try:
                while True:
                    item = self.queue.get()
                    if item is None:
                        return
                    try:
                        write(item[0])
                    except BaseException as exc:  # noqa: BLE001 - reported to the loop
                        call(self._failed, exc)
                        while self.queue.get() is not None:
                            pass
                        return
                    call(self._written, item[1])
            finally:
                close()

        self.future = self.loop.run_in_executor(None, work)

    # -- upload side ------------------------------------------------------------------------

    def source(self, limit: int) -> bytes | list[bytes] | None:
        try:
            data: Any = self.queue.get_nowait()
        except queue.Empty:
            self.waiting = True
            return None
        if isinstance(data, BaseException):
            raise data
        self.credits.release()
        block: bytes | list[bytes] = data
        return block

    def _ready(self) -> None:
        if self.waiting and self.engine is not None:
            self.waiting = False
            self.engine.resume()

    def start_reader(self, read: Callable[[int], bytes], block: int, ahead: int, close: Callable[[], Any]) -> None:
        """Read blocks in the worker, at most ``ahead`` beyond what the upload took, then ``close``."""
        call = self.loop.call_soon_threadsafe
        for _ in range(ahead):
            self.credits.release()

        def work() -> None:
            try:
                while True:
                    self.credits.acquire()
                    if self.stop:
                        return
                    try:
                        data = read_block(read, block)
                    except BaseException as exc:  # noqa: BLE001 - reported to the loop
                        self.queue.put(exc)
                        call(self._ready)
                        return
                    self.queue.put(data)
                    call(self._ready)
                    if not data:
                        return
            finally:
                close()

        self.future = self.loop.run_in_executor(None, work)

    # -- both -------------------------------------------------------------------------------

    async def finish(self, wait: bool) -> None:
        """Let the worker end (after writing what is queued) and, with ``wait``, wait for it."""
        self.stop = True
        self.queue.put(None)
        self.credits.release()
        if wait and self.future is not None:
            await self.future


class _FileSink:
    """Writes downloaded blocks to a local file: on the loop while fast, then through a :class:`_LocalWorker`."""

    def __init__(self, f: Any) -> None:
        self.file = f
        self.fd: int = f.fileno()
        self.engine: Download | None = None
        self.worker: _LocalWorker | None = None

    def __call__(self, views: list[memoryview]) -> None:
        if self.worker is not None:
            self.worker.sink(views)
            return
        started = time.monotonic()
        writev_all(self.fd, views)
        if time.monotonic() - started > SLOW_LOCAL_IO:
            fd = self.fd
            self.worker = _LocalWorker()
            self.worker.engine = self.engine
            self.worker.start_writer(lambda v: writev_all(fd, v), lambda: None)

    async def finish(self) -> None:
        """Wait for queued writes (if a worker took over) and close the file off the loop."""
        try:
            if self.worker is not None:
                await self.worker.finish(wait=True)
                if self.worker.error is not None:
                    raise self.worker.error
        finally:
            await asyncio.get_running_loop().run_in_executor(None, self.file.close)


class _FileSource:
    """Reads blocks of a local file for an upload: on the loop while fast, then through a :class:`_LocalWorker`."""

    def __init__(self, f: Any, block: int, ahead: int) -> None:
        self.file = f
        self.block = block
        self.ahead = ahead
        self.engine: Upload | None = None
        self.worker: _LocalWorker | None = None

    def __call__(self, limit: int) -> bytes | list[bytes] | None:
        if self.worker is not None:
            return self.worker.source(limit)
        started = time.monotonic()
        data = read_block(self.file.read, limit)
        if time.monotonic() - started > SLOW_LOCAL_IO:
            self.worker = _LocalWorker()
            self.worker.engine = self.engine
            self.worker.start_reader(self.file.read, self.block, self.ahead, lambda: None)
        return data

    async def finish(self) -> None:
        """Stop a worker that took over and close the file off the loop."""
        try:
            if self.worker is not None:
                await self.worker.finish(wait=True)
        finally:
            await asyncio.get_running_loop().run_in_executor(None, self.file.close)


async def get(
    client: SFTPClient,
    remotepath: Any,
    localpath: Any,
    *,
    callback: ProgressCallback | None = None,
    block_size: int | None = None,
    max_requests: int | None = None,
    resume: bool = False,
    recursive: bool = False,
    preserve: bool = False,
    timeout: float | None = None,
) -> int:
    """Download ``remotepath`` to ``localpath`` (a path, or a file object with ``write``); returns bytes received.

    ``callback(bytes_so_far, total)`` follows each block (for a tree, per
    file). ``resume=True`` keeps the bytes of an existing shorter local file
    and fetches only the rest. ``recursive=True`` copies a directory tree.
    ``preserve=True`` copies permissions and times. ``timeout`` bounds the
    time without progress (default: the client's ``request_timeout``).
    """
    rpath = remotepath.decode("utf-8", "surrogateescape") if isinstance(remotepath, bytes) else str(remotepath)
    loop = asyncio.get_running_loop()
    if recursive:
        attrs = await client.stat(rpath)
        if _is_dir(attrs):
            if not isinstance(localpath, (str, os.PathLike)):
                raise ValueError("a recursive get needs a local directory path")
            return await _get_tree(client, rpath, os.fspath(localpath), callback, block_size, max_requests, preserve)
    handle = await client._open_handle(rpath, OpenFlags.READ)  # noqa: SLF001
    lpath: str | None = None
    start = 0
    try:
        attrs = await client.fstat(handle)
        size = attrs.st_size if attrs.st_size is not None and not _is_dir(attrs) else None
        block = block_size or client.read_block_size
        total = size or 0
        local: _FileSink | _LocalWorker
        if isinstance(localpath, (str, os.PathLike)):
            lpath = os.fspath(localpath)
            opened = await loop.run_in_executor(None, _open_for_download, lpath, resume, size)
            start = opened.tell()
            local = _FileSink(opened)
        else:
            fl = localpath
            local = _LocalWorker()
            local.start_writer(lambda views: fl.write(b"".join(views)), lambda: None)
        progress = None
        if callback is not None:
            base = start

            def progress(n: int) -> None:
                callback(base + n, max(total, base + n))

        dl = Download(
            client,
            handle,
            offset=start,
            size=size,
            block_size=block,
            max_requests=max_requests or client.default_max_requests(block),
            sink=local if isinstance(local, _FileSink) else local.sink,
            progress=progress,
            timeout=timeout,
        )
        local.engine = dl
        if callback is not None and start:
            callback(start, max(total, start))  # a resumed download starts here
        try:
            received = await dl.run()
        finally:
            if isinstance(local, _FileSink):
                await local.finish()
            else:
                await local.finish(wait=True)
        if isinstance(local, _LocalWorker) and local.error is not None:
            raise local.error
        if callback is not None and received == 0:
            callback(start, total)
    finally:
        if not client.closed:
            await client._close_handle(handle)  # noqa: SLF001
    if lpath is not None:
        st = await loop.run_in_executor(None, os.stat, lpath)
        local_size = st.st_size if _stat.S_ISREG(st.st_mode) else start + received  # e.g. /dev/null
        if local_size != start + received:
            raise OSError(f"size mismatch in get!  {local_size} != {start + received}")
        if preserve:
            await loop.run_in_executor(None, _apply_local_attrs, lpath, attrs)
    return received


def _open_for_upload(path: str) -> io.FileIO:
    """Open the local file to upload, unbuffered (off the loop)."""
    return open(path, "rb", buffering=0)  # noqa: SIM115 - closed by the caller


def _open_for_download(path: str, resume: bool, size: int | None) -> Any:
    """Open the local file (worker thread); with ``resume``, positioned after the bytes already there."""
    start = 0
    if resume and os.path.exists(path):
        have = os.path.getsize(path)
        if size is not None and have <= size:
            start = have
    f = open(path, "r+b" if start else "wb", buffering=0)  # noqa: SIM115 - closed by the caller
    if start:
        f.seek(start)
        f.truncate()
    return f


def _apply_local_attrs(path: str, attrs: SFTPAttributes) -> None:
    if attrs.st_mode is not None:
        os.chmod(path, _stat.S_IMODE(attrs.st_mode))
    if attrs.st_atime is not None and attrs.st_mtime is not None:
        os.utime(path, (attrs.st_atime, attrs.st_mtime))


async def _get_tree(
    client: SFTPClient,
    rdir: str,
    ldir: str,
    callback: ProgressCallback | None,
    block_size: int | None,
    max_requests: int | None,
    preserve: bool,
) -> int:
    os.makedirs(ldir, exist_ok=True)
    total = 0
    for entry in await client.listdir_attr(rdir):
        rchild = posixpath.join(rdir, entry.filename)
        lchild = os.path.join(ldir, entry.filename)
        if "/" in entry.filename or entry.filename in (".", "..") or os.sep in entry.filename:
            raise SFTPError(f"the server sent an unsafe directory entry name {entry.filename!r}")
        mode = entry.st_mode or 0
        if _stat.S_ISLNK(mode):
            try:
                mode = (await client.stat(rchild)).st_mode or 0
            except FileNotFoundError:
                continue  # a dangling link
        if _stat.S_ISDIR(mode):
            total += await _get_tree(client, rchild, lchild, callback, block_size, max_requests, preserve)
        elif _stat.S_ISREG(mode):
            total += await get(
                client,
                rchild,
                lchild,
                callback=callback,
                block_size=block_size,
                max_requests=max_requests,
                preserve=preserve,
            )
    if preserve:
        _apply_local_attrs(ldir, await client.stat(rdir))
    return total


async def put(
    client: SFTPClient,
    localpath: Any,
    remotepath: Any,
    *,
    callback: ProgressCallback | None = None,
    confirm: bool = True,
    block_size: int | None = None,
    max_requests: int | None = None,
    recursive: bool = False,
    preserve: bool = False,
    file_size: int = 0,
    timeout: float | None = None,
) -> SFTPAttributes:
    """Upload ``localpath`` (a path, or a file object with ``read``) to ``remotepath``.

    Returns the remote file's attributes (a ``stat`` after the upload when
    ``confirm`` is true, which also checks the size, as paramiko does; an
    empty :class:`SFTPAttributes` otherwise). ``recursive=True`` copies a
    directory tree (then the remote directory's attributes are returned).
    ``file_size`` is the total passed to ``callback`` for file objects;
    ``timeout`` bounds the time without progress.
    """
    rpath = remotepath.decode("utf-8", "surrogateescape") if isinstance(remotepath, bytes) else str(remotepath)
    loop = asyncio.get_running_loop()
    if (
        recursive
        and isinstance(localpath, (str, os.PathLike))
        and await loop.run_in_executor(None, os.path.isdir, localpath)
    ):
        await _put_tree(client, os.fspath(localpath), rpath, callback, block_size, max_requests, preserve)
        return await client.stat(rpath)
    size = file_size
    local_st: os.stat_result | None = None
    block = block_size or client.write_block_size
    requests = max_requests or client.default_max_requests(block)
    ahead = max(requests * 2, 4)
    local: _FileSource | _LocalWorker
    if isinstance(localpath, (str, os.PathLike)):
        opened = await loop.run_in_executor(None, _open_for_upload, os.fspath(localpath))
        local_st = os.fstat(opened.fileno())
        size = local_st.st_size
        local = _FileSource(opened, block, ahead)
    else:
        fl = localpath

        def read(limit: int) -> bytes:
            data = fl.read(limit)
            if isinstance(data, str):
                data = data.encode("utf-8")
            return bytes(data) if not isinstance(data, bytes) else data

        local = _LocalWorker()
    try:
        handle = await client._open_handle(  # noqa: SLF001
            rpath, OpenFlags.WRITE | OpenFlags.CREAT | OpenFlags.TRUNC
        )
    except BaseException:
        if isinstance(local, _FileSource):
            await local.finish()
        raise
    try:
        progress = None
        if callback is not None:

            def progress(n: int) -> None:
                callback(n, max(size, n))

        up = Upload(
            client,
            handle,
            block_size=block,
            max_requests=requests,
            source=local if isinstance(local, _FileSource) else local.source,
            progress=progress,
            timeout=timeout,
        )
        local.engine = up
        if isinstance(local, _LocalWorker):
            local.start_reader(read, block, ahead, lambda: None)
        try:
            sent = await up.run()
        finally:
            if isinstance(local, _FileSource):
                await local.finish()
            else:
                await local.finish(wait=True)
        if callback is not None and sent == 0:
            callback(0, size)
        if preserve and local_st is not None:
            await client.fsetstat(handle, _local_attrs(local_st))
    finally:
        if not client.closed:
            await client._close_handle(handle)  # noqa: SLF001
    if not confirm:
        return SFTPAttributes()
    attrs = await client.stat(rpath)
    if attrs.st_size is not None and attrs.st_size != sent:
        raise OSError(f"size mismatch in put!  {attrs.st_size} != {sent}")
    return attrs


def _local_attrs(st: os.stat_result) -> SFTPAttributes:
    attrs = SFTPAttributes()
    attrs.st_mode = _stat.S_IMODE(st.st_mode)
    attrs.st_atime, attrs.st_mtime = int(st.st_atime), int(st.st_mtime)
    return attrs


async def _put_tree(
    client: SFTPClient,
    ldir: str,
    rdir: str,
    callback: ProgressCallback | None,
    block_size: int | None,
    max_requests: int | None,
    preserve: bool,
) -> None:
    try:
        await client.mkdir(rdir)
    except OSError:
        if not await client.isdir(rdir):
            raise
    with os.scandir(ldir) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        rchild = posixpath.join(rdir, entry.name)
        if entry.is_dir():
            await _put_tree(client, entry.path, rchild, callback, block_size, max_requests, preserve)
        elif entry.is_file():
            await put(
                client,
                entry.path,
                rchild,
                callback=callback,
                block_size=block_size,
                max_requests=max_requests,
                preserve=preserve,
                confirm=False,
            )
    if preserve:
        await client.setstat(rdir, _local_attrs(os.stat(ldir)))


# ---------------------------------------------------------------------------------------------
# glob
# ---------------------------------------------------------------------------------------------


def _has_magic(part: str) -> bool:
    return any(c in part for c in "*?[")


async def glob(client: SFTPClient, pattern: str) -> list[str]:
    """Remote paths matching ``pattern``, sorted; relative patterns match relative to the session's start."""
    absolute = pattern.startswith("/")
    parts = [p for p in pattern.split("/") if p]
    results: list[str] = []
    start = "/" if absolute else ""

    async def children(base: str) -> list[SFTPAttributes]:
        try:
            return await client.listdir_attr(base or ".")
        except (FileNotFoundError, PermissionError, NotADirectoryError):
            return []
        except OSError:
            return []

    async def walk(base: str, index: int, base_is_dir: bool) -> None:
        if index == len(parts):
            results.append(base)
            return
        part = parts[index]
        if part == "**":
            await walk(base, index + 1, base_is_dir)  # zero directories
            for entry in await children(base):
                if entry.filename.startswith(".") or not _is_dir(entry):
                    continue
                await walk(posixpath.join(base, entry.filename) if base else entry.filename, index, True)
            return
        if not _has_magic(part):
            candidate = posixpath.join(base, part) if base else part
            if index == len(parts) - 1:
                try:
                    await client.lstat(candidate)
                except OSError:
                    return
                results.append(candidate)
            else:
                await walk(candidate, index + 1, True)
            return
        for entry in await children(base):
            name = entry.filename
            if name in (".", ".."):
                continue
            if name.startswith(".") and not part.startswith("."):
                continue
            if fnmatch.fnmatchcase(name, part):
                child = posixpath.join(base, name) if base else name
                if index == len(parts) - 1:
                    results.append(child)
                elif _is_dir(entry) or _stat.S_ISLNK(entry.st_mode or 0):
                    await walk(child, index + 1, True)

    await walk(start, 0, True)
    return sorted(set(results))
