"""An unmodified paramiko-style script, run on blockssh through ``import blockssh as paramiko``.

``--with-paramiko`` runs the very same code on paramiko, for comparison.

    python demos/paramiko_script.py [HOST] [--with-paramiko] [--port ...] [--user ...] [--key ...]

Without HOST it runs against blockssh's embedded server.
"""

from __future__ import annotations

import argparse
import select
import sys
import types

from _connect import add_connection_args


def script(paramiko: types.ModuleType, host: str, port: int, user: str, key: str | None) -> None:
    # --- what a paramiko user writes -------------------------------------------------------
    client = paramiko.SSHClient()
    client.load_system_host_keys()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    client.connect(host, port=port, username=user, key_filename=key, timeout=10)

    stdin, stdout, stderr = client.exec_command("printf 'a\\nb\\n'; echo oops >&2; exit 2")
    for line in stdout:
        print("line:", line.rstrip())
    print("stderr:", stderr.read().decode().strip(), "| exit:", stdout.channel.recv_exit_status())

    transport = client.get_transport()
    transport.set_keepalive(30)
    chan = transport.open_session()
    chan.exec_command("sleep 0.2; echo from-select")
    while True:
        readable, _, _ = select.select([chan], [], [], 10)
        if not readable:
            break
        data = chan.recv(1024)
        if not data:
            break
        print("select:", data.decode().strip())
    print("server key:", transport.get_remote_server_key().get_name())
    try:
        client.exec_command("sleep 5", timeout=0.5)[1].read()
    except paramiko.SSHException as exc:  # blockssh: socket.timeout is also an SSHException
        print("timeout (SSHException):", type(exc).__name__)
    except TimeoutError as exc:
        print("timeout (socket.timeout):", type(exc).__name__)
    client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A paramiko script on blockssh.")
    add_connection_args(parser)
    parser.add_argument("--with-paramiko", action="store_true", help="run the same script on paramiko")
    args = parser.parse_args(argv)
    if args.with_paramiko:
        import paramiko
    else:
        import blockssh as paramiko  # the one-line migration
    host, port, key = args.host or args.host_arg, args.port, args.key
    if not host:
        from _connect import embedded_server

        host, (port, key) = "127.0.0.1", embedded_server()
    script(paramiko, host, port, args.user, key)
    return 0


if __name__ == "__main__":
    sys.exit(main())
