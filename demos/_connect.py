"""Connection options shared by the blocking-API demos: ``HOST`` or ``--host``, ``--port``, ``--user``, ``--key``."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import blockssh  # noqa: E402


def add_connection_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("host_arg", nargs="?", metavar="HOST", help="server to connect to")
    parser.add_argument("--host", help="server to connect to (instead of HOST)")
    parser.add_argument("--port", type=int, default=22)
    parser.add_argument("--user", default=getpass.getuser())
    parser.add_argument("--key", help="private key file (default: ~/.ssh/id_* and the agent)")
    parser.add_argument("--password", default=os.environ.get("BLOCKSSH_DEMO_PASSWORD"))
    parser.add_argument("--known-hosts", help="known_hosts file (default: ~/.ssh/known_hosts)")
    parser.add_argument(
        "--accept-new-host-key",
        action="store_true",
        help="trust an unknown host key (AutoAddPolicy) instead of refusing it",
    )


def connect(args: argparse.Namespace) -> blockssh.SSHClient:
    host = args.host or args.host_arg
    if not host:
        raise SystemExit("give a HOST (or --host)")
    client = blockssh.SSHClient()
    client.load_system_host_keys()
    if args.known_hosts:
        client.load_host_keys(args.known_hosts)
    if args.accept_new_host_key:
        client.set_missing_host_key_policy(blockssh.AutoAddPolicy())
    client.connect(
        host,
        args.port,
        username=args.user,
        key_filename=args.key,
        password=args.password,
        look_for_keys=args.key is None,
        timeout=10,
    )
    return client
