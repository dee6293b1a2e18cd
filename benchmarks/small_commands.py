"""Many small commands on one connection: ``exec true`` N times, sequentially and from 16 threads.

Compares blockssh's blocking API with paramiko (the same script runs with both libraries)
and with asyncssh running the same commands concurrently with ``asyncio.gather`` (at most
``--concurrency`` in flight: OpenSSH's MaxSessions limits open sessions per connection).
blockssh's own asyncio API is measured the same way for reference. Each client connects
once; only the commands are timed. Prints commands per second (median of ``--runs``), the
client's own CPU time per command, and the ratios. Usage::

    python benchmarks/small_commands.py [--commands 1000] [--threads 16] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from _common import openssh_server

import blockssh
import blockssh.aio

COMMAND = "true"
Run = tuple[float, float, float]  # (wall seconds, this process's CPU seconds, whole machine's CPU seconds)


def machine_cpu_seconds() -> float:
    """CPU seconds spent by every process on the machine so far (Linux ``/proc/stat``; 0 elsewhere)."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except OSError:
        return 0.0
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class Timing:
    """Wall-clock, this process's CPU and the whole machine's CPU seconds of one run."""

    def __init__(self) -> None:
        self.wall0 = time.perf_counter()
        self.cpu0 = time.process_time()
        self.machine0 = machine_cpu_seconds()

    def done(self) -> Run:
        return (
            time.perf_counter() - self.wall0,
            time.process_time() - self.cpu0,
            machine_cpu_seconds() - self.machine0,
        )


# -- blocking clients (blockssh and paramiko run the same code) ------------------------------


def _blocking_client(module: Any, server: Any) -> Any:
    client = module.SSHClient()
    client.load_host_keys(server.known_hosts)
    client.connect(
        server.host,
        server.port,
        username=server.user,
        key_filename=server.client_keys["ed25519"],
        look_for_keys=False,
        allow_agent=False,
    )
    return client


def _one(client: Any) -> None:
    _, stdout, _ = client.exec_command(COMMAND)
    stdout.read()
    status = stdout.channel.recv_exit_status()
    assert status == 0, status


def sequential(client: Any, n: int) -> Run:
    timing = Timing()
    for _ in range(n):
        _one(client)
    return timing.done()


