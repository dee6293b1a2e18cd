"""Connection options shared by the blocking-API demos: ``HOST`` or ``--host``, ``--port``, ``--user``, ``--key``.

Without a host, a demo runs against blockssh's embedded server: started on a free 127.0.0.1
port with fresh keys, running commands as the current user, stopped when the demo exits.
"""

from __future__ import annotations

import argparse
import atexit
import getpass
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import blockssh  # noqa: E402


def add_connection_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "host_arg", nargs="?", metavar="HOST", help="server to connect to (default: blockssh's embedded server)"
    )
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


def embedded_server() -> tuple[int, str]:
    """Start the embedded server; returns its port and a private key file that may log in."""
    import tempfile

    from blockssh.keys import generate_private_key

    user_key = generate_private_key("ssh-ed25519")
    directory = tempfile.mkdtemp(prefix="blockssh-demo-")
    key_path = os.path.join(directory, "id_ed25519")
    with open(key_path, "wb") as f:
        f.write(user_key.export_private())
    os.chmod(key_path, 0o600)
    server = blockssh.serve("127.0.0.1", 0, authorized_keys=user_key, max_sessions=64)
    atexit.register(server.close)
    print(f"(no HOST given: using blockssh's embedded server on 127.0.0.1:{server.port})", file=sys.stderr)
    return server.port, key_path


def embedded_client() -> blockssh.SSHClient:
    """A client logged in to a fresh embedded server (both close when the demo exits)."""
    from blockssh.keys import generate_private_key
    from blockssh.keys.pkey import pkey_from_sshkey

    user_key = generate_private_key("ssh-ed25519")
    server = blockssh.serve("127.0.0.1", 0, authorized_keys=user_key, max_sessions=64)
    atexit.register(server.close)
    print(f"(no HOST given: using blockssh's embedded server on 127.0.0.1:{server.port})", file=sys.stderr)
    client = blockssh.SSHClient()
    host_key = pkey_from_sshkey(server.host_key)
    client.get_host_keys().add(f"[127.0.0.1]:{server.port}", server.host_key.algorithm, host_key)
    client.connect(
        "127.0.0.1",
        server.port,
        username=getpass.getuser(),
        pkey=pkey_from_sshkey(user_key),
        look_for_keys=False,
        allow_agent=False,
        timeout=10,
    )
    atexit.register(client.close)
    return client


def connect(args: argparse.Namespace) -> blockssh.SSHClient:
    host = args.host or args.host_arg
    if not host:
        return embedded_client()
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
