"""Port forwarding with the blocking API: -L, -R, -D, and paramiko's open_channel / request_port_forward.

By default it starts blockssh's embedded server on 127.0.0.1 (forwarding allowed) and a small
echo service, and forwards to that. With ``--host`` it uses a real server instead (which must
allow TCP forwarding, as OpenSSH's sshd does by default).

python demos/port_forward.py                          # against the embedded server
python demos/port_forward.py --host HOST [--port 22] [--user NAME] [--key PATH]
"""

from __future__ import annotations

import argparse
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from _connect import add_connection_args, connect

import blockssh
from blockssh.keys import generate_private_key
from blockssh.keys.pkey import pkey_from_sshkey


class EchoService:
    """A tiny line-echo service on 127.0.0.1 (what the forwards lead to)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, peer = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(65536):
                conn.sendall(b"echo: " + data)

    def close(self) -> None:
        self.sock.close()


def talk(port: int, message: bytes) -> bytes:
    """Connect to 127.0.0.1:port, send a message, return the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(message)
        return s.recv(1024)


def socks5_talk(proxy_port: int, host: str, port: int, message: bytes) -> bytes:
    """The same through a SOCKS5 proxy (what a browser or curl --socks5-hostname does)."""
    with socket.create_connection(("127.0.0.1", proxy_port), timeout=10) as s:
        s.sendall(b"\x05\x01\x00")
        assert s.recv(2) == b"\x05\x00"
        s.sendall(b"\x05\x01\x00\x03" + bytes([len(host)]) + host.encode() + struct.pack(">H", port))
        reply = s.recv(10)
        if reply[1] != 0:
            return b"SOCKS refused: code %d" % reply[1]
        s.sendall(message)
        return s.recv(1024)


@contextmanager
def embedded_client() -> Iterator[blockssh.SSHClient]:
    """blockssh's embedded server (TCP forwarding on) and a client logged in to it."""
    host_key, user_key = generate_private_key("ssh-ed25519"), generate_private_key("ssh-ed25519")
    with blockssh.serve(
        "127.0.0.1", 0, server_host_keys=[host_key], authorized_keys=user_key, allow_tcp_forwarding="yes"
    ) as server:
        print(f"[server] embedded server on 127.0.0.1:{server.port}, TCP forwarding allowed")
        client = blockssh.SSHClient()
        client.get_host_keys().add(f"[127.0.0.1]:{server.port}", host_key.algorithm, pkey_from_sshkey(host_key))
        with client:
            client.connect("127.0.0.1", server.port, username="demo", pkey=pkey_from_sshkey(user_key))
            yield client


def demo(client: blockssh.SSHClient, service: EchoService, server_is_here: bool) -> None:
    # ssh -L: a local port that leads to the service, as seen from the server.
    with client.forward_local_port("127.0.0.1", 0, "127.0.0.1", service.port) as local:
        print(f"[-L]      127.0.0.1:{local.port} -> (server) -> 127.0.0.1:{service.port}:", talk(local.port, b"hi"))

    # ssh -R: the server listens; its connections come back to our service.
    remote = client.forward_remote_port("127.0.0.1", 0, "127.0.0.1", service.port)
    print(f"[-R]      server port {remote.port} -> (here) -> 127.0.0.1:{service.port}")
    if server_is_here:
        print("          answer:", talk(remote.port, b"from the server side"))
    else:
        print("          (connect to it on the server to try it)")
    remote.close()

    # ssh -D: a SOCKS proxy whose connections leave from the server.
    with client.forward_socks("127.0.0.1", 0) as socks:
        print(f"[-D]      SOCKS5 on 127.0.0.1:{socks.port}:", socks5_talk(socks.port, "localhost", service.port, b"x"))

    # paramiko: open_channel("direct-tcpip"), what sshtunnel and Fabric's gateways use.
    transport = client.get_transport()
    assert transport is not None
    chan = transport.open_channel("direct-tcpip", ("127.0.0.1", service.port), ("127.0.0.1", 0), timeout=10)
    chan.settimeout(10)
    chan.sendall(b"over a channel")
    print("[channel] direct-tcpip channel:", chan.recv(1024))
    chan.close()

    # paramiko: request_port_forward + accept(): the server's connections as channels.
    port = transport.request_port_forward("127.0.0.1", 0)
    print(f"[accept]  request_port_forward bound server port {port}")
    if server_is_here:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"knock knock")
            accepted = transport.accept(10)
            assert accepted is not None
            accepted.settimeout(10)
            print("          accepted a channel from", accepted.origin_addr, "carrying", accepted.recv(100))
            accepted.sendall(b"who's there?")
            print("          the connecting side got", s.recv(100))
            accepted.close()
    transport.cancel_port_forward("127.0.0.1", port)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Port forwarding with the blocking API.")
    add_connection_args(parser)
    args = parser.parse_args(argv)
    service = EchoService()
    try:
        host = args.host or args.host_arg
        if host:
            with connect(args) as client:
                demo(client, service, host in ("127.0.0.1", "localhost", "::1"))
        else:
            with embedded_client() as client:
                demo(client, service, True)
    finally:
        service.close()
    print("done.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