def threaded(client: Any, n: int, threads: int) -> Run:
    per_thread = [n // threads + (1 if i < n % threads else 0) for i in range(threads)]

    def work(count: int) -> None:
        for _ in range(count):
            _one(client)

    with ThreadPoolExecutor(threads) as pool:
        timing = Timing()
        for fut in [pool.submit(work, c) for c in per_thread]:
            fut.result()
        return timing.done()


class BlockingClient:
    """One connection of a blocking library, measured run after run (failed runs are counted)."""

    def __init__(self, module: Any, server: Any, threads: int) -> None:
        self.module, self.server, self.threads = module, server, threads
        self.client = _blocking_client(module, server)
        _one(self.client)  # warm up
        self.failures = 0

    def sequential(self, n: int) -> Run:
        return sequential(self.client, n)

    def threaded(self, n: int) -> Run | None:
        try:
            return threaded(self.client, n, self.threads)
        except Exception as exc:  # noqa: BLE001 - paramiko is not thread-safe (#709): count, reconnect
            self.failures += 1
            print(f"  {self.module.__name__} {self.threads} threads: run failed: {exc!r}")
            self.client.close()
            self.client = _blocking_client(self.module, self.server)
            return None

    def close(self) -> None:
        self.client.close()


# -- asyncio clients -------------------------------------------------------------------------


async def _gather(conn: Any, n: int, concurrency: int) -> Run:
    limit = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with limit:
            result = await conn.run(COMMAND)
            assert result.exit_status == 0

    await one()  # warm up
    timing = Timing()
    await asyncio.gather(*(one() for _ in range(n)))
    return timing.done()


def asyncssh_gather(server: Any, n: int, concurrency: int) -> Run:
    """One run on a fresh connection (only the commands are timed)."""
    import asyncssh

    async def main() -> Run:
        async with asyncssh.connect(
            server.host,
            server.port,
            username=server.user,
            client_keys=[server.client_keys["ed25519"]],
            known_hosts=server.known_hosts,
        ) as conn:
            return await _gather(conn, n, concurrency)

    return asyncio.run(main())


def blockssh_aio_gather(server: Any, n: int, concurrency: int) -> Run:
    """One run on a fresh connection (only the commands are timed)."""

    async def main() -> Run:
        async with blockssh.aio.connect(
            server.host,
            server.port,
            username=server.user,
            client_keys=[server.client_keys["ed25519"]],
            known_hosts=server.known_hosts,
        ) as conn:
            return await _gather(conn, n, concurrency)

    return asyncio.run(main())


# -- driver ----------------------------------------------------------------------------------------


class Results:
    """Commands per second and client CPU per command, by client."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.rate: dict[str, float] = {}
        self.spread: dict[str, str] = {}
        self.cpu: dict[str, float] = {}
        self.others: dict[str, float] = {}

    def record(self, name: str, runs: list[Run], failures: int = 0) -> None:
        if not runs:
            print(f"  {name}: every run failed")
            return
        per_second = [self.n / wall for wall, _, _ in runs]
        self.rate[name] = statistics.median(per_second)
        self.spread[name] = f"{min(per_second):.0f}-{max(per_second):.0f}" + (
            f" ({failures} failed)" if failures else ""
        )
        self.cpu[name] = statistics.median(cpu * 1000 / self.n for _, cpu, _ in runs)
        self.others[name] = statistics.median((machine - cpu) * 1000 / self.n for _, cpu, machine in runs)

    def ratio(self, a: str, b: str) -> str | None:
        if a in self.rate and b in self.rate:
            return f"{a} / {b}: {self.rate[a] / self.rate[b]:.2f}x"
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--concurrency", type=int, default=16, help="asyncio gather: commands in flight")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--clients", default="blockssh,paramiko,asyncssh,blockssh-aio")
    args = parser.parse_args()
    n, threads = args.commands, args.threads
    wanted = args.clients.split(",")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import paramiko

    results = Results(n)
    gather = f"gather ({args.concurrency} in flight)"
    runs: dict[str, list[Run]] = {}
    with openssh_server() as server:
        blocking = {
            name: BlockingClient(module, server, threads)
            for name, module in (("blockssh", blockssh), ("paramiko", paramiko))
            if name in wanted
        }
        try:
            # Round-robin: every client gets one run per round, so a busy moment on a shared machine
            # does not fall on one client only.
            for _ in range(args.runs):
                for name, client in blocking.items():
                    runs.setdefault(f"{name} sequential", []).append(client.sequential(n))
                    result = client.threaded(n)
                    runs.setdefault(f"{name} {threads} threads", [])
                    if result is not None:
                        runs[f"{name} {threads} threads"].append(result)
                if "asyncssh" in wanted:
                    runs.setdefault(f"asyncssh {gather}", []).append(asyncssh_gather(server, n, args.concurrency))
                if "blockssh-aio" in wanted:
                    runs.setdefault(f"blockssh.aio {gather}", []).append(
                        blockssh_aio_gather(server, n, args.concurrency)
                    )
        finally:
            for client in blocking.values():
                client.close()
    for name, timings in runs.items():
        lib = name.split()[0]
        failed = blocking[lib].failures if lib in blocking and "threads" in name else 0
        results.record(name, timings, failed)

    print(f"{n} x exec {COMMAND!r} on one connection to OpenSSH sshd on 127.0.0.1, median of {args.runs} runs")
    cores = os.cpu_count() or 1
    print(
        "(client CPU: this process; server CPU: every other process on the machine, i.e. sshd and the\n"
        f" commands it starts; ceiling: {cores} CPUs / server CPU per command, the rate even a client\n"
        " costing nothing could not pass on this machine)"
    )
    print(f"{'client':36} {'commands/s':>11} {'range':>20} {'client CPU ms':>14} {'server CPU ms':>14} {'ceiling':>8}")
    for name, rate in results.rate.items():
        others = results.others[name]
        ceiling = f"{cores * 1000 / others:8.0f}" if others > 0 else f"{'-':>8}"
        print(f"{name:36} {rate:11.0f} {results.spread[name]:>20} {results.cpu[name]:14.2f} {others:14.2f} {ceiling}")
    for pair in (
        ("blockssh sequential", "paramiko sequential"),
        (f"blockssh {threads} threads", f"paramiko {threads} threads"),
        (f"blockssh {threads} threads", f"asyncssh {gather}"),
        ("blockssh sequential", f"asyncssh {gather}"),
    ):
        line = results.ratio(*pair)
        if line:
            print(line)


if __name__ == "__main__":
    main()
