"""Test doubles for the blocking layer: a bridge fed from the loop thread, a fake channel."""

from __future__ import annotations

from typing import Any

from blockssh.sync._bridge import ChannelBridge
from blockssh.sync._portal import portal


class FakeAioChannel:
    """What the bridge calls on its asyncio channel."""

    def __init__(self) -> None:
        self.paused = False
        self.resumes = 0
        self._held: list[Any] = []
        self.written: list[tuple[bytes, int | None]] = []
        self.eof = False
        self.closed = False

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False
        self.resumes += 1

    def write(self, data: bytes, datatype: int | None = None) -> None:
        self.written.append((bytes(data), datatype))

    def write_eof(self) -> None:
        self.eof = True

    def close(self) -> None:
        self.closed = True


def on_loop(fn: Any, *args: Any) -> Any:
    """Run ``fn(*args)`` on the loop thread and return its result."""

    async def run() -> Any:
        return fn(*args)

    return portal().call(run(), 10)


def make_bridge(**kwargs: Any) -> tuple[ChannelBridge, FakeAioChannel]:
    bridge = ChannelBridge(portal(), **kwargs)
    chan = FakeAioChannel()
    on_loop(bridge.connection_made, chan)
    return bridge, chan


def feed(bridge: ChannelBridge, data: bytes, datatype: int | None = None) -> None:
    on_loop(bridge.data_received, data, datatype)
    on_loop(lambda: None)  # let the batched wake-up run


class FakeChannel:
    """Enough of a blocking Channel for the file objects."""

    def __init__(self, bridge: ChannelBridge, timeout: float | None = 5.0) -> None:
        self._bridge = bridge
        self.timeout = timeout
        self.sent: list[bytes] = []
        self.sent_stderr: list[bytes] = []
        self.shutdowns = 0

    def sendall(self, data: bytes) -> None:
        self.sent.append(bytes(data))

    def sendall_stderr(self, data: bytes) -> None:
        self.sent_stderr.append(bytes(data))

    def shutdown_write(self) -> None:
        self.shutdowns += 1
