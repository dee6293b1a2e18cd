"""``serve`` certificate/agent flags, and how the client offers host certificate algorithms."""

from __future__ import annotations

import asyncio
import getpass
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import blockssh.aio as aio
from blockssh.__main__ import _serve_options, build_parser
from blockssh.aio.client import HOST_CERTIFICATE_ALGORITHMS, _prefer_host_certificates
from blockssh.exceptions import ConfigurationError
from blockssh.keys import KeyPair, create_certificate, generate_private_key
from blockssh.proto.algorithms.policy import Algorithms

from interop.aio_helpers import run
from interop.server_helpers import keys

pytestmark = pytest.mark.timeout(60)


def test_serve_flags_reach_the_server_options(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pub"
    ca.write_text(generate_private_key("ssh-ed25519").export_public() + "\n")
    revoked = tmp_path / "revoked"
    revoked.write_text("")
    args = build_parser().parse_args(
        [
            "serve",
            "--trusted-user-ca-keys",
            str(ca),
            "--revoked-keys",
            str(revoked),
            "--authorized-principals-file",
            str(tmp_path / "%u"),
            "--allow-agent-forwarding",
        ]
    )
    options = _serve_options(args)
    assert options["trusted_user_ca_keys"] == str(ca)
    assert options["revoked_keys"] == str(revoked)
    assert options["authorized_principals"] == str(tmp_path / "%u")
    assert options["agent_forwarding"] is True
    missing = build_parser().parse_args(["serve", "--trusted-user-ca-keys", str(tmp_path / "nope")])
    with pytest.raises(ConfigurationError, match="no such file"):
        _serve_options(missing)


def test_serve_with_only_a_trusted_ca(tmp_path: Path) -> None:
    """``python -m blockssh serve --trusted-user-ca-keys`` alone is a way to log in."""
    ca = generate_private_key("ssh-ed25519")
    (tmp_path / "ca.pub").write_text(ca.export_public() + "\n")
    key = keys().client["ed25519"]
    user = getpass.getuser()
    now = int(time.time())
    cert = create_certificate(ca, key.public_only(), 1, "cli", [user], now - 60, now + 600, serial=7)
    env = dict(os.environ, HOME=str(tmp_path))
    proc = subprocess.Popen(
        [sys.executable, "-m", "blockssh", "serve", "--port", "0", "--trusted-user-ca-keys", str(tmp_path / "ca.pub")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"port (\d+)", line)
        assert match, line + (proc.stderr.read() if proc.stderr else "")
        port = int(match.group(1))

        async def main() -> str:
            async with aio.connect(
                "127.0.0.1", port, username=user, client_keys=[KeyPair(key, cert)], known_hosts=None, agent_path=None
            ) as conn:
                return (await conn.run("echo via-cli", check=True)).stdout

        assert run(main()) == "via-cli\n"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)


def test_host_certificate_algorithms_go_first_only_with_a_known_ca() -> None:
    algs = Algorithms()
    preferred = _prefer_host_certificates(algs)
    certs = [HOST_CERTIFICATE_ALGORITHMS[a] for a in algs.host_key if a in HOST_CERTIFICATE_ALGORITHMS]
    assert list(preferred.host_key[: len(certs)]) == certs
    assert list(preferred.host_key[len(certs) :]) == list(algs.host_key)


def test_client_offers_certificate_host_keys_when_known_hosts_has_a_ca(tmp_path: Path) -> None:
    """Seen from our server: the client's KEXINIT lists ssh-ed25519-cert-v01@openssh.com first."""
    ca = generate_private_key("ssh-ed25519")
    offers: list[list[str]] = []

    async def main() -> None:
        import blockssh.proto.transport as transport_module

        original = transport_module.Transport._on_kexinit

        def spy(self: object, payload: bytes) -> None:
            if getattr(self, "is_server", False):
                from blockssh.proto.wire import Reader

                reader = Reader(bytes(payload))
                reader.get_byte()
                reader.get_bytes(16)
                reader.get_name_list()
                offers.append(reader.get_name_list())
            original(self, payload)  # type: ignore[arg-type]

        transport_module.Transport._on_kexinit = spy  # type: ignore[method-assign]
        try:
            from interop.server_helpers import serving

            async with serving() as server:
                port = server.get_port()
                known = tmp_path / "known_hosts"
                known.write_text(f"@cert-authority [127.0.0.1]:{port} {ca.export_public()}\n")
                with pytest.raises(Exception):  # noqa: B017,PT011 - our server's key is not CA-signed
                    await asyncio.wait_for(
                        aio.connect("127.0.0.1", port, known_hosts=str(known), client_keys=(), agent_path=None), 10
                    )
        finally:
            transport_module.Transport._on_kexinit = original  # type: ignore[method-assign]

    run(main())
    assert offers and offers[0][0] == "ssh-ed25519-cert-v01@openssh.com"
