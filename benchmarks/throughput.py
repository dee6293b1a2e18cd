"""Bulk download throughput over exec: blockssh (blocking and asyncio), asyncssh, paramiko.

Streams ``head -c SIZE /dev/zero`` from a private OpenSSH sshd on 127.0.0.1
through each client, per cipher, and prints MiB/s, client CPU ms per MiB and
the ratio to asyncssh. Usage::

    python benchmarks/throughput.py [--size-mib 256] [--runs 3] [--ciphers a,b]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import warnings
from typing import Any

from _common import Measurement, measure, openssh_server

import blockssh
import blockssh.aio

CIPHERS = ["aes128-gcm@openssh.com", "chacha20-poly1305@openssh.com", "aes128-ctr"]
READ_SIZE = 1 << 20


def blockssh_blocking(server: Any, cipher: str, size: int) -> int:
    client = blockssh.SSHClient()
    client.load_host_keys(server.known_hosts)
    others = [c for c in CIPHERS + ["aes256-gcm@openssh.com", "aes192-ctr", "aes256-ctr"] if c != cipher]
    client.connect(
        server.host,
        server.port,
        username=server.user,
        key_filename=server.client_keys["ed25519"],
        look_for_keys=False,
        disabled_algorithms={"ciphers": others},
    )
    try:
        _, stdout, _ = client.exec_command(f"head -c {size} /dev/zero")
        chan = stdout.channel
        total = 0
        while True:
            data = chan.recv(READ_SIZE)
            if not data:
                break
            total += len(data)
        assert total == size, total
        return total
    finally:
        client.close()


class _Counter(blockssh.aio.SSHClientSession[bytes]):
    def __init__(self) -> None:
        self.total = 0

    def data_received(self, data: bytes, datatype: int | None) -> None:
        self.total += len(data)


def blockssh_aio(server: Any, cipher: str, size: int) -> int:
    async def main() -> int:
        conn = await blockssh.aio.connect(
            server.host,
            server.port,
            username=server.user,
            client_keys=[server.client_keys["ed25519"]],
            known_hosts=server.known_hosts,
            encryption_algs=[cipher],
        )
        try:
            chan, session = await conn.create_session(_Counter, f"head -c {size} /dev/zero")
            await chan.wait_closed()
            assert session.total == size, session.total
            return session.total
        finally:
            conn.close()

    return asyncio.run(main())


def asyncssh_run(server: Any, cipher: str, size: int) -> int:
    import asyncssh

    class Counter(asyncssh.SSHClientSession):  # type: ignore[misc]
        def __init__(self) -> None:
            self.total = 0

        def data_received(self, data: bytes, datatype: Any) -> None:
            self.total += len(data)

    async def main() -> int:
        async with asyncssh.connect(
            server.host,
            server.port,
            username=server.user,
            client_keys=[server.client_keys["ed25519"]],
            known_hosts=server.known_hosts,
            encryption_algs=[cipher],
        ) as conn:
            chan, session = await conn.create_session(Counter, f"head -c {size} /dev/zero", encoding=None)
            await chan.wait_closed()
            assert session.total == size, session.total
            return int(session.total)

    return asyncio.run(main())


def paramiko_run(server: Any, cipher: str, size: int) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import paramiko
    client = paramiko.SSHClient()
    client.load_host_keys(server.known_hosts)
    others = [c for c in paramiko.Transport._preferred_ciphers if c != cipher]
    client.connect(
        server.host,
        server.port,
        username=server.user,
        key_filename=server.client_keys["ed25519"],
        look_for_keys=False,
        allow_agent=False,
        disabled_algorithms={"ciphers": others},
    )
    try:
        _, stdout, _ = client.exec_command(f"head -c {size} /dev/zero")
        chan = stdout.channel
        total = 0
        while True:
            data = chan.recv(READ_SIZE)
            if not data:
                break
            total += len(data)
        assert total == size, total
        return total
    finally:
        client.close()


def paramiko_supports(cipher: str) -> bool:
    import paramiko

    return cipher in paramiko.Transport._preferred_ciphers


CLIENTS = {
    "blockssh (blocking)": blockssh_blocking,
    "blockssh (asyncio)": blockssh_aio,
    "asyncssh": asyncssh_run,
    "paramiko": paramiko_run,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--ciphers", default=",".join(CIPHERS))
    parser.add_argument("--clients", default=",".join(CLIENTS))
    args = parser.parse_args()
    size = args.size_mib * 1024 * 1024
    with openssh_server() as server:
        print(
            f"exec 'head -c {args.size_mib}M /dev/zero' from OpenSSH sshd on 127.0.0.1; {args.runs} runs per client,"
            " taken in turns so that load on the machine hits every client alike"
        )
        print(f"{'cipher':30} {'client':20} {'median MiB/s':>12} {'best':>6} {'CPU ms/MiB':>11} {'vs asyncssh':>12}")
        for cipher in args.ciphers.split(","):
            names = [n for n in args.clients.split(",") if n != "paramiko" or paramiko_supports(cipher)]
            runs: dict[str, list[Measurement]] = {name: [] for name in names}
            for _ in range(args.runs):
                for name in names:
                    fn = CLIENTS[name]
                    runs[name].append(measure(lambda fn=fn, cipher=cipher: fn(server, cipher, size)))
            medians = {name: statistics.median(m.mib_per_s for m in ms) for name, ms in runs.items()}
            base = medians.get("asyncssh")
            for name in args.clients.split(","):
                if name not in runs:
                    print(f"{cipher:30} {name:20} {'n/a':>12}")
                    continue
                ms = runs[name]
                cpu = statistics.median(m.cpu_ms_per_mib for m in ms)
                best = max(m.mib_per_s for m in ms)
                ratio = f"{medians[name] / base:.2f}x" if base else "-"
                print(f"{cipher:30} {name:20} {medians[name]:12.1f} {best:6.0f} {cpu:11.2f} {ratio:>12}")


if __name__ == "__main__":
    main()
