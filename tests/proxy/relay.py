"""A netcat-free ProxyCommand for the tests: ``python relay.py HOST PORT`` joins stdin/stdout to a TCP connection.

With ``--fail MESSAGE`` it prints MESSAGE on stderr and exits 3; with ``--silent`` it
connects nowhere and writes nothing until killed.
"""

from __future__ import annotations

import os
import selectors
import socket
import sys
import time


def main(argv: list[str]) -> int:
    if argv[:1] == ["--fail"]:
        print(argv[1], file=sys.stderr)
        return 3
    if argv[:1] == ["--silent"]:
        time.sleep(60)
        return 0
    host, port = argv[0], int(argv[1])
    sock = socket.create_connection((host, port), timeout=10)
    sock.settimeout(None)
    sel = selectors.DefaultSelector()
    stdin, stdout = sys.stdin.fileno(), sys.stdout.fileno()
    sel.register(stdin, selectors.EVENT_READ, "in")
    sel.register(sock, selectors.EVENT_READ, "sock")
    open_ends = 2
    while open_ends:
        for key, _ in sel.select():
            if key.data == "in":
                data = os.read(stdin, 65536)
                if not data:
                    sel.unregister(stdin)
                    sock.shutdown(socket.SHUT_WR)
                    open_ends -= 1
                else:
                    sock.sendall(data)
            else:
                data = sock.recv(65536)
                if not data:
                    sel.unregister(sock)
                    os.close(stdout)
                    open_ends -= 1
                else:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(stdout, view) :]
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
