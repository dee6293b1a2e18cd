"""A real layer 3 (and layer 2) tunnel between blockssh's client and server, pinged across network namespaces.

The client and server run in this process and talk over loopback. Each end opens a
tun (or tap) device; the test moves the server's device into one new network
namespace and the client's into another, gives them addresses there, and pings
from one namespace to the other: every echo request and reply crosses the SSH
connection as a ``tun@openssh.com`` channel packet. A tun device keeps working
after it moves to another namespace, which is what makes this possible in one
process. Needs root, ``/dev/net/tun`` and iproute2's ``ip``; skipped otherwise.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from typing import Any

import pytest

import blockssh.aio as aio
from blockssh.aio.forward_server import ForwardingPolicy
from blockssh.exceptions import ChannelException

from interop.forward_helpers import ForwardingServer
from interop.server_helpers import SSH, keys, known_hosts, ready_server, serving, ssh_argv, ssh_env

pytestmark = pytest.mark.timeout(60)

IP = shutil.which("ip")

# ICMP echo from inside a namespace, with a raw socket: "ping" without needing iputils-ping.
PING = r"""
import os, socket, struct, sys, time

def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF

dest, count = sys.argv[1], int(sys.argv[2])
sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
sock.settimeout(3)
ident = os.getpid() & 0xFFFF
replies = 0
for seq in range(count):
    payload = b"blockssh tunnel ping %d" % seq + bytes(1000)
    header = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    packet = struct.pack("!BBHHH", 8, 0, checksum(header + payload), ident, seq) + payload
    sock.sendto(packet, (dest, 0))
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        try:
            data, _ = sock.recvfrom(4096)
        except socket.timeout:
            break
        icmp = data[(data[0] & 15) * 4 :]
        if icmp[0] == 0 and struct.unpack("!HH", icmp[4:8]) == (ident, seq) and icmp[8:] == payload:
            replies += 1
            break
