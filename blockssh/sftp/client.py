"""The asyncio SFTP client: :func:`start_sftp_client` and :class:`SFTPClient`.

One :class:`SFTPClient` drives one ``sftp`` subsystem channel. Requests are
matched to replies by request id; any number may be outstanding, so
coroutines can share a client freely. Bulk transfers (:meth:`SFTPClient.get`,
:meth:`SFTPClient.put`, and large reads and writes of
:class:`~blockssh.sftp.file.SFTPClientFile`) keep up to ``max_requests``
requests of ``block_size`` bytes in flight; the block size comes from the
server's ``limits@openssh.com`` reply (255 KiB from OpenSSH), else
:data:`DEFAULT_BLOCK_SIZE`.

Errors: a status reply raises what paramiko raises for it
(:class:`FileNotFoundError`, :class:`PermissionError`, :class:`OSError`,
:class:`EOFError`; see :func:`~blockssh.sftp.codec.status_error`). A reply
the protocol does not allow (malformed, an unknown request id, a wrong
type, an oversize length) raises :class:`~blockssh.exceptions.SFTPError`
and ends the session: every outstanding request fails with it.
"""

from __future__ import annotations

import asyncio
import posixpath
import stat as _stat
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..aio.session import SSHClientSession
from ..exceptions import ChannelClosedError, SFTPError, SSHException, SSHTimeoutError
from ..proto.wire import string
from . import codec
from .attrs import SFTPAttributes, SFTPVFSAttributes
from .codec import FX, FXP, SFTPLimits, encode_path, packet, u32, u64

if TYPE_CHECKING:
    from ..aio.channel import SSHClientChannel
    from ..aio.client import SSHClientConnection
    from .file import SFTPClientFile

__all__ = [
    "SFTPClient",
    "start_sftp_client",
    "DEFAULT_BLOCK_SIZE",
    "MAX_BLOCK_SIZE",
    "DEFAULT_MAX_REQUESTS",
    "DEFAULT_WINDOW",
    "DEFAULT_CHANNEL_MAX_PACKET",
    "DEFAULT_INIT_TIMEOUT",
]

DEFAULT_BLOCK_SIZE = 32 * 1024  # read/write size when the server announces no limits (paramiko's and the draft's)
MAX_BLOCK_SIZE = 1024 * 1024  # never more per request, whatever the server announces
DEFAULT_MAX_IN_FLIGHT_BYTES = 8 * 1024 * 1024  # data in flight per transfer sets the default request count
DEFAULT_MAX_REQUESTS = 64  # requests in flight per transfer when the block size is small (capped by bytes above)
MIN_MAX_REQUESTS = 16
DEFAULT_WINDOW = 8 * 1024 * 1024  # SSH channel window of the SFTP channel
DEFAULT_CHANNEL_MAX_PACKET = 256 * 1024 - 1024  # largest channel data packet we accept (peers may send less)
DEFAULT_INIT_TIMEOUT = 30.0  # seconds for the subsystem to start and answer INIT
ZERO_COPY_MIN = 16 * 1024  # DATA replies at least this long reach sinks as views of the received packets
_MAX_ABANDONED = 4096  # request ids of timed-out requests whose late replies are ignored

ReplyHandler = Callable[[int, Any, "BaseException | None"], None]  # payload: bytes, or Pieces for DATA
PathType = str | bytes


def _path_str(path: Any) -> str:
    if isinstance(path, bytes):
        return path.decode("utf-8", "surrogateescape")
    return str(path) if not isinstance(path, str) else path


