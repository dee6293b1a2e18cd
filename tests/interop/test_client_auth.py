"""Client authentication and host key checking against OpenSSH's sshd.

Where it matters which method or signature algorithm logged us in, the sshd DEBUG2 log says so:
"Accepted <method> for <user> from 127.0.0.1 port <our port>" names the connection by our local
port, and (on a server of its own) "userauth_pubkey: authenticated 1 pkalg <algorithm>" names the
RSA signature algorithm.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import blockssh.aio as aio
from blockssh.exceptions import (
    AuthenticationException,
    BadHostKeyException,
    HostKeyNotVerifiable,
    PasswordRequiredException,
    PermissionDenied,
    SSHException,
)
from blockssh.keys import generate_private_key, hash_host, read_public_key

from interop.aio_helpers import COMMAND, connect, connected, needs_password, run
from interop.sshd_fixture import SSHD

pytestmark = pytest.mark.timeout(60)

LOG_TYPES = {"ed25519": "ED25519", "ecdsa": "ECDSA", "rsa": "RSA"}


async def wait_for_log(server: SSHD, pattern: str, *, start: int = 0, timeout: float = 10.0) -> str:
    """Wait until the sshd log (from byte offset ``start``) has a line matching ``pattern``; return it."""
    regex = re.compile(pattern)
    deadline = time.monotonic() + timeout
    while True:
        text = (await asyncio.to_thread(read_log, server))[start:]
        for line in text.splitlines():
            if regex.search(line):
                return line
        if time.monotonic() > deadline:
            raise AssertionError(f"no line matching {pattern!r} in the sshd log\n{server.log_tail(40)}")
        await asyncio.sleep(0.05)


def read_log(server: SSHD) -> str:
    return Path(server.log_path).read_text(errors="replace")


def log_size(server: SSHD) -> int:
    return len(read_log(server))


def local_port(conn: aio.SSHClientConnection) -> int:
    return int(conn.get_extra_info("sockname")[1])


async def check_works(conn: aio.SSHClientConnection) -> None:
    result = await conn.run(COMMAND)
    assert (result.stdout, result.stderr, result.exit_status) == ("out", "err", 7)


def fingerprint(path: str) -> str:
    return read_public_key(path + ".pub").fingerprint_sha256()


# -- methods ------------------------------------------------------------------------------------------


def test_password(sshd: SSHD) -> None:
    needs_password(sshd)

    async def main() -> None:
        async with connected(sshd, client_keys=(), password=sshd.password, preferred_auth="password") as conn:
            await check_works(conn)
            await wait_for_log(sshd, rf"Accepted password for {sshd.user} from 127\.0\.0\.1 port {local_port(conn)} ")

    run(main())


@pytest.mark.parametrize("name", ["ed25519", "ecdsa", "rsa"])
def test_client_key(sshd: SSHD, name: str) -> None:
    path = sshd.client_keys[name]

    async def main() -> None:
        async with connected(sshd, client_keys=[path]) as conn:
            await check_works(conn)
            port = local_port(conn)
            expected = rf"Accepted publickey for {sshd.user} from 127\.0\.0\.1 port {port} ssh2: {LOG_TYPES[name]} "
            line = await wait_for_log(sshd, expected)
            assert line.endswith(fingerprint(path)), line

    run(main())


def test_rsa_signature_algorithms(sshd_factory: Callable[..., SSHD]) -> None:
    """signature_algs picks rsa-sha2-256 or rsa-sha2-512; the server's log shows which one signed."""
    server = sshd_factory()  # a log of our own: these lines carry no port

    async def main() -> None:
        for algorithm in ("rsa-sha2-256", "rsa-sha2-512"):
            start = log_size(server)
            async with connected(server, client_keys=[server.client_keys["rsa"]], signature_algs=[algorithm]) as conn:
                await check_works(conn)
                line = await wait_for_log(server, r"userauth_pubkey: authenticated 1 pkalg ", start=start)
                assert line.split("pkalg ")[1].split()[0] == algorithm, line

    run(main())


def test_passphrase_protected_key(sshd: SSHD) -> None:
    async def main() -> None:
        async with connected(sshd, client_keys=[sshd.encrypted_key], passphrase=sshd.encrypted_key_passphrase) as conn:
            await check_works(conn)
            port = local_port(conn)
            line = await wait_for_log(sshd, rf"Accepted publickey for {sshd.user} from 127\.0\.0\.1 port {port} ssh2: ")
            assert line.endswith(fingerprint(sshd.encrypted_key)), line

    run(main())


def test_keyboard_interactive_handler(sshd: SSHD) -> None:
    needs_password(sshd)
    calls: list[tuple[str, str, list[tuple[str, bool]]]] = []

    async def handler(name: str, instruction: str, prompts: list[tuple[str, bool]]) -> list[str]:
        calls.append((name, instruction, prompts))
        return [sshd.password or "" for _ in prompts]

    async def main() -> None:
        async with connected(
            sshd, client_keys=(), kbdint_handler=handler, preferred_auth="keyboard-interactive"
        ) as conn:
            await check_works(conn)
            port = local_port(conn)
            await wait_for_log(
                sshd, rf"Accepted keyboard-interactive/pam for {sshd.user} from 127\.0\.0\.1 port {port} "
            )

    run(main())
    prompts = [prompt for _, _, batch in calls for prompt in batch]
    assert prompts, calls
    assert any("password" in text.lower() and not echo for text, echo in prompts), prompts


def test_password_falls_back_to_keyboard_interactive(sshd_factory: Callable[..., SSHD]) -> None:
    """Only password= given, but the server offers only keyboard-interactive: the password answers its prompt."""
    server = sshd_factory(PasswordAuthentication="no")
    needs_password(server)

    async def main() -> None:
        async with connected(server, client_keys=(), password=server.password) as conn:
            await check_works(conn)
            port = local_port(conn)
            await wait_for_log(
                server, rf"Accepted keyboard-interactive/pam for {server.user} from 127\.0\.0\.1 port {port} "
            )

    run(main())


