"""File attributes of SFTP version 3 (draft-ietf-secsh-filexfer-02 section 5), sans I/O.

:class:`SFTPAttributes` has paramiko's names (``st_size``, ``st_uid``,
``st_gid``, ``st_mode``, ``st_atime``, ``st_mtime``, ``attr``, and
``filename``/``longname`` on directory entries), so code written for
paramiko reads it unchanged. :class:`SFTPVFSAttributes` is the reply of the
``statvfs@openssh.com`` extension.
"""

from __future__ import annotations

import stat as _stat
import struct
from dataclasses import dataclass
from typing import Any

from ..exceptions import PacketDecodeError, SFTPError
from ..proto.wire import Reader, string

__all__ = ["SFTPAttributes", "SFTPVFSAttributes", "format_longname", "decode_attrs"]

_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_U32X2 = struct.Struct(">II")
_MAX_EXTENDED_ATTRS = 1024  # extended name/value pairs accepted in one ATTRS block
_SIX_MONTHS = 182 * 24 * 3600
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _u32(value: float) -> int:
    """Clamp a value into the uint32 range of the v3 wire format (times before 1970 become 0)."""
    return min(max(int(value), 0), 0xFFFFFFFF)


class SFTPAttributes:
    """Attributes of a remote file, as ``stat``, ``listdir_attr`` and ``put`` return them.

    Fields the server did not send are ``None``. ``st_mode`` includes the file
    type bits, so ``stat.S_ISDIR(attrs.st_mode)`` works. Directory entries
    also have ``filename`` and ``longname`` (the server's ``ls -l`` line).
    """

    FLAG_SIZE = 0x00000001
    FLAG_UIDGID = 0x00000002
    FLAG_PERMISSIONS = 0x00000004
    FLAG_AMTIME = 0x00000008
    FLAG_EXTENDED = 0x80000000

    filename: str
    longname: str

    def __init__(self) -> None:
        """Create an empty attribute set (every field ``None``)."""
        self._flags = 0
        self.st_size: int | None = None
        self.st_uid: int | None = None
        self.st_gid: int | None = None
        self.st_mode: int | None = None
        self.st_atime: int | float | None = None
        self.st_mtime: int | float | None = None
        self.attr: dict[str, bytes] = {}

    # -- construction ---------------------------------------------------------

    @classmethod
    def from_stat(cls, obj: Any, filename: str | None = None) -> SFTPAttributes:
        """Build attributes from an ``os.stat_result`` (or anything with the same ``st_*`` fields)."""
        attrs = cls()
        attrs.st_size = obj.st_size
        attrs.st_uid = obj.st_uid
        attrs.st_gid = obj.st_gid
        attrs.st_mode = obj.st_mode
        attrs.st_atime = obj.st_atime
        attrs.st_mtime = obj.st_mtime
        if filename is not None:
            attrs.filename = filename
        return attrs

    # -- wire format ----------------------------------------------------------

    def _compute_flags(self) -> int:
        flags = 0
        if self.st_size is not None:
            flags |= self.FLAG_SIZE
        if self.st_uid is not None and self.st_gid is not None:
            flags |= self.FLAG_UIDGID
        if self.st_mode is not None:
            flags |= self.FLAG_PERMISSIONS
        if self.st_atime is not None and self.st_mtime is not None:
            flags |= self.FLAG_AMTIME
        if self.attr:
            flags |= self.FLAG_EXTENDED
        return flags

    def asbytes(self) -> bytes:
        """Encode as an SFTP ATTRS block (the fields that are set)."""
        flags = self._compute_flags()
        parts = [_U32.pack(flags)]
        if flags & self.FLAG_SIZE:
            parts.append(_U64.pack(min(max(int(self.st_size or 0), 0), (1 << 64) - 1)))
        if flags & self.FLAG_UIDGID:
            parts.append(_U32X2.pack(_u32(self.st_uid or 0), _u32(self.st_gid or 0)))
        if flags & self.FLAG_PERMISSIONS:
            parts.append(_U32.pack(_u32(self.st_mode or 0)))
        if flags & self.FLAG_AMTIME:
            parts.append(_U32X2.pack(_u32(self.st_atime or 0), _u32(self.st_mtime or 0)))
        if flags & self.FLAG_EXTENDED:
            parts.append(_U32.pack(len(self.attr)))
            for key, value in self.attr.items():
                parts.append(string(key))
                parts.append(string(value))
        return b"".join(parts)

    def __bytes__(self) -> bytes:
        return self.asbytes()

    # -- presentation ---------------------------------------------------------

    def _mode_string(self) -> str:
        if self.st_mode is None:
            return "?---------"
        return _stat.filemode(self.st_mode)

    def __str__(self) -> str:
        """An ``ls -l`` style line."""
        return format_longname(self, getattr(self, "filename", "?"))

    def __repr__(self) -> str:
        fields = []
        for name in ("st_size", "st_uid", "st_gid", "st_mode", "st_atime", "st_mtime"):
            value = getattr(self, name)
            if value is not None:
                fields.append(f"{name}={oct(value) if name == 'st_mode' else value}")
        if self.attr:
            fields.append(f"attr={self.attr!r}")
        if hasattr(self, "filename"):
            fields.append(f"filename={self.filename!r}")
        return f"<SFTPAttributes: {', '.join(fields)}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SFTPAttributes):
            return NotImplemented
        return all(
            getattr(self, n) == getattr(other, n)
            for n in ("st_size", "st_uid", "st_gid", "st_mode", "st_atime", "st_mtime", "attr")
        )

    __hash__ = None  # type: ignore[assignment]


