"""The loop thread: results and errors cross threads, timeouts cancel, the loop thread is guarded."""

from __future__ import annotations

import asyncio
import time

import pytest

from blockssh.exceptions import LoopThreadError, SSHTimeoutError
from blockssh.sync._portal import THREAD_NAME, portal

pytestmark = pytest.mark.timeout(30)


def test_result_and_exception_cross_threads() -> None:
    async def ok() -> int:
        return 42

    async def fails() -> None:
        raise KeyError("from the loop")

    assert portal().call(ok(), 5) == 42
    with pytest.raises(KeyError, match="from the loop"):
        portal().call(fails(), 5)
    assert portal().thread.name == THREAD_NAME


def test_a_timeout_raised_by_the_coroutine_is_its_own() -> None:
    # SSHTimeoutError is a TimeoutError, as is concurrent.futures.TimeoutError: do not confuse them.
    async def times_out() -> None:
        raise SSHTimeoutError("inner step timed out")

    with pytest.raises(SSHTimeoutError, match="inner step"):
        portal().call(times_out(), None)


def test_timeout_cancels_what_it_started() -> None:
    seen: list[str] = []

    async def slow() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    start = time.monotonic()
    with pytest.raises(SSHTimeoutError, match="timed out after 0.2 s"):
        portal().call(slow(), 0.2, what="slow thing")
    assert time.monotonic() - start < 2
    deadline = time.monotonic() + 2
    while not seen and time.monotonic() < deadline:
        time.sleep(0.01)
    assert seen == ["cancelled"]


def test_blocking_call_on_the_loop_thread_raises_at_once() -> None:
    async def nested() -> BaseException | None:
        async def inner() -> None:
            return None

        try:
            portal().call(inner(), 5)
        except LoopThreadError as exc:
            return exc
        return None

    exc = portal().call(nested(), 5)
    assert isinstance(exc, LoopThreadError)
