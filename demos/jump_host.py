"""Reach a host through a jump host: paramiko's open_channel pattern, ssh_config's ProxyJump, asyncio's tunnel=.

By default it starts two embedded blockssh servers on 127.0.0.1 (a jump host that allows
direct-tcpip, and a target) and connects to the target through the jump host three ways.
With ``--jump`` it uses real servers instead (OpenSSH's sshd allows direct-tcpip by default).

python demos/jump_host.py                                   # embedded servers
python demos/jump_host.py --jump me@bastion[:port] TARGET [--port 22] [--user NAME] [--key PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from _connect import add_connection_args

import blockssh
import blockssh.aio
from blockssh.config import parse_jump
from blockssh.keys import generate_private_key


@contextmanager
def embedded_servers() -> Iterator[tuple[dict[str, object], dict[str, object], Path]]:
    """A jump server (TCP forwarding allowed), a target server, a key both accept, a known_hosts file."""
    user_key = generate_private_key("ssh-ed25519")
    jump_key, target_key = generate_private_key("ssh-ed25519"), generate_private_key("ssh-ed25519")
    with (
        tempfile.TemporaryDirectory() as tmp,
        blockssh.serve(server_host_keys=[jump_key], authorized_keys=user_key, allow_tcp_forwarding="local") as jump,
        blockssh.serve(server_host_keys=[target_key], authorized_keys=user_key) as target,
    ):
        print(f"[servers] jump host 127.0.0.1:{jump.port}, target 127.0.0.1:{target.port}")
        key_path = Path(tmp) / "id_ed25519"
        key_path.write_bytes(user_key.export_private("openssh"))
        key_path.chmod(0o600)
        known = Path(tmp) / "known_hosts"
        known.write_text(jump.known_hosts_line() + "\n" + target.known_hosts_line() + "\n")
        j = {"host": "127.0.0.1", "port": jump.port, "user": "demo"}
        t = {"host": "127.0.0.1", "port": target.port, "user": "demo"}
        yield j, t, Path(tmp)


def paramiko_style(jump: dict[str, object], target: dict[str, object], key: str, known: str) -> None:
    """jump.get_transport().open_channel("direct-tcpip", ...) then target.connect(sock=chan)."""
    with blockssh.SSHClient() as jclient, blockssh.SSHClient() as tclient:
        jclient.load_host_keys(known)
        jclient.connect(str(jump["host"]), int(str(jump["port"])), username=str(jump["user"]), key_filename=key)
        transport = jclient.get_transport()
        assert transport is not None
        chan = transport.open_channel("direct-tcpip", (str(target["host"]), int(str(target["port"]))), ("", 0))
        tclient.load_host_keys(known)
        tclient.connect(
            str(target["host"]), int(str(target["port"])), username=str(target["user"]), key_filename=key, sock=chan
        )
        print("[paramiko] open_channel + connect(sock=chan):", tclient.run("echo $SSH_CONNECTION").stdout.strip())


def with_ssh_config(jump: dict[str, object], target: dict[str, object], key: str, known: str, tmp: Path) -> None:
    """A Host alias with ProxyJump, given to blockssh.connect(config=...)."""
    config = tmp / "ssh_config"
    config.write_text(
        f"Host demo-jump\n  HostName {jump['host']}\n  Port {jump['port']}\n  User {jump['user']}\n"
        f"Host demo-target\n  HostName {target['host']}\n  Port {target['port']}\n  User {target['user']}\n"
        "  ProxyJump demo-jump\n"
        f"Host *\n  IdentityFile {key}\n  UserKnownHostsFile {known}\n  StrictHostKeyChecking yes\n"
        "  IdentityAgent none\n"
    )
    with blockssh.connect("demo-target", config=str(config)) as client:
        print("[ssh_config] ProxyJump via blockssh.connect():", client.run("echo $SSH_CONNECTION").stdout.strip())


async def asyncio_tunnel(jump: dict[str, object], target: dict[str, object], key: str, known: str) -> None:
    """blockssh.aio.connect(tunnel="user@host:port")."""
    spec = f"{jump['user']}@{jump['host']}:{jump['port']}"
    async with blockssh.aio.connect(
        str(target["host"]),
        int(str(target["port"])),
        username=str(target["user"]),
        client_keys=[key],
        known_hosts=known,
        tunnel=spec,
    ) as conn:
        result = await conn.run("echo $SSH_CONNECTION")
        print(f"[asyncio] tunnel={spec!r}:", result.stdout.strip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Connect through a jump host.")
    add_connection_args(parser)
    parser.add_argument("--jump", help="[user@]host[:port] of the jump host (default: embedded servers)")
    args = parser.parse_args(argv)
    if args.jump:
        hop = parse_jump(args.jump)[0]
        jump = {"host": hop.host, "port": hop.port or 22, "user": hop.user or args.user}
        target = {"host": args.host or args.host_arg, "port": args.port, "user": args.user}
        if not target["host"]:
            raise SystemExit("give the TARGET host")
        key = args.key or str(Path("~/.ssh/id_ed25519").expanduser())
        known = args.known_hosts or str(Path("~/.ssh/known_hosts").expanduser())
        paramiko_style(jump, target, key, known)
        asyncio.run(asyncio_tunnel(jump, target, key, known))
    else:
        with embedded_servers() as (jump, target, tmp):
            key, known = str(tmp / "id_ed25519"), str(tmp / "known_hosts")
            paramiko_style(jump, target, key, known)
            with_ssh_config(jump, target, key, known, tmp)
            asyncio.run(asyncio_tunnel(jump, target, key, known))
    print("done.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
