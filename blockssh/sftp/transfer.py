"""Pipelined bulk transfers for the asyncio SFTP client.

:class:`Download` and :class:`Upload` keep up to ``max_requests`` READ or
WRITE requests of ``block_size`` bytes in flight and are driven entirely by
reply callbacks on the event loop, so no task switch happens per block.
Downloads deliver data to a sink in file order (out-of-order and short
replies are reassembled), stop issuing reads at the end of the file (a
single probe read at the size ``fstat`` gave catches files that grew), and
shrink the block size when a server answers with less than was asked.
:mod:`blockssh.sftp.bulk` builds ``get``, ``put`` and ``glob`` on them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..exceptions import SFTPError, SSHTimeoutError
from . import codec
from .codec import FX, FXP

if TYPE_CHECKING:
    from .client import SFTPClient

__all__ = ["Download", "Upload", "read_ranges", "read_block", "Sink", "Source", "HEAD_PIECE"]

Sink = Callable[[list[memoryview]], Any]  # receives each block as a list of views, in file order
Source = Callable[[int], "bytes | memoryview | list[bytes] | None"]
HEAD_PIECE = 32 * 1024 - 64  # a block's first piece: with the WRITE header it fills one 32 KiB channel packet


def read_block(read: Callable[[int], bytes], limit: int) -> bytes | list[bytes]:
    """Read up to ``limit`` bytes as ``[head, rest]`` (``head`` is :data:`HEAD_PIECE` long) or one piece."""
    if limit <= HEAD_PIECE:
        return read(limit)
    head = read(HEAD_PIECE)
    if len(head) < HEAD_PIECE:
        return head
    rest = read(limit - HEAD_PIECE)
    return [head, rest] if rest else head


READ_BATCH_DIVISOR = 8  # a download refills once 1/8 of its requests were answered


class _Transfer:
    """What downloads and uploads share: request bookkeeping, the stall timer, completion."""

    def __init__(
        self,
        client: SFTPClient,
        handle: bytes,
        *,
        block_size: int,
        max_requests: int,
        progress: Callable[[int], Any] | None = None,
        timeout: float | None = None,
    ) -> None:
        if block_size < 1 or max_requests < 1:
            raise ValueError("block_size and max_requests must be at least 1")
        self.client = client
        self.handle = handle
        self.block_size = block_size
        self.max_requests = max_requests
        self.progress = progress
        self.timeout = client.request_timeout if timeout is None else timeout
        self.inflight: set[int] = set()
        self.error: BaseException | None = None
        self.paused = False
        self.finished = False
        self._done: asyncio.Future[None] = client._loop.create_future()  # noqa: SLF001
        self._ticks = 0
        self._seen_ticks = -1
        self._timer: asyncio.TimerHandle | None = None

    # -- control ------------------------------------------------------------------

    def pause(self) -> None:
        """Stop issuing requests (those in flight still complete)."""
        self.paused = True

    def resume(self) -> None:
        """Issue requests again (thread-unsafe: call on the loop)."""
        if self.paused and not self.finished:
            self.paused = False
            self._issue()
            self._check_done()

    async def run(self) -> int:
        """Run to completion; returns the number of bytes transferred."""
        self.client._check()  # noqa: SLF001
        if self.timeout is not None:
            self._timer = self.client._loop.call_later(self.timeout, self._watchdog)  # noqa: SLF001
        try:
            self._issue()
            self._check_done()
            await self._done
        except BaseException as exc:
            self._finish(exc if isinstance(exc, Exception) else asyncio.CancelledError())
            raise
        finally:
            if self._timer is not None:
                self._timer.cancel()
        return self.result()

    def _watchdog(self) -> None:
        self._timer = None
        if self.finished:
            return
        if self._ticks == self._seen_ticks and self.inflight:
            self._finish(SSHTimeoutError(f"SFTP transfer made no progress for {self.timeout:g} s"))
            return
        self._seen_ticks = self._ticks
        assert self.timeout is not None
        self._timer = self.client._loop.call_later(self.timeout, self._watchdog)  # noqa: SLF001

    def _finish(self, exc: BaseException | None) -> None:
        if self.finished:
            return
        self.finished = True
        if exc is not None:
            self.error = exc
            for request_id in self.inflight:
                self.client._abandon(request_id)  # noqa: SLF001 - late replies are dropped quietly
            self.inflight.clear()
            if not self._done.done():
                self._done.set_exception(exc)
                self._done.exception()
        elif not self._done.done():
            self._done.set_result(None)

    def _register(self, handler: codec_handler) -> int:
        client = self.client
        request_id = client._allocate_id()  # noqa: SLF001
        client._pending[request_id] = handler  # noqa: SLF001
        self.inflight.add(request_id)
        return request_id

    def _issue(self) -> None:
        raise NotImplementedError

    def _check_done(self) -> None:
        raise NotImplementedError

    def result(self) -> int:
        """Bytes transferred."""
        raise NotImplementedError


codec_handler = Callable[[int, Any, "BaseException | None"], None]


class Download(_Transfer):
    """Read a file region with pipelined READ requests, delivering data to ``sink`` in order.

    ``size`` is the absolute offset to stop at (None: read to end of file).
    Unless ``exact_end`` is set, one extra read at ``size`` checks that the
    file did not grow; if it did, reading continues to the real end.
    """

    def __init__(
        self,
        client: SFTPClient,
        handle: bytes,
        *,
        offset: int = 0,
        size: int | None = None,
        block_size: int,
        max_requests: int,
        sink: Sink,
        exact_end: bool = False,
        progress: Callable[[int], Any] | None = None,
        timeout: float | None = None,
    ) -> None:
        super().__init__(
            client, handle, block_size=block_size, max_requests=max_requests, progress=progress, timeout=timeout
        )
        self.start = offset
        self.end = size
        self.exact_end = exact_end
        self.sink = sink
        self.next_offset = offset
        self.delivered = offset
        self.ready: dict[int, tuple[list[memoryview], int]] = {}
        self.gaps: list[tuple[int, int]] = []
        self.eof_at: int | None = None
        self.probe_sent = False
        self._handle_str = codec.encode_path(handle)  # string(handle), computed once
        self.issue_batch = max(1, max_requests // READ_BATCH_DIVISOR)

    def result(self) -> int:
        """Bytes delivered to the sink."""
        return self.delivered - self.start

    def _issue(self) -> None:
        if self.finished or self.paused:
            return
        client = self.client
        if client._error is not None:  # noqa: SLF001
            self._finish(client._error)  # noqa: SLF001
            return
        inflight = self.inflight
        if inflight and len(inflight) > self.max_requests - self.issue_batch and not self.gaps:
            return  # refill in batches: one socket write per few replies instead of one per reply
        out: list[bytes] = []
        while len(inflight) < self.max_requests:
            if self.gaps:
                off, length = self.gaps.pop()
            elif self.eof_at is not None:
                break
            else:
                off = self.next_offset
                end = self.end
                if end is not None and off >= end:
                    if self.exact_end or self.probe_sent:
                        break
                    self.probe_sent = True
                    length = self.block_size
                else:
                    length = self.block_size if end is None else min(self.block_size, end - off)
                self.next_offset = off + length
            request_id = self._register(self._make_handler(off, length))
            out.append(codec.packet(FXP.READ, request_id, self._handle_str, codec.u64(off), codec.u32(length)))
        if out:
            client._send(b"".join(out))  # noqa: SLF001

    def _make_handler(self, off: int, length: int) -> codec_handler:
        def handler(kind: int, payload: Any, exc: BaseException | None) -> None:
            try:
                self._on_reply(off, length, kind, payload, exc)
            except SFTPError as error:
                self._finish(error)
                raise

        return handler

    def _on_reply(self, off: int, length: int, kind: int, payload: Any, exc: BaseException | None) -> None:
        if self.finished:
            return
        if exc is not None:
            self._finish(exc)
            return
        self._ticks += 1
        if kind == FXP.DATA:
            if isinstance(payload, codec.Pieces):
                self.inflight.discard(int.from_bytes(payload[0][1:5], "big"))
                data = codec.data_pieces(payload)
            else:
                self.inflight.discard(int.from_bytes(payload[1:5], "big"))
                data = [codec.decode_data(payload)]
            n = sum(len(v) for v in data)
            if n > length:
                raise SFTPError(f"the server returned {n} bytes for a read of {length}")
            if n == 0:
                self._saw_eof(off)
            else:
                if n < length:
                    self.gaps.append((off + n, length - n))
                    if self.end is None or off + length < self.end:
                        self.block_size = max(n, 1)  # the server caps reads: ask for what it gives
                if self.end is not None and off >= self.end:
                    self.end = None  # the probe found data: the file grew, read on to its end
                self.ready[off] = (data, n)
                if off == self.delivered:
                    self._deliver()
        elif kind == FXP.STATUS:
            self.inflight.discard(int.from_bytes(payload[1:5], "big"))
            code, message, _ = codec.decode_status(payload)
            if code == FX.EOF:
                self._saw_eof(off)
            else:
                self._finish(codec.status_error(code if code != FX.OK else FX.FAILURE, message))
                return
        else:
            raise SFTPError(f"unexpected SFTP reply {codec.reply_type_name(kind)} to READ")
        if not self.finished:
            self._issue()
            self._check_done()

    def _saw_eof(self, off: int) -> None:
        if self.eof_at is None or off < self.eof_at:
            self.eof_at = off
            self.gaps = [g for g in self.gaps if g[0] < off]

    def _deliver(self) -> None:
        ready = self.ready
        sink = self.sink
        try:
            while True:
                item = ready.pop(self.delivered, None)
                if item is None:
                    break
                if self.eof_at is not None and self.delivered >= self.eof_at:
                    break
                self.delivered += item[1]
                sink(item[0])
                if self.progress is not None:
                    self.progress(self.delivered - self.start)
        except Exception as exc:  # noqa: BLE001 - a failing sink (disk full, ...) ends the transfer
            self._finish(exc)

    def _check_done(self) -> None:
        if self.finished or self.inflight or self.paused:
            return
        if self.gaps and self.eof_at is None:
            return
        if self.eof_at is not None and self.delivered < self.eof_at:
            self._finish(SFTPError(f"SFTP read lost data between offsets {self.delivered} and {self.eof_at}"))
            return
        if self.eof_at is None and self.end is not None and self.exact_end and self.delivered < self.end:
            self._finish(SFTPError(f"SFTP read stopped at offset {self.delivered} before {self.end}"))
            return
        self._finish(None)


class Upload(_Transfer):
    """Write data from ``source(limit)`` with pipelined WRITE requests, starting at ``offset``.

    ``source`` returns up to ``limit`` bytes, ``b""`` at the end, or None when
    nothing is available yet (then :meth:`resume` must be called later). It may
    return a block as a list of bytes pieces; see :func:`read_block`, which reads
    the first :data:`HEAD_PIECE` bytes apart so that only they are copied when
    the request header is put in front (the rest goes to the channel as is).
    """

    def __init__(
        self,
        client: SFTPClient,
        handle: bytes,
        *,
        offset: int = 0,
        block_size: int,
        max_requests: int,
        source: Source,
        progress: Callable[[int], Any] | None = None,
        timeout: float | None = None,
    ) -> None:
        super().__init__(
            client, handle, block_size=block_size, max_requests=max_requests, progress=progress, timeout=timeout
        )
        self.start = offset
        self.next_offset = offset
        self.acked = 0
        self.source = source
        self.eof = False
        self._handle_str = codec.encode_path(handle)

    def result(self) -> int:
        """Bytes the server acknowledged."""
        return self.acked

    def _issue(self) -> None:
        if self.finished or self.paused or self.eof:
            return
        client = self.client
        if client._error is not None:  # noqa: SLF001
            self._finish(client._error)  # noqa: SLF001
            return
        out: list[bytes] = []
        inflight = self.inflight
        try:
            while len(inflight) < self.max_requests:
                data = self.source(self.block_size)
                if data is None:
                    self.paused = True
                    break
                if isinstance(data, list):
                    pieces = [p for p in data if p]
                    n = sum(len(p) for p in pieces)
                else:
                    pieces = [data if isinstance(data, bytes) else bytes(data)] if data else []
                    n = len(data)
                if n == 0:
                    self.eof = True
                    break
                off = self.next_offset
                request_id = self._register(self._make_handler(n))
                header = codec.data_header(FXP.WRITE, request_id, self._handle_str + codec.u64(off), n)
                # The header joins the first piece (one small copy); big pieces go out untouched.
                out.append(header + pieces[0])
                out.extend(pieces[1:])
                self.next_offset = off + n
        except Exception as exc:  # noqa: BLE001 - a failing source (read error) ends the transfer
            self._finish(exc)
        if out:
            small: list[bytes] = []
            for item in out:
                if len(item) < HEAD_PIECE:  # coalesce small writes into shared packets
                    small.append(item)
                    continue
                if small:
                    client._send(b"".join(small))  # noqa: SLF001
                    small = []
                client._send(item)  # noqa: SLF001
            if small:
                client._send(b"".join(small))  # noqa: SLF001

    def _make_handler(self, n: int) -> codec_handler:
        def handler(kind: int, payload: Any, exc: BaseException | None) -> None:
            try:
                self._on_reply(n, kind, payload, exc)
            except SFTPError as error:
                self._finish(error)
                raise

        return handler

    def _on_reply(self, n: int, kind: int, payload: Any, exc: BaseException | None) -> None:
        if self.finished:
            return
        if exc is not None:
            self._finish(exc)
            return
        self._ticks += 1
        if kind != FXP.STATUS:
            raise SFTPError(f"unexpected SFTP reply {codec.reply_type_name(kind)} to WRITE")
        self.inflight.discard(int.from_bytes(payload[1:5], "big"))
        code, message, _ = codec.decode_status(payload)
        if code != FX.OK:
            self._finish(codec.status_error(code, message))
            return
        self.acked += n
        if self.progress is not None:
            try:
                self.progress(self.acked)
            except Exception as exc:  # noqa: BLE001
                self._finish(exc)
                return
        self._issue()
        self._check_done()

    def _check_done(self) -> None:
        if not self.finished and self.eof and not self.inflight:
            self._finish(None)


async def read_ranges(
    client: SFTPClient, handle: bytes, chunks: list[tuple[int, int]], *, max_requests: int | None = None
) -> list[bytes]:
    """Read several ``(offset, length)`` ranges concurrently; results in order, short at end of file."""
    block = client.read_block_size
    total = max_requests or client.default_max_requests(block)
    ranges = max(1, min(len(chunks), total))
    per_range = max(1, total // ranges)
    gate = asyncio.Semaphore(ranges)

    async def one(offset: int, length: int) -> bytes:
        parts: list[memoryview] = []
        async with gate:
            if length > 0:
                await Download(
                    client,
                    handle,
                    offset=offset,
                    size=offset + length,
                    block_size=block,
                    max_requests=per_range,
                    sink=parts.extend,
                    exact_end=True,
                ).run()
        return b"".join(parts)

    return list(await asyncio.gather(*(one(o, n) for o, n in chunks)))


# ---------------------------------------------------------------------------------------------
# get / put
# ---------------------------------------------------------------------------------------------
