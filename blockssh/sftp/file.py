"""An open remote file on the asyncio side: :class:`SFTPClientFile`.

Reads and writes larger than one block are split into block-size requests
that are all in flight at once (up to ``max_requests``), so ``await
f.read()`` of a whole file runs at transfer speed. Positions are kept on the
client, as SFTP reads and writes carry their own offsets.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from ..exceptions import SFTPError
from .attrs import SFTPAttributes, SFTPVFSAttributes
from .codec import OpenFlags
from .transfer import Download, Upload, read_ranges

if TYPE_CHECKING:
    from .client import SFTPClient

__all__ = ["SFTPClientFile"]


class SFTPClientFile:
    """A remote file opened with :meth:`SFTPClient.open`."""

    def __init__(self, client: SFTPClient, handle: bytes, path: str, pflags: int, mode: str) -> None:
        self._client = client
        self.handle = handle
        self.name = path
        self.mode = mode
        self._pflags = pflags
        self._pos = 0
        self._closed = False

    # -- state ---------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        return self._closed

    @property
    def client(self) -> SFTPClient:
        """The session this file belongs to."""
        return self._client

    def readable(self) -> bool:
        """True if opened for reading."""
        return bool(self._pflags & OpenFlags.READ)

    def writable(self) -> bool:
        """True if opened for writing."""
        return bool(self._pflags & OpenFlags.WRITE)

    @property
    def append(self) -> bool:
        """True in append mode (the server writes at the end whatever the offset)."""
        return bool(self._pflags & OpenFlags.APPEND)

    def _check(self, reading: bool | None = None) -> None:
        if self._closed:
            raise OSError("File is closed")
        if reading is True and not self.readable():
            raise OSError("File is not open for reading")
        if reading is False and not self.writable():
            raise OSError("File is not open for writing")

    def tell(self) -> int:
        """The current position (not a coroutine)."""
        return self._pos

    async def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Move the position; ``SEEK_END`` asks the server for the size."""
        self._check()
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = ((await self.stat()).st_size or 0) + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if pos < 0:
            raise OSError(22, "Invalid argument: negative seek position")
        self._pos = pos
        return pos

    # -- data ----------------------------------------------------------------------------

    async def read(self, size: int = -1, *, block_size: int | None = None, max_requests: int | None = None) -> bytes:
        """Read up to ``size`` bytes (all that is left with a negative size); ``b""`` at end of file."""
        self._check(reading=True)
        data = await self.pread(self._pos, size, block_size=block_size, max_requests=max_requests)
        self._pos += len(data)
        return data

    async def pread(
        self, offset: int, size: int = -1, *, block_size: int | None = None, max_requests: int | None = None
    ) -> bytes:
        """Read at ``offset`` without moving the position (pipelined block requests)."""
        self._check(reading=True)
        if size == 0:
            return b""
        client = self._client
        block = block_size or client.read_block_size
        parts: list[memoryview] = []
        if size < 0:
            end = (await self.stat()).st_size  # read to the end: stop at the size (a final probe checks growth)
        else:
            end = offset + size
        dl = Download(
            client,
            self.handle,
            offset=offset,
            size=end,
            block_size=block,
            max_requests=max_requests or client.default_max_requests(block),
            sink=parts.extend,
            exact_end=size >= 0,
        )
        await dl.run()
        return b"".join(parts)

    async def readv(self, chunks: list[tuple[int, int]], *, max_requests: int | None = None) -> list[bytes]:
        """Read several ``(offset, length)`` ranges at once; each result may be short at end of file."""
        self._check(reading=True)
        return await read_ranges(self._client, self.handle, chunks, max_requests=max_requests)

    async def write(self, data: bytes | bytearray | memoryview) -> int:
        """Write at the position (the end, in append mode); returns the byte count once the server has it."""
        self._check(reading=False)
        n = await self.pwrite(data, self._pos)
        self._pos += n
        return n

    async def pwrite(
        self,
        data: bytes | bytearray | memoryview,
        offset: int,
        *,
        block_size: int | None = None,
        max_requests: int | None = None,
    ) -> int:
        """Write ``data`` at ``offset`` without moving the position; waits for every acknowledgement."""
        self._check(reading=False)
        view = memoryview(data).cast("B")
        n = len(view)
        if n == 0:
            return 0
        client = self._client
        block = block_size or client.write_block_size
        if n <= block:
            await client._write_block(self.handle, offset, bytes(view))  # noqa: SLF001
            return n
        pos = 0

        def source(limit: int) -> bytes | memoryview:
            nonlocal pos
            chunk = view[pos : pos + limit]
            pos += len(chunk)
            return chunk

        up = Upload(
            client,
            self.handle,
            offset=offset,
            block_size=block,
            max_requests=max_requests or client.default_max_requests(block),
            source=source,
        )
        await up.run()
        return n

    # -- metadata ---------------------------------------------------------------------------

    async def stat(self) -> SFTPAttributes:
        """Attributes of the open file."""
        self._check()
        return await self._client.fstat(self.handle)

    async def setstat(self, attrs: SFTPAttributes) -> None:
        """Change attributes of the open file."""
        self._check()
        await self._client.fsetstat(self.handle, attrs)

    async def truncate(self, size: int | None = None) -> int:
        """Change the file's size (to the current position by default)."""
        size = self._pos if size is None else size
        attrs = SFTPAttributes()
        attrs.st_size = size
        await self.setstat(attrs)
        return size

    async def chmod(self, mode: int) -> None:
        """Change the permission bits."""
        attrs = SFTPAttributes()
        attrs.st_mode = mode
        await self.setstat(attrs)

    async def chown(self, uid: int, gid: int) -> None:
        """Change the owner and group."""
        attrs = SFTPAttributes()
        attrs.st_uid, attrs.st_gid = uid, gid
        await self.setstat(attrs)

    async def utime(self, times: tuple[float, float]) -> None:
        """Set ``(atime, mtime)``."""
        attrs = SFTPAttributes()
        attrs.st_atime, attrs.st_mtime = int(times[0]), int(times[1])
        await self.setstat(attrs)

    async def fsync(self) -> None:
        """Ask the server to flush the file to disk (``fsync@openssh.com``)."""
        self._check()
        await self._client.fsync(self.handle)

    async def statvfs(self) -> SFTPVFSAttributes:
        """File system statistics (``fstatvfs@openssh.com``)."""
        self._check()
        return await self._client.fstatvfs(self.handle)

    # -- closing -------------------------------------------------------------------------------

    async def close(self) -> None:
        """Release the handle on the server (a second call does nothing)."""
        if self._closed:
            return
        self._closed = True
        if not self._client.closed:
            try:
                await self._client._close_handle(self.handle)  # noqa: SLF001
            except SFTPError:
                raise

    async def __aenter__(self) -> SFTPClientFile:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"pos={self._pos}"
        return f"<SFTPClientFile {self.name!r} mode={self.mode!r} {state}>"
