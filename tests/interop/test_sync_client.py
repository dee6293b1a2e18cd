"""The blocking facade against OpenSSH's sshd: the paramiko-style first slice."""

from __future__ import annotations

import select
import threading
import time
from typing import Any

import pytest

import blockssh
from blockssh.exceptions import AuthenticationException, SSHException


@pytest.fixture
def client(sshd: Any) -> Any:
    c = blockssh.SSHClient()
    c.load_host_keys(sshd.known_hosts)
    c.connect(sshd.host, sshd.port, username=sshd.user, key_filename=sshd.client_keys["ed25519"], look_for_keys=False)
    yield c
    c.close()


def test_exec_command_trio(client: Any) -> None:
    stdin, stdout, stderr = client.exec_command("uname -s; echo err >&2; exit 5")
    assert stdout.read().decode() == "Linux\n"
    assert stderr.read() == b"err\n"
    assert stdout.channel.recv_exit_status() == 5


def test_readline_and_iteration_give_str(client: Any) -> None:
    _, stdout, _ = client.exec_command("printf 'a\\nb\\nc'")
    first = stdout.readline()
    assert first == "a\n" and isinstance(first, str)
    assert list(stdout) == ["b\n", "c"]


def test_stdin_close_sends_eof(client: Any) -> None:
    stdin, stdout, _ = client.exec_command("wc -c")
    stdin.write("hello world")
    stdin.close()
    assert stdout.read().strip() == b"11"


def test_invoke_shell_send_recv(client: Any) -> None:
    chan = client.invoke_shell(width=120, height=40)
    chan.settimeout(10)
    chan.send("stty size; exit\n")
    out = b""
    while True:
        data = chan.recv(1024)
        if not data:
            break
        out += data
    assert b"40 120" in out
    assert chan.recv_exit_status() == 0


def test_large_output_read_after_exit_status(client: Any) -> None:
    # paramiko deadlocks here (#448): nothing is read until the command has exited.
    _, stdout, stderr = client.exec_command("head -c 8000000 /dev/zero; head -c 8000000 /dev/zero >&2")
    assert stdout.channel.recv_exit_status() == 0
    assert len(stdout.read()) == 8000000
    assert len(stderr.read()) == 8000000


def test_stderr_first_then_stdout(client: Any) -> None:
    _, stdout, stderr = client.exec_command("head -c 20000000 /dev/zero; echo done >&2")
    assert stderr.read() == b"done\n"
    assert len(stdout.read()) == 20000000


def test_select_on_fileno(client: Any) -> None:
    chan = client.get_transport().open_session()
    chan.exec_command("sleep 0.2; echo hi")
    r, _, _ = select.select([chan], [], [], 0.05)
    assert r == []
    r, _, _ = select.select([chan], [], [], 10)
    assert r == [chan]
    assert chan.recv(10) == b"hi\n"


def test_recv_timeout(client: Any) -> None:
    chan = client.get_transport().open_session()
    chan.exec_command("sleep 5")
    chan.settimeout(0.2)
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        chan.recv(10)
    assert time.monotonic() - start < 2
    chan.close()


def test_threads_share_one_client(client: Any) -> None:
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(5):
                _, out, _ = client.exec_command(f"echo {n}-{i}")
                assert out.read() == f"{n}-{i}\n".encode()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors


def test_run_helper(client: Any) -> None:
    result = client.run("echo out; echo err >&2; exit 2")
    assert (result.stdout, result.stderr, result.exit_status, result.returncode, result.ok) == (
        "out\n",
        "err\n",
        2,
        2,
        False,
    )
    with pytest.raises(blockssh.ProcessError):
        client.run("false", check=True)


def test_reject_policy_is_default(sshd: Any) -> None:
    c = blockssh.SSHClient()
    with pytest.raises(SSHException, match="not found in known_hosts"):
        c.connect(
            sshd.host, sshd.port, username=sshd.user, key_filename=sshd.client_keys["ed25519"], look_for_keys=False
        )
    c.close()


def test_wrong_key_is_authentication_exception(sshd: Any, tmp_path: Any) -> None:
    key = blockssh.Ed25519Key.generate()
    c = blockssh.SSHClient()
    c.set_missing_host_key_policy(blockssh.AutoAddPolicy())
    with pytest.raises(AuthenticationException):
        c.connect(sshd.host, sshd.port, username=sshd.user, pkey=key, look_for_keys=False, allow_agent=False)
    c.close()