def test_two_factor_publickey_then_password(sshd_factory: Callable[..., SSHD]) -> None:
    server = sshd_factory(AuthenticationMethods="publickey,password")
    needs_password(server)

    async def main() -> None:
        async with connected(server, password=server.password) as conn:
            await check_works(conn)
            port = local_port(conn)
            await wait_for_log(server, rf"Partial publickey for {server.user} from 127\.0\.0\.1 port {port} ")
            await wait_for_log(server, rf"Accepted password for {server.user} from 127\.0\.0\.1 port {port} ")
        # The key alone is only half of it.
        with pytest.raises(PermissionDenied) as info:
            await connect(server)
        assert "password" in info.value.allowed_types

    run(main())


# -- failures --------------------------------------------------------------------------------------


def test_wrong_password_is_denied_promptly(sshd: SSHD) -> None:
    needs_password(sshd)

    async def main() -> None:
        await connect(sshd, client_keys=(), password=sshd.password + "-wrong")

    start = time.monotonic()
    with pytest.raises(PermissionDenied) as info:
        run(main())
    assert isinstance(info.value, AuthenticationException)
    assert "publickey" in info.value.allowed_types
    assert time.monotonic() - start < 10


def test_encrypted_key_without_passphrase(sshd: SSHD) -> None:
    """The only key needs a passphrase we lack: say so (paramiko's PasswordRequiredException), not just 'denied'."""

    async def main() -> None:
        await connect(sshd, client_keys=[sshd.encrypted_key])

    start = time.monotonic()
    with pytest.raises(PasswordRequiredException) as info:
        run(main())
    assert isinstance(info.value, AuthenticationException)
    assert time.monotonic() - start < 10


def test_wrong_passphrase_is_reported(sshd: SSHD) -> None:
    """The only key cannot be decrypted with the given passphrase: the error must say so."""

    async def main() -> None:
        await connect(sshd, client_keys=[sshd.encrypted_key], passphrase="not the passphrase")

    with pytest.raises(SSHException) as info:
        run(main())
    assert "passphrase" in str(info.value).lower(), repr(info.value)


def test_missing_key_file_is_reported(sshd: SSHD, tmp_path: Path) -> None:
    missing = str(tmp_path / "id_missing")

    async def main() -> None:
        await connect(sshd, client_keys=[missing])

    with pytest.raises(SSHException) as info:
        run(main())
    assert missing in str(info.value), repr(info.value)


def test_auth_banner(sshd_factory: Callable[..., SSHD], tmp_path: Path) -> None:
    text = "Authorised use only.\nblockssh banner test \u2713\n"
    banner = tmp_path / "banner"
    banner.write_text(text, encoding="utf-8")
    banner.chmod(0o644)
    server = sshd_factory(Banner=banner)

    async def main() -> None:
        async with connected(server) as conn:
            assert conn.auth_banner == text
        async with connected(server, known_hosts=None) as conn:  # the banner is per connection
            assert conn.auth_banner == text

    run(main())


def test_no_banner_by_default(sshd: SSHD) -> None:
    async def main() -> None:
        async with connected(sshd) as conn:
            assert conn.auth_banner is None

    run(main())


# -- host keys -------------------------------------------------------------------------------------


def test_unknown_host_key_is_refused(sshd: SSHD, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")

    async def main() -> None:
        await connect(sshd, known_hosts=str(empty))

    with pytest.raises(HostKeyNotVerifiable) as info:
        run(main())
    assert not isinstance(info.value, BadHostKeyException)


def test_changed_host_key_is_refused(sshd: SSHD, tmp_path: Path) -> None:
    impostor = generate_private_key("ssh-ed25519")
    known = tmp_path / "known_hosts"
    known.write_text(f"[{sshd.host}]:{sshd.port} {impostor.export_public(comment='')}\n")
    real = read_public_key(sshd.host_key_paths["ed25519"] + ".pub")

    async def main() -> None:
        await connect(sshd, known_hosts=str(known))

    with pytest.raises(BadHostKeyException) as info:
        run(main())
    assert info.value.key.public_blob == real.public_blob
    assert info.value.expected_key.public_blob == impostor.public_blob


@pytest.mark.parametrize("hashed", [False, True], ids=["plain", "hashed"])
@pytest.mark.parametrize(
    ("name", "negotiated"), [("ed25519", "ssh-ed25519"), ("ecdsa", "ecdsa-sha2-nistp256"), ("rsa", "rsa-sha2-512")]
)
def test_known_hosts_listing_one_key_type(sshd: SSHD, tmp_path: Path, name: str, negotiated: str, hashed: bool) -> None:
    """known_hosts knows only one of the server's keys: that type is negotiated (not a mismatch on another)."""
    host = f"[{sshd.host}]:{sshd.port}"
    known = tmp_path / "known_hosts"
    known.write_text(f"{hash_host(host) if hashed else host} {sshd.host_public_key(name)}\n")

    async def main() -> str:
        async with connected(sshd, known_hosts=str(known)) as conn:
            await check_works(conn)
            return str(conn.get_extra_info("host_key_algorithm"))

    assert run(main()) == negotiated


def test_known_hosts_none_accepts_any_key(sshd: SSHD) -> None:
    async def main() -> Any:
        async with connected(sshd, known_hosts=None) as conn:
            await check_works(conn)
            return conn.server_host_key

    key = run(main())
    served = {read_public_key(p + ".pub").public_blob for p in sshd.host_key_paths.values()}
    assert key.public_blob in served
