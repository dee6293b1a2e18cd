"""An SFTP version 3 server over a local directory: :class:`SFTPServerSession`.

The session serves the file system below ``root``, which clients see as
``/``. Every path is resolved on the server: ``..`` cannot climb above the
root, and a path whose real location (after following symbolic links) lies
outside it is refused with PERMISSION_DENIED, whether the link was made by
a client or already existed. Symbolic links a client creates with an
absolute target are stored relative to the root's real location and shown
back as client paths by READLINK. (A process that swaps directories for
links *while* a request runs could race the check; serve trees that no
untrusted local user can modify.)

Attach it to a server channel as the ``sftp`` subsystem: return it from
``SSHServer.session_requested()`` (it accepts only the ``sftp`` subsystem),
or give ``sftp_factory(root)`` to the ready server's subsystem table.
Filesystem calls run on the event loop thread; requests are answered in
order. Limits (each with a default): :data:`DEFAULT_MAX_HANDLES` open
handles per session, :data:`DEFAULT_MAX_READ_LENGTH` bytes per READ reply
(also announced by ``limits@openssh.com``), :data:`DEFAULT_NAMES_PER_READDIR`
entries per READDIR reply, and the SFTP packet length cap.
"""

from __future__ import annotations

import errno
import grp
import logging
import os
import posixpath
import pwd
import stat as _stat
import struct
import time
from collections.abc import Callable, Iterator
from typing import Any

from ..aio.session import SSHServerSession
from ..exceptions import PacketDecodeError, SFTPError
from ..proto.wire import Reader
from . import codec
from .attrs import SFTPAttributes, SFTPVFSAttributes, decode_attrs, format_longname
from .codec import FX, FXP, OpenFlags

__all__ = [
    "SFTPServerSession",
    "sftp_factory",
    "DEFAULT_MAX_HANDLES",
    "DEFAULT_MAX_READ_LENGTH",
    "DEFAULT_MAX_WRITE_LENGTH",
    "DEFAULT_NAMES_PER_READDIR",
    "DEFAULT_SERVER_MAX_PACKET_LENGTH",
]

logger = logging.getLogger("blockssh.sftp")

DEFAULT_MAX_HANDLES = 256  # open files and directories per session
DEFAULT_SERVER_MAX_PACKET_LENGTH = 256 * 1024 + 1024  # largest request accepted (announced as 256 KiB)
DEFAULT_MAX_READ_LENGTH = 256 * 1024 - 1024  # bytes per READ reply (OpenSSH's 255 KiB)
DEFAULT_MAX_WRITE_LENGTH = 256 * 1024 - 1024  # announced largest WRITE
DEFAULT_NAMES_PER_READDIR = 100
_ANNOUNCED_MAX_PACKET = 256 * 1024
_COPY_CHUNK = 1024 * 1024

EXTENSIONS: tuple[tuple[str, bytes], ...] = (
    ("posix-rename@openssh.com", b"1"),
    ("statvfs@openssh.com", b"2"),
    ("fstatvfs@openssh.com", b"2"),
    ("hardlink@openssh.com", b"1"),
    ("fsync@openssh.com", b"1"),
    ("lsetstat@openssh.com", b"1"),
    ("limits@openssh.com", b"1"),
    ("expand-path@openssh.com", b"1"),
    ("copy-data", b"1"),
)

_ERRNO_STATUS = {
    errno.ENOENT: FX.NO_SUCH_FILE,
    errno.ENOTDIR: FX.NO_SUCH_FILE,
    errno.EBADF: FX.NO_SUCH_FILE,
    errno.ELOOP: FX.NO_SUCH_FILE,
    errno.EPERM: FX.PERMISSION_DENIED,
    errno.EACCES: FX.PERMISSION_DENIED,
    errno.EFAULT: FX.PERMISSION_DENIED,
    errno.EROFS: FX.PERMISSION_DENIED,
    errno.ENAMETOOLONG: FX.BAD_MESSAGE,
    errno.EINVAL: FX.BAD_MESSAGE,
    errno.ENOSYS: FX.OP_UNSUPPORTED,
    errno.EOPNOTSUPP: FX.OP_UNSUPPORTED,
}


