"""Bulk download throughput over exec: blockssh (blocking and asyncio), asyncssh, paramiko.

Streams ``head -c SIZE /dev/zero`` from a private OpenSSH sshd on 127.0.0.1
through each client, per cipher, and prints MiB/s, client CPU ms per MiB and
the ratio to asyncssh. Usage::

    python benchmarks/throughput.py [--size-mib 256] [--runs 3] [--ciphers a,b]
"""

from __future__ import annotations

import argparse
import asyncio
import warnings
from typing import Any

from _common import Measurement, best_of, openssh_server

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
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--ciphers", default=",".join(CIPHERS))
    parser.add_argument("--clients", default=",".join(CLIENTS))
    args = parser.parse_args()
    size = args.size_mib * 1024 * 1024
    with openssh_server() as server:
        print(f"exec 'head -c {args.size_mib}M /dev/zero' from OpenSSH sshd on 127.0.0.1, median of {args.runs} runs")
        print(f"{'cipher':32} {'client':22} {'MiB/s':>8} {'CPU ms/MiB':>11} {'vs asyncssh':>12}")
        for cipher in args.ciphers.split(","):
            results: dict[str, Measurement | None] = {}
            for name in args.clients.split(","):
                fn = CLIENTS[name]
                if name == "paramiko" and not paramiko_supports(cipher):
                    results[name] = None
                    continue
                results[name] = best_of(args.runs, lambda fn=fn: fn(server, cipher, size))
            base = results.get("asyncssh")
            for name, m in results.items():
                if m is None:
                    print(f"{cipher:32} {name:22} {'n/a':>8} {'':>11} {'':>12}")
                    continue
                ratio = f"{m.mib_per_s / base.mib_per_s:.2f}x" if base else "-"
                print(f"{cipher:32} {name:22} {m.mib_per_s:8.1f} {m.cpu_ms_per_mib:11.2f} {ratio:>12}")


if __name__ == "__main__":
    main()
