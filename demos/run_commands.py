"""Run commands the paramiko way (exec_command) and the blockssh way (run), on one connection.

python demos/run_commands.py HOST [--port 22] [--user NAME] [--key PATH] [COMMAND ...]
"""

from __future__ import annotations

import argparse
import sys

from _connect import add_connection_args, connect

import blockssh


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run commands with exec_command and run().")
    add_connection_args(parser)
    parser.add_argument("--command", action="append", dest="commands", help="command to run (repeatable)")
    args = parser.parse_args(argv)
    commands = args.commands or ["uname -sr", "echo to-stderr >&2; exit 3"]
    with connect(args) as client:
        for command in commands:
            # paramiko's trio: read() gives bytes, iteration gives str.
            stdin, stdout, stderr = client.exec_command(command, timeout=30)
            out = stdout.read()
            err_lines = list(stderr)
            status = stdout.channel.recv_exit_status()
            print(f"$ {command}\n  stdout={out!r} stderr={err_lines!r} exit={status}")
        # blockssh's run(): subprocess.run-like, str output, check=True raises ProcessError.
        result = client.run(commands[0], timeout=30)
        print(f"run({commands[0]!r}) -> ok={result.ok} returncode={result.returncode} stdout={result.stdout!r}")
        try:
            client.run("exit 7", check=True, timeout=30)
        except blockssh.ProcessError as exc:
            print(f"run('exit 7', check=True) raised ProcessError: exit_status={exc.exit_status}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
