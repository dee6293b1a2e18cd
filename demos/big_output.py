"""Read a command's output *after* waiting for it: paramiko deadlocks here (#448, #1778), blockssh does not.

The remote command writes SIZE MiB to stdout and SIZE MiB to stderr, interleaved; the script
waits for the exit status first, then reads stderr, then stdout, the order that hangs paramiko
as soon as either stream passes its 2 MiB window.

    python demos/big_output.py HOST [--size-mib 32] [--port ...] [--user ...] [--key ...]
"""

from __future__ import annotations

import argparse
import sys
import time

from _connect import add_connection_args, connect


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Large interleaved stdout and stderr, read after the exit status.")
    add_connection_args(parser)
    parser.add_argument("--size-mib", type=int, default=32)
    args = parser.parse_args(argv)
    blocks = args.size_mib * 16  # 64 KiB blocks
    command = f"for i in $(seq {blocks}); do head -c 65536 /dev/zero; head -c 65536 /dev/zero >&2; done"
    with connect(args) as client:
        start = time.monotonic()
        _, stdout, stderr = client.exec_command(command, timeout=120)
        status = stdout.channel.recv_exit_status()  # nothing read yet: the channel keeps draining
        err = stderr.read()
        out = stdout.read()
        took = time.monotonic() - start
        print(f"exit status {status}; stdout {len(out)} bytes, stderr {len(err)} bytes in {took:.1f} s")
        return 0 if status == 0 and len(out) == len(err) == blocks * 65536 else 1


if __name__ == "__main__":
    sys.exit(main())
