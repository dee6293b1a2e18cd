"""The SFTP version 3 wire format (draft-ietf-secsh-filexfer-02), sans I/O.

Framing (:class:`PacketReader`), message numbers, status codes, request
encoders for the client, reply encoders for the server, and decoders for
both. OpenSSH's extensions (``posix-rename``, ``statvfs``, ``fstatvfs``,
``hardlink``, ``fsync``, ``lsetstat``, ``limits``, ``expand-path``, all
``@openssh.com``, and ``copy-data``) are encoded here too.

Nothing here does I/O, reads the clock or starts threads. Malformed input
raises :class:`~blockssh.exceptions.SFTPError`; a status reply becomes the
exception paramiko raises for it (:func:`status_error`).
"""

from __future__ import annotations

import enum
import errno
import struct
from collections.abc import Iterable, Sequence

from ..exceptions import PacketDecodeError, SFTPError
from ..proto.wire import Reader, string
from .attrs import SFTPAttributes, SFTPVFSAttributes, decode_attrs

__all__ = [
    "FXP",
    "FX",
    "OpenFlags",
    "SFTP_VERSION",
    "DEFAULT_MAX_PACKET_LENGTH",
    "MAX_HANDLE_LENGTH",
    "MAX_NAMES_PER_REPLY",
    "PacketReader",
    "Pieces",
    "data_pieces",
    "SFTPStatusError",
    "SFTPNoSuchFile",
    "SFTPPermissionDenied",
    "SFTPEOFError",
    "status_error",
    "open_flags_for_mode",
    "packet",
    "decode_version",
    "encode_version",
    "decode_status",
    "decode_handle",
    "decode_names",
    "decode_attrs_reply",
    "decode_limits",
    "encode_status",
    "encode_names",
    "reply_type_name",
    "symlink_in_draft_order",
    "SFTPLimits",
]

SFTP_VERSION = 3
#: Largest SFTP packet either side accepts (OpenSSH's own limit is 256 KiB; 1 MiB tolerates bigger peers).
DEFAULT_MAX_PACKET_LENGTH = 1024 * 1024
MAX_HANDLE_LENGTH = 256  # the draft's limit on handle strings
MAX_NAMES_PER_REPLY = 100_000  # entries accepted in one NAME reply (each costs at least 12 bytes anyway)
_MAX_EXTENSIONS = 256  # name/data pairs accepted in VERSION (and INIT)

_U32 = struct.Struct(">I")
_BI = struct.Struct(">BI")
_HDR = struct.Struct(">IBI")  # length, type, request id
_U64 = struct.Struct(">Q")


class FXP(enum.IntEnum):
    """SFTP packet types."""

    INIT = 1
    VERSION = 2
    OPEN = 3
    CLOSE = 4
    READ = 5
    WRITE = 6
    LSTAT = 7
    FSTAT = 8
    SETSTAT = 9
    FSETSTAT = 10
    OPENDIR = 11
    READDIR = 12
    REMOVE = 13
    MKDIR = 14
    RMDIR = 15
    REALPATH = 16
    STAT = 17
    RENAME = 18
    READLINK = 19
    SYMLINK = 20
    STATUS = 101
    HANDLE = 102
    DATA = 103
    NAME = 104
    ATTRS = 105
    EXTENDED = 200
    EXTENDED_REPLY = 201


class FX(enum.IntEnum):
    """SFTP status codes."""

    OK = 0
    EOF = 1
    NO_SUCH_FILE = 2
    PERMISSION_DENIED = 3
    FAILURE = 4
    BAD_MESSAGE = 5
    NO_CONNECTION = 6
    CONNECTION_LOST = 7
    OP_UNSUPPORTED = 8


class OpenFlags(enum.IntFlag):
    """``pflags`` of SSH_FXP_OPEN."""

    READ = 0x01
    WRITE = 0x02
    APPEND = 0x04
    CREAT = 0x08
    TRUNC = 0x10
    EXCL = 0x20


_STATUS_TEXT = {
    FX.OK: "Success",
    FX.EOF: "End of file",
    FX.NO_SUCH_FILE: "No such file",
    FX.PERMISSION_DENIED: "Permission denied",
    FX.FAILURE: "Failure",
    FX.BAD_MESSAGE: "Bad message",
    FX.NO_CONNECTION: "No connection",
    FX.CONNECTION_LOST: "Connection lost",
    FX.OP_UNSUPPORTED: "Operation unsupported",
}


# ---------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------