print(replies)
sys.exit(0 if replies == count else 1)
"""


def _skip_reason() -> str | None:
    if not sys.platform.startswith("linux"):
        return "tun/tap devices and network namespaces are Linux features"
    if os.geteuid() != 0:
        return "creating tun devices and network namespaces needs root"
    if not os.path.exists("/dev/net/tun"):
        return "/dev/net/tun is not available (no tun module, or not exposed to this container)"
    if IP is None:
        return "iproute2's ip is not installed (.ci/run installs it)"
    probe = subprocess.run([IP, "netns", "add", f"bssh-probe-{os.getpid()}"], capture_output=True, timeout=10)
    if probe.returncode != 0:
        return f"cannot create network namespaces: {probe.stderr.decode().strip()}"
    subprocess.run([IP, "netns", "del", f"bssh-probe-{os.getpid()}"], capture_output=True, timeout=10)
    return None


SKIP = _skip_reason()


def _free_unit(prefix: str, start: int) -> int:
    for unit in range(start, start + 1000):
        if not os.path.exists(f"/sys/class/net/{prefix}{unit}"):
            return unit
    raise RuntimeError("no free tun unit")


async def _ip(*args: str) -> None:
    assert IP is not None
    proc = await asyncio.create_subprocess_exec(IP, *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == 0, f"ip {' '.join(args)}: {err.decode()}"


@pytest.mark.skipif(SKIP is not None, reason=SKIP or "")
@pytest.mark.parametrize("layer", ["tun", "tap"])
def test_ping_across_a_tunnel_between_namespaces(layer: str) -> None:
    ns_server, ns_client = f"bssh-s-{os.getpid()}-{layer}", f"bssh-c-{os.getpid()}-{layer}"
    server_unit = _free_unit(layer, 150)
    client_unit = _free_unit(layer, server_unit + 1)
    policy = ForwardingPolicy(permit_tunnel="point-to-point" if layer == "tun" else "ethernet")

    async def main() -> None:
        for ns in (ns_server, ns_client):
            await _ip("netns", "add", ns)
        async with serving(server_factory=ForwardingServer, forwarding=policy) as acc:
            conn = await aio.connect("127.0.0.1", acc.get_port(), username="t", known_hosts=None, client_keys=())
            forward = conn.forward_tun if layer == "tun" else conn.forward_tap
            tunnel = await forward(client_unit, server_unit)
            assert tunnel.interface == f"{layer}{client_unit}"
            server_if = f"{layer}{server_unit}"
            assert os.path.exists(f"/sys/class/net/{server_if}")  # noqa: ASYNC240 - the server opened its device
            for ns, ifname, address in (
                (ns_server, server_if, "10.231.7.1/24"),
                (ns_client, tunnel.interface, "10.231.7.2/24"),
            ):
                await _ip("link", "set", ifname, "netns", ns)
                await _ip("-n", ns, "addr", "add", address, "dev", ifname)
                await _ip("-n", ns, "link", "set", ifname, "up")
            assert IP is not None
            proc = await asyncio.create_subprocess_exec(
                IP, "netns", "exec", ns_client, sys.executable, "-c", PING, "10.231.7.1", "5",
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )  # fmt: skip
            out, err = await asyncio.wait_for(proc.communicate(), 40)
            assert proc.returncode == 0, f"ping got {out.decode().strip()} of 5 replies: {err.decode()}"
            assert tunnel.session.packets_in >= 5 and tunnel.session.packets_out >= 5
            tunnel.close()
            await tunnel.wait_closed()
            conn.close()
            await conn.wait_closed()

    try:
        asyncio.run(asyncio.wait_for(main(), 50))
    finally:
        for ns in (ns_server, ns_client):
            subprocess.run([IP or "ip", "netns", "del", ns], capture_output=True, timeout=10)


@pytest.mark.skipif(SKIP is not None, reason=SKIP or "")
def test_tunnel_refused_by_default_policy() -> None:
    async def main() -> Any:
        async with serving(server_factory=ForwardingServer) as acc:  # permit_tunnel "no"
            conn = await aio.connect("127.0.0.1", acc.get_port(), username="t", known_hosts=None, client_keys=())
            with pytest.raises(ChannelException):
                await conn.forward_tun(None, None)
            conn.close()

    asyncio.run(asyncio.wait_for(main(), 30))


@pytest.mark.skipif(SKIP is not None, reason=SKIP or "")
@pytest.mark.skipif(not os.path.exists(SSH), reason="OpenSSH's ssh is not installed")
def test_openssh_ssh_w_through_our_server() -> None:
    """OpenSSH's ``ssh -w`` (its tun framing) against blockssh's server (ours), pinged across namespaces."""
    ns_server, ns_client = f"bssh-s-{os.getpid()}-w", f"bssh-c-{os.getpid()}-w"
    server_unit = _free_unit("tun", 170)
    client_unit = _free_unit("tun", server_unit + 1)

    async def main() -> None:
        for ns in (ns_server, ns_client):
            await _ip("netns", "add", ns)
        async with ready_server(
            authorized_keys=keys().authorized_keys(), shell="/bin/sh", permit_tunnel="point-to-point"
        ) as acc:
            port = acc.get_port()
            argv = ssh_argv(
                port,
                known=known_hosts(port, [keys().host["ed25519"]]),
                options=["Tunnel=point-to-point", "ExitOnForwardFailure=yes"],
                flags=["-N", "-w", f"{client_unit}:{server_unit}"],
            )
            ssh = await asyncio.create_subprocess_exec(
                *argv, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ssh_env(), start_new_session=True
            )
            try:
                for _ in range(200):  # both ends open their devices
                    if all(os.path.exists(f"/sys/class/net/tun{u}") for u in (client_unit, server_unit)):  # noqa: ASYNC240
                        break
                    await asyncio.sleep(0.05)
                for ns, unit, address in (
                    (ns_server, server_unit, "10.231.9.1/24"),
                    (ns_client, client_unit, "10.231.9.2/24"),
                ):
                    await _ip("link", "set", f"tun{unit}", "netns", ns)
                    await _ip("-n", ns, "addr", "add", address, "dev", f"tun{unit}")
                    await _ip("-n", ns, "link", "set", f"tun{unit}", "up")
                assert IP is not None
                for ns, dest in ((ns_client, "10.231.9.1"), (ns_server, "10.231.9.2")):  # both directions start
                    proc = await asyncio.create_subprocess_exec(
                        IP, "netns", "exec", ns, sys.executable, "-c", PING, dest, "3",
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE,
                    )  # fmt: skip
                    out, err = await asyncio.wait_for(proc.communicate(), 30)
                    assert proc.returncode == 0, f"ping {dest}: {out.decode().strip()} of 3 replies {err.decode()}"
            finally:
                ssh.terminate()
                await ssh.wait()

    try:
        asyncio.run(asyncio.wait_for(main(), 50))
    finally:
        for ns in (ns_server, ns_client):
            subprocess.run([IP or "ip", "netns", "del", ns], capture_output=True, timeout=10)
