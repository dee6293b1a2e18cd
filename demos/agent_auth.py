"""Log in with a key held by ssh-agent, and forward the agent so a command on the server can use it.

By default it starts a private ``ssh-agent`` (OpenSSH's; yours is left alone),
adds a fresh key to it with blockssh's ``Agent.add_key``, and logs in to an embedded blockssh
server that accepts that key and allows agent forwarding; the remote ``ssh-add -l`` then lists
the key. With a HOST it uses your agent (``$SSH_AUTH_SOCK``) and a real server.

python demos/agent_auth.py                     # private agent + embedded server
python demos/agent_auth.py HOST [--port 22] [--user NAME] [--known-hosts FILE]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

from _connect import add_connection_args

import blockssh
from blockssh.keys import generate_private_key
from blockssh.keys.pkey import pkey_from_sshkey


def _listening(path: str) -> bool:
    with socket.socket(socket.AF_UNIX) as probe:
        try:
            probe.connect(path)
        except OSError:
            return False
    return True


@contextmanager
def private_agent(use_existing: bool) -> Iterator[str]:
    """``ssh-agent -D -a <socket>`` for the demo's lifetime (or, with ``use_existing``, the agent you run)."""
    if use_existing and os.environ.get("SSH_AUTH_SOCK"):
        yield os.environ["SSH_AUTH_SOCK"]
        return
    if shutil.which("ssh-agent") is None:
        raise SystemExit("no SSH_AUTH_SOCK and no ssh-agent to start (install openssh-client)")
    directory = tempfile.mkdtemp(prefix="blockssh-demo-agent-")
    path = os.path.join(directory, "agent.sock")
    proc = subprocess.Popen(["ssh-agent", "-D", "-a", path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not _listening(path) and time.monotonic() < deadline:  # the file appears before listen()
            time.sleep(0.01)
        print(f"[agent]  started ssh-agent on {path}")
        yield path
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(directory, ignore_errors=True)


def _first(agent: blockssh.Agent) -> blockssh.AgentKey:
    keys = agent.get_keys()
    if not keys:
        raise SystemExit("the agent holds no keys (ssh-add one)")
    return keys[0]  # an AgentKey works as pkey=: the agent signs


def use_agent(client: blockssh.SSHClient, agent_path: str) -> None:
    transport = client.get_transport()
    assert transport is not None
    chan = transport.open_session()
    blockssh.AgentRequestHandler(chan, agent_path)  # forward our agent to this session (off unless asked)
    chan.exec_command("echo SSH_AUTH_SOCK=$SSH_AUTH_SOCK; ssh-add -l")
    print("[remote] " + chan.makefile("r").read().decode().strip().replace("\n", "\n[remote] "))
    chan.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Agent authentication and agent forwarding.")
    add_connection_args(parser)
    args = parser.parse_args(argv)
    host = args.host or args.host_arg
    with private_agent(use_existing=bool(host)) as path:
        agent = blockssh.Agent(path)
        if host:
            print(f"[agent]  {len(agent.get_keys())} key(s):", [k.fingerprint for k in agent.get_keys()])
            with blockssh.SSHClient() as client:
                client.load_system_host_keys()
                if args.known_hosts:
                    client.load_host_keys(args.known_hosts)
                client.connect(
                    host, args.port, username=args.user, pkey=_first(agent), allow_agent=False, look_for_keys=False
                )
                print(f"[client] logged in to {host} with an agent key")
                use_agent(client, path)
        else:
            key = generate_private_key("ssh-ed25519", comment="blockssh demo key")
            agent.add_key(pkey_from_sshkey(key), lifetime=300)
            print("[agent]  added", agent.refresh()[0].fingerprint, "(lifetime 300 s)")
            host_key = generate_private_key("ssh-ed25519")
            with blockssh.serve(
                server_host_keys=[host_key], authorized_keys=key.public_only(), agent_forwarding=True
            ) as server:
                print(f"[server] embedded server on 127.0.0.1:{server.port}, agent forwarding allowed")
                with blockssh.SSHClient() as client:
                    client.get_host_keys().add(
                        f"[127.0.0.1]:{server.port}", host_key.algorithm, pkey_from_sshkey(host_key)
                    )
                    client.connect("127.0.0.1", server.port, username="demo", pkey=_first(agent), look_for_keys=False)
                    print("[client] logged in with the agent's key (no key file)")
                    use_agent(client, path)
            agent.remove_key(key.public_blob)
        agent.close()
    print("done.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