class SFTPStatusError(OSError):
    """The server answered a request with an error status; ``code`` is the SFTP status code.

    Like paramiko, NO_SUCH_FILE is a :class:`FileNotFoundError` (errno
    ENOENT), PERMISSION_DENIED a :class:`PermissionError` (EACCES), and
    every other status a plain :class:`OSError` (``IOError``) carrying the
    server's message. These are not :class:`SFTPError`, which is kept for
    protocol errors.
    """

    code: int = FX.FAILURE


class SFTPNoSuchFile(SFTPStatusError, FileNotFoundError):
    """NO_SUCH_FILE: the path does not exist."""

    code = FX.NO_SUCH_FILE


class SFTPPermissionDenied(SFTPStatusError, PermissionError):
    """PERMISSION_DENIED."""

    code = FX.PERMISSION_DENIED


class SFTPEOFError(EOFError):
    """An EOF status where data was expected (paramiko raises ``EOFError`` too)."""

    code = FX.EOF


def status_error(code: int, message: str = "", path: str | None = None) -> BaseException:
    """The exception for a non-OK status, paramiko's mapping (``path`` becomes ``filename``)."""
    text = message or _STATUS_TEXT.get(code, f"SFTP status {code}")  # type: ignore[call-overload]
    if code == FX.NO_SUCH_FILE:
        return SFTPNoSuchFile(errno.ENOENT, text, path) if path is not None else SFTPNoSuchFile(errno.ENOENT, text)
    if code == FX.PERMISSION_DENIED:
        if path is not None:
            return SFTPPermissionDenied(errno.EACCES, text, path)
        return SFTPPermissionDenied(errno.EACCES, text)
    if code == FX.EOF:
        return SFTPEOFError(text)
    exc = SFTPStatusError(f"{text}: {path}" if path is not None and path not in text else text)
    exc.code = code
    if path is not None:
        exc.filename = path
    return exc


#: Peers that put SSH_FXP_SYMLINK's arguments in the draft's order (link, then target) when talking to
#: anything but OpenSSH or paramiko. Everyone else uses OpenSSH's reversed order (target, then link).
DRAFT_SYMLINK_PEERS = ("AsyncSSH",)


def symlink_in_draft_order(peer_version: str | None) -> bool:
    """True if SYMLINK to or from a peer with this identification string uses the draft's argument order."""
    return bool(peer_version) and any(name in str(peer_version) for name in DRAFT_SYMLINK_PEERS)


def reply_type_name(kind: int) -> str:
    """A packet type's name for messages (``"STATUS"``, or the number when unknown)."""
    try:
        return FXP(kind).name
    except ValueError:
        return str(kind)


# ---------------------------------------------------------------------------------------------
# framing
# ---------------------------------------------------------------------------------------------


class Pieces(list):  # type: ignore[type-arg]
    """A large payload left in the memoryviews it arrived in (see ``PacketReader.zero_copy_min``)."""

    __slots__ = ()

    def join(self) -> bytes:
        """The payload as one bytes object (a copy)."""
        return b"".join(self)


def data_pieces(pieces: Pieces) -> list[memoryview]:
    """The data of a DATA reply held as :class:`Pieces`, as views (checks the announced length)."""
    first = pieces[0]
    if len(first) < 9:
        return [decode_data(pieces.join())]
    (n,) = _U32.unpack_from(first, 5)
    total = sum(len(p) for p in pieces) - 9
    if total != n:
        raise SFTPError(f"malformed SSH_FXP_DATA: {n} bytes announced, {total} present")
    rest = first[9:]
    return [rest, *pieces[1:]] if len(rest) else list(pieces[1:])


