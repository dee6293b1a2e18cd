"""Jump hosts, ProxyCommand, the agent and certificates against OpenSSH (sshd, ssh, ssh-agent, ssh-keygen).

blockssh's client against sshd: a jump through one sshd to another (two fixture
instances), ProxyCommand with OpenSSH's ``ssh -W``, agent authentication with a real
``ssh-agent``, agent forwarding seen by ``ssh-add -l`` on the far side, user and host
certificates made with ``ssh-keygen -s``, and ssh_config driving a jump end to end.
OpenSSH's ssh against blockssh's server: ``-J`` through it and ``-A`` into it.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import blockssh
import blockssh.aio as aio
from blockssh.exceptions import AuthenticationException, HostKeyNotVerifiable, ProxyCommandFailure

from interop.aio_helpers import connected, run
from interop.jump_helpers import agent_env, keygen, ssh_add, ssh_agent  # noqa: F401 - fixture
from interop.server_helpers import keys, known_hosts, ready_server, run_ssh, ssh_argv
from interop.sshd_fixture import SSHD

pytestmark = pytest.mark.timeout(90)


def login(server: SSHD, **extra: Any) -> dict[str, Any]:
    kw: dict[str, Any] = {
        "username": server.user,
        "client_keys": [server.client_keys["ed25519"]],
        "known_hosts": server.known_hosts,
        "agent_path": None,
    }
    kw.update(extra)
    return kw


# ---------------------------------------------------------------------------------------------
# jump hosts and ProxyCommand
# ---------------------------------------------------------------------------------------------


def test_jump_through_one_sshd_to_another(sshd: SSHD, sshd_factory: Callable[..., SSHD]) -> None:
    target = sshd_factory()

    async def main() -> None:
        async with connected(sshd, agent_path=None) as jump:
            kw = login(target)
            async with aio.connect(target.host, target.port, tunnel=jump, **kw) as conn:
                result = await conn.run("echo $SSH_CONNECTION", check=True)
                assert result.stdout.split()[3] == str(target.port)
        both = [sshd.known_hosts, target.known_hosts]
        spec = f"{sshd.user}@{sshd.host}:{sshd.port}"
        async with aio.connect(target.host, target.port, tunnel=spec, **login(target, known_hosts=both)) as conn:
            assert (await conn.run("echo string-tunnel", check=True)).stdout == "string-tunnel\n"

    run(main())


def test_paramiko_jump_pattern_with_open_channel(sshd: SSHD, sshd_factory: Callable[..., SSHD]) -> None:
    """``jump.get_transport().open_channel("direct-tcpip", ...)`` then ``target.connect(sock=chan)``."""
    target = sshd_factory()
    with blockssh.SSHClient() as jump, blockssh.SSHClient() as client:
        jump.load_host_keys(sshd.known_hosts)
        jump.connect(
            sshd.host, sshd.port, username=sshd.user, key_filename=sshd.client_keys["ed25519"], allow_agent=False
        )
        transport = jump.get_transport()
        assert transport is not None
        chan = transport.open_channel("direct-tcpip", (target.host, target.port), ("", 0))
        client.load_host_keys(target.known_hosts)
        client.connect(
            target.host,
            target.port,
            username=target.user,
            key_filename=target.client_keys["rsa"],
            sock=chan,
            allow_agent=False,
            look_for_keys=False,
        )
        stdin, stdout, stderr = client.exec_command("echo nested; echo $SSH_CONNECTION")
        lines = stdout.read().decode().split("\n")
        assert lines[0] == "nested" and lines[1].split()[3] == str(target.port)


def test_proxy_command_with_ssh_W(sshd: SSHD, sshd_factory: Callable[..., SSHD]) -> None:
    target = sshd_factory()
    command = sshd.ssh_command(flags=["-W", f"{target.host}:{target.port}"])

    async def main() -> None:
        async with aio.connect(target.host, target.port, proxy_command=command, **login(target)) as conn:
            assert (await conn.run("echo via-ssh-W", check=True)).stdout == "via-ssh-W\n"
        bad = sshd.ssh_command(flags=["-W", "127.0.0.1:1"])  # ssh -W to a closed port fails
        with pytest.raises(ProxyCommandFailure) as info:
            await aio.connect(target.host, 1, proxy_command=bad, **login(target))
        assert info.value.error

    run(main())
    # The blocking facade with paramiko's ProxyCommand.
    with blockssh.SSHClient() as client:
        client.load_host_keys(target.known_hosts)
        proxy = blockssh.ProxyCommand(subprocess.list2cmdline(command))
        client.connect(
            target.host,
            target.port,
            username=target.user,
            key_filename=target.client_keys["ed25519"],
            sock=proxy,
            allow_agent=False,
            look_for_keys=False,
        )
        assert client.run("echo sync-proxy").stdout == "sync-proxy\n"


# ---------------------------------------------------------------------------------------------
# the agent
# ---------------------------------------------------------------------------------------------


def test_agent_auth_and_forwarding_to_sshd(sshd: SSHD, ssh_agent: str) -> None:  # noqa: F811
    assert ssh_add(ssh_agent, sshd.client_keys["rsa"]).returncode == 0
    fingerprint = ssh_add(ssh_agent, "-l").stdout.split()[1]

    async def main() -> None:
        kw = login(sshd, client_keys=(), agent_path=ssh_agent)
        async with aio.connect(sshd.host, sshd.port, **kw) as conn:
            result = await conn.run('echo "[$SSH_AUTH_SOCK]"')
            assert result.stdout == "[]\n"  # no forwarding unless asked
        async with aio.connect(sshd.host, sshd.port, agent_forwarding=True, **kw) as conn:
            result = await conn.run("ssh-add -l")
            assert result.exit_status == 0 and fingerprint in result.stdout, result.stderr

    run(main())


# ---------------------------------------------------------------------------------------------
# certificates
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def cert_dir(tmp_path: Path, sshd: SSHD) -> Path:
    """A user CA, a host CA, a user key with a certificate for the test user, a host certificate."""
    tmp_path.chmod(0o755)  # sshd reads TrustedUserCAKeys and HostCertificate from here
    keygen(tmp_path, "-t", "ed25519", "-N", "", "-C", "user-ca", "-f", "user_ca")
    keygen(tmp_path, "-t", "ed25519", "-N", "", "-C", "host-ca", "-f", "host_ca")
    keygen(tmp_path, "-t", "ecdsa", "-N", "", "-f", "id_user")
    keygen(tmp_path, "-s", "user_ca", "-I", "interop-user", "-n", sshd.user, "-V", "-5m:+1h", "id_user.pub")
    shutil.copy(sshd.host_key_paths["ed25519"] + ".pub", tmp_path / "host_ed25519.pub")
    keygen(tmp_path, "-s", "host_ca", "-h", "-I", "interop-host", "-n", "127.0.0.1", "host_ed25519.pub")
    return tmp_path


def test_user_certificate_against_trusted_user_ca_keys(
    sshd: SSHD, sshd_factory: Callable[..., SSHD], cert_dir: Path
) -> None:
    server = sshd_factory(TrustedUserCAKeys=cert_dir / "user_ca.pub", AuthorizedKeysFile="none")

    async def main() -> None:
        key = str(cert_dir / "id_user")  # id_user-cert.pub beside it is picked up
        async with aio.connect(server.host, server.port, **login(server, client_keys=[key])) as conn:
            assert (await conn.run("echo cert-user", check=True)).stdout == "cert-user\n"
        with pytest.raises(AuthenticationException):  # the plain key alone is not authorized
            from blockssh.keys import read_private_key

            plain = read_private_key(key)
            await aio.connect(server.host, server.port, **login(server, client_keys=[plain]))

    run(main())


def test_host_certificate_checked_against_cert_authority(
    sshd: SSHD, sshd_factory: Callable[..., SSHD], cert_dir: Path
) -> None:
    server = sshd_factory(HostCertificate=cert_dir / "host_ed25519-cert.pub")
    ca = (cert_dir / "host_ca.pub").read_text().split()
    trusted = cert_dir / "known_hosts_ca"
    trusted.write_text(f"@cert-authority [127.0.0.1]:{server.port} {ca[0]} {ca[1]}\n")
    revoked = cert_dir / "known_hosts_revoked"
    revoked.write_text(trusted.read_text() + f"@revoked * {ca[0]} {ca[1]}\n")
    wrong_name = cert_dir / "known_hosts_alias"
    wrong_name.write_text(f"@cert-authority * {ca[0]} {ca[1]}\n")

    async def main() -> None:
        async with aio.connect(server.host, server.port, **login(server, known_hosts=str(trusted))) as conn:
            assert conn.get_extra_info("host_key_algorithm") == "ssh-ed25519-cert-v01@openssh.com"
            assert isinstance(conn.server_host_key, blockssh.keys.SSHCertificate)
        with pytest.raises(HostKeyNotVerifiable, match="revoked"):
            await aio.connect(server.host, server.port, **login(server, known_hosts=str(revoked)))
        with pytest.raises(HostKeyNotVerifiable):  # the certificate names 127.0.0.1, not this alias
            await aio.connect(
                server.host, server.port, host_key_alias="elsewhere", **login(server, known_hosts=str(wrong_name))
            )

    run(main())


# ---------------------------------------------------------------------------------------------
# OpenSSH's ssh against blockssh's server
# ---------------------------------------------------------------------------------------------


def test_openssh_jumps_through_our_server(sshd: SSHD, tmp_path: Path) -> None:
    """``ssh -J`` with blockssh's server as the jump host (it must allow direct-tcpip)."""
    target_known = Path(sshd.known_hosts).read_text()

    async def main() -> None:
        async with ready_server(authorized_keys=keys().authorized_keys(), allow_tcp_forwarding="local") as jump:
            known = tmp_path / "known_hosts"
            known.write_text(
                f"[127.0.0.1]:{jump.get_port()} {keys().host['ed25519'].export_public('')}\n" + target_known
            )
            # ssh -J starts a second ssh for the jump host that reads only the -F file, so the
            # settings live there; the target's key is given with -i.
            config = tmp_path / "ssh_config"
            config.write_text(
                "Host ourjump\n"
                f"  HostName 127.0.0.1\n  Port {jump.get_port()}\n  User tester\n"
                f"  IdentityFile {keys().client_paths['ed25519']}\n"
                "Host *\n"
                f"  UserKnownHostsFile {known}\n  GlobalKnownHostsFile /dev/null\n"
                "  StrictHostKeyChecking yes\n  CheckHostIP no\n  UpdateHostKeys no\n"
                "  IdentitiesOnly yes\n  IdentityAgent none\n  BatchMode yes\n  LogLevel ERROR\n"
            )
            argv = [
                "ssh", "-F", str(config), "-J", "ourjump", "-i", sshd.client_keys["ed25519"],
                "-p", str(sshd.port), "-l", sshd.user, sshd.host, "echo jumped; echo $SSH_CONNECTION",
            ]  # fmt: skip
            code, out, err = await run_ssh(argv, timeout=30)
            assert code == 0, err.decode()
            lines = out.decode().splitlines()
            assert lines[0] == "jumped" and lines[1].split()[3] == str(sshd.port)

    run(main())


