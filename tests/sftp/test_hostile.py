"""SFTP servers that misbehave: every case ends in a prompt, clear exception, never a hang."""

from __future__ import annotations

import asyncio
import io
import struct
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sftp.helpers import RunningServer, connect_blocking

import blockssh.aio as aio
from blockssh.aio.session import SSHServerSession
from blockssh.exceptions import SFTPError, SSHException, SSHTimeoutError
from blockssh.sftp import codec
from blockssh.sftp.attrs import SFTPAttributes
from blockssh.sftp.codec import FX, FXP
from blockssh.sync.sftp import SFTPClient

pytestmark = pytest.mark.timeout(30)

Responder = Callable[["Scripted", int, int, bytes], "bytes | None"]


class Scripted(SSHServerSession[bytes]):
    """An sftp subsystem that answers INIT normally (unless told otherwise) and requests via ``respond``."""

    def __init__(self, respond: Responder, version: bytes | None = None) -> None:
        self.respond = respond
        self.version = version if version is not None else codec.encode_version(3, [("limits@openssh.com", b"1")])
        self.reader = codec.PacketReader()
        self.chan: Any = None
        self.count = 0
        self.held: list[bytes] = []  # replies to send, newest first, after the current batch

    def connection_made(self, chan: Any) -> None:
        self.chan = chan

    def subsystem_requested(self, subsystem: str) -> bool:
        return subsystem == "sftp"

    def data_received(self, data: bytes, datatype: int | None) -> None:
        for payload in self.reader.feed(data):
            if payload[0] == FXP.INIT:
                if self.version:
                    self.chan.write(self.version)
                continue
            kind, rid = codec.header(payload)
            if kind == FXP.EXTENDED and b"limits@openssh.com" in payload:
                limits = codec.SFTPLimits(262144, 65536, 65536, 64)
                self.chan.write(codec.encode_extended_reply(rid, limits.encode()))
                continue
            self.count += 1
            out = self.respond(self, kind, rid, payload)
            if out:
                self.chan.write(out)
        if self.held:
            self.chan.write(b"".join(reversed(self.held)))
            self.held.clear()


def attrs_reply(rid: int, size: int = 10) -> bytes:
    a = SFTPAttributes()
    a.st_size, a.st_mode = size, 0o100644
    return codec.encode_attrs(rid, a)


def file_server(size: int, on_read: Callable[[Scripted, int, int, int], bytes | None]) -> Responder:
    """Answers OPEN, FSTAT and CLOSE properly for a file of ``size`` bytes; READs go to ``on_read``."""

    def respond(s: Scripted, kind: int, rid: int, payload: bytes) -> bytes | None:
        if kind == FXP.OPEN:
            return codec.encode_handle(rid, b"H")
        if kind in (FXP.FSTAT, FXP.STAT):
            return attrs_reply(rid, size)
        if kind == FXP.CLOSE:
            return codec.encode_status(rid, FX.OK)
        if kind == FXP.READ:
            offset, length = struct.unpack_from(">QI", payload, 5 + 4 + 1)
            return on_read(s, rid, offset, length)
        return codec.encode_status(rid, FX.OP_UNSUPPORTED)

    return respond


@pytest.fixture
def blocking(hostile_server: Callable[..., RunningServer]) -> Iterator[Callable[..., SFTPClient]]:
    clients: list[Any] = []

    def make(respond: Responder, version: bytes | None = None, timeout: float | None = 5.0) -> SFTPClient:
        server = hostile_server(lambda: Scripted(respond, version))
        ssh = connect_blocking(server)
        clients.append(ssh)
        sftp = SFTPClient.from_transport(ssh.get_transport())
        sftp.get_channel().settimeout(timeout)
        return sftp

    yield make
    for c in clients:
        c.close()


def test_truncated_version_is_a_protocol_error(blocking: Callable[..., SFTPClient]) -> None:
    with pytest.raises(SFTPError, match="VERSION"):
        blocking(lambda *a: None, version=codec.framed(FXP.VERSION, b"\x00\x00"))


def test_a_status_instead_of_version(blocking: Callable[..., SFTPClient]) -> None:
    with pytest.raises(SFTPError, match="expected SSH_FXP_VERSION"):
        blocking(lambda *a: None, version=codec.encode_status(0, FX.FAILURE))


def test_wrong_request_id_ends_the_session(blocking: Callable[..., SFTPClient]) -> None:
    sftp = blocking(lambda s, kind, rid, p: attrs_reply(rid + 1000))
    with pytest.raises(SFTPError, match="unknown request id"):
        sftp.stat("/x")
    with pytest.raises(SFTPError):
        sftp.stat("/y")  # the session is over: the same error, at once


def test_malformed_attrs(blocking: Callable[..., SFTPClient]) -> None:
    sftp = blocking(lambda s, kind, rid, p: codec.packet(FXP.ATTRS, rid, b"\x00\x00\x00\x01\x00"))
    with pytest.raises(SFTPError, match="malformed"):
        sftp.stat("/x")


def test_unexpected_reply_type(blocking: Callable[..., SFTPClient]) -> None:
    sftp = blocking(lambda s, kind, rid, p: codec.encode_handle(rid, b"h"))
    with pytest.raises(SFTPError, match="unexpected"):
        sftp.stat("/x")


def test_oversize_length(blocking: Callable[..., SFTPClient]) -> None:
    sftp = blocking(lambda s, kind, rid, p: b"\xff\xff\xff\xf0" + b"\x00" * 100)
    with pytest.raises(SFTPError, match="length"):
        sftp.stat("/x")


