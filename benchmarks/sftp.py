"""SFTP get and put of one large file: blockssh (blocking and asyncio), asyncssh, paramiko, OpenSSH's sftp.

Every client talks to the same private OpenSSH sshd (``Subsystem sftp
internal-sftp``) on 127.0.0.1 with the same cipher. A run is a whole
session: connect, authenticate, transfer, close (OpenSSH's ``sftp -b`` can
only be timed that way, so every client is). Runs go round-robin over the
clients (rotating the order, after ``sync``) so background load and writeback
spread evenly; the median run is reported with
its client CPU (user + system of this process, or of the ``sftp``/``ssh``
children), and throughput ratios to asyncssh and to the best competitor.
Destination files are deleted before every run (ext4 flushes a file that was
truncated and rewritten when it is closed, which would add noise). "setup" is
the median time of a session that moves an empty file; "net" is the rate once
that is subtracted (fairer to OpenSSH, which starts two processes). Usage::

    python benchmarks/sftp.py [--size-mib 256] [--runs 5] [--cipher aes128-gcm@openssh.com] [--clients ...]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import openssh_server

import blockssh
import blockssh.aio
from blockssh.sync.sftp import SFTPClient

CLIENTS = ["blockssh", "blockssh-aio", "asyncssh", "paramiko", "openssh"]
LABELS = {
    "blockssh": "blockssh (blocking)",
    "blockssh-aio": "blockssh (asyncio)",
    "asyncssh": "asyncssh 2.24",
    "paramiko": "paramiko",
    "openssh": "OpenSSH sftp",
}


class Job:
    """One direction of one client: ``fn(src, dst)`` moves the file."""

    def __init__(self, server: Any, cipher: str, local_dir: Path) -> None:
        self.server = server
        self.cipher = cipher
        self.local_dir = local_dir
        self.remote_dir = Path(server.scratch_dir)


def _blockssh_connect(job: Job) -> blockssh.SSHClient:
    client = blockssh.SSHClient()
    client.load_host_keys(job.server.known_hosts)
    client.connect(
        job.server.host,
        job.server.port,
        username=job.server.user,
        key_filename=job.server.client_keys["ed25519"],
        look_for_keys=False,
        allow_agent=False,
        disabled_algorithms={"ciphers": [c for c in _ALL_CIPHERS if c != job.cipher]},
    )
    return client


_ALL_CIPHERS = [
    "chacha20-poly1305@openssh.com",
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "aes128-ctr",
    "aes192-ctr",
    "aes256-ctr",
]


def blockssh_transfer(job: Job, direction: str, src: str, dst: str) -> None:
    client = _blockssh_connect(job)
    try:
        sftp = SFTPClient.from_transport(client.get_transport())
        if direction == "get":
            sftp.get(src, dst)
        else:
            sftp.put(src, dst)
        sftp.close()
    finally:
        client.close()


def blockssh_aio_transfer(job: Job, direction: str, src: str, dst: str) -> None:
    async def main() -> None:
        async with blockssh.aio.connect(
            job.server.host,
            job.server.port,
            username=job.server.user,
            client_keys=[job.server.client_keys["ed25519"]],
            known_hosts=job.server.known_hosts,
            encryption_algs=[job.cipher],
        ) as conn:
            sftp = await conn.start_sftp_client()
            if direction == "get":
                await sftp.get(src, dst)
            else:
                await sftp.put(src, dst)
            sftp.close()

    asyncio.run(main())


def asyncssh_transfer(job: Job, direction: str, src: str, dst: str) -> None:
    import asyncssh

    async def main() -> None:
        async with asyncssh.connect(
            job.server.host,
            job.server.port,
            username=job.server.user,
            client_keys=[job.server.client_keys["ed25519"]],
            known_hosts=job.server.known_hosts,
            encryption_algs=[job.cipher],
        ) as conn:
            async with conn.start_sftp_client() as sftp:
                if direction == "get":
                    await sftp.get(src, dst)
                else:
                    await sftp.put(src, dst)

    asyncio.run(main())


def paramiko_transfer(job: Job, direction: str, src: str, dst: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import paramiko
    client = paramiko.SSHClient()
    client.load_host_keys(job.server.known_hosts)
    client.connect(
        job.server.host,
        job.server.port,
        username=job.server.user,
        key_filename=job.server.client_keys["ed25519"],
        look_for_keys=False,
        allow_agent=False,
        disabled_algorithms={"ciphers": [c for c in paramiko.Transport._preferred_ciphers if c != job.cipher]},
    )
    try:
        sftp = client.open_sftp()
        if direction == "get":
            sftp.get(src, dst)
        else:
            sftp.put(src, dst)
        sftp.close()
    finally:
        client.close()


def openssh_transfer(job: Job, direction: str, src: str, dst: str) -> None:
    batch = job.local_dir / "batch.txt"
    batch.write_text(f"{direction} {src} {dst}\n")
    s = job.server
    subprocess.run(
        [
            "sftp",
            "-q",
            "-b",
            str(batch),
            "-P",
            str(s.port),
            "-i",
            str(s.client_keys["ed25519"]),
            "-c",
            job.cipher,
            "-o",
            f"UserKnownHostsFile={s.known_hosts}",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-F",
            "/dev/null",
            f"{s.user}@{s.host}",
        ],
        check=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        timeout=600,
    )


TRANSFERS: dict[str, Callable[[Job, str, str, str], None]] = {
    "blockssh": blockssh_transfer,
    "blockssh-aio": blockssh_aio_transfer,
    "asyncssh": asyncssh_transfer,
    "paramiko": paramiko_transfer,
    "openssh": openssh_transfer,
}


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cipher", default="aes128-gcm@openssh.com")
    parser.add_argument("--clients", default=",".join(CLIENTS))
    parser.add_argument("--directions", default="get,put")
    parser.add_argument("--verify", action="store_true", help="check SHA-256 after every run")
    args = parser.parse_args()
    size = args.size_mib * 1024 * 1024
    clients = args.clients.split(",")
    local_dir = Path(tempfile.mkdtemp(prefix="blockssh-sftp-bench-"))
    try:
        with openssh_server() as server:
            job = Job(server, args.cipher, local_dir)
            source_local = local_dir / "source.bin"
            with open(source_local, "wb") as f:
                for _ in range(args.size_mib):
                    f.write(os.urandom(1 << 20))
            os.chmod(local_dir, 0o755)
            os.chmod(source_local, 0o644)
            source_remote = job.remote_dir / "source.bin"
            shutil.copyfile(source_local, source_remote)
            os.chmod(source_remote, 0o644)
            digest = _sha256(source_local) if args.verify else ""
            empty = job.remote_dir / "empty.bin"
            empty.write_bytes(b"")
            os.chmod(empty, 0o644)
            setup: dict[str, float] = {}
            for name in clients:  # the cost of a session that moves nothing: connect, start SFTP, close
                times = []
                for _ in range(3):
                    t0 = time.perf_counter()
                    TRANSFERS[name](job, "get", str(empty), str(local_dir / "empty.out"))
                    times.append(time.perf_counter() - t0)
                setup[name] = statistics.median(times)
            print(
                f"SFTP {args.size_mib} MiB over {args.cipher} to OpenSSH sshd (internal-sftp) on 127.0.0.1,"
                f" {os.cpu_count()} CPUs; median of {args.runs} runs, each a whole session (connect + transfer)"
            )
            for direction in args.directions.split(","):
                results: dict[str, list[tuple[float, float]]] = {c: [] for c in clients}
                for run in range(args.runs):
                    order = clients[run % len(clients) :] + clients[: run % len(clients)]  # rotate: no fixed slot
                    for name in order:
                        if direction == "get":
                            src, dst = str(source_remote), local_dir / "download.bin"
                        else:
                            src, dst = str(source_local), job.remote_dir / "upload.bin"
                        _remove(dst)
                        os.sync()  # start every run without dirty pages from the last one being written back
                        cpu0 = _cpu()
                        t0 = time.perf_counter()
                        TRANSFERS[name](job, direction, src, str(dst))
                        wall = time.perf_counter() - t0
                        cpu = _cpu() - cpu0
                        if dst.stat().st_size != size:
                            raise SystemExit(f"{name} {direction}: wrong size {dst.stat().st_size}")
                        if args.verify and _sha256(dst) != digest:
                            raise SystemExit(f"{name} {direction}: SHA-256 mismatch")
                        results[name].append((wall, cpu))
                        _remove(dst)
                _report(direction, results, args.size_mib, setup)
    finally:
        shutil.rmtree(local_dir, ignore_errors=True)


def _report(
    direction: str, results: dict[str, list[tuple[float, float]]], size_mib: int, setup: dict[str, float]
) -> None:
    rates = {n: statistics.median(size_mib / w for w, _ in r) for n, r in results.items()}
    net = {n: statistics.median(size_mib / max(w - setup[n], 1e-3) for w, _ in r) for n, r in results.items()}
    cpus = {n: statistics.median(c * 1000 / size_mib for _, c in r) for n, r in results.items()}
    spread = {n: (min(size_mib / w for w, _ in r), max(size_mib / w for w, _ in r)) for n, r in results.items()}
    print(
        f"\n{direction:4} {'client':22} {'session':>8} {'(min-max)':>11} {'setup':>7} {'net':>7}"
        f" {'CPU':>6} {'vs asyncssh':>12} {'net vs':>7}"
    )
    units = f"{'MiB/s':>8} {'':>11} {'ms':>7} {'MiB/s':>7} {'ms/MiB':>6} {'(session)':>12} {'asyncssh':>7}"
    print(f"{'':4} {'':22} {units}")
    for name in rates:
        lo, hi = spread[name]
        ratio = f"{rates[name] / rates['asyncssh']:.2f}x" if "asyncssh" in rates else "-"
        net_ratio = f"{net[name] / net['asyncssh']:.2f}x" if "asyncssh" in net else "-"
        print(
            f"{direction:4} {LABELS[name]:22} {rates[name]:8.1f} {f'({lo:.0f}-{hi:.0f})':>11}"
            f" {setup[name] * 1000:7.0f} {net[name]:7.1f} {cpus[name]:6.2f} {ratio:>12} {net_ratio:>7}"
        )
    if "blockssh" in rates:
        for label, table in (("session", rates), ("net", net)):
            others = {n: r for n, r in table.items() if not n.startswith("blockssh")}
            if others:
                best = max(others, key=lambda n: others[n])
                print(
                    f"{direction:4} blockssh (blocking) / best other ({LABELS[best]}), {label}:"
                    f" {table['blockssh'] / others[best]:.2f}x"
                )


if __name__ == "__main__":
    main()
