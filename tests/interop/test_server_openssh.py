"""OpenSSH's ssh (and sftp) against blockssh's ready server: exec, pty shells, every algorithm, every auth method."""

from __future__ import annotations

import asyncio
import fcntl
import os
import shutil
import struct
import subprocess
import termios
from pathlib import Path
from typing import Any

import pytest

from blockssh.server import PasswordTable

from interop.server_helpers import SSH, keys, known_hosts, ready_server, run_ssh, ssh_argv, ssh_env, ssh_options

pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.skipif(not os.path.exists(SSH), reason="OpenSSH's ssh is not installed"),
]

# What OpenSSH 9.2's ssh offers by default and blockssh implements (sntrup761 and UMAC are not implemented).
OPENSSH_KEX = [
    "curve25519-sha256",
    "curve25519-sha256@libssh.org",
    "ecdh-sha2-nistp256",
    "ecdh-sha2-nistp384",
    "ecdh-sha2-nistp521",
    "diffie-hellman-group-exchange-sha256",
    "diffie-hellman-group16-sha512",
    "diffie-hellman-group18-sha512",
    "diffie-hellman-group14-sha256",
]
OPENSSH_CIPHERS = [
    "chacha20-poly1305@openssh.com",
    "aes128-ctr",
    "aes192-ctr",
    "aes256-ctr",
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
]
OPENSSH_MACS = [
    "hmac-sha2-256-etm@openssh.com",
    "hmac-sha2-512-etm@openssh.com",
    "hmac-sha1-etm@openssh.com",
    "hmac-sha2-256",
    "hmac-sha2-512",
    "hmac-sha1",
]
OPENSSH_HOST_KEYS = {
    "ssh-ed25519": "ed25519",
    "ecdsa-sha2-nistp256": "ecdsa",
    "ecdsa-sha2-nistp384": "ecdsa384",
    "ecdsa-sha2-nistp521": "ecdsa521",
    "rsa-sha2-512": "rsa",
    "rsa-sha2-256": "rsa",
}
PASSWORD = "correct horse"


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 85))