class PacketReader:
    """Splits a byte stream into SFTP packets (``uint32 length`` + payload).

    :meth:`feed` takes chunks (bytes or memoryviews; they must stay
    unchanged afterwards) and returns the payloads completed by them, each
    starting with the type byte. A length of zero or above
    ``max_length`` raises :class:`SFTPError` before anything is buffered.
    """

    __slots__ = ("_chunks", "_buffered", "_need", "max_length", "zero_copy_min")

    def __init__(self, max_length: int = DEFAULT_MAX_PACKET_LENGTH, zero_copy_min: int = 0) -> None:
        self._chunks: list[bytes | memoryview] = []
        self._buffered = 0
        self._need = 0  # payload length of the packet being assembled, 0 while reading a length
        self.max_length = max_length
        # DATA payloads at least this long come back as Pieces, uncopied (0: never)
        self.zero_copy_min = zero_copy_min

    @property
    def buffered(self) -> int:
        """Bytes held that do not yet form a whole packet."""
        return self._buffered

    def _take(self, n: int) -> bytes:
        chunks = self._chunks
        first = chunks[0]
        if len(first) > n:
            chunks[0] = memoryview(first)[n:]
            self._buffered -= n
            return bytes(first[:n])
        parts = []
        got = 0
        while got < n:
            chunk = chunks[0]
            size = len(chunk)
            if got + size <= n:
                parts.append(chunk)
                del chunks[0]
                got += size
            else:
                cut = n - got
                parts.append(chunk[:cut])
                chunks[0] = memoryview(chunk)[cut:]
                got = n
        self._buffered -= n
        return b"".join(parts)

    def _take_pieces(self, n: int) -> Pieces:
        chunks = self._chunks
        pieces = Pieces()
        got = 0
        while got < n:
            chunk = chunks[0]
            size = len(chunk)
            if got + size <= n:
                pieces.append(chunk if isinstance(chunk, memoryview) else memoryview(chunk))
                del chunks[0]
                got += size
            else:
                view = chunk if isinstance(chunk, memoryview) else memoryview(chunk)
                cut = n - got
                pieces.append(view[:cut])
                chunks[0] = view[cut:]
                got = n
        self._buffered -= n
        return pieces

    def feed(self, data: bytes | memoryview) -> list[bytes | Pieces]:
        """Add received bytes; return every payload now complete (type byte first).

        With ``zero_copy_min`` set, a DATA payload at least that long is returned
        as :class:`Pieces` (views of the received chunks) instead of bytes.
        """
        out: list[bytes | Pieces] = []
        if not data:
            return out
        self._chunks.append(data)
        self._buffered += len(data)
        while True:
            need = self._need
            if not need:
                if self._buffered < 4:
                    return out
                need = _U32.unpack(self._take(4))[0]
                if need == 0 or need > self.max_length:
                    raise SFTPError(f"SFTP packet length {need} is outside 1..{self.max_length}")
                self._need = need
            if self._buffered < need:
                return out
            if self.zero_copy_min and need >= self.zero_copy_min and self._chunks[0][0] == FXP.DATA:
                out.append(self._take_pieces(need))
            else:
                out.append(self._take(need))
            self._need = 0


def packet(kind: int, request_id: int, *parts: bytes) -> bytes:
    """Frame a request or reply: length, type, request id, then ``parts`` (already encoded)."""
    body = b"".join(parts)
    return _HDR.pack(5 + len(body), kind, request_id) + body


def framed(kind: int, body: bytes) -> bytes:
    """Frame a packet without a request id (INIT and VERSION)."""
    return _U32.pack(1 + len(body)) + bytes((kind,)) + body


def data_header(kind: int, request_id: int, extra: bytes, data_len: int) -> bytes:
    """The head of a packet whose last field is a ``data_len`` byte string sent separately.

    ``data_header(FXP.WRITE, id, string(handle) + uint64(offset), n) + data`` is a WRITE
    request; ``data_header(FXP.DATA, id, b"", n) + data`` is a DATA reply.
    """
    return _HDR.pack(5 + len(extra) + 4 + data_len, kind, request_id) + extra + _U32.pack(data_len)


def u64(value: int) -> bytes:
    """Encode a uint64."""
    return _U64.pack(value)


def u32(value: int) -> bytes:
    """Encode a uint32."""
    return _U32.pack(value)


def header(payload: bytes) -> tuple[int, int]:
    """``(type, request id)`` of a payload (raises :class:`SFTPError` when it is too short)."""
    if len(payload) < 5:
        raise SFTPError(f"SFTP packet of {len(payload)} bytes is too short for a request id")
    kind, request_id = _BI.unpack_from(payload)
    return kind, request_id


# ---------------------------------------------------------------------------------------------
# INIT / VERSION
# ---------------------------------------------------------------------------------------------


def encode_init(version: int = SFTP_VERSION, extensions: Sequence[tuple[str, bytes]] = ()) -> bytes:
    """The client's SSH_FXP_INIT."""
    return framed(FXP.INIT, _U32.pack(version) + b"".join(string(n) + string(d) for n, d in extensions))


def encode_version(version: int = SFTP_VERSION, extensions: Iterable[tuple[str, bytes]] = ()) -> bytes:
    """The server's SSH_FXP_VERSION."""
    return framed(FXP.VERSION, _U32.pack(version) + b"".join(string(n) + string(d) for n, d in extensions))