def decode_attrs(r: Reader) -> SFTPAttributes:
    """Read an ATTRS block from ``r`` (raises :class:`SFTPError` when it is malformed)."""
    try:
        attrs = SFTPAttributes()
        flags = r.get_uint32()
        attrs._flags = flags  # noqa: SLF001 - kept for paramiko compatibility
        if flags & SFTPAttributes.FLAG_SIZE:
            attrs.st_size = r.get_uint64()
        if flags & SFTPAttributes.FLAG_UIDGID:
            attrs.st_uid = r.get_uint32()
            attrs.st_gid = r.get_uint32()
        if flags & SFTPAttributes.FLAG_PERMISSIONS:
            attrs.st_mode = r.get_uint32()
        if flags & SFTPAttributes.FLAG_AMTIME:
            attrs.st_atime = r.get_uint32()
            attrs.st_mtime = r.get_uint32()
        if flags & SFTPAttributes.FLAG_EXTENDED:
            count = r.get_uint32()
            if count > _MAX_EXTENDED_ATTRS:
                raise SFTPError(f"too many extended attributes ({count} > {_MAX_EXTENDED_ATTRS})")
            for _ in range(count):
                key = r.get_string().decode("utf-8", "surrogateescape")
                attrs.attr[key] = r.get_string()
    except PacketDecodeError as exc:
        raise SFTPError(f"malformed SFTP attributes: {exc}") from None
    return attrs


def format_longname(
    attrs: SFTPAttributes,
    filename: str,
    *,
    owner: str | None = None,
    group: str | None = None,
    nlink: int = 1,
    now: float | None = None,
) -> str:
    """An ``ls -l`` line for ``attrs`` (``now`` picks the time or the year column; None: always the time)."""
    user = owner if owner is not None else ("" if attrs.st_uid is None else str(attrs.st_uid))
    grp = group if group is not None else ("" if attrs.st_gid is None else str(attrs.st_gid))
    size = attrs.st_size if attrs.st_size is not None else 0
    if attrs.st_mtime is None:
        date = "            "
    else:
        mtime = int(attrs.st_mtime)
        date = _ls_date(mtime, now)
    return f"{attrs._mode_string()} {nlink:>3} {user:<8} {grp:<8} {size:>8} {date} {filename}"  # noqa: SLF001


def _ls_date(mtime: int, now: float | None) -> str:
    # Civil date from a Unix time in UTC (no time module in the codec layer).
    days, secs = divmod(mtime, 86400)
    year, month, day = _civil_from_days(days)
    if now is not None and abs(now - mtime) > _SIX_MONTHS:
        return f"{_MONTHS[month - 1]} {day:>2}  {year:>4}"
    return f"{_MONTHS[month - 1]} {day:>2} {secs // 3600:02d}:{secs % 3600 // 60:02d}"


def _civil_from_days(days: int) -> tuple[int, int, int]:
    """(year, month, day) of a day count since 1970-01-01 (proleptic Gregorian)."""
    days += 719468
    era = days // 146097
    doe = days - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    year = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return year + (month <= 2), month, day


@dataclass(frozen=True)
class SFTPVFSAttributes:
    """File system statistics (the ``statvfs@openssh.com`` reply, ``os.statvfs`` field names)."""

    f_bsize: int = 0
    f_frsize: int = 0
    f_blocks: int = 0
    f_bfree: int = 0
    f_bavail: int = 0
    f_files: int = 0
    f_ffree: int = 0
    f_favail: int = 0
    f_fsid: int = 0
    f_flag: int = 0
    f_namemax: int = 0

    FIELDS = (
        "f_bsize",
        "f_frsize",
        "f_blocks",
        "f_bfree",
        "f_bavail",
        "f_files",
        "f_ffree",
        "f_favail",
        "f_fsid",
        "f_flag",
        "f_namemax",
    )

    @classmethod
    def decode(cls, r: Reader) -> SFTPVFSAttributes:
        """Read the eleven uint64 fields."""
        try:
            values = [r.get_uint64() for _ in cls.FIELDS]
        except PacketDecodeError as exc:
            raise SFTPError(f"malformed statvfs reply: {exc}") from None
        return cls(*values)

    @classmethod
    def from_statvfs(cls, st: Any) -> SFTPVFSAttributes:
        """Build from an ``os.statvfs_result`` (ST_RDONLY and ST_NOSUID map to bits 0x1 and 0x2)."""
        flag = (1 if st.f_flag & 1 else 0) | (2 if st.f_flag & 2 else 0)
        fsid = getattr(st, "f_fsid", 0)
        return cls(
            st.f_bsize,
            st.f_frsize,
            st.f_blocks,
            st.f_bfree,
            st.f_bavail,
            st.f_files,
            st.f_ffree,
            st.f_favail,
            fsid & 0xFFFFFFFFFFFFFFFF,
            flag,
            st.f_namemax,
        )

    def encode(self) -> bytes:
        """The eleven uint64 fields."""
        return b"".join(_U64.pack(min(max(int(getattr(self, f)), 0), (1 << 64) - 1)) for f in self.FIELDS)
