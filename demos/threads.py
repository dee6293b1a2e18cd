"""Share one connection between threads: each thread runs its own commands on its own channels.

python demos/threads.py HOST [--threads 16] [--commands 20] [--port ...] [--user ...] [--key ...]
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from _connect import add_connection_args, connect


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Many threads, one SSHClient.")
    add_connection_args(parser)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--commands", type=int, default=20, help="commands per thread")
    args = parser.parse_args(argv)
    with connect(args) as client:

        def work(n: int) -> int:
            wrong = 0
            for i in range(args.commands):
                _, stdout, _ = client.exec_command(f"echo {n}.{i}")
                wrong += stdout.read() != f"{n}.{i}\n".encode()
            return wrong

        start = time.monotonic()
        with ThreadPoolExecutor(args.threads) as pool:
            wrong = sum(pool.map(work, range(args.threads)))
        took = time.monotonic() - start
        total = args.threads * args.commands
        print(f"{total} commands from {args.threads} threads in {took:.2f} s ({total / took:.0f}/s), {wrong} wrong")
        return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