class _Reply(Exception):
    """Raised by a handler to answer with a status."""

    def __init__(self, code: int, message: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _Escape(_Reply):
    def __init__(self, path: str) -> None:
        super().__init__(FX.PERMISSION_DENIED, f"{path}: outside the served directory")


class _Dir:
    __slots__ = ("path", "entries")

    def __init__(self, path: str, entries: Iterator[str]) -> None:
        self.path = path
        self.entries = entries


class SFTPServerSession(SSHServerSession[bytes]):
    """Serves the local directory ``root`` over one SFTP session.

    Args:
        root: The directory clients see as ``/``.
        readonly: Refuse every request that would change the file system.
        max_handles: Open files and directories allowed at once.
        max_read_length: Largest READ answered (longer reads return this much).
        max_packet_length: Largest request packet accepted; a longer one ends the session.
        umask: Applied to the modes of files and directories clients create.
    """

    accepts_buffers = True

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        readonly: bool = False,
        max_handles: int = DEFAULT_MAX_HANDLES,
        max_read_length: int = DEFAULT_MAX_READ_LENGTH,
        max_packet_length: int = DEFAULT_SERVER_MAX_PACKET_LENGTH,
        umask: int = 0o022,
    ) -> None:
        self.root = os.path.realpath(os.fspath(root))
        if not os.path.isdir(self.root):
            raise NotADirectoryError(errno.ENOTDIR, "SFTP root is not a directory", self.root)
        self.readonly = readonly
        self.max_handles = max_handles
        self.max_read_length = max_read_length
        self.umask = umask
        self._reader = codec.PacketReader(max_packet_length)
        self._chan: Any = None
        self._draft_symlink = False
        self._initialized = False
        self._handles: dict[bytes, int | _Dir] = {}
        self._next_handle = 0
        self._out: list[bytes] = []
        self._closed = False
        self._names: dict[tuple[str, int], str] = {}
        self._handlers: dict[int, Callable[[int, Reader], bytes | None]] = {
            FXP.OPEN: self._open,
            FXP.CLOSE: self._close,
            FXP.READ: self._read,
            FXP.WRITE: self._write,
            FXP.LSTAT: self._lstat,
            FXP.FSTAT: self._fstat,
            FXP.STAT: self._stat,
            FXP.SETSTAT: self._setstat,
            FXP.FSETSTAT: self._fsetstat,
            FXP.OPENDIR: self._opendir,
            FXP.READDIR: self._readdir,
            FXP.REMOVE: self._remove,
            FXP.MKDIR: self._mkdir,
            FXP.RMDIR: self._rmdir,
            FXP.REALPATH: self._realpath,
            FXP.RENAME: self._rename,
            FXP.READLINK: self._readlink,
            FXP.SYMLINK: self._symlink,
            FXP.EXTENDED: self._extended,
        }
        self._extended_handlers: dict[str, Callable[[int, Reader], bytes | None]] = {
            "posix-rename@openssh.com": self._posix_rename,
            "statvfs@openssh.com": self._statvfs,
            "fstatvfs@openssh.com": self._fstatvfs,
            "hardlink@openssh.com": self._hardlink,
            "fsync@openssh.com": self._fsync,
            "lsetstat@openssh.com": self._lsetstat,
            "limits@openssh.com": self._limits,
            "expand-path@openssh.com": self._expand_path,
            "copy-data": self._copy_data,
        }

    # -- session callbacks ------------------------------------------------------------

    def connection_made(self, chan: Any) -> None:
        """Keep the channel (and learn from the client's version which SYMLINK argument order it uses)."""
        self._chan = chan
        try:
            version = chan.get_extra_info("client_version")
        except Exception:  # noqa: BLE001 - a channel without connection details
            version = None
        self._draft_symlink = codec.symlink_in_draft_order(version if isinstance(version, str) else None)

    def subsystem_requested(self, subsystem: str) -> bool:
        """Accept only ``sftp``."""
        return subsystem == "sftp"

    def data_received(self, data: bytes, datatype: int | None) -> None:
        """Answer every complete request in ``data``; replies go out in one write."""
        if datatype is not None or self._closed:
            return
        try:
            payloads = self._reader.feed(data)
        except SFTPError as exc:
            self._abort(str(exc))
            return
        for payload in payloads:
            try:
                reply = self._dispatch(payload if isinstance(payload, bytes) else payload.join())
            except SFTPError as exc:
                self._abort(str(exc))
                return
            if reply is not None:
                self._out.append(reply)
        if self._out and self._chan is not None and not self._closed:
            out, self._out = self._out, []
            self._chan.write(out[0] if len(out) == 1 else b"".join(out))

    def eof_received(self) -> bool:
        """The client is done: release every handle, report exit status 0 and close the channel."""
        self._release_all()
        self._closed = True
        if self._chan is not None and hasattr(self._chan, "exit"):
            self._chan.exit(0)
        elif self._chan is not None:
            self._chan.close()
        return True

    def pause_writing(self) -> None:
        """Replies are backing up: stop reading requests until they drain."""
        if self._chan is not None:
            self._chan.pause_reading()

    def resume_writing(self) -> None:
        """Replies drained: read requests again."""
        if self._chan is not None:
            self._chan.resume_reading()

    def connection_lost(self, exc: BaseException | None) -> None:
        """Release every handle."""
        self._closed = True
        self._release_all()

    def _abort(self, reason: str) -> None:
        logger.info("closing SFTP session: %s", reason)
        self._closed = True
        self._release_all()
        if self._chan is not None:
            self._chan.close()

    def _release_all(self) -> None:
        for obj in self._handles.values():
            if isinstance(obj, int):
                try:
                    os.close(obj)
                except OSError:
                    pass
        self._handles.clear()

    # -- dispatch ------------------------------------------------------------------------

    def _dispatch(self, payload: bytes) -> bytes | None:
        kind = payload[0]
        if not self._initialized:
            if kind != FXP.INIT:
                raise SFTPError(f"expected SSH_FXP_INIT, got {codec.reply_type_name(kind)}")
            version, _ = codec.decode_version(payload, FXP.INIT)
            if version < codec.SFTP_VERSION:
                raise SFTPError(f"the client speaks SFTP version {version}; only 3 is supported")
            self._initialized = True
            return codec.encode_version(codec.SFTP_VERSION, EXTENSIONS)
        if len(payload) < 5:
            raise SFTPError(f"SFTP request of {len(payload)} bytes has no request id")
        kind, request_id = codec.header(payload)
        handler = self._handlers.get(kind)
        if handler is None:
            return codec.encode_status(request_id, FX.OP_UNSUPPORTED, f"unsupported request type {kind}")
        try:
            return handler(request_id, Reader(payload, 5))
        except _Reply as reply:
            return codec.encode_status(request_id, reply.code, reply.message)
        except PacketDecodeError as exc:
            return codec.encode_status(request_id, FX.BAD_MESSAGE, f"malformed request: {exc}")
        except OSError as exc:
            code = _ERRNO_STATUS.get(exc.errno or 0, FX.FAILURE)
            return codec.encode_status(request_id, code, exc.strerror or str(exc))
        except (ValueError, OverflowError) as exc:
            return codec.encode_status(request_id, FX.BAD_MESSAGE, str(exc))

    # -- paths --------------------------------------------------------------------------------

    @staticmethod
    def _text(raw: bytes) -> str:
        if b"\x00" in raw:
            raise _Reply(FX.BAD_MESSAGE, "NUL byte in path")
        return raw.decode("utf-8", "surrogateescape")

    def _virtual(self, raw: bytes) -> str:
        """The normalized client path (``/``-based; ``..`` never climbs above ``/``)."""
        return posixpath.normpath(posixpath.join("/", self._text(raw) or "."))

    def _inside(self, real: str) -> bool:
        return real == self.root or real.startswith(self.root.rstrip(os.sep) + os.sep)

    def _local(self, raw: bytes, *, follow: bool = True) -> str:
        """The local path for a client path, refusing anything whose real location is outside the root."""
        virtual = self._virtual(raw)
        local = os.path.join(self.root, virtual.lstrip("/"))
        if follow or virtual == "/":
            real = os.path.realpath(local)
            if not self._inside(real):
                raise _Escape(virtual)
            return real
        parent = os.path.realpath(os.path.dirname(local))
        if not self._inside(parent):
            raise _Escape(virtual)
        return os.path.join(parent, os.path.basename(local))

    def _to_virtual(self, real: str) -> str:
        if not self._inside(real):
            raise _Escape(real)
        rel = os.path.relpath(real, self.root)
        return "/" if rel == "." else "/" + rel.replace(os.sep, "/")

    def _check_writable(self) -> None:
        if self.readonly:
            raise _Reply(FX.PERMISSION_DENIED, "read-only server")

    # -- handles --------------------------------------------------------------------------------

    def _new_handle(self, obj: int | _Dir) -> bytes:
        if len(self._handles) >= self.max_handles:
            if isinstance(obj, int):
                os.close(obj)
            raise _Reply(FX.FAILURE, f"too many open handles (limit {self.max_handles})")
        self._next_handle += 1
        handle = struct.pack(">Q", self._next_handle)
        self._handles[handle] = obj
        return handle

    def _fd(self, r: Reader) -> int:
        obj = self._handles.get(r.get_string())
        if not isinstance(obj, int):
            raise _Reply(FX.FAILURE, "invalid file handle")
        return obj

    # -- attributes -------------------------------------------------------------------------------

    def _name_of(self, table: str, ident: int) -> str:
        key = (table, ident)
        name = self._names.get(key)
        if name is None:
            try:
                name = pwd.getpwuid(ident).pw_name if table == "u" else grp.getgrgid(ident).gr_name
            except KeyError:
                name = str(ident)
            if len(self._names) < 4096:
                self._names[key] = name
        return name

    def _longname(self, attrs: SFTPAttributes, name: str, st: os.stat_result) -> str:
        return format_longname(
            attrs,
            name,
            owner=self._name_of("u", st.st_uid),
            group=self._name_of("g", st.st_gid),
            nlink=st.st_nlink,
            now=time.time(),
        )

    def _apply_attrs(self, target: str | int, attrs: SFTPAttributes, *, follow: bool = True) -> None:
        self._check_writable()
        if attrs.st_size is not None:
            os.truncate(target, attrs.st_size)
        if attrs.st_uid is not None and attrs.st_gid is not None:
            if isinstance(target, int):
                os.fchown(target, attrs.st_uid, attrs.st_gid)
            else:
                os.chown(target, attrs.st_uid, attrs.st_gid, follow_symlinks=follow)
        if attrs.st_mode is not None:
            mode = _stat.S_IMODE(attrs.st_mode)
            if isinstance(target, int):
                os.fchmod(target, mode)
            elif follow:
                os.chmod(target, mode)
            elif not os.path.islink(target):
                os.chmod(target, mode)
            else:
                raise _Reply(FX.OP_UNSUPPORTED, "cannot change the mode of a symbolic link")
        if attrs.st_atime is not None and attrs.st_mtime is not None:
            times = (attrs.st_atime, attrs.st_mtime)
            if isinstance(target, int):
                os.utime(target, times)
            else:
                os.utime(target, times, follow_symlinks=follow)

    # -- requests -------------------------------------------------------------------------------

    def _open(self, request_id: int, r: Reader) -> bytes:
        raw = r.get_string()
        pflags = r.get_uint32()
        attrs = decode_attrs(r)
        if pflags & (OpenFlags.WRITE | OpenFlags.CREAT | OpenFlags.TRUNC | OpenFlags.APPEND):
            self._check_writable()
        path = self._local(raw)
        if pflags & OpenFlags.READ and pflags & OpenFlags.WRITE:
            flags = os.O_RDWR
        elif pflags & OpenFlags.WRITE:
            flags = os.O_WRONLY
        else:
            flags = os.O_RDONLY
        if pflags & OpenFlags.APPEND:
            flags |= os.O_APPEND
        if pflags & OpenFlags.CREAT:
            flags |= os.O_CREAT
            if pflags & OpenFlags.TRUNC:
                flags |= os.O_TRUNC
            if pflags & OpenFlags.EXCL:
                flags |= os.O_EXCL
        elif pflags & OpenFlags.TRUNC:
            flags |= os.O_TRUNC
        mode = _stat.S_IMODE(attrs.st_mode) if attrs.st_mode is not None else 0o666
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode & ~self.umask)
        return codec.encode_handle(request_id, self._new_handle(fd))

    def _close(self, request_id: int, r: Reader) -> bytes:
        obj = self._handles.pop(r.get_string(), None)
        if obj is None:
            raise _Reply(FX.FAILURE, "invalid handle")
        if isinstance(obj, int):
            os.close(obj)
        return codec.encode_status(request_id, FX.OK)

    def _read(self, request_id: int, r: Reader) -> bytes:
        fd = self._fd(r)
        offset = r.get_uint64()
        length = min(r.get_uint32(), self.max_read_length)
        data = os.pread(fd, length, offset)
        if not data and length:
            return codec.encode_status(request_id, FX.EOF)
        return codec.data_header(FXP.DATA, request_id, b"", len(data)) + data

    def _write(self, request_id: int, r: Reader) -> bytes:
        fd = self._fd(r)
        offset = r.get_uint64()
        data = r.get_string_view()
        while data:
            n = os.pwrite(fd, data, offset)
            data = data[n:]
            offset += n
        return codec.encode_status(request_id, FX.OK)

    def _attrs_reply(self, request_id: int, st: os.stat_result) -> bytes:
        return codec.encode_attrs(request_id, SFTPAttributes.from_stat(st))

    def _stat(self, request_id: int, r: Reader) -> bytes:
        return self._attrs_reply(request_id, os.stat(self._local(r.get_string())))

    def _lstat(self, request_id: int, r: Reader) -> bytes:
        return self._attrs_reply(request_id, os.lstat(self._local(r.get_string(), follow=False)))

    def _fstat(self, request_id: int, r: Reader) -> bytes:
        return self._attrs_reply(request_id, os.fstat(self._fd(r)))

    def _setstat(self, request_id: int, r: Reader) -> bytes:
        path = self._local(r.get_string())
        self._apply_attrs(path, decode_attrs(r))
        return codec.encode_status(request_id, FX.OK)

    def _lsetstat(self, request_id: int, r: Reader) -> bytes:
        path = self._local(r.get_string(), follow=False)
        self._apply_attrs(path, decode_attrs(r), follow=False)
        return codec.encode_status(request_id, FX.OK)

    def _fsetstat(self, request_id: int, r: Reader) -> bytes:
        fd = self._fd(r)
        self._apply_attrs(fd, decode_attrs(r))
        return codec.encode_status(request_id, FX.OK)

    def _opendir(self, request_id: int, r: Reader) -> bytes:
        path = self._local(r.get_string())
        if not os.path.isdir(path):
            raise OSError(errno.ENOTDIR, "Not a directory")
        names = [".", "..", *sorted(os.listdir(path))]
        return codec.encode_handle(request_id, self._new_handle(_Dir(path, iter(names))))

    def _readdir(self, request_id: int, r: Reader) -> bytes:
        obj = self._handles.get(r.get_string())
        if not isinstance(obj, _Dir):
            raise _Reply(FX.FAILURE, "invalid directory handle")
        entries: list[tuple[str, str, SFTPAttributes]] = []
        for name in obj.entries:
            try:
                st = os.lstat(os.path.join(obj.path, name))
            except OSError:
                continue  # removed meanwhile
            attrs = SFTPAttributes.from_stat(st)
            entries.append((name, self._longname(attrs, name, st), attrs))
            if len(entries) >= DEFAULT_NAMES_PER_READDIR:
                break
        if not entries:
            return codec.encode_status(request_id, FX.EOF)
        return codec.encode_names(request_id, entries)

    def _remove(self, request_id: int, r: Reader) -> bytes:
        self._check_writable()
        path = self._local(r.get_string(), follow=False)
        if os.path.isdir(path) and not os.path.islink(path):
            raise OSError(errno.EISDIR, "Is a directory")
        os.remove(path)
        return codec.encode_status(request_id, FX.OK)

    def _mkdir(self, request_id: int, r: Reader) -> bytes:
        self._check_writable()
        path = self._local(r.get_string(), follow=False)
        attrs = decode_attrs(r)
        mode = _stat.S_IMODE(attrs.st_mode) if attrs.st_mode is not None else 0o777
        os.mkdir(path, mode & ~self.umask)
        return codec.encode_status(request_id, FX.OK)

    def _rmdir(self, request_id: int, r: Reader) -> bytes:
        self._check_writable()
        path = self._local(r.get_string(), follow=False)
        if path == self.root:
            raise _Reply(FX.PERMISSION_DENIED, "cannot remove the served directory")
        os.rmdir(path)
        return codec.encode_status(request_id, FX.OK)

    def _name_reply(self, request_id: int, name: str) -> bytes:
        return codec.encode_names(request_id, [(name, name, SFTPAttributes())])

    def _realpath(self, request_id: int, r: Reader) -> bytes:
        real = os.path.realpath(os.path.join(self.root, self._virtual(r.get_string()).lstrip("/")))
        return self._name_reply(request_id, self._to_virtual(real))

    def _expand_path(self, request_id: int, r: Reader) -> bytes:
        text = self._text(r.get_string())
        if text == "~" or text.startswith("~/"):
            text = "/" + text[2:]  # the served root is the home directory
        elif text.startswith("~"):
            raise _Reply(FX.NO_SUCH_FILE, "no home directories of other users here")
        real = os.path.realpath(os.path.join(self.root, self._virtual(text.encode("utf-8", "surrogateescape"))[1:]))
        return self._name_reply(request_id, self._to_virtual(real))

    def _rename(self, request_id: int, r: Reader) -> bytes:
        self._check_writable()
        old = self._local(r.get_string(), follow=False)
        new = self._local(r.get_string(), follow=False)
        if os.path.lexists(new):
            raise _Reply(FX.FAILURE, "target exists")
        os.rename(old, new)
        return codec.encode_status(request_id, FX.OK)

    def _posix_rename(self, request_id: int, r: Reader) -> bytes:
        self._check_writable()
        old = self._local(r.get_string(), follow=False)
        new = self._local(r.get_string(), follow=False)
        os.replace(old, new)
        return codec.encode_status(request_id, FX.OK)

    def _readlink(self, request_id: int, r: Reader) -> bytes:
        target = os.readlink(self._local(r.get_string(), follow=False))
        if os.path.isabs(target):
            normalized = os.path.normpath(target)
            if self._inside(normalized):
                target = self._to_virtual(normalized)
        return self._name_reply(request_id, target)

    def _symlink(self, request_id: int, r: Reader) -> bytes:
        self._check_writable()
        first, second = r.get_string(), r.get_string()
        if self._draft_symlink:  # the draft's order: the link, then its target
            first, second = second, first
        target = self._text(first)  # OpenSSH's order: target first, then the link
        link = self._local(second, follow=False)
        if target.startswith("/"):
            target = os.path.join(self.root, posixpath.normpath(target).lstrip("/"))
        os.symlink(target, link)
        return codec.encode_status(request_id, FX.OK)

    def _hardlink(self, request_id: int, r: Reader) -> bytes:
        self._check_writable()
        old = self._local(r.get_string(), follow=False)
        new = self._local(r.get_string(), follow=False)
        os.link(old, new, follow_symlinks=False)
        return codec.encode_status(request_id, FX.OK)

    def _fsync(self, request_id: int, r: Reader) -> bytes:
        os.fsync(self._fd(r))
        return codec.encode_status(request_id, FX.OK)

    def _statvfs(self, request_id: int, r: Reader) -> bytes:
        st = os.statvfs(self._local(r.get_string()))
        return codec.encode_extended_reply(request_id, SFTPVFSAttributes.from_statvfs(st).encode())

    def _fstatvfs(self, request_id: int, r: Reader) -> bytes:
        st = os.fstatvfs(self._fd(r))
        return codec.encode_extended_reply(request_id, SFTPVFSAttributes.from_statvfs(st).encode())

    def _limits(self, request_id: int, r: Reader) -> bytes:
        limits = codec.SFTPLimits(
            _ANNOUNCED_MAX_PACKET, self.max_read_length, DEFAULT_MAX_WRITE_LENGTH, self.max_handles
        )
        return codec.encode_extended_reply(request_id, limits.encode())

    def _copy_data(self, request_id: int, r: Reader) -> bytes:
        self._check_writable()
        src = self._fd(r)
        src_offset = r.get_uint64()
        length = r.get_uint64()
        dst = self._fd(r)
        dst_offset = r.get_uint64()
        remaining = length if length else None
        while remaining is None or remaining > 0:
            want = _COPY_CHUNK if remaining is None else min(_COPY_CHUNK, remaining)
            data = os.pread(src, want, src_offset)
            if not data:
                if remaining is not None:
                    raise _Reply(FX.EOF, "end of file before the requested length was copied")
                break
            view = memoryview(data)
            while view:
                n = os.pwrite(dst, view, dst_offset)
                view = view[n:]
                dst_offset += n
            src_offset += len(data)
            if remaining is not None:
                remaining -= len(data)
        return codec.encode_status(request_id, FX.OK)

    def _extended(self, request_id: int, r: Reader) -> bytes | None:
        name = r.get_string().decode("utf-8", "replace")
        handler = self._extended_handlers.get(name)
        if handler is None:
            return codec.encode_status(request_id, FX.OP_UNSUPPORTED, f"unsupported extension {name}")
        return handler(request_id, r)


def sftp_factory(root: str | os.PathLike[str], **options: Any) -> Callable[[], SFTPServerSession]:
    """A session factory serving ``root`` (options as :class:`SFTPServerSession`), for a subsystem table."""
    real = os.fspath(root)
    if not os.path.isdir(real):
        raise NotADirectoryError(errno.ENOTDIR, "SFTP root is not a directory", real)

    def make() -> SFTPServerSession:
        return SFTPServerSession(real, **options)

    return make