def test_openssh_forwards_its_agent_into_our_server(ssh_agent: str) -> None:  # noqa: F811
    key = keys().client_paths["ed25519"]
    assert ssh_add(ssh_agent, str(key)).returncode == 0
    fingerprint = keys().client["ed25519"].fingerprint_sha256()

    async def main() -> None:
        async with ready_server(authorized_keys=keys().authorized_keys(), agent_forwarding=True) as server:
            known = known_hosts(server.get_port(), [keys().host["ed25519"]])
            # -o options given first win over ssh_argv's defaults (IdentityAgent=none among them).
            options = [f"IdentityAgent={ssh_agent}", "ForwardAgent=yes"]
            argv = ssh_argv(server.get_port(), 'echo "$SSH_AUTH_SOCK"; ssh-add -l', known=known, options=options)
            code, out, err = await run_ssh(argv, env=agent_env(ssh_agent), timeout=30)
            assert code == 0, err.decode()
            sock, listing = out.decode().split("\n", 1)
            assert sock and sock != ssh_agent  # the server's own forwarded socket
            assert fingerprint in listing

    run(main())


# ---------------------------------------------------------------------------------------------
# ssh_config end to end
# ---------------------------------------------------------------------------------------------


def write_config(tmp_path: Path, jump: SSHD, target: SSHD) -> Path:
    known = tmp_path / "known_hosts"
    known.write_text(Path(jump.known_hosts).read_text() + Path(target.known_hosts).read_text())
    include = tmp_path / "jump.conf"
    include.write_text(
        f"Host jumpbox\n  HostName {jump.host}\n  Port {jump.port}\n  User {jump.user}\n"
        f"  IdentityFile {jump.client_keys['ecdsa']}\n"
    )
    config = tmp_path / "config"
    config.write_text(
        f"Include {include}\n"
        "Host target-alias\n"
        f"  HostName {target.host}\n"
        f"  Port {target.port}\n"
        f"  User {target.user}\n"
        f"  IdentityFile {target.client_keys['ed25519']}\n"
        "  ProxyJump jumpbox\n"
        "Match host 127.0.0.1\n"
        f"  UserKnownHostsFile {known}\n"
        "  StrictHostKeyChecking yes\n"
        "  IdentityAgent none\n"
        "  ConnectTimeout 10\n"
    )
    return config


