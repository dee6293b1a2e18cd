"""The blocking SFTP client: :class:`SFTPClient`, :class:`SFTPFile`, with paramiko's names and keywords.

Everything runs on blockssh's loop thread through the asyncio client
(:mod:`blockssh.sftp`); a caller thread never takes part in the protocol.
A whole ``get``/``put`` is one coroutine on the loop, with requests
pipelined (:mod:`blockssh.sftp.bulk`: local files are read and written on
the loop while that is fast, by a worker thread once the disk is slow);
``getfo``/``putfo`` call the caller's file object in the caller's thread,
with blocks handed over in batches. Progress callbacks
``callback(bytes_so_far, total)`` run in the caller's thread (calls are
merged when the callback is slower than the transfer), so they may block,
print, or drive ``tqdm``.

Differences from paramiko (on purpose): ``SFTPFile.read()`` is pipelined
and fast without ``prefetch()`` (paramiko #2453); ``prefetch`` keeps a
bounded buffer and stops with ``close()`` (#2454); writes are sent in
block-size requests in flight together; status errors carry the path as
``filename``; ``get``/``put`` also copy trees (``recursive=True``), resume
downloads (``resume=True``) and ``glob`` exists.
"""

from __future__ import annotations

import errno
import os
import stat as _stat
from collections.abc import Callable, Coroutine, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from ..exceptions import SFTPError
from ..sftp import bulk, transfer
from ..sftp.attrs import SFTPAttributes, SFTPVFSAttributes
from ..sftp.blocking import Handoff, SFTPFile
from ..sftp.client import SFTPClient as AsyncSFTPClient
from ..sftp.client import _SFTPChannelSession, start_sftp_client
from ..sftp.codec import OpenFlags, SFTPLimits
from ._portal import portal

if TYPE_CHECKING:
    from .channel import Channel
    from .transport import Transport

__all__ = ["SFTPClient", "SFTP", "SFTPFile", "SFTPAttributes"]

T = TypeVar("T")


class _SFTPChannel:
    """What ``SFTPClient.get_channel()`` returns: paramiko's channel calls that make sense here."""

    def __init__(self, sftp: SFTPClient) -> None:
        self._sftp = sftp

    def settimeout(self, timeout: float | None) -> None:
        """Timeout of every SFTP call (transfers: the longest time without progress)."""
        self._sftp._timeout = timeout  # noqa: SLF001

    def gettimeout(self) -> float | None:
        """The timeout set by :meth:`settimeout`."""
        return self._sftp._timeout  # noqa: SLF001

    def close(self) -> None:
        """Close the SFTP session."""
        self._sftp.close()

    @property
    def closed(self) -> bool:
        """True once the session ended."""
        return self._sftp._client.closed  # noqa: SLF001

    def get_id(self) -> int:
        """The SSH channel number."""
        return self._sftp._client.channel.id  # noqa: SLF001

    def get_transport(self) -> Transport | None:
        """The transport, when the client came from one."""
        return self._sftp._transport  # noqa: SLF001

    def getpeername(self) -> Any:
        """The server's address."""
        return self._sftp._client.channel.get_extra_info("peername")  # noqa: SLF001