def test_huge_name_count(blocking: Callable[..., SFTPClient]) -> None:
    sftp = blocking(lambda s, kind, rid, p: codec.packet(FXP.NAME, rid, struct.pack(">I", 0xFFFFFFFF)))
    with pytest.raises(SFTPError):
        sftp.normalize(".")


def test_server_that_stops_answering_requests(blocking: Callable[..., SFTPClient]) -> None:
    sftp = blocking(lambda *a: None, timeout=1.0)
    start = time.monotonic()
    with pytest.raises(SSHTimeoutError):
        sftp.stat("/x")
    assert time.monotonic() - start < 5


def test_server_that_stops_answering_mid_download(blocking: Callable[..., SFTPClient]) -> None:
    def on_read(s: Scripted, rid: int, offset: int, length: int) -> bytes | None:
        if offset >= 200_000:
            return None  # silence
        return codec.data_header(FXP.DATA, rid, b"", length) + b"a" * length

    sftp = blocking(file_server(1_000_000, on_read), timeout=1.0)
    start = time.monotonic()
    with pytest.raises(SSHTimeoutError):
        sftp.getfo("/f", io.BytesIO())
    assert time.monotonic() - start < 6


def test_data_longer_than_requested(blocking: Callable[..., SFTPClient]) -> None:
    def on_read(s: Scripted, rid: int, offset: int, length: int) -> bytes:
        return codec.data_header(FXP.DATA, rid, b"", length + 1) + b"a" * (length + 1)

    sftp = blocking(file_server(100_000, on_read))
    with pytest.raises(SFTPError, match="returned"):
        sftp.getfo("/f", io.BytesIO())


def test_channel_closed_mid_download(blocking: Callable[..., SFTPClient]) -> None:
    def on_read(s: Scripted, rid: int, offset: int, length: int) -> bytes | None:
        if offset >= 300_000:
            s.chan.close()
            return None
        return codec.data_header(FXP.DATA, rid, b"", length) + b"a" * length

    sftp = blocking(file_server(5_000_000, on_read))
    with pytest.raises((SFTPError, SSHException, OSError)):
        sftp.getfo("/f", io.BytesIO())


def test_short_reads_and_out_of_order_replies_are_reassembled(blocking: Callable[..., SFTPClient]) -> None:
    data = bytes(range(256)) * 4000  # 1_024_000 bytes

    def on_read(s: Scripted, rid: int, offset: int, length: int) -> bytes | None:
        n = min(length, 10_000 + offset % 7919, len(data) - offset)  # short, irregular reads
        if n <= 0:
            s.held.append(codec.encode_status(rid, FX.EOF))
        else:
            s.held.append(codec.data_header(FXP.DATA, rid, b"", n) + data[offset : offset + n])
        return None  # every batch of requests is answered in reverse order

    sftp = blocking(file_server(len(data), on_read))
    out = io.BytesIO()
    assert sftp.getfo("/f", out) == len(data)
    assert out.getvalue() == data
    with sftp.open("/f", "rb") as f:
        assert f.read() == data
        f.seek(123_456)
        assert f.read(300_000) == data[123_456:423_456]


def test_async_client_init_timeout(hostile_server: Callable[..., RunningServer]) -> None:
    server = hostile_server(lambda: Scripted(lambda *a: None, version=b""))

    async def main() -> None:
        async with aio.connect(
            server.host,
            server.port,
            username=server.user,
            client_keys=[str(server.client_key_path)],
            known_hosts=str(server.known_hosts),
        ) as conn:
            start = time.monotonic()
            with pytest.raises(SSHTimeoutError):
                await conn.start_sftp_client(init_timeout=1.0)
            assert time.monotonic() - start < 5

    asyncio.run(asyncio.wait_for(main(), 20))


def test_async_request_timeout_then_late_reply_is_ignored(hostile_server: Callable[..., RunningServer]) -> None:
    def respond(s: Scripted, kind: int, rid: int, payload: bytes) -> bytes | None:
        if s.count == 1:
            asyncio.get_running_loop().call_later(1.5, lambda: s.chan.write(attrs_reply(rid)))
            return None
        return attrs_reply(rid, 42)

    server = hostile_server(lambda: Scripted(respond))

    async def main() -> None:
        async with aio.connect(
            server.host,
            server.port,
            username=server.user,
            client_keys=[str(server.client_key_path)],
            known_hosts=str(server.known_hosts),
        ) as conn:
            sftp = await conn.start_sftp_client(request_timeout=0.5)
            with pytest.raises(SSHTimeoutError):
                await sftp.stat("/slow")
            await asyncio.sleep(1.5)  # the late reply arrives and is dropped quietly
            assert (await sftp.stat("/fast")).st_size == 42
            assert not sftp.closed

    asyncio.run(asyncio.wait_for(main(), 20))


def test_subsystem_refused(hostile_server: Callable[..., RunningServer]) -> None:
    class Refuses(SSHServerSession[bytes]):
        def subsystem_requested(self, subsystem: str) -> bool:
            return False

    server = hostile_server(Refuses)
    ssh = connect_blocking(server)
    try:
        with pytest.raises(SFTPError, match="refused"):
            SFTPClient.from_transport(ssh.get_transport())
    finally:
        ssh.close()


def test_status_without_message_is_still_mapped(blocking: Callable[..., SFTPClient]) -> None:
    sftp = blocking(lambda s, kind, rid, p: codec.packet(FXP.STATUS, rid, struct.pack(">I", FX.NO_SUCH_FILE)))
    with pytest.raises(FileNotFoundError):
        sftp.stat("/x")