def decode_version(payload: bytes, expected: int = FXP.VERSION) -> tuple[int, dict[str, bytes]]:
    """Parse VERSION (or INIT with ``expected=FXP.INIT``): ``(version, {extension: data})``."""
    if not payload or payload[0] != expected:
        got = reply_type_name(payload[0]) if payload else "nothing"
        raise SFTPError(f"expected SSH_FXP_{FXP(expected).name}, got {got}")
    r = Reader(payload, 1)
    try:
        version = r.get_uint32()
        extensions: dict[str, bytes] = {}
        while r.remaining:
            if len(extensions) >= _MAX_EXTENSIONS:
                raise SFTPError(f"more than {_MAX_EXTENSIONS} SFTP extensions announced")
            name = r.get_string().decode("utf-8", "replace")
            extensions[name] = r.get_string()
    except PacketDecodeError as exc:
        raise SFTPError(f"malformed SSH_FXP_{FXP(expected).name}: {exc}") from None
    return version, extensions


# ---------------------------------------------------------------------------------------------
# replies (client side decoding)
# ---------------------------------------------------------------------------------------------


def _reader(payload: bytes, what: str) -> Reader:
    return Reader(payload, 5)


def decode_status(payload: bytes) -> tuple[int, str, str]:
    """``(code, message, language)`` of a STATUS reply (message and language are optional in old servers)."""
    r = Reader(payload, 5)
    try:
        code = r.get_uint32()
        message = r.get_string().decode("utf-8", "replace") if r.remaining else ""
        lang = r.get_string().decode("utf-8", "replace") if r.remaining else ""
    except PacketDecodeError as exc:
        raise SFTPError(f"malformed SSH_FXP_STATUS: {exc}") from None
    return code, message, lang


def decode_handle(payload: bytes) -> bytes:
    """The handle of a HANDLE reply."""
    r = Reader(payload, 5)
    try:
        handle = r.get_string()
        r.check_end()
    except PacketDecodeError as exc:
        raise SFTPError(f"malformed SSH_FXP_HANDLE: {exc}") from None
    if len(handle) > MAX_HANDLE_LENGTH:
        raise SFTPError(f"SFTP handle of {len(handle)} bytes is longer than {MAX_HANDLE_LENGTH}")
    return handle


def decode_data(payload: bytes) -> memoryview:
    """The data of a DATA reply, without copying it."""
    if len(payload) < 9:
        raise SFTPError("malformed SSH_FXP_DATA: truncated")
    (n,) = _U32.unpack_from(payload, 5)
    if 9 + n != len(payload):
        raise SFTPError(f"malformed SSH_FXP_DATA: {n} bytes announced, {len(payload) - 9} present")
    return memoryview(payload)[9:]


def decode_names(payload: bytes) -> list[SFTPAttributes]:
    """The entries of a NAME reply, each an :class:`SFTPAttributes` with ``filename`` and ``longname``."""
    r = Reader(payload, 5)
    try:
        count = r.get_uint32()
        if count > MAX_NAMES_PER_REPLY or count * 12 > r.remaining:
            raise SFTPError(f"SSH_FXP_NAME announces {count} entries in {r.remaining} bytes")
        names = []
        for _ in range(count):
            filename = r.get_string().decode("utf-8", "surrogateescape")
            longname = r.get_string().decode("utf-8", "surrogateescape")
            attrs = decode_attrs(r)
            attrs.filename = filename
            attrs.longname = longname
            names.append(attrs)
    except PacketDecodeError as exc:
        raise SFTPError(f"malformed SSH_FXP_NAME: {exc}") from None
    return names


def decode_attrs_reply(payload: bytes) -> SFTPAttributes:
    """The attributes of an ATTRS reply."""
    return decode_attrs(Reader(payload, 5))


class SFTPLimits:
    """The ``limits@openssh.com`` reply (0 means "no limit given")."""

    __slots__ = ("max_packet_length", "max_read_length", "max_write_length", "max_open_handles")

    def __init__(
        self, max_packet_length: int = 0, max_read_length: int = 0, max_write_length: int = 0, max_open_handles: int = 0
    ) -> None:
        self.max_packet_length = max_packet_length
        self.max_read_length = max_read_length
        self.max_write_length = max_write_length
        self.max_open_handles = max_open_handles

    def encode(self) -> bytes:
        """The four uint64 fields."""
        return b"".join(
            _U64.pack(v)
            for v in (self.max_packet_length, self.max_read_length, self.max_write_length, self.max_open_handles)
        )

    def __repr__(self) -> str:
        return (
            f"SFTPLimits(max_packet_length={self.max_packet_length}, max_read_length={self.max_read_length},"
            f" max_write_length={self.max_write_length}, max_open_handles={self.max_open_handles})"
        )


