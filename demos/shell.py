"""An interactive shell over ``invoke_shell``, multiplexed with ``select`` on ``Channel.fileno()``.

With ``--send 'commands'`` it types those lines and exits when the shell does (no terminal
needed); otherwise it copies your terminal's lines to the remote shell.

    python demos/shell.py HOST [--send 'uname -a; exit'] [--port ...] [--user ...] [--key ...]
"""

from __future__ import annotations

import argparse
import select
import sys

from _connect import add_connection_args, connect


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A shell session with select() on the channel.")
    add_connection_args(parser)
    parser.add_argument("--send", help="lines to type (then exit), instead of reading the terminal")
    args = parser.parse_args(argv)
    with connect(args) as client:
        chan = client.invoke_shell(term="xterm", width=100, height=30)
        if args.send is not None:
            chan.sendall(args.send.rstrip("\n") + "\n")
        watch: list[object] = [chan] if args.send is not None else [chan, sys.stdin]
        while True:
            ready, _, _ = select.select(watch, [], [], 30)
            if not ready:
                print("\n(no output for 30 s; giving up)", file=sys.stderr)
                return 1
            if chan in ready:
                data = chan.recv(4096)
                if not data:
                    break
                sys.stdout.write(data.decode("utf-8", "replace"))
                sys.stdout.flush()
            if sys.stdin in ready:
                line = sys.stdin.readline()
                if not line:
                    chan.shutdown_write()
                    watch.remove(sys.stdin)
                else:
                    chan.sendall(line)
        status = chan.recv_exit_status()
        print(f"\n(shell exited with status {status})")
        return status


if __name__ == "__main__":
    sys.exit(main())