class _SFTPChannelSession(SSHClientSession[bytes]):
    """The channel's session handler: feeds received bytes to the client."""

    accepts_buffers = True  # memoryviews over immutable packet buffers, no copy

    def __init__(self) -> None:
        self.client: SFTPClient | None = None
        self.early: list[bytes | memoryview] = []
        self.closed_exc: BaseException | None = None
        self.closed = False

    def data_received(self, data: bytes, datatype: int | None) -> None:
        if datatype is not None:
            return  # stderr of the subsystem: ignored
        if self.client is None:
            self.early.append(data)
        else:
            self.client._data_received(data)  # noqa: SLF001

    def eof_received(self) -> bool:
        if self.client is not None:
            self.client._fail(SFTPError("the SFTP server closed the session"), close=True)  # noqa: SLF001
        return False

    def connection_lost(self, exc: BaseException | None) -> None:
        self.closed = True
        self.closed_exc = exc
        if self.client is not None:
            self.client._connection_lost(exc)  # noqa: SLF001


class SFTPClient:
    """An SFTP version 3 session over one SSH channel (create it with :func:`start_sftp_client`).

    Paths are ``str`` (UTF-8 on the wire; undecodable bytes round-trip as
    surrogate escapes) or ``bytes``. Every method is a coroutine unless
    noted, and every one may be called concurrently with others.
    """

    def __init__(
        self,
        chan: SSHClientChannel[Any],
        session: _SFTPChannelSession,
        *,
        max_packet_length: int = codec.DEFAULT_MAX_PACKET_LENGTH,
        request_timeout: float | None = None,
    ) -> None:
        self._chan = chan
        self._session = session
        self._loop = asyncio.get_running_loop()
        self._reader = codec.PacketReader(max_packet_length, zero_copy_min=ZERO_COPY_MIN)
        self._pending: dict[int, ReplyHandler] = {}
        self._abandoned: set[int] = set()
        self._next_id = 1
        self._error: BaseException | None = None
        self._version_future: asyncio.Future[bytes] = self._loop.create_future()
        self._awaiting_version = True
        self.request_timeout = request_timeout
        self.version = 0
        self.extensions: dict[str, bytes] = {}
        self.limits: SFTPLimits | None = None
        self.read_block_size = DEFAULT_BLOCK_SIZE
        self.write_block_size = DEFAULT_BLOCK_SIZE
        self.max_open_handles = 0
        server_version = chan.get_extra_info("server_version")
        self._draft_symlink = codec.symlink_in_draft_order(server_version if isinstance(server_version, str) else None)
        session.client = self
        for chunk in session.early:
            self._data_received(chunk)
        session.early.clear()
        if session.closed:
            self._connection_lost(session.closed_exc)

    # -- properties -------------------------------------------------------------

    @property
    def channel(self) -> SSHClientChannel[Any]:
        """The SSH channel carrying this session."""
        return self._chan

    @property
    def closed(self) -> bool:
        """True once the session ended (closed, failed or the channel went away)."""
        return self._error is not None

    def supports(self, extension: str, version: bytes | None = None) -> bool:
        """True if the server announced ``extension`` (and, when given, exactly that ``version``)."""
        data = self.extensions.get(extension)
        return data is not None and (version is None or data == version)

    def default_max_requests(self, block_size: int) -> int:
        """Requests in flight per transfer for ``block_size``: about 8 MiB worth, between 16 and 64."""
        return max(MIN_MAX_REQUESTS, min(DEFAULT_MAX_REQUESTS, DEFAULT_MAX_IN_FLIGHT_BYTES // max(block_size, 1)))

    # -- lifecycle ----------------------------------------------------------------

    async def _initialize(self, timeout: float | None) -> None:
        self._chan.write(codec.encode_init())
        try:
            payload = await asyncio.wait_for(asyncio.shield(self._version_future), timeout)
        except asyncio.TimeoutError:
            self._fail(SSHTimeoutError(f"the SFTP server did not answer INIT within {timeout:g} s"), close=True)
            raise self._error from None  # type: ignore[misc]
        try:
            self.version, self.extensions = codec.decode_version(payload)
        except SFTPError as exc:
            self._fail(exc, close=True)
            raise
        if self.version != codec.SFTP_VERSION:
            # A server must answer with the lowest common version; 3 is all we speak.
            self._fail(SFTPError(f"the server speaks SFTP version {self.version}, not 3"), close=True)
            raise self._error  # type: ignore[misc]
        if self.supports("limits@openssh.com", b"1"):
            limits = await self.get_limits()
            self.limits = limits
            cap = min(self._reader.max_length, limits.max_packet_length or self._reader.max_length) - 1024
            if limits.max_read_length:
                self.read_block_size = max(1, min(limits.max_read_length, MAX_BLOCK_SIZE, cap))
            if limits.max_write_length:
                self.write_block_size = max(1, min(limits.max_write_length, MAX_BLOCK_SIZE, cap))
            self.max_open_handles = limits.max_open_handles

    def close(self) -> None:
        """End the session (closes the channel; outstanding requests fail). Not a coroutine."""
        if self._error is None:
            self._fail(ChannelClosedError("the SFTP session is closed"), close=True)

    async def wait_closed(self) -> None:
        """Wait until the channel is closed."""
        await self._chan.wait_closed()

    async def __aenter__(self) -> SFTPClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()
        await self.wait_closed()

    def _connection_lost(self, exc: BaseException | None) -> None:
        if self._error is None:
            if isinstance(exc, SSHException):
                error: BaseException = exc
            else:
                error = SFTPError(f"the SFTP channel closed{': ' + str(exc) if exc else ''}")
            self._fail(error, close=False)

    def _fail(self, exc: BaseException, *, close: bool) -> None:
        """End the session with ``exc``: every outstanding and future request raises it."""
        if self._error is not None:
            return
        self._error = exc
        waiter = self._version_future
        if not waiter.done():
            waiter.set_exception(exc)
            waiter.exception()
        pending = list(self._pending.values())
        self._pending.clear()
        for handler in pending:
            handler(0, b"", exc)
        if close:
            self._chan.abort() if not isinstance(exc, ChannelClosedError) else self._chan.close()

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    # -- packets in -----------------------------------------------------------------

    def _data_received(self, data: bytes | memoryview) -> None:
        if self._error is not None:
            return
        try:
            payloads = self._reader.feed(data)
        except SFTPError as exc:
            self._fail(exc, close=True)
            return
        pending = self._pending
        for payload in payloads:
            if isinstance(payload, codec.Pieces):
                first = payload[0]
                if len(first) < 5:
                    payload = payload.join()  # a header split across chunks: rare, copy it
                    kind = payload[0]
                else:
                    kind = first[0]
            else:
                kind = payload[0]
            if self._awaiting_version:
                if isinstance(payload, codec.Pieces):
                    payload = payload.join()
                self._awaiting_version = False
                if kind != FXP.VERSION:
                    self._fail(SFTPError(f"expected SSH_FXP_VERSION, got {codec.reply_type_name(kind)}"), close=True)
                    return
                self._version_future.set_result(payload)
                continue
            if isinstance(payload, codec.Pieces):
                request_id = int.from_bytes(payload[0][1:5], "big")
            elif len(payload) < 5:
                self._fail(SFTPError(f"SFTP packet of {len(payload)} bytes is too short"), close=True)
                return
            else:
                request_id = int.from_bytes(payload[1:5], "big")
            handler = pending.pop(request_id, None)
            if handler is None:
                if request_id in self._abandoned:
                    self._abandoned.discard(request_id)
                    continue
                self._fail(
                    SFTPError(f"SFTP reply ({codec.reply_type_name(kind)}) with unknown request id {request_id}"),
                    close=True,
                )
                return
            try:
                handler(kind, payload, None)
            except SFTPError as exc:
                self._fail(exc, close=True)
                return
            except Exception as exc:  # noqa: BLE001 - a bug must not leave requests waiting forever
                self._fail(SFTPError(f"internal error handling an SFTP reply: {exc!r}"), close=True)
                return
            if self.closed:
                return

    # -- requests out -----------------------------------------------------------------

    def _allocate_id(self) -> int:
        request_id = self._next_id
        pending = self._pending
        while request_id in pending or request_id in self._abandoned:
            request_id = (request_id + 1) & 0xFFFFFFFF
        self._next_id = (request_id + 1) & 0xFFFFFFFF
        return request_id

    def _send(self, data: bytes) -> None:
        try:
            self._chan.write(data)
        except ChannelClosedError as exc:
            self._fail(exc, close=False)
            raise

    def _abandon(self, request_id: int) -> None:
        if self._pending.pop(request_id, None) is not None:
            if len(self._abandoned) >= _MAX_ABANDONED:
                self._abandoned.clear()
            self._abandoned.add(request_id)

    async def _request(self, kind: int, *parts: bytes) -> tuple[int, bytes]:
        """Send a request and wait for its reply ``(type, payload)``."""
        self._check()
        request_id = self._allocate_id()
        fut: asyncio.Future[tuple[int, bytes]] = self._loop.create_future()

        def on_reply(rkind: int, payload: Any, exc: BaseException | None) -> None:
            if fut.done():
                return
            if exc is not None:
                fut.set_exception(exc)
            else:
                fut.set_result((rkind, payload.join() if isinstance(payload, codec.Pieces) else payload))

        self._pending[request_id] = on_reply
        self._send(packet(kind, request_id, *parts))
        timeout = self.request_timeout
        try:
            if timeout is None:
                return await fut
            return await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            self._abandon(request_id)
            raise SSHTimeoutError(f"no SFTP reply to {FXP(kind).name} within {timeout:g} s") from None
        except asyncio.CancelledError:
            self._abandon(request_id)  # a late reply is dropped quietly
            raise

    @staticmethod
    def _expect(kind: int, payload: bytes, wanted: int, request: str, path: str | None) -> bytes:
        if kind == wanted:
            return payload
        if kind == FXP.STATUS:
            code, message, _ = codec.decode_status(payload)
            if code != FX.OK:
                raise codec.status_error(code, message, path)
        raise SFTPError(f"unexpected SFTP reply {codec.reply_type_name(kind)} to {request}")

    @staticmethod
    def _expect_status(kind: int, payload: bytes, request: str, path: str | None) -> None:
        if kind != FXP.STATUS:
            raise SFTPError(f"unexpected SFTP reply {codec.reply_type_name(kind)} to {request}")
        code, message, _ = codec.decode_status(payload)
        if code != FX.OK:
            raise codec.status_error(code, message, path)

    async def _write_block(self, handle: bytes, offset: int, data: bytes) -> None:
        await self._status_request(FXP.WRITE, None, string(handle), u64(offset), string(data))

    async def _status_request(self, kind: int, path: str | None, *parts: bytes) -> None:
        rkind, payload = await self._request(kind, *parts)
        self._expect_status(rkind, payload, FXP(kind).name, path)

    async def _extended(self, name: str, *parts: bytes) -> tuple[int, bytes]:
        if name not in self.extensions:
            raise codec.status_error(FX.OP_UNSUPPORTED, f"the server does not support {name}")
        return await self._request(FXP.EXTENDED, string(name), *parts)

    async def _extended_status(self, name: str, path: str | None, *parts: bytes) -> None:
        kind, payload = await self._extended(name, *parts)
        self._expect_status(kind, payload, name, path)

    # -- handles ----------------------------------------------------------------------

    async def _open_handle(self, path: PathType, pflags: int, attrs: SFTPAttributes | None = None) -> bytes:
        attrs = attrs if attrs is not None else SFTPAttributes()
        kind, payload = await self._request(FXP.OPEN, encode_path(path), u32(pflags), attrs.asbytes())
        return codec.decode_handle(self._expect(kind, payload, FXP.HANDLE, "OPEN", _path_str(path)))

    async def _close_handle(self, handle: bytes) -> None:
        await self._status_request(FXP.CLOSE, None, string(handle))

    async def open(self, path: PathType, mode: str = "r", attrs: SFTPAttributes | None = None) -> SFTPClientFile:
        """Open a remote file; ``mode`` as for :func:`open` (``r``, ``w``, ``a``, ``x``, ``+``; always binary)."""
        from .file import SFTPClientFile

        pflags = codec.open_flags_for_mode(mode)
        handle = await self._open_handle(path, pflags, attrs)
        f = SFTPClientFile(self, handle, _path_str(path), pflags, mode)
        if pflags & codec.OpenFlags.APPEND:
            try:
                f._pos = (await f.stat()).st_size or 0  # noqa: SLF001 - paramiko starts appends at the end
            except BaseException:
                await f.close()
                raise
        return f

    async def fstat(self, handle: bytes) -> SFTPAttributes:
        """Attributes of an open handle."""
        kind, payload = await self._request(FXP.FSTAT, string(handle))
        return codec.decode_attrs_reply(self._expect(kind, payload, FXP.ATTRS, "FSTAT", None))

    async def fsetstat(self, handle: bytes, attrs: SFTPAttributes) -> None:
        """Change attributes of an open handle."""
        await self._status_request(FXP.FSETSTAT, None, string(handle), attrs.asbytes())

    # -- metadata -----------------------------------------------------------------------

    async def stat(self, path: PathType) -> SFTPAttributes:
        """Attributes of ``path``, following symbolic links."""
        kind, payload = await self._request(FXP.STAT, encode_path(path))
        return codec.decode_attrs_reply(self._expect(kind, payload, FXP.ATTRS, "STAT", _path_str(path)))

    async def lstat(self, path: PathType) -> SFTPAttributes:
        """Attributes of ``path`` itself (a symbolic link is not followed)."""
        kind, payload = await self._request(FXP.LSTAT, encode_path(path))
        return codec.decode_attrs_reply(self._expect(kind, payload, FXP.ATTRS, "LSTAT", _path_str(path)))

    async def setstat(self, path: PathType, attrs: SFTPAttributes) -> None:
        """Change attributes of ``path`` (fields left ``None`` are unchanged)."""
        await self._status_request(FXP.SETSTAT, _path_str(path), encode_path(path), attrs.asbytes())

    async def lsetstat(self, path: PathType, attrs: SFTPAttributes) -> None:
        """Like :meth:`setstat` without following a final symbolic link (``lsetstat@openssh.com``)."""
        await self._extended_status("lsetstat@openssh.com", _path_str(path), encode_path(path), attrs.asbytes())

    async def chmod(self, path: PathType, mode: int) -> None:
        """Change the permission bits."""
        attrs = SFTPAttributes()
        attrs.st_mode = mode
        await self.setstat(path, attrs)

    async def chown(self, path: PathType, uid: int, gid: int) -> None:
        """Change the owner and group."""
        attrs = SFTPAttributes()
        attrs.st_uid, attrs.st_gid = uid, gid
        await self.setstat(path, attrs)

    async def utime(self, path: PathType, times: tuple[float, float] | None) -> None:
        """Set ``(atime, mtime)``; ``None`` means now (the local clock)."""
        if times is None:
            import time

            now = time.time()
            times = (now, now)
        attrs = SFTPAttributes()
        attrs.st_atime, attrs.st_mtime = int(times[0]), int(times[1])
        await self.setstat(path, attrs)

    async def truncate(self, path: PathType, size: int) -> None:
        """Change the size of a file."""
        attrs = SFTPAttributes()
        attrs.st_size = size
        await self.setstat(path, attrs)

    async def exists(self, path: PathType) -> bool:
        """True if ``path`` exists (following links)."""
        try:
            await self.stat(path)
        except FileNotFoundError:
            return False
        return True

    async def isdir(self, path: PathType) -> bool:
        """True if ``path`` is a directory (following links)."""
        try:
            attrs = await self.stat(path)
        except FileNotFoundError:
            return False
        return attrs.st_mode is not None and _stat.S_ISDIR(attrs.st_mode)

    async def isfile(self, path: PathType) -> bool:
        """True if ``path`` is a regular file (following links)."""
        try:
            attrs = await self.stat(path)
        except FileNotFoundError:
            return False
        return attrs.st_mode is not None and _stat.S_ISREG(attrs.st_mode)

    # -- directories ------------------------------------------------------------------------

    async def readdir(self, path: PathType = ".") -> list[SFTPAttributes]:
        """Every entry of a directory (``.`` and ``..`` included when the server sends them), with ``filename``."""
        kind, payload = await self._request(FXP.OPENDIR, encode_path(path))
        handle = codec.decode_handle(self._expect(kind, payload, FXP.HANDLE, "OPENDIR", _path_str(path)))
        entries: list[SFTPAttributes] = []
        try:
            while True:
                kind, payload = await self._request(FXP.READDIR, string(handle))
                if kind == FXP.STATUS:
                    code, message, _ = codec.decode_status(payload)
                    if code == FX.EOF:
                        break
                    raise codec.status_error(code, message, _path_str(path))
                entries.extend(codec.decode_names(self._expect(kind, payload, FXP.NAME, "READDIR", None)))
        finally:
            if self._error is None:
                await self._close_handle(handle)
        return entries

    async def listdir_attr(self, path: PathType = ".") -> list[SFTPAttributes]:
        """The entries of a directory without ``.`` and ``..``, each with ``filename`` and ``longname``."""
        return [e for e in await self.readdir(path) if e.filename not in (".", "..")]

    async def listdir(self, path: PathType = ".") -> list[str]:
        """The names in a directory, without ``.`` and ``..`` (in the server's order)."""
        return [e.filename for e in await self.listdir_attr(path)]

    async def mkdir(self, path: PathType, mode: int = 0o777) -> None:
        """Create a directory."""
        attrs = SFTPAttributes()
        attrs.st_mode = mode
        await self._status_request(FXP.MKDIR, _path_str(path), encode_path(path), attrs.asbytes())

    async def makedirs(self, path: PathType, mode: int = 0o777, exist_ok: bool = False) -> None:
        """Create a directory and any missing parents."""
        text = _path_str(path)
        parts = [p for p in text.split("/") if p]
        current = "/" if text.startswith("/") else ""
        for i, part in enumerate(parts):
            current = posixpath.join(current, part) if current else part
            try:
                attrs = await self.stat(current)
            except FileNotFoundError:
                await self.mkdir(current, mode)
                continue
            if attrs.st_mode is not None and not _stat.S_ISDIR(attrs.st_mode):
                raise codec.status_error(FX.FAILURE, "not a directory", current)
            if i == len(parts) - 1 and not exist_ok:
                raise FileExistsError(17, "directory exists", text)

    async def rmdir(self, path: PathType) -> None:
        """Remove an empty directory."""
        await self._status_request(FXP.RMDIR, _path_str(path), encode_path(path))

    async def rmtree(self, path: PathType) -> None:
        """Remove a directory and everything below it (symbolic links are removed, not followed)."""
        for entry in await self.listdir_attr(path):
            child = posixpath.join(_path_str(path), entry.filename)
            if entry.st_mode is not None and _stat.S_ISDIR(entry.st_mode):
                await self.rmtree(child)
            else:
                await self.remove(child)
        await self.rmdir(path)

    # -- names ---------------------------------------------------------------------------------

    async def remove(self, path: PathType) -> None:
        """Remove a file."""
        await self._status_request(FXP.REMOVE, _path_str(path), encode_path(path))

    unlink = remove

    async def rename(self, oldpath: PathType, newpath: PathType) -> None:
        """Rename (SFTP v3 semantics: the server may refuse when ``newpath`` exists)."""
        await self._status_request(FXP.RENAME, _path_str(oldpath), encode_path(oldpath), encode_path(newpath))

    async def posix_rename(self, oldpath: PathType, newpath: PathType) -> None:
        """Rename, replacing ``newpath`` (``posix-rename@openssh.com``)."""
        await self._extended_status(
            "posix-rename@openssh.com", _path_str(oldpath), encode_path(oldpath), encode_path(newpath)
        )

    async def symlink(self, target: PathType, linkpath: PathType) -> None:
        """Create ``linkpath`` pointing to ``target``.

        On the wire the arguments go in OpenSSH's order (target first), as
        OpenSSH's and paramiko's clients send them, except to servers that
        expect the draft's order from us (AsyncSSH).
        """
        if self._draft_symlink:
            await self._status_request(FXP.SYMLINK, _path_str(linkpath), encode_path(linkpath), encode_path(target))
        else:
            await self._status_request(FXP.SYMLINK, _path_str(linkpath), encode_path(target), encode_path(linkpath))

    async def link(self, oldpath: PathType, newpath: PathType) -> None:
        """Create a hard link ``newpath`` to ``oldpath`` (``hardlink@openssh.com``)."""
        await self._extended_status(
            "hardlink@openssh.com", _path_str(newpath), encode_path(oldpath), encode_path(newpath)
        )

    hardlink = link

    async def readlink(self, path: PathType) -> str:
        """The target of a symbolic link."""
        kind, payload = await self._request(FXP.READLINK, encode_path(path))
        names = codec.decode_names(self._expect(kind, payload, FXP.NAME, "READLINK", _path_str(path)))
        if len(names) != 1:
            raise SFTPError(f"READLINK returned {len(names)} names")
        return names[0].filename

    async def realpath(self, path: PathType = ".") -> str:
        """The server's canonical absolute form of ``path``."""
        kind, payload = await self._request(FXP.REALPATH, encode_path(path))
        names = codec.decode_names(self._expect(kind, payload, FXP.NAME, "REALPATH", _path_str(path)))
        if len(names) != 1:
            raise SFTPError(f"REALPATH returned {len(names)} names")
        return names[0].filename

    async def expand_path(self, path: PathType) -> str:
        """Expand ``~`` and ``~user`` prefixes and make ``path`` absolute (``expand-path@openssh.com``)."""
        kind, payload = await self._extended("expand-path@openssh.com", encode_path(path))
        names = codec.decode_names(self._expect(kind, payload, FXP.NAME, "expand-path", _path_str(path)))
        if len(names) != 1:
            raise SFTPError(f"expand-path returned {len(names)} names")
        return names[0].filename

    # -- extensions ----------------------------------------------------------------------------------

    async def get_limits(self) -> SFTPLimits:
        """The server's ``limits@openssh.com`` reply."""
        kind, payload = await self._extended("limits@openssh.com")
        return codec.decode_limits(self._expect(kind, payload, FXP.EXTENDED_REPLY, "limits", None))

    async def statvfs(self, path: PathType) -> SFTPVFSAttributes:
        """File system statistics for ``path`` (``statvfs@openssh.com``)."""
        kind, payload = await self._extended("statvfs@openssh.com", encode_path(path))
        return codec.decode_statvfs(self._expect(kind, payload, FXP.EXTENDED_REPLY, "statvfs", _path_str(path)))

    async def fstatvfs(self, handle: bytes) -> SFTPVFSAttributes:
        """File system statistics for an open handle (``fstatvfs@openssh.com``)."""
        kind, payload = await self._extended("fstatvfs@openssh.com", string(handle))
        return codec.decode_statvfs(self._expect(kind, payload, FXP.EXTENDED_REPLY, "fstatvfs", None))

    async def fsync(self, handle: bytes) -> None:
        """Flush an open handle to stable storage on the server (``fsync@openssh.com``)."""
        await self._extended_status("fsync@openssh.com", None, string(handle))

    async def copy_data(
        self, read_handle: bytes, read_offset: int, length: int, write_handle: bytes, write_offset: int
    ) -> None:
        """Copy bytes between two open handles on the server (``copy-data``; length 0 copies to end of file)."""
        await self._extended_status(
            "copy-data",
            None,
            string(read_handle),
            u64(read_offset),
            u64(length),
            string(write_handle),
            u64(write_offset),
        )

    async def remote_copy(self, srcpath: PathType, dstpath: PathType) -> None:
        """Copy a file on the server without moving its bytes over the network (``copy-data``)."""
        src = await self._open_handle(srcpath, codec.OpenFlags.READ)
        try:
            dst = await self._open_handle(
                dstpath, codec.OpenFlags.WRITE | codec.OpenFlags.CREAT | codec.OpenFlags.TRUNC
            )
            try:
                await self.copy_data(src, 0, 0, dst, 0)
            finally:
                await self._close_handle(dst)
        finally:
            await self._close_handle(src)

    # -- bulk transfers (implemented in transfer.py) --------------------------------------------------

    async def get(self, remotepath: PathType, localpath: Any, **kwargs: Any) -> int:
        """Download a file (or with ``recursive=True`` a tree); see :func:`blockssh.sftp.bulk.get`."""
        from . import bulk

        return await bulk.get(self, remotepath, localpath, **kwargs)

    async def put(self, localpath: Any, remotepath: PathType, **kwargs: Any) -> SFTPAttributes:
        """Upload a file (or with ``recursive=True`` a tree); see :func:`blockssh.sftp.bulk.put`."""
        from . import bulk

        return await bulk.put(self, localpath, remotepath, **kwargs)

    async def glob(self, pattern: str) -> list[str]:
        """Remote paths matching a shell pattern (``*``, ``?``, ``[...]`` per component, ``**`` for any depth)."""
        from . import bulk

        return await bulk.glob(self, pattern)


async def start_sftp_client(
    conn: SSHClientConnection,
    *,
    window: int = DEFAULT_WINDOW,
    max_packet: int = DEFAULT_CHANNEL_MAX_PACKET,
    max_packet_length: int = codec.DEFAULT_MAX_PACKET_LENGTH,
    request_timeout: float | None = None,
    init_timeout: float | None = DEFAULT_INIT_TIMEOUT,
) -> SFTPClient:
    """Open an ``sftp`` subsystem channel on ``conn`` and negotiate SFTP version 3.

    ``window`` and ``max_packet`` are the SSH channel's receive window and
    largest accepted data packet; ``max_packet_length`` the largest SFTP
    packet accepted; ``request_timeout`` bounds every request (and, for
    transfers, the time without progress): :class:`SSHTimeoutError` after
    it. ``init_timeout`` bounds the subsystem start and version exchange.
    """
    max_packet = min(max_packet, conn._core.channels._max_data)  # noqa: SLF001 - the transport's own cap
    session = _SFTPChannelSession()
    chan, _ = await conn.open_session(lambda: session, window=window, max_packet=max_packet, timeout=init_timeout)
    try:
        if init_timeout is None:
            ok = await chan.request_subsystem("sftp")
        else:
            try:
                ok = await asyncio.wait_for(chan.request_subsystem("sftp"), init_timeout)
            except asyncio.TimeoutError:
                raise SSHTimeoutError(f"the sftp subsystem did not start within {init_timeout:g} s") from None
        if not ok:
            raise SFTPError("the server refused to start the sftp subsystem")
        client = SFTPClient(chan, session, max_packet_length=max_packet_length, request_timeout=request_timeout)
        await client._initialize(init_timeout)  # noqa: SLF001
    except BaseException:
        chan.abort()
        raise
    return client