def decode_limits(payload: bytes) -> SFTPLimits:
    """The EXTENDED_REPLY to ``limits@openssh.com``."""
    r = Reader(payload, 5)
    try:
        return SFTPLimits(r.get_uint64(), r.get_uint64(), r.get_uint64(), r.get_uint64())
    except PacketDecodeError as exc:
        raise SFTPError(f"malformed limits@openssh.com reply: {exc}") from None


def decode_statvfs(payload: bytes) -> SFTPVFSAttributes:
    """The EXTENDED_REPLY to ``statvfs@openssh.com`` / ``fstatvfs@openssh.com``."""
    return SFTPVFSAttributes.decode(Reader(payload, 5))


# ---------------------------------------------------------------------------------------------
# replies (server side encoding)
# ---------------------------------------------------------------------------------------------


def encode_status(request_id: int, code: int, message: str | None = None, lang: str = "en") -> bytes:
    """A STATUS reply (the standard text when ``message`` is None)."""
    if message is None:
        message = _STATUS_TEXT.get(code, "Failure")  # type: ignore[call-overload]
    return packet(FXP.STATUS, request_id, _U32.pack(code), string(message), string(lang))


def encode_handle(request_id: int, handle: bytes) -> bytes:
    """A HANDLE reply."""
    return packet(FXP.HANDLE, request_id, string(handle))


def encode_names(request_id: int, entries: Iterable[tuple[bytes | str, bytes | str, SFTPAttributes]]) -> bytes:
    """A NAME reply from ``(filename, longname, attrs)`` triples."""
    parts = []
    count = 0
    for filename, longname, attrs in entries:
        parts.append(string(filename) + string(longname) + attrs.asbytes())
        count += 1
    return packet(FXP.NAME, request_id, _U32.pack(count), *parts)


def encode_attrs(request_id: int, attrs: SFTPAttributes) -> bytes:
    """An ATTRS reply."""
    return packet(FXP.ATTRS, request_id, attrs.asbytes())


def encode_extended_reply(request_id: int, data: bytes) -> bytes:
    """An EXTENDED_REPLY."""
    return packet(FXP.EXTENDED_REPLY, request_id, data)


# ---------------------------------------------------------------------------------------------
# requests (client side encoding)
# ---------------------------------------------------------------------------------------------


def open_flags_for_mode(mode: str) -> int:
    """SFTP open flags for a Python/paramiko mode string (``r``, ``w``, ``a``, ``x``, ``+``; ``b``/``t`` ignored)."""
    allowed = set("rwax+btU")
    if not mode or set(mode) - allowed or sum(mode.count(c) for c in "rwax") != 1:
        raise ValueError(f"invalid mode {mode!r}")
    flags = 0
    if "r" in mode or "+" in mode:
        flags |= OpenFlags.READ
    if "w" in mode or "a" in mode or "x" in mode or "+" in mode:
        flags |= OpenFlags.WRITE
    if "w" in mode:
        flags |= OpenFlags.CREAT | OpenFlags.TRUNC
    if "a" in mode:
        flags |= OpenFlags.CREAT | OpenFlags.APPEND
    if "x" in mode:
        flags |= OpenFlags.CREAT | OpenFlags.EXCL
    return int(flags)


def encode_path(path: str | bytes) -> bytes:
    """A path string (str is UTF-8 encoded, with surrogate escapes passed through)."""
    if isinstance(path, str):
        path = path.encode("utf-8", "surrogateescape")
    return string(path)


def read_request(request_id: int, handle: bytes, offset: int, length: int) -> bytes:
    """A READ request."""
    return packet(FXP.READ, request_id, string(handle), _U64.pack(offset), _U32.pack(length))


def write_request_header(request_id: int, handle: bytes, offset: int, length: int) -> bytes:
    """The head of a WRITE request; the ``length`` data bytes follow it on the wire."""
    return data_header(FXP.WRITE, request_id, string(handle) + _U64.pack(offset), length)


def extended_request(request_id: int, name: str, *parts: bytes) -> bytes:
    """An EXTENDED request named ``name`` with encoded ``parts``."""
    return packet(FXP.EXTENDED, request_id, string(name), *parts)