def base_kwargs(**kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("authorized_keys", keys().authorized_keys())
    kwargs.setdefault("shell", "/bin/sh")
    return kwargs


def test_exec_exit_status_and_separate_streams() -> None:
    async def main() -> None:
        async with ready_server(**base_kwargs()) as acceptor:
            port = acceptor.get_port()
            known = known_hosts(port, [keys().host["ed25519"]])
            rc, out, err = await run_ssh(ssh_argv(port, "echo to-out; echo to-err >&2; exit 42", known=known))
            assert (rc, out, err) == (42, b"to-out\n", b"to-err\n")
            rc, out, err = await run_ssh(ssh_argv(port, "tr a-z A-Z", known=known), input=b"piped input\n")
            assert (rc, out) == (0, b"PIPED INPUT\n"), err
            argv = ssh_argv(port, "kill -KILL $$", known=known, options=["LogLevel=DEBUG"])
            rc, out, err = await run_ssh(argv)
            assert rc == 255 and b"rtype exit-signal" in err, err  # ssh reports a signal death as 255

    run(main())


def _spawn_in_pty(argv: list[str], rows: int, cols: int) -> tuple[subprocess.Popen[bytes], int]:
    """Start ``argv`` with a new pty as its controlling terminal, so that ssh sees a real terminal."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def make_ctty() -> None:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(
        argv, stdin=slave, stdout=slave, stderr=slave, start_new_session=True, preexec_fn=make_ctty, env=ssh_env()
    )
    os.close(slave)
    os.set_blocking(master, False)
    return proc, master


async def _read_until(master: int, buf: bytearray, marker: bytes, timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while marker not in buf:
        if loop.time() > deadline:
            raise TimeoutError(f"{marker!r} not seen; got {bytes(buf)!r}")
        try:
            chunk = os.read(master, 65536)
        except BlockingIOError:
            await asyncio.sleep(0.02)
            continue
        except OSError:  # EIO: the other side is gone
            raise TimeoutError(f"{marker!r} not seen before the terminal closed; got {bytes(buf)!r}") from None
        if not chunk:
            raise TimeoutError(f"{marker!r} not seen before EOF; got {bytes(buf)!r}")
        buf += chunk


def test_tty_shell_sees_the_terminal_size_and_window_changes() -> None:
    """ssh -tt in a real terminal: the login shell sees its size, and a resize reaches the process."""

    async def main() -> None:
        async with ready_server(**base_kwargs()) as acceptor:
            port = acceptor.get_port()
            known = known_hosts(port, [keys().host["ed25519"]])
            proc, master = _spawn_in_pty(ssh_argv(port, known=known, flags=["-tt"]), rows=31, cols=83)
            buf = bytearray()
            try:
                os.write(master, b"stty size; tty\n")
                await _read_until(master, buf, b"31 83")
                # The foreground job (not the interactive shell) receives SIGWINCH.
                os.write(
                    master,
                    b"sh -c 'trap \"stty size; exit 7\" WINCH; echo ARMED; while :; do sleep 0.05; done'; exit $?\n",
                )
                await _read_until(master, buf, b"ARMED\r\n")
                # Resize the local terminal: the kernel signals ssh, ssh sends window-change, our
                # server resizes the remote pty, and the remote shell gets SIGWINCH.
                fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 44, 101, 0, 0))
                await _read_until(master, buf, b"44 101")
                for _ in range(200):
                    if proc.poll() is not None:
                        break
                    await asyncio.sleep(0.05)
                assert proc.returncode == 7, bytes(buf)
                assert b"/dev/pts/" in buf
            finally:
                if proc.poll() is None:
                    proc.kill()
                proc.wait()
                os.close(master)

    run(main())


def test_tty_exec_with_piped_stdin() -> None:
    async def main() -> None:
        async with ready_server(**base_kwargs()) as acceptor:
            port = acceptor.get_port()
            known = known_hosts(port, [keys().host["ed25519"]])
            argv = ssh_argv(port, "test -t 0 && echo tty-ok; stty size", known=known, flags=["-tt"])
            rc, out, err = await run_ssh(argv, input=b"")
            assert rc == 0 and b"tty-ok\r\n" in out, (out, err)

    run(main())


async def _matrix(kwargs: dict[str, Any], option: str, names: list[str], host_keys: list[Any]) -> dict[str, Any]:
    async with ready_server(**kwargs) as acceptor:
        port = acceptor.get_port()
        known = known_hosts(port, host_keys)

        async def one(name: str) -> tuple[str, Any]:
            argv = ssh_argv(port, "echo ok", known=known, options=[f"{option}={name}"])
            return name, await run_ssh(argv, timeout=40)

        return dict(await asyncio.gather(*(one(name) for name in names)))


def test_every_kex_method_openssh_offers() -> None:
    results = run(
        _matrix(base_kwargs(kex_algs=",".join(OPENSSH_KEX)), "KexAlgorithms", OPENSSH_KEX, [keys().host["ed25519"]])
    )
    failed = {name: r for name, r in results.items() if r[:2] != (0, b"ok\n")}
    assert not failed


def test_every_cipher_openssh_offers() -> None:
    results = run(_matrix(base_kwargs(), "Ciphers", OPENSSH_CIPHERS, [keys().host["ed25519"]]))
    failed = {name: r for name, r in results.items() if r[:2] != (0, b"ok\n")}
    assert not failed


def test_every_mac_openssh_offers() -> None:
    kwargs = base_kwargs(encryption_algs="aes128-ctr", mac_algs=",".join(OPENSSH_MACS))

    async def main() -> dict[str, Any]:
        async with ready_server(**kwargs) as acceptor:
            port = acceptor.get_port()
            known = known_hosts(port, [keys().host["ed25519"]])

            async def one(mac: str) -> tuple[str, Any]:
                argv = ssh_argv(port, "echo ok", known=known, options=["Ciphers=aes128-ctr", f"MACs={mac}"])
                return mac, await run_ssh(argv)

            return dict(await asyncio.gather(*(one(mac) for mac in OPENSSH_MACS)))

    results = run(main())
    failed = {name: r for name, r in results.items() if r[:2] != (0, b"ok\n")}
    assert not failed


def test_every_host_key_algorithm_openssh_offers() -> None:
    host = keys().host
    host_keys = [host[name] for name in ("ed25519", "ecdsa", "ecdsa384", "ecdsa521", "rsa")]
    kwargs = base_kwargs(server_host_keys=host_keys)
    results = run(_matrix(kwargs, "HostKeyAlgorithms", list(OPENSSH_HOST_KEYS), host_keys))
    failed = {name: r for name, r in results.items() if r[:2] != (0, b"ok\n")}
    assert not failed


@pytest.mark.parametrize("key", ["ed25519", "ecdsa", "rsa"])
def test_publickey_auth_with_each_key_type(key: str) -> None:
    async def main() -> None:
        async with ready_server(**base_kwargs()) as acceptor:
            port = acceptor.get_port()
            known = known_hosts(port, [keys().host["ed25519"]])
            rc, out, err = await run_ssh(ssh_argv(port, "echo $USER-ok", known=known, key=key))
            assert rc == 0 and out.endswith(b"-ok\n"), err

    run(main())


@pytest.mark.parametrize("method", ["password", "keyboard-interactive"])
def test_password_and_keyboard_interactive(method: str) -> None:
    async def main() -> None:
        table = PasswordTable({"tester": PASSWORD})
        async with ready_server(**base_kwargs(authorized_keys=None, password_checker=table)) as acceptor:
            port = acceptor.get_port()
            known = known_hosts(port, [keys().host["ed25519"]])
            options = [f"PreferredAuthentications={method}", "NumberOfPasswordPrompts=1"]
            argv = ssh_argv(port, "echo logged-in", known=known, key=None, options=options)
            rc, out, err = await run_ssh(argv, secret=PASSWORD)
            assert (rc, out) == (0, b"logged-in\n"), err
            rc, out, err = await run_ssh(argv, secret="wrong password")
            assert rc == 255 and b"Permission denied" in err and not out

    run(main())


def test_max_auth_tries_is_enforced_against_ssh() -> None:
    attempts: list[str] = []

    def checker(username: str, password: str) -> bool:
        attempts.append(password)
        return False

    async def main() -> None:
        kwargs = base_kwargs(authorized_keys=None, password_checker=checker, kbdint=False)
        async with ready_server(**kwargs) as acceptor:
            port = acceptor.get_port()
            known = known_hosts(port, [keys().host["ed25519"]])
            options = ["PreferredAuthentications=password", "NumberOfPasswordPrompts=20"]
            argv = ssh_argv(port, "true", known=known, key=None, options=options)
            rc, out, err = await run_ssh(argv, secret="guess", env={"LC_ALL": "C"})
            assert rc == 255
            assert b"too many authentication failures" in err.lower(), err

    run(main())
    assert len(attempts) == 6  # OpenSSH's MaxAuthTries default


@pytest.mark.skipif(not os.path.exists("/usr/lib/openssh/sftp-server"), reason="no OpenSSH sftp-server")
@pytest.mark.skipif(shutil.which("sftp") is None, reason="no OpenSSH sftp client")
def test_sftp_subsystem_hook_with_openssh_sftp_server(tmp_path: Path) -> None:
    source = tmp_path / "source.bin"
    source.write_bytes(os.urandom(300_000))
    batch = tmp_path / "batch"
    batch.write_text(f"put {source} {tmp_path}/uploaded.bin\nget {tmp_path}/uploaded.bin {tmp_path}/back.bin\n")

    async def main() -> None:
        kwargs = base_kwargs(subsystems={"sftp": "/usr/lib/openssh/sftp-server"})
        async with ready_server(**kwargs) as acceptor:
            port = acceptor.get_port()
            known = known_hosts(port, [keys().host["ed25519"]])
            sftp = [shutil.which("sftp") or "sftp", "-b", str(batch), "-P", str(port), *ssh_options(known=known)]
            rc, out, err = await run_ssh([*sftp, "tester@127.0.0.1"])
            assert rc == 0, err

    run(main())
    assert (tmp_path / "back.bin").read_bytes() == source.read_bytes()