def test_ssh_config_alias_reaches_the_target_through_a_jump(
    sshd: SSHD, sshd_factory: Callable[..., SSHD], tmp_path: Path
) -> None:
    target = sshd_factory()
    config = write_config(tmp_path, sshd, target)
    # The parser agrees with ssh -G on this file (Include, Match, ProxyJump).
    shown = subprocess.run(
        ["ssh", "-G", "-F", str(config), "target-alias"], capture_output=True, text=True, timeout=20, check=True
    ).stdout
    ssh_g = {}
    for line in shown.splitlines():
        key, _, value = line.partition(" ")
        ssh_g.setdefault(key, value)
    resolved = blockssh.SSHConfig.from_path(config).resolve("target-alias")
    assert resolved.hostname == ssh_g["hostname"] and str(resolved.port) == ssh_g["port"]
    assert resolved.user == ssh_g["user"]
    assert [str(j) for j in resolved.proxy_jump] == [ssh_g["proxyjump"]]
    assert resolved.identity_files == [target.client_keys["ed25519"]] == [ssh_g["identityfile"]]
    assert " ".join(resolved.user_known_hosts_files) == ssh_g["userknownhostsfile"]

    async def main() -> None:
        async with aio.connect("target-alias", config=str(config)) as conn:
            result = await conn.run("echo $SSH_CONNECTION", check=True)
            assert result.stdout.split()[3] == str(target.port)
            tunnel = conn._transport  # noqa: SLF001 - it runs over a channel of the jump connection
            assert type(tunnel).__name__ == "ChannelTransport"

    run(main())
    with blockssh.connect("target-alias", config=str(config)) as client:
        assert client.run("echo facade-alias").stdout == "facade-alias\n"


def test_ssh_config_proxy_command_and_strict_checking(
    sshd: SSHD, sshd_factory: Callable[..., SSHD], tmp_path: Path
) -> None:
    target = sshd_factory()
    config = tmp_path / "config"
    proxy = subprocess.list2cmdline(sshd.ssh_command(flags=["-W", "%h:%p"]))
    config.write_text(
        "Host via-proxy\n"
        f"  HostName {target.host}\n  Port {target.port}\n  User {target.user}\n"
        f"  IdentityFile {target.client_keys['ed25519']}\n"
        f"  ProxyCommand {proxy}\n"
        f"  UserKnownHostsFile {tmp_path / 'empty_known_hosts'}\n"
        "  StrictHostKeyChecking accept-new\n"
        "  IdentityAgent none\n"
    )

    async def main() -> None:
        async with aio.connect("via-proxy", config=str(config)) as conn:
            assert (await conn.run("echo accepted-new", check=True)).stdout == "accepted-new\n"
        learned = (tmp_path / "empty_known_hosts").read_text()
        assert f"[{target.host}]:{target.port}" in learned  # accept-new wrote the key
        async with aio.connect("via-proxy", config=str(config)) as conn:  # and now it is known
            assert conn.server_host_key is not None

    run(main())
