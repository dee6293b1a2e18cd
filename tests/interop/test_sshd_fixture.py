"""Self-tests of the OpenSSH sshd fixture, using OpenSSH's ssh client, paramiko and asyncssh.

If these fail, every interop test built on ``sshd`` is suspect, so they check the fixture's
promises one by one: each client key, the encrypted key, password and keyboard-interactive
logins through PAM, AcceptEnv, factory overrides, the algorithm lists, and clean teardown.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import pwd
import select
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from interop.sshd_fixture import SSHD, SSHDError, _alive, _descendants

needs_ssh = pytest.mark.skipif(shutil.which("ssh") is None, reason="OpenSSH client (ssh) not installed")


def needs_password(server: SSHD) -> None:
    if server.password is None:
        pytest.skip("password/keyboard-interactive logins need the dedicated test user (run the tests as root)")


def _out(proc: subprocess.CompletedProcess[bytes]) -> str:
    return f"exit {proc.returncode}\nstdout: {proc.stdout!r}\nstderr: {proc.stderr!r}"


# ---------------------------------------------------------------------------------------------
# the fixture object itself
# ---------------------------------------------------------------------------------------------


def test_fixture_attributes(sshd: SSHD) -> None:
    assert sshd.host == "127.0.0.1"
    assert 0 < sshd.port < 65536
    assert sshd.is_running() and sshd.pid > 0
    assert set(sshd.client_keys) == {"ed25519", "ecdsa", "rsa"}
    assert set(sshd.host_key_paths) == {"ed25519", "ecdsa", "ecdsa384", "ecdsa521", "rsa"}
    for path in [*sshd.client_keys.values(), *sshd.host_key_paths.values(), sshd.encrypted_key]:
        assert Path(path).is_file() and Path(path + ".pub").is_file()
    assert sshd.encrypted_key_passphrase
    assert Path(sshd.config_path).read_text().startswith("# Generated")
    assert Path(sshd.log_path).stat().st_size > 0
    lines = Path(sshd.known_hosts).read_text().splitlines()
    assert [line.split()[1] for line in lines] == [
        "ssh-ed25519",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "ssh-rsa",
    ]
    assert all(line.startswith(f"[127.0.0.1]:{sshd.port} ") for line in lines)
    for category in ("kex", "cipher", "mac", "key", "pubkey", "hostkey", "compression"):
        assert sshd.algorithms[category], category
    assert "curve25519-sha256" in sshd.algorithms["kex"]
    assert "chacha20-poly1305@openssh.com" in sshd.algorithms["cipher"]
    assert "hmac-sha2-256-etm@openssh.com" in sshd.algorithms["mac"]
    assert {"ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-512"} <= set(sshd.algorithms["hostkey"])


def test_banner_is_openssh(sshd: SSHD) -> None:
    with socket.create_connection((sshd.host, sshd.port), timeout=5) as sock:
        sock.settimeout(5)
        assert sock.recv(256).startswith(b"SSH-2.0-OpenSSH_")


def test_ssh_command_shape(sshd: SSHD) -> None:
    argv = sshd.ssh_command("echo", "hi", options=["Ciphers=aes128-ctr"])
    assert argv[:3] == ["ssh", "-F", "/dev/null"]
    assert argv[3:5] == ["-o", "Ciphers=aes128-ctr"]  # caller's options come first: ssh keeps the first value
    assert f"UserKnownHostsFile={sshd.known_hosts}" in argv
    assert "BatchMode=yes" in argv
    assert argv[argv.index("-i") + 1] == sshd.client_keys["ed25519"]
    assert argv[-7:] == ["-p", str(sshd.port), "-l", sshd.user, "127.0.0.1", "echo", "hi"]
    assert "PubkeyAuthentication=no" in sshd.ssh_command(key=None)


# ---------------------------------------------------------------------------------------------
# logins with OpenSSH's client
# ---------------------------------------------------------------------------------------------


@needs_ssh
@pytest.mark.parametrize("key", ["ed25519", "ecdsa", "rsa"])
def test_key_auth(sshd: SSHD, key: str) -> None:
    proc = sshd.run_ssh("echo hi", key=key)
    assert proc.returncode == 0, _out(proc)
    assert proc.stdout == b"hi\n"


@needs_ssh
def test_login_user(sshd: SSHD) -> None:
    proc = sshd.run_ssh("id -un; pwd")
    assert proc.returncode == 0, _out(proc)
    user, home = proc.stdout.decode().split()
    assert user == sshd.user
    assert Path(home) == Path(sshd.home)


@needs_ssh
def test_encrypted_key_with_passphrase(sshd: SSHD) -> None:
    proc = sshd.run_ssh("echo hi", key="encrypted", secret=sshd.encrypted_key_passphrase)
    assert proc.returncode == 0, _out(proc)
    assert proc.stdout == b"hi\n"


@needs_ssh
def test_encrypted_key_really_is_encrypted(sshd: SSHD) -> None:
    wrong = sshd.run_ssh("echo hi", key="encrypted", secret="not the passphrase")
    assert wrong.returncode == 255, _out(wrong)
    check = subprocess.run(
        ["ssh-keygen", "-y", "-P", "", "-f", sshd.encrypted_key], capture_output=True, timeout=30, check=False
    )
    assert check.returncode != 0


@needs_ssh
def test_unknown_key_rejected(sshd: SSHD, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True, timeout=30)
    proc = sshd.run_ssh("echo hi", key=str(stranger))
    assert proc.returncode == 255, _out(proc)
    assert b"Permission denied" in proc.stderr


@needs_ssh
def test_password_auth(sshd: SSHD) -> None:
    needs_password(sshd)
    assert sshd.password is not None
    proc = sshd.run_ssh("echo hi", key=None, secret=sshd.password, options=["PreferredAuthentications=password"])
    assert proc.returncode == 0, _out(proc)
    assert proc.stdout == b"hi\n"


@needs_ssh
def test_wrong_password_rejected_quickly(sshd: SSHD) -> None:
    needs_password(sshd)
    start = time.monotonic()
    proc = sshd.run_ssh("echo hi", key=None, secret="wrong", options=["PreferredAuthentications=password"])
    assert proc.returncode == 255, _out(proc)
    assert b"Permission denied" in proc.stderr
    assert time.monotonic() - start < 5  # the test PAM service has no failure delay


@needs_ssh
def test_keyboard_interactive_auth(sshd: SSHD) -> None:
    needs_password(sshd)
    assert sshd.password is not None
    proc = sshd.run_ssh(
        "echo hi", key=None, secret=sshd.password, options=["PreferredAuthentications=keyboard-interactive"]
    )
    assert proc.returncode == 0, _out(proc)
    assert proc.stdout == b"hi\n"


@needs_ssh
def test_accept_env(sshd: SSHD) -> None:
    proc = sshd.run_ssh(
        "printenv BLOCKSSH_X; printenv OTHER_X || echo unset",
        options=["SendEnv=BLOCKSSH_X", "SendEnv=OTHER_X"],
        env={"BLOCKSSH_X": "from-client", "OTHER_X": "not-accepted"},
    )
    assert proc.returncode == 0, _out(proc)
    assert proc.stdout == b"from-client\nunset\n"


@needs_ssh
def test_sftp_subsystem(sshd: SSHD) -> None:
    proc = subprocess.Popen(
        sshd.ssh_command("sftp", flags=["-s"]),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=sshd.ssh_env(),
    )
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(struct.pack(">IBI", 5, 1, 3))  # SSH_FXP_INIT, version 3
        proc.stdin.flush()
        ready, _, _ = select.select([proc.stdout], [], [], 10)
        assert ready, "no reply from the sftp subsystem"
        reply = os.read(proc.stdout.fileno(), 9)
        _length, kind, version = struct.unpack(">IBI", reply)
        assert (kind, version) == (2, 3)  # SSH_FXP_VERSION 3
        proc.stdin.close()
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


@needs_ssh
@pytest.mark.slow
def test_every_listed_algorithm_negotiates(sshd: SSHD) -> None:
    option = {"kex": "KexAlgorithms", "cipher": "Ciphers", "mac": "MACs", "hostkey": "HostKeyAlgorithms"}
    cases = []
    for category, keyword in option.items():
        for name in sshd.algorithms[category]:
            opts = [f"{keyword}={name}"]
            if category == "mac":
                opts.append("Ciphers=aes128-ctr")  # AEAD ciphers ignore the MAC
            cases.append((f"{category} {name}", opts))

    def attempt(case: tuple[str, list[str]]) -> str | None:
        label, opts = case
        proc = sshd.run_ssh("true", options=opts)
        return None if proc.returncode == 0 else f"{label}: {proc.stderr.decode(errors='replace').strip()}"

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        failures = [f for f in pool.map(attempt, cases) if f is not None]
    assert not failures, "\n".join(failures)


# ---------------------------------------------------------------------------------------------
# sshd_factory
# ---------------------------------------------------------------------------------------------


@needs_ssh
def test_factory_requires_publickey_and_password(sshd_factory: Callable[..., SSHD]) -> None:
    server = sshd_factory(AuthenticationMethods="publickey,password")
    needs_password(server)
    assert server.port and server.is_running()
    assert "AuthenticationMethods publickey,password" in Path(server.config_path).read_text()

    key_only = server.run_ssh("echo hi")
    assert key_only.returncode == 255, _out(key_only)

    password_only = server.run_ssh(
        "echo hi", key=None, secret=server.password, options=["PreferredAuthentications=password"]
    )
    assert password_only.returncode == 255, _out(password_only)

    both = server.run_ssh("echo hi", secret=server.password, batch=False)
    assert both.returncode == 0, _out(both)
    assert both.stdout == b"hi\n"


@needs_ssh
def test_factory_can_disable_kbdint(sshd_factory: Callable[..., SSHD]) -> None:
    server = sshd_factory(KbdInteractiveAuthentication="no")
    needs_password(server)
    proc = server.run_ssh(
        "echo hi", key=None, secret=server.password, options=["PreferredAuthentications=keyboard-interactive"]
    )
    assert proc.returncode == 255, _out(proc)
    assert b"keyboard-interactive" not in proc.stderr.split(b"(")[-1]


@needs_ssh
def test_factory_none_removes_and_bool_renders(sshd_factory: Callable[..., SSHD]) -> None:
    server = sshd_factory(AcceptEnv=None, PermitTTY=False, extra_config="Match User nobody\n    PermitTTY yes")
    text = Path(server.config_path).read_text()
    assert "AcceptEnv" not in text
    assert "PermitTTY no" in text
    assert text.rstrip().endswith("PermitTTY yes")
    proc = server.run_ssh("printenv BLOCKSSH_X || echo unset", options=["SendEnv=BLOCKSSH_X"], env={"BLOCKSSH_X": "1"})
    assert proc.returncode == 0, _out(proc)
    assert proc.stdout == b"unset\n"


def test_factory_starts_fast(sshd_factory: Callable[..., SSHD]) -> None:
    start = time.monotonic()
    server = sshd_factory()
    assert server.is_running()
    assert time.monotonic() - start < 3.0


def test_factory_reports_bad_config_with_log(sshd_factory: Callable[..., SSHD]) -> None:
    with pytest.raises(SSHDError, match="(?s)exited.*NoSuchOption"):
        sshd_factory(NoSuchOption="x")


def test_factory_rejects_reserved_keywords(sshd_factory: Callable[..., SSHD]) -> None:
    with pytest.raises(ValueError, match="managed by the fixture"):
        sshd_factory(Port=22)


@needs_ssh
def test_stop_kills_connections(sshd_factory: Callable[..., SSHD]) -> None:
    server = sshd_factory()
    client = subprocess.Popen(
        server.ssh_command("echo started; exec sleep 60"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=server.ssh_env(),
    )
    try:
        assert client.stdout is not None
        assert client.stdout.readline() == b"started\n"
        children = _descendants(server.pid)
        assert children, "the connection should have sshd child processes"
        start = time.monotonic()
        server.stop()
        assert time.monotonic() - start < 8
        assert not server.is_running()
        assert not [pid for pid in children if _alive(pid)]
        client.wait(timeout=15)  # the client sees the connection drop instead of hanging
    finally:
        if client.poll() is None:
            client.kill()
            client.wait(timeout=5)
        for stream in (client.stdout, client.stderr):
            if stream is not None:
                stream.close()
    with pytest.raises(OSError):
        socket.create_connection((server.host, server.port), timeout=2).close()


# ---------------------------------------------------------------------------------------------
# third-party clients: the fixture serves real peers, not just OpenSSH's own client
# ---------------------------------------------------------------------------------------------


def test_paramiko_smoke(sshd: SSHD) -> None:
    paramiko = pytest.importorskip("paramiko")
    client = paramiko.SSHClient()
    client.load_host_keys(sshd.known_hosts)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        client.connect(
            sshd.host,
            port=sshd.port,
            username=sshd.user,
            key_filename=sshd.client_keys["ed25519"],
            look_for_keys=False,
            allow_agent=False,
            timeout=10,
            banner_timeout=10,
            auth_timeout=10,
        )
        _stdin, stdout, _stderr = client.exec_command("echo hi", timeout=10)
        assert stdout.read() == b"hi\n"
        assert stdout.channel.recv_exit_status() == 0
    finally:
        client.close()


def test_paramiko_encrypted_key_and_password(sshd: SSHD) -> None:
    paramiko = pytest.importorskip("paramiko")
    for kwargs in (
        {"key_filename": sshd.encrypted_key, "passphrase": sshd.encrypted_key_passphrase},
        {"password": sshd.password},
    ):
        if kwargs.get("password", "") is None:
            continue  # not root: no password login
        client = paramiko.SSHClient()
        client.load_host_keys(sshd.known_hosts)
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            client.connect(
                sshd.host,
                port=sshd.port,
                username=sshd.user,
                look_for_keys=False,
                allow_agent=False,
                timeout=10,
                banner_timeout=10,
                auth_timeout=10,
                **kwargs,
            )
            _stdin, stdout, _stderr = client.exec_command("echo $((6*7))", timeout=10)
            assert stdout.read() == b"42\n"
        finally:
            client.close()


def test_asyncssh_smoke(sshd: SSHD) -> None:
    asyncssh = pytest.importorskip("asyncssh")

    async def main() -> str:
        async with asyncssh.connect(
            sshd.host,
            sshd.port,
            username=sshd.user,
            client_keys=[sshd.client_keys["ecdsa"]],
            known_hosts=sshd.known_hosts,
            agent_path=None,
            config=[],
            connect_timeout=10,
        ) as conn:
            result = await conn.run("echo hi", check=True, timeout=10)
            return str(result.stdout)

    assert asyncio.run(asyncio.wait_for(main(), 30)) == "hi\n"


def test_environment_is_isolated(sshd: SSHD) -> None:
    """Everything the fixture writes lives in its own temporary directory (plus root's test user)."""
    directory = Path(sshd.config_path).parent.parent
    for path in (sshd.known_hosts, sshd.log_path, sshd.config_path, *sshd.client_keys.values()):
        assert Path(path).resolve().is_relative_to(directory.resolve())
    assert Path(sshd.scratch_dir).stat().st_uid == pwd.getpwnam(sshd.user).pw_uid
