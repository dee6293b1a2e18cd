"""Shared helpers for the benchmarks: an OpenSSH sshd on loopback and timing."""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from interop.sshd_fixture import SSHD, SSHDEnvironment  # noqa: E402


@contextmanager
def openssh_server(**overrides: Any) -> Iterator[SSHD]:
    """A private sshd on 127.0.0.1 (the test suite's fixture, reused)."""
    env = SSHDEnvironment()
    server = env.start(**overrides)
    try:
        yield server
    finally:
        server.stop()
        env.close()


class Measurement:
    """Wall-clock and CPU seconds of one run."""

    def __init__(self, wall: float, cpu: float, nbytes: int) -> None:
        self.wall = wall
        self.cpu = cpu
        self.nbytes = nbytes

    @property
    def mib_per_s(self) -> float:
        return self.nbytes / (1024 * 1024) / self.wall

    @property
    def cpu_ms_per_mib(self) -> float:
        return self.cpu * 1000 / (self.nbytes / (1024 * 1024))


def measure(fn: Callable[[], int]) -> Measurement:
    """Run ``fn`` (which returns bytes moved) and time it."""
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    nbytes = fn()
    wall = time.perf_counter() - t0
    return Measurement(wall, time.process_time() - cpu0, nbytes)


def best_of(runs: int, fn: Callable[[], int]) -> Measurement:
    """The median run by wall time."""
    results = sorted((measure(fn) for _ in range(runs)), key=lambda m: m.wall)
    return results[len(results) // 2]


def median(values: list[float]) -> float:
    return statistics.median(values)


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))