class SFTPClient:
    """A blocking SFTP session: paramiko's ``SFTPClient`` API on blockssh.

    Create it with :meth:`from_transport`, ``SSHClient.open_sftp()``, or
    ``SFTPClient(channel)`` on a channel where the ``sftp`` subsystem was
    invoked. Safe to share between threads.
    """

    def __init__(self, sock: Channel | AsyncSFTPClient, *, _transport: Transport | None = None) -> None:
        """Start SFTP on ``sock``, a blocking channel with the ``sftp`` subsystem invoked."""
        self._portal = portal()
        self._timeout: float | None = None
        self._cwd: str | None = None
        self._transport = _transport
        if isinstance(sock, AsyncSFTPClient):
            self._client = sock
        else:
            self._transport = self._transport or sock.get_transport()
            self._timeout = sock.gettimeout()
            self._client = self._portal.call(_adopt_channel(sock), None, what="SFTP start")
        self.sock = _SFTPChannel(self)
        self.ultra_debug = False

    @classmethod
    def from_transport(
        cls, t: Transport, window_size: int | None = None, max_packet_size: int | None = None
    ) -> SFTPClient:
        """Open an SFTP session on a connected :class:`~blockssh.Transport`."""
        conn = t._require()  # noqa: SLF001 - the transport's asyncio connection
        options: dict[str, Any] = {}
        if window_size:
            options["window"] = window_size
        if max_packet_size:
            options["max_packet"] = max_packet_size
        client = t._portal.call(start_sftp_client(conn, **options), None, what="SFTP start")  # noqa: SLF001
        return cls(client, _transport=t)

    # -- plumbing --------------------------------------------------------------------------

    def _run(self, coro: Coroutine[Any, Any, T], what: str) -> T:
        return self._portal.call(coro, self._timeout, what=what)

    def _adjust_cwd(self, path: str | bytes) -> str:
        text = path.decode("utf-8", "surrogateescape") if isinstance(path, bytes) else os.fspath(path)
        if self._cwd is None or text.startswith("/"):
            return text
        if self._cwd == "/":
            return self._cwd + text
        return self._cwd + "/" + text

    @property
    def aio(self) -> AsyncSFTPClient:
        """The asyncio client underneath (its coroutines must run on blockssh's loop thread)."""
        return self._client

    @property
    def limits(self) -> SFTPLimits | None:
        """The server's ``limits@openssh.com`` reply, if it sent one."""
        return self._client.limits

    @property
    def extensions(self) -> dict[str, bytes]:
        """The extensions the server announced."""
        return dict(self._client.extensions)

    def close(self) -> None:
        """Close the SFTP session (the SSH connection stays open)."""
        if not self._client.closed:
            if self._portal.in_loop_thread():
                self._client.close()
            else:
                self._portal.call_soon(self._client.close)

    def get_channel(self) -> _SFTPChannel:
        """The channel-like object of this session (``settimeout`` sets the timeout of every call)."""
        return self.sock

    def __enter__(self) -> SFTPClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- directories ---------------------------------------------------------------------------

    def listdir(self, path: str = ".") -> list[str]:
        """Names in a directory, without ``.`` and ``..``."""
        return [a.filename for a in self.listdir_attr(path)]

    def listdir_attr(self, path: str = ".") -> list[SFTPAttributes]:
        """Entries of a directory as :class:`SFTPAttributes` with ``filename`` and ``longname``."""
        return self._run(self._client.listdir_attr(self._adjust_cwd(path)), "listdir")

    def listdir_iter(self, path: str = ".", read_aheads: int = 50) -> Iterator[SFTPAttributes]:
        """Like :meth:`listdir_attr`, as an iterator."""
        return iter(self.listdir_attr(path))

    def mkdir(self, path: str, mode: int = 0o777) -> None:
        """Create a directory."""
        self._run(self._client.mkdir(self._adjust_cwd(path), mode), "mkdir")

    def makedirs(self, path: str, mode: int = 0o777, exist_ok: bool = False) -> None:
        """Create a directory and its missing parents."""
        self._run(self._client.makedirs(self._adjust_cwd(path), mode, exist_ok), "makedirs")

    def rmdir(self, path: str) -> None:
        """Remove an empty directory."""
        self._run(self._client.rmdir(self._adjust_cwd(path)), "rmdir")

    def rmtree(self, path: str) -> None:
        """Remove a directory tree."""
        self._run(self._client.rmtree(self._adjust_cwd(path)), "rmtree")

    def chdir(self, path: str | None = None) -> None:
        """Change the client-side working directory used for relative paths (None: forget it)."""
        if path is None:
            self._cwd = None
            return
        if not _stat.S_ISDIR(self.stat(path).st_mode or 0):
            raise SFTPError(errno.ENOTDIR, f"{os.strerror(errno.ENOTDIR)}: {path}")
        self._cwd = self.normalize(path)

    def getcwd(self) -> str | None:
        """The working directory set by :meth:`chdir`, or None."""
        return self._cwd

    def normalize(self, path: str) -> str:
        """The server's absolute, canonical form of ``path``."""
        return self._run(self._client.realpath(self._adjust_cwd(path)), "normalize")

    def glob(self, pattern: str) -> list[str]:
        """Remote paths matching a shell pattern (``**`` matches any depth)."""
        return self._run(self._client.glob(self._adjust_cwd(pattern)), "glob")

    # -- files and metadata ----------------------------------------------------------------------

    def open(self, filename: str, mode: str = "r", bufsize: int = -1) -> SFTPFile:
        """Open a remote file (modes ``r``, ``w``, ``a``, ``x``, with ``+``; ``b`` makes readline give bytes)."""
        path = self._adjust_cwd(filename)
        afile = self._run(self._client.open(path, mode.replace("b", "").replace("t", "") or "r"), "open")
        return SFTPFile(self, afile, mode, bufsize)

    file = open

    def remove(self, path: str) -> None:
        """Remove a file."""
        self._run(self._client.remove(self._adjust_cwd(path)), "remove")

    unlink = remove

    def rename(self, oldpath: str, newpath: str) -> None:
        """Rename (fails when ``newpath`` exists, on most servers)."""
        self._run(self._client.rename(self._adjust_cwd(oldpath), self._adjust_cwd(newpath)), "rename")

    def posix_rename(self, oldpath: str, newpath: str) -> None:
        """Rename, replacing ``newpath`` (``posix-rename@openssh.com``)."""
        self._run(self._client.posix_rename(self._adjust_cwd(oldpath), self._adjust_cwd(newpath)), "posix_rename")

    def stat(self, path: str) -> SFTPAttributes:
        """Attributes of ``path`` (following links)."""
        return self._run(self._client.stat(self._adjust_cwd(path)), "stat")

    def lstat(self, path: str) -> SFTPAttributes:
        """Attributes of ``path`` itself."""
        return self._run(self._client.lstat(self._adjust_cwd(path)), "lstat")

    def exists(self, path: str) -> bool:
        """True if ``path`` exists."""
        return self._run(self._client.exists(self._adjust_cwd(path)), "exists")

    def isdir(self, path: str) -> bool:
        """True if ``path`` is a directory."""
        return self._run(self._client.isdir(self._adjust_cwd(path)), "isdir")

    def isfile(self, path: str) -> bool:
        """True if ``path`` is a regular file."""
        return self._run(self._client.isfile(self._adjust_cwd(path)), "isfile")

    def symlink(self, source: str, dest: str) -> None:
        """Create a symbolic link ``dest`` pointing to ``source``."""
        self._run(self._client.symlink(source, self._adjust_cwd(dest)), "symlink")

    def link(self, oldpath: str, newpath: str) -> None:
        """Create a hard link (``hardlink@openssh.com``)."""
        self._run(self._client.link(self._adjust_cwd(oldpath), self._adjust_cwd(newpath)), "link")

    def readlink(self, path: str) -> str | None:
        """The target of a symbolic link."""
        return self._run(self._client.readlink(self._adjust_cwd(path)), "readlink")

    def chmod(self, path: str, mode: int) -> None:
        """Change permissions."""
        self._run(self._client.chmod(self._adjust_cwd(path), mode), "chmod")

    def chown(self, path: str, uid: int, gid: int) -> None:
        """Change owner and group."""
        self._run(self._client.chown(self._adjust_cwd(path), uid, gid), "chown")

    def utime(self, path: str, times: tuple[float, float] | None) -> None:
        """Set ``(atime, mtime)`` (None: now)."""
        self._run(self._client.utime(self._adjust_cwd(path), times), "utime")

    def truncate(self, path: str, size: int) -> None:
        """Change a file's size."""
        self._run(self._client.truncate(self._adjust_cwd(path), size), "truncate")

    def statvfs(self, path: str) -> SFTPVFSAttributes:
        """File system statistics (``statvfs@openssh.com``)."""
        return self._run(self._client.statvfs(self._adjust_cwd(path)), "statvfs")

    def expand_path(self, path: str) -> str:
        """Expand ``~`` on the server (``expand-path@openssh.com``)."""
        return self._run(self._client.expand_path(path), "expand_path")

    def remote_copy(self, srcpath: str, dstpath: str) -> None:
        """Copy a file on the server (``copy-data``): no data crosses the network."""
        self._run(self._client.remote_copy(self._adjust_cwd(srcpath), self._adjust_cwd(dstpath)), "remote_copy")

    # -- transfers -----------------------------------------------------------------------------

    def _transfer(
        self,
        start: Callable[[Handoff], Coroutine[Any, Any, T]],
        handoff: Handoff,
        io_step: Callable[[], bool],
        callback: Callable[[int, int], Any] | None,
    ) -> T:
        """Run ``start(handoff)`` on the loop while this thread does local I/O (``io_step``) and callbacks."""

        async def runner() -> T:
            try:
                result = await start(handoff)
            except BaseException as exc:
                handoff.finish(exc)
                raise
            handoff.finish(None)
            return result

        self._portal.check_not_loop_thread("an SFTP transfer")
        future = self._portal.submit(runner())
        last: tuple[int, int] | None = None
        try:
            while True:
                more = io_step()
                progress = handoff.progress
                if callback is not None and progress is not None and progress != last:
                    first = handoff.first_progress
                    if last is None and first is not None and first != progress:
                        callback(*first)
                    last = progress
                    callback(*progress)
                if not more:
                    break
            result = future.result()
        except BaseException:
            if not future.done():
                future.cancel()
            raise
        progress = handoff.progress
        if callback is not None and progress is not None and progress != last:
            callback(*progress)
        return result

    def _download(
        self,
        remotepath: str,
        write: Callable[[list[memoryview]], Any],
        callback: Callable[[int, int], Any] | None,
        max_requests: int | None,
        offset: int = 0,
    ) -> int:
        """Download from ``offset`` to the end, calling ``write`` in this thread; returns the bytes received."""
        handoff = Handoff(self._portal)
        client = self._client
        timeout = self._timeout

        async def start(h: Handoff) -> int:
            handle = await client._open_handle(remotepath, OpenFlags.READ)  # noqa: SLF001
            try:
                attrs = await client.fstat(handle)
                size = attrs.st_size if not _stat.S_ISDIR(attrs.st_mode or 0) else None
                total = max(size or 0, offset)
                block = client.read_block_size
                dl = transfer.Download(
                    client,
                    handle,
                    offset=offset,
                    size=size,
                    block_size=block,
                    max_requests=max_requests or client.default_max_requests(block),
                    sink=h.put,
                    progress=(lambda n: h.report(offset + n, max(total, offset + n))) if callback else None,
                    timeout=timeout,
                )
                h.bind(dl)
                if callback is not None:
                    h.report(offset, total)
                return await dl.run()
            finally:
                if not client.closed:
                    await client._close_handle(handle)  # noqa: SLF001

        seen: list[tuple[int, int] | None] = [None]

        def io_step() -> bool:
            with handoff.cond:
                handoff.wait(lambda: bool(handoff.chunks) or handoff.progress != seen[0])
                chunks = list(handoff.chunks)
                handoff.chunks.clear()
                handoff.size = 0
                handoff.wake_engine()
                finished = handoff.done
                seen[0] = handoff.progress
            if chunks:
                write(chunks)
            return not finished

        return self._transfer(start, handoff, io_step, callback)

    def getfo(
        self,
        remotepath: str,
        fl: Any,
        callback: Callable[[int, int], Any] | None = None,
        prefetch: bool = True,
        max_concurrent_prefetch_requests: int | None = None,
    ) -> int:
        """Download ``remotepath`` into the open file object ``fl``; returns the bytes written.

        ``prefetch`` is accepted for paramiko compatibility (transfers are always pipelined).
        """

        def write(views: list[memoryview]) -> None:
            for view in views:
                fl.write(bytes(view))

        return self._download(self._adjust_cwd(remotepath), write, callback, max_concurrent_prefetch_requests)

    def get(
        self,
        remotepath: str,
        localpath: str | os.PathLike[str],
        callback: Callable[[int, int], Any] | None = None,
        prefetch: bool = True,
        max_concurrent_prefetch_requests: int | None = None,
        *,
        recursive: bool = False,
        resume: bool = False,
        preserve: bool = False,
    ) -> None:
        """Download ``remotepath`` to ``localpath``.

        ``recursive=True`` copies a directory tree, ``resume=True`` keeps an
        existing shorter local file and fetches only the rest, ``preserve=True``
        copies permissions and times. Raises ``IOError`` when the local size does
        not match what was received (as paramiko does).
        """
        rpath = self._adjust_cwd(remotepath)
        lpath = os.fspath(localpath)
        client = self._client
        timeout = self._timeout
        recurse = recursive and self.isdir(rpath)
        self._relayed(
            lambda cb: bulk.get(
                client,
                rpath,
                lpath,
                callback=cb,
                max_requests=max_concurrent_prefetch_requests,
                resume=resume,
                recursive=recurse,
                preserve=preserve,
                timeout=timeout,
            ),
            callback,
        )

    def _relayed(
        self,
        make: Callable[[Callable[[int, int], None] | None], Coroutine[Any, Any, T]],
        callback: Callable[[int, int], Any] | None,
    ) -> T:
        """Run ``make(report)`` on the loop; progress it reports reaches ``callback`` in this thread."""
        handoff = Handoff(self._portal)
        seen: list[tuple[int, int] | None] = [None]

        def io_step() -> bool:
            with handoff.cond:
                handoff.wait(lambda: handoff.progress != seen[0])
                seen[0] = handoff.progress
                return not handoff.done

        return self._transfer(lambda h: make(h.report if callback is not None else None), handoff, io_step, callback)

    def putfo(
        self,
        fl: Any,
        remotepath: str,
        file_size: int = 0,
        callback: Callable[[int, int], Any] | None = None,
        confirm: bool = True,
    ) -> SFTPAttributes:
        """Upload the contents of the file object ``fl``; returns the remote attributes (see :meth:`put`)."""
        rpath = self._adjust_cwd(remotepath)
        handoff = Handoff(self._portal)
        client = self._client
        timeout = self._timeout
        block = client.write_block_size

        async def start(h: Handoff) -> SFTPAttributes:
            handle = await client._open_handle(  # noqa: SLF001
                rpath, OpenFlags.WRITE | OpenFlags.CREAT | OpenFlags.TRUNC
            )
            try:
                up = transfer.Upload(
                    client,
                    handle,
                    block_size=block,
                    max_requests=client.default_max_requests(block),
                    source=h.get,
                    progress=(lambda n: h.report(n, max(file_size, n))) if callback else None,
                    timeout=timeout,
                )
                h.bind(up)
                sent = await up.run()
            finally:
                if not client.closed:
                    await client._close_handle(handle)  # noqa: SLF001
            if callback is not None and sent == 0:
                h.report(0, file_size)
            if not confirm:
                return SFTPAttributes()
            attrs = await client.stat(rpath)
            if attrs.st_size is not None and attrs.st_size != sent:
                raise OSError(f"size mismatch in put!  {attrs.st_size} != {sent}")
            return attrs

        seen: list[tuple[int, int] | None] = [None]

        def read(limit: int) -> bytes:
            data = fl.read(limit)
            if isinstance(data, str):
                return data.encode("utf-8")
            return data if isinstance(data, bytes) else bytes(data)

        def io_step() -> bool:
            with handoff.cond:
                if handoff.eof or handoff.size >= handoff.limit:
                    handoff.wait(
                        lambda: (not handoff.eof and handoff.size <= handoff.limit // 2) or handoff.progress != seen[0]
                    )
                seen[0] = handoff.progress
                if handoff.done:
                    return False
                if handoff.eof or handoff.size >= handoff.limit:
                    return True
            data = transfer.read_block(read, block)
            size = len(data) if isinstance(data, bytes) else sum(len(p) for p in data)
            with handoff.cond:
                if size:
                    handoff.chunks.append(data)
                    handoff.size += size
                else:
                    handoff.eof = True
                handoff.wake_engine()
            return True

        return self._transfer(start, handoff, io_step, callback)

    def put(
        self,
        localpath: str | os.PathLike[str],
        remotepath: str,
        callback: Callable[[int, int], Any] | None = None,
        confirm: bool = True,
        *,
        recursive: bool = False,
        preserve: bool = False,
    ) -> SFTPAttributes:
        """Upload ``localpath``; returns the remote file's attributes (checked against the size when ``confirm``).

        ``recursive=True`` copies a directory tree; ``preserve=True`` copies permissions and times.
        """
        lpath = os.fspath(localpath)
        rpath = self._adjust_cwd(remotepath)
        client = self._client
        timeout = self._timeout
        return self._relayed(
            lambda cb: bulk.put(
                client,
                lpath,
                rpath,
                callback=cb,
                confirm=confirm,
                recursive=recursive,
                preserve=preserve,
                timeout=timeout,
            ),
            callback,
        )


class SFTP(SFTPClient):
    """An alias of :class:`SFTPClient` (paramiko keeps it for old code)."""


async def _adopt_channel(chan: Channel) -> AsyncSFTPClient:
    """Take over a blocking channel on which the ``sftp`` subsystem was started."""
    achan: Any = chan._chan  # noqa: SLF001
    bridge = chan._bridge  # noqa: SLF001
    session = _SFTPChannelSession()
    with bridge.cond:
        early = list(bridge.stdout.chunks)
        bridge.stdout.chunks.clear()
        bridge.stdout.size = 0
    session.early.extend(early)
    achan._set_session(session)  # noqa: SLF001
    achan.resume_reading()
    client = AsyncSFTPClient(achan, session)
    await client._initialize(30.0)  # noqa: SLF001
    return client
