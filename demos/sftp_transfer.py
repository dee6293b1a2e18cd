"""SFTP with blockssh: an embedded server serving a temporary directory, and the blocking client.

Run ``python demos/sftp_transfer.py`` (or pass ``--host/--port/--user/--key`` to use a real server).
It uploads and downloads a file with a progress line, resumes an interrupted download, copies a
directory tree both ways, and lists files with ``glob``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import blockssh
from blockssh.keys import generate_private_key
from blockssh.keys.pkey import pkey_from_sshkey
from blockssh.sftp import sftp_factory
from blockssh.sync.serve import serve
from blockssh.sync.sftp import SFTPClient


def progress_line(label: str) -> Callable[[int, int], None]:
    start = time.perf_counter()

    def show(done: int, total: int) -> None:
        rate = done / max(time.perf_counter() - start, 1e-6) / 2**20
        pct = 100 * done / total if total else 100
        print(f"\r  {label:8} {done:>11,} / {total:,} bytes  {pct:5.1f}%  {rate:7.1f} MiB/s", end="", flush=True)

    return show


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def demo(sftp: SFTPClient, remote: str, local: Path) -> None:
    src = local / "payload.bin"
    src.write_bytes(os.urandom(32 * 2**20))
    print(f"upload and download of {src.stat().st_size // 2**20} MiB:")
    sftp.put(str(src), f"{remote}/payload.bin", callback=progress_line("put"))
    print()
    dst = local / "back.bin"
    sftp.get(f"{remote}/payload.bin", str(dst), callback=progress_line("get"))
    print(f"\n  SHA-256 {sha256(src)} -> {sha256(dst)}: {'same' if sha256(src) == sha256(dst) else 'DIFFERENT'}")

    print("resuming a download that stopped at 10 MiB:")
    partial = local / "partial.bin"
    partial.write_bytes(src.read_bytes()[: 10 * 2**20])
    sftp.get(f"{remote}/payload.bin", str(partial), callback=progress_line("resume"), resume=True)
    print(f"\n  complete and intact: {sha256(partial) == sha256(src)}")

    print("a directory tree, both ways, and glob:")
    tree = local / "tree"
    for rel in ("docs/a.txt", "docs/b.txt", "src/pkg/main.py", "src/pkg/util.py"):
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_text(f"contents of {rel}\n")
    sftp.put(str(tree), f"{remote}/tree", recursive=True)
    print("  remote *.py:", sftp.glob(f"{remote}/tree/**/*.py"))
    sftp.get(f"{remote}/tree", str(local / "tree-copy"), recursive=True)
    copied = sorted(str(p.relative_to(local / "tree-copy")) for p in (local / "tree-copy").rglob("*") if p.is_file())
    print("  downloaded:", copied)

    print("reading a remote file line by line (pipelined read-ahead, no prefetch needed):")
    with sftp.open(f"{remote}/tree/src/pkg/main.py") as f:
        for line in f:
            print("  |", line.rstrip())
    for entry in sftp.listdir_attr(remote):
        print("  ", entry.longname)


def main() -> None:  # noqa: D103
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host")
    parser.add_argument("--port", type=int, default=22)
    parser.add_argument("--user")
    parser.add_argument("--key", help="private key file")
    parser.add_argument("--remote-dir", default=".")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / "local"
        local.mkdir()
        if args.host:
            client = blockssh.SSHClient()
            client.load_system_host_keys()
            client.connect(args.host, args.port, username=args.user, key_filename=args.key)
            with client, client.open_sftp() as sftp:
                demo(sftp, args.remote_dir, local)
            return
        root = Path(tmp) / "served"
        root.mkdir()
        user_key = generate_private_key("ssh-ed25519")
        with serve("127.0.0.1", 0, authorized_keys=user_key, subsystems={"sftp": sftp_factory(root)}) as server:
            print(f"embedded server on 127.0.0.1:{server.port}, SFTP root {root}")
            client = blockssh.SSHClient()
            host_key = server.host_key
            client.get_host_keys().add(f"[127.0.0.1]:{server.port}", host_key.algorithm, pkey_from_sshkey(host_key))
            client.connect("127.0.0.1", server.port, username="demo", pkey=pkey_from_sshkey(user_key))
            with client:
                sftp = client.open_sftp()
                demo(sftp, "/", local)
                sftp.close()


if __name__ == "__main__":
    sys.exit(main())
