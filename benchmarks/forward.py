"""Local port forwarding throughput: blockssh vs OpenSSH's ``ssh -L`` vs asyncssh, through OpenSSH's sshd.

Each forwarder listens on a local port and forwards to a sink/source server
on 127.0.0.1 through a private sshd on 127.0.0.1. A driver process pushes
SIZE bytes into the forwarded port and waits for the sink's byte count
("upload"), or reads SIZE bytes the source sends ("download"). The sink,
the driver and (for ``ssh -L``) the forwarder are separate processes; the
blockssh and asyncssh forwarders run in this process's event loop. Each
forwarder is timed in turns, ``--runs`` times; the table shows medians and
the ratio to ``ssh -L``. Usage::

    python benchmarks/forward.py [--size-mib 256] [--runs 3] [--cipher aes128-gcm@openssh.com]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from _common import openssh_server

import blockssh.aio

CHUNK = 1 << 20
HERE = os.path.abspath(__file__)


# -- the sink/source server and the driver (run as separate processes) -------------------------------------


def serve() -> None:
    """Sink/source on a free port (printed on stdout): 'U' counts bytes to EOF and answers; 'D<size>' sends."""
    listener = socket.create_server(("127.0.0.1", 0))
    print(listener.getsockname()[1], flush=True)
    zeros = bytes(CHUNK)
    while True:
        conn, _ = listener.accept()
        with conn:
            mode = conn.recv(1)
            if mode == b"U":
                total = 0
                while data := conn.recv(CHUNK):
                    total += len(data)
                conn.sendall(total.to_bytes(8, "big"))
            elif mode == b"D":
                size = int.from_bytes(_recv_exactly(conn, 8), "big")
                view = memoryview(zeros)
                while size > 0:
                    n = conn.send(view[: min(CHUNK, size)])
                    size -= n


def _recv_exactly(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise ConnectionError("short read")
        data += chunk
    return data


def drive(direction: str, port: int, size: int) -> None:
    """Move ``size`` bytes through 127.0.0.1:``port``; print the seconds it took."""
    t0 = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if direction == "upload":
            conn.sendall(b"U")
            view = memoryview(bytes(CHUNK))
            left = size
            while left > 0:
                n = min(CHUNK, left)
                conn.sendall(view[:n])
                left -= n
            conn.shutdown(socket.SHUT_WR)
            got = int.from_bytes(_recv_exactly(conn, 8), "big")
        else:
            conn.sendall(b"D" + size.to_bytes(8, "big"))
            got = 0
            while data := conn.recv(CHUNK):
                got += len(data)
    elapsed = time.perf_counter() - t0
    if got != size:
        sys.exit(f"moved {got} bytes, expected {size}")
    print(elapsed, flush=True)


async def run_driver(direction: str, port: int, size: int) -> float:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, HERE, "--drive", direction, str(port), str(size), stdout=subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 600)
    if proc.returncode != 0:
        raise RuntimeError(f"driver failed ({proc.returncode})")
    return float(out.decode().strip())


async def wait_listening(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


# -- the forwarders ----------------------------------------------------------------------------------------------

Forwarder = Callable[[Any, str, int, str, int], Awaitable[float]]


async def with_blockssh(server: Any, cipher: str, sink: int, direction: str, size: int) -> float:
    async with blockssh.aio.connect(
        server.host,
        server.port,
        username=server.user,
        client_keys=[server.client_keys["ed25519"]],
        known_hosts=server.known_hosts,
        encryption_algs=[cipher],
    ) as conn:
        listener = await conn.forward_local_port("127.0.0.1", 0, "127.0.0.1", sink)
        try:
            return await run_driver(direction, listener.get_port(), size)
        finally:
            listener.close()


async def with_asyncssh(server: Any, cipher: str, sink: int, direction: str, size: int) -> float:
    import asyncssh

    async with asyncssh.connect(
        server.host,
        server.port,
        username=server.user,
        client_keys=[server.client_keys["ed25519"]],
        known_hosts=server.known_hosts,
        encryption_algs=[cipher],
    ) as conn:
        listener = await conn.forward_local_port("127.0.0.1", 0, "127.0.0.1", sink)
        try:
            return await run_driver(direction, listener.get_port(), size)
        finally:
            listener.close()


async def with_openssh(server: Any, cipher: str, sink: int, direction: str, size: int) -> float:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = server.ssh_command(
        options=[f"Ciphers={cipher}", "ExitOnForwardFailure=yes"], flags=["-N", "-L", f"{port}:127.0.0.1:{sink}"]
    )
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=server.ssh_env()
    )
    try:
        await wait_listening(port)
        return await run_driver(direction, port, size)
    finally:
        proc.terminate()
        await proc.wait()


FORWARDERS: dict[str, Forwarder] = {
    "ssh -L (OpenSSH)": with_openssh,
    "blockssh (asyncio)": with_blockssh,
    "asyncssh": with_asyncssh,
}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve()
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--drive":
        drive(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cipher", default="aes128-gcm@openssh.com")
    parser.add_argument("--directions", default="upload,download")
    parser.add_argument(
        "--forwarders", default="ssh,blockssh,asyncssh", help="comma-separated name prefixes: ssh, blockssh, asyncssh"
    )
    args = parser.parse_args()
    size = args.size_mib << 20
    names = []
    for wanted in args.forwarders.split(","):
        matches = [name for name in FORWARDERS if name.startswith(wanted.strip())]
        if len(matches) != 1:
            parser.error(f"--forwarders: {wanted!r} names none or several of {', '.join(FORWARDERS)}")
        names.append(matches[0])
    sink_proc = subprocess.Popen([sys.executable, HERE, "--serve"], stdout=subprocess.PIPE)
    try:
        assert sink_proc.stdout is not None
        sink = int(sink_proc.stdout.readline())
        with openssh_server() as server:
            print(
                f"{args.size_mib} MiB through a local forward (sshd on 127.0.0.1, {args.cipher});"
                f" {args.runs} runs each, in turns; median MiB/s"
            )
            print(f"{'direction':10} {'forwarder':20} {'median MiB/s':>12} {'best':>7} {'vs ssh -L':>10}")
            for direction in args.directions.split(","):
                times: dict[str, list[float]] = {name: [] for name in names}
                for _ in range(args.runs):
                    for name in names:
                        elapsed = asyncio.run(FORWARDERS[name](server, args.cipher, sink, direction, size))
                        times[name].append(elapsed)
                rates = {name: [size / (1 << 20) / t for t in ts] for name, ts in times.items()}
                base = statistics.median(rates[names[0]]) if names[0].startswith("ssh") else None
                for name in names:
                    med = statistics.median(rates[name])
                    ratio = f"{med / base:.2f}x" if base else "-"
                    print(f"{direction:10} {name:20} {med:12.1f} {max(rates[name]):7.1f} {ratio:>10}")
    finally:
        sink_proc.kill()
        sink_proc.wait()


if __name__ == "__main__":
    main()
