"""The loop thread: one asyncio event loop per process, shared by every blocking object.

:func:`portal` returns the running :class:`LoopThread`, starting it on first
use and again in a child after ``os.fork()``. Blocking calls go through
:meth:`LoopThread.call`, which waits with a timeout, cancels what it started
when the timeout expires, and refuses to run on the loop thread itself
(where waiting would deadlock).
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import os
import threading
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from ..exceptions import LoopThreadError, SSHTimeoutError

__all__ = ["LoopThread", "portal", "THREAD_NAME"]

T = TypeVar("T")
THREAD_NAME = "blockssh-loop"
_EXIT_GRACE = 1.0  # seconds given to open connections to say goodbye at interpreter exit


class LoopThread:
    """An event loop running in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._closers: weakref.WeakSet[Any] = weakref.WeakSet()
        self.thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
        self.thread.start()
        self._ready.wait()
        self.pid = os.getpid()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._ready.set)
        try:
            self.loop.run_forever()
        finally:
            self.loop.close()

    def in_loop_thread(self) -> bool:
        """True when called from the loop thread."""
        return threading.get_ident() == self.thread.ident

    def check_not_loop_thread(self, what: str = "this call") -> None:
        """Raise :class:`LoopThreadError` if called from the loop thread."""
        if self.in_loop_thread():
            raise LoopThreadError(
                f"{what} blocks and cannot run on blockssh's event loop thread (inside a session callback);"
                " use the asyncio API there, or hand the work to another thread"
            )

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None, *, what: str = "operation") -> T:
        """Run ``coro`` on the loop and wait for its result; on timeout cancel it and raise."""
        if self.in_loop_thread():
            coro.close()
            self.check_not_loop_thread(what)
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.CancelledError:
            raise SSHTimeoutError(f"{what} was cancelled") from None
        except BaseException as exc:
            # concurrent.futures.TimeoutError is the builtin TimeoutError, which the coroutine's own
            # SSHTimeoutError also is: only a future that is not done timed out *here*.
            if future.done() and not future.cancelled():
                return future.result()  # finished meanwhile, or failed by itself: its outcome
            future.cancel()  # a timeout or KeyboardInterrupt: stop what we started
            if isinstance(exc, TimeoutError) and timeout is not None:
                raise SSHTimeoutError(f"{what} timed out after {timeout:g} s") from None
            raise

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Start ``coro`` on the loop without waiting."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Schedule a plain callback on the loop (thread-safe, never blocks)."""
        self.loop.call_soon_threadsafe(fn, *args)

    def register_closer(self, obj: Any) -> None:
        """Remember an object whose ``_close_at_exit()`` should run when the interpreter exits."""
        self._closers.add(obj)

    def close_all_at_exit(self) -> None:
        """Give open connections a moment to send DISCONNECT; never hangs the interpreter."""
        closers = list(self._closers)
        if not closers or not self.thread.is_alive() or self.in_loop_thread():
            return

        async def close_them() -> None:
            for obj in closers:
                try:
                    obj._close_at_exit()  # noqa: SLF001 - the registration contract
                except Exception:  # noqa: BLE001,S110 - best effort at exit
                    pass
            await asyncio.sleep(0)

        try:
            self.call(close_them(), _EXIT_GRACE, what="closing connections at exit")
        except Exception:  # noqa: BLE001,S110 - exiting anyway
            pass


_lock = threading.Lock()
_instance: LoopThread | None = None


def portal() -> LoopThread:
    """The process's loop thread (started on first use, and anew in a forked child)."""
    global _instance
    inst = _instance
    if inst is not None and inst.pid == os.getpid():
        return inst
    with _lock:
        inst = _instance
        if inst is None or inst.pid != os.getpid():
            inst = _instance = LoopThread()
        return inst


def _after_fork_in_child() -> None:
    # The parent's loop thread does not exist in the child; start fresh on next use.
    global _instance, _lock
    _instance = None
    _lock = threading.Lock()


def _at_exit() -> None:
    inst = _instance
    if inst is not None and inst.pid == os.getpid():
        inst.close_all_at_exit()


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_at_exit)


def run_sync(fn: Callable[[], Awaitable[T]], timeout: float | None = None, *, what: str = "operation") -> T:
    """Convenience: ``portal().call(fn(), timeout)``."""
    p = portal()
    p.check_not_loop_thread(what)

    async def wrapper() -> T:
        return await fn()

    return p.call(wrapper(), timeout, what=what)
