"""User certificates against blockssh's server: trusted_user_ca_keys, principals, validity, options, revocation."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

import blockssh
import blockssh.aio as aio
from blockssh.aio.server_auth import KeyListSource
from blockssh.exceptions import AuthenticationException, ConfigurationError
from blockssh.keys import KeyPair, create_certificate, generate_private_key

from interop.aio_helpers import run
from interop.server_helpers import keys, known_hosts, ready_server

pytestmark = pytest.mark.timeout(60)

CA = generate_private_key("ssh-ed25519", comment="user-ca")
OTHER_CA = generate_private_key("ssh-ed25519", comment="other-ca")


def cert_for(user_key: Any = None, *, ca: Any = CA, principals: Any = ("tester",), **kwargs: Any) -> KeyPair:
    key = user_key or keys().client["ed25519"]
    now = int(time.time())
    kwargs.setdefault("valid_after", now - 60)
    kwargs.setdefault("valid_before", now + 3600)
    cert = create_certificate(ca, key.public_only(), 1, "test-cert", list(principals), **kwargs)
    return KeyPair(key, cert)


def creds(port: int, pair: Any, user: str = "tester") -> dict[str, Any]:
    return {
        "username": user,
        "client_keys": [pair],
        "known_hosts": str(known_hosts(port, [keys().host["ed25519"]])),
        "agent_path": None,
    }


def ca_file(tmp_path: Path, *cas: Any) -> str:
    path = tmp_path / "trusted_user_ca_keys"
    path.write_text("# CAs\n" + "".join(ca.export_public() + "\n" for ca in cas))
    return str(path)


async def try_login(port: int, pair: Any, user: str = "tester", command: str = "echo ok") -> str:
    async with aio.connect("127.0.0.1", port, **creds(port, pair, user)) as conn:
        return (await conn.run(command)).stdout


def test_trusted_ca_admits_a_valid_certificate_only(tmp_path: Path) -> None:
    async def main() -> None:
        async with ready_server(trusted_user_ca_keys=ca_file(tmp_path, CA)) as server:
            port = server.get_port()
            assert await try_login(port, cert_for()) == "ok\n"
            refused = [
                cert_for(principals=("someone-else",)),  # principal is not the user
                cert_for(principals=()),  # no principals at all
                cert_for(ca=OTHER_CA),  # untrusted CA
                cert_for(valid_before=int(time.time()) - 10, valid_after=0),  # expired
                cert_for(valid_after=int(time.time()) + 3600),  # not yet valid
                cert_for(critical_options={"unknown-option@example.com": ""}),  # unknown critical option
                cert_for(critical_options={"source-address": "10.9.9.0/24"}),  # wrong source address
                keys().client["ed25519"],  # the plain key: no authorized_keys
            ]
            for pair in refused:
                with pytest.raises(AuthenticationException):
                    await try_login(port, pair)
            ok = cert_for(critical_options={"source-address": "127.0.0.0/8,::1"})
            assert await try_login(port, ok) == "ok\n"

    run(main())


def test_host_certificate_is_not_a_user_certificate(tmp_path: Path) -> None:
    async def main() -> None:
        async with ready_server(trusted_user_ca_keys=ca_file(tmp_path, CA)) as server:
            key = keys().client["ed25519"]
            host_cert = create_certificate(CA, key.public_only(), 2, "host", ["tester"])
            with pytest.raises(AuthenticationException):
                await try_login(server.get_port(), KeyPair(key, host_cert))

    run(main())


def test_force_command_and_extensions_apply(tmp_path: Path) -> None:
    async def main() -> None:
        async with ready_server(trusted_user_ca_keys=ca_file(tmp_path, CA)) as server:
            pair = cert_for(critical_options={"force-command": "echo forced"})
            assert await try_login(server.get_port(), pair, command="echo asked") == "forced\n"

    run(main())


def test_authorized_principals_callable_and_file(tmp_path: Path) -> None:
    principals_dir = tmp_path / "principals"
    principals_dir.mkdir()
    (principals_dir / "tester").write_text('# who may be tester\nops-team\nrestrict,command="x y" admins\n')

    async def main() -> None:
        for setting in (lambda user: ["ops-team"] if user == "tester" else None, str(principals_dir / "%u")):
            async with ready_server(trusted_user_ca_keys=ca_file(tmp_path, CA), authorized_principals=setting) as srv:
                port = srv.get_port()
                assert await try_login(port, cert_for(principals=("ops-team",))) == "ok\n"
                with pytest.raises(AuthenticationException):  # the user name alone no longer does
                    await try_login(port, cert_for(principals=("tester",)))
        async with ready_server(
            trusted_user_ca_keys=ca_file(tmp_path, CA), authorized_principals=str(principals_dir / "%u")
        ) as srv:
            assert await try_login(srv.get_port(), cert_for(principals=("admins",))) == "ok\n"

    run(main())


def test_allowed_users_still_apply_to_certificates(tmp_path: Path) -> None:
    async def main() -> None:
        async with ready_server(trusted_user_ca_keys=ca_file(tmp_path, CA), allowed_users=["alice"]) as server:
            with pytest.raises(AuthenticationException):
                await try_login(server.get_port(), cert_for())  # "tester" is not allowed
            assert await try_login(server.get_port(), cert_for(principals=("alice",)), user="alice") == "ok\n"

    run(main())


def test_revoked_keys(tmp_path: Path) -> None:
    revoked = tmp_path / "revoked"
    ed, ecdsa = keys().client["ed25519"], keys().client["ecdsa"]

    async def main() -> None:
        revoked.write_text(ed.export_public() + "\n")
        options = {"authorized_keys": keys().authorized_keys(), "revoked_keys": str(revoked)}
        async with ready_server(trusted_user_ca_keys=ca_file(tmp_path, CA), **options) as server:
            port = server.get_port()
            with pytest.raises(AuthenticationException):
                await try_login(port, ed)  # a revoked plain key, although in authorized_keys
            with pytest.raises(AuthenticationException):
                await try_login(port, cert_for(ed))  # a certificate of a revoked key
            assert await try_login(port, ecdsa) == "ok\n"
            revoked.write_text(CA.export_public() + "\n")  # the file is re-read: now the CA is revoked
            with pytest.raises(AuthenticationException):
                await try_login(port, cert_for(ecdsa))
            assert await try_login(port, ed) == "ok\n"
            revoked.unlink()  # unreadable: every key is refused (fail closed)
            with pytest.raises(AuthenticationException):
                await try_login(port, ecdsa)

    run(main())


def test_key_list_source_and_options_are_validated(tmp_path: Path) -> None:
    source = KeyListSource([CA.export_public(), OTHER_CA.public_only(), "garbage line"], "CA keys")
    assert [k.public_blob for k in source.load()] == [CA.public_blob, OTHER_CA.public_blob]
    with pytest.raises(ConfigurationError):
        KeyListSource(42)

    async def main() -> None:
        with pytest.raises(ConfigurationError):
            async with ready_server(trusted_user_ca_keys=ca_file(tmp_path, CA), authorized_principals=42):
                pass

    run(main())


def test_sync_facade_key_filename_loads_the_certificate(tmp_path: Path) -> None:
    key = keys().client["ecdsa"]
    key_path = tmp_path / "id_ecdsa"
    key_path.write_bytes(key.export_private("openssh"))
    key_path.chmod(0o600)
    pair = cert_for(key)
    assert pair.certificate is not None
    cert_path = tmp_path / "id_ecdsa-cert.pub"
    cert_path.write_text(pair.certificate.export_public() + "\n")

    async def main() -> None:
        async with ready_server(trusted_user_ca_keys=ca_file(tmp_path, CA)) as server:
            port = server.get_port()
            known = str(known_hosts(port, [keys().host["ed25519"]]))

            def blocking(filename: str) -> str:
                with blockssh.SSHClient() as client:
                    client.load_host_keys(known)
                    client.connect(
                        "127.0.0.1",
                        port,
                        username="tester",
                        key_filename=filename,
                        allow_agent=False,
                        look_for_keys=False,
                    )
                    return client.run("echo cert-login").stdout

            import asyncio

            loop = asyncio.get_running_loop()
            for filename in (str(key_path), str(cert_path)):  # the key, or paramiko-style the -cert.pub path
                assert await loop.run_in_executor(None, blocking, filename) == "cert-login\n"
            # PKey.from_path picks the certificate up too.
            pkey = blockssh.PKey.from_path(key_path)
            assert pkey.public_blob is not None and pkey.public_blob.key_type.endswith("-cert-v01@openssh.com")

    run(main())
