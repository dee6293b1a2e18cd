"""ssh_config applied to connect(): the keyword mapping, explicit arguments winning, nested ProxyJump, loops."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import blockssh.aio as aio
from blockssh.aio.client import connect_to
from blockssh.aio.client_config import config_connect_arguments, resolve_host
from blockssh.config import SSHConfig
from blockssh.exceptions import ConfigParseError, ConfigurationError

from interop.aio_helpers import run
from interop.server_helpers import keys, known_hosts, ready_server

pytestmark = pytest.mark.timeout(60)


def defaults(**given: Any) -> dict[str, Any]:
    """connect_to's keywords at their defaults, with ``given`` set (what connect_to passes on)."""
    import inspect

    args = {name: p.default for name, p in inspect.signature(connect_to).parameters.items() if name != "config"}
    args.update(given)
    return args


def mapped(text: str, host: str, tmp_path: Path, **given: Any) -> dict[str, Any]:
    config = SSHConfig.from_text(text)
    rc = resolve_host(config, host, user=given.get("username"), port=given.get("port"))
    return config_connect_arguments(config, rc, defaults(host=host, **given))


def test_keywords_map_to_connect_arguments(tmp_path: Path) -> None:
    key = tmp_path / "id_test"
    key.write_text("not read here")
    text = (
        "Host alias\n"
        "  HostName real.example\n  Port 2022\n  User alice\n"
        f"  IdentityFile {key}\n  IdentityFile {tmp_path}/missing\n  IdentitiesOnly yes\n"
        "  ConnectTimeout 7\n  ServerAliveInterval 5\n  ServerAliveCountMax 2\n"
        "  Ciphers aes256-gcm@openssh.com,umac-nonsense\n  KexAlgorithms -diffie-hellman*\n"
        "  MACs hmac-sha2-512-etm@openssh.com\n  HostKeyAlgorithms ssh-ed25519\n"
        f"  UserKnownHostsFile {tmp_path}/kh1 {tmp_path}/kh2\n  GlobalKnownHostsFile none\n"
        "  StrictHostKeyChecking accept-new\n  ForwardAgent yes\n  Compression yes\n"
        "  PasswordAuthentication no\n  HostKeyAlias alias-key\n  IdentityAgent none\n"
    )
    out = mapped(text, "alias", tmp_path)
    assert (out["host"], out["port"], out["username"]) == ("real.example", 2022, "alice")
    assert out["client_keys"] == [str(key)]
    assert out["identities_only"] is True
    assert out["agent_path"] is None
    assert out["connect_timeout"] == 7.0
    assert (out["keepalive_interval"], out["keepalive_count_max"]) == (5.0, 2)
    assert out["encryption_algs"] == ["aes256-gcm@openssh.com"]
    assert all(not a.startswith("diffie-hellman") for a in out["kex_algs"])
    assert out["mac_algs"] == ["hmac-sha2-512-etm@openssh.com"]
    assert out["server_host_key_algs"] == ["ssh-ed25519"]
    assert out["known_hosts"] == [f"{tmp_path}/kh1", f"{tmp_path}/kh2"]
    assert callable(out["host_key_checker"])
    assert out["agent_forwarding"] is True
    assert out["compression_algs"][0] == "zlib@openssh.com"
    assert "password" not in out["preferred_auth"]
    assert out["host_key_alias"] == "alias-key"
    assert out["config"] is None


def test_explicit_arguments_win(tmp_path: Path) -> None:
    text = "Host alias\n  HostName real.example\n  Port 2022\n  User alice\n  ConnectTimeout 7\n  ProxyJump hop\n"
    out = mapped(text, "alias", tmp_path, port=2200, username="bob", connect_timeout=3.0, proxy_command="nc x 1")
    assert (out["port"], out["username"], out["connect_timeout"]) == (2200, "bob", 3.0)
    assert out["proxy_command"] == "nc x 1" and out["tunnel"] is None
    # Defaults when the config says nothing: blockssh's own (no IdentityFile: the default keys).
    out = mapped("Host other\n  Port 1\n", "plain.example", tmp_path)
    assert out["client_keys"] is None and out["port"] == 22 and out["kex_algs"] is None


def test_strict_host_key_checking_modes(tmp_path: Path) -> None:
    for mode, accepts in (("yes", None), ("ask", None), ("no", True), ("off", True), ("accept-new", True)):
        out = mapped(f"Host *\n  StrictHostKeyChecking {mode}\n", "h", tmp_path)
        checker = out["host_key_checker"]
        assert (checker is not None) == bool(accepts), mode


def test_algorithm_lists_that_select_nothing_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigParseError, match="selects nothing"):
        mapped("Host *\n  Ciphers 3des-cbc\n", "h", tmp_path)


def test_proxyjump_loop_is_stopped(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("Host a\n  ProxyJump b\nHost b\n  ProxyJump a\nHost *\n  HostName 127.0.0.1\n")

    async def main() -> None:
        with pytest.raises(ConfigurationError, match="jump hosts"):
            await aio.connect("a", config=str(config), known_hosts=None, client_keys=(), connect_timeout=2)

    run(main())


def test_config_alias_with_nested_proxyjump_through_our_servers(tmp_path: Path) -> None:
    """ProxyJump whose first hop has its own ProxyJump (ssh resolves every hop from the config)."""

    async def main() -> None:
        kw = {"authorized_keys": keys().authorized_keys(), "allow_tcp_forwarding": "local"}
        async with ready_server(**kw) as outer, ready_server(**kw) as inner, ready_server(**kw) as target:
            hosts = [outer, inner, target]
            known = tmp_path / "known_hosts"
            known.write_text("".join(known_hosts(a.get_port(), [keys().host["ed25519"]]).read_text() for a in hosts))
            config = tmp_path / "config"
            config.write_text(
                f"Host outer\n  HostName 127.0.0.1\n  Port {outer.get_port()}\n"
                f"Host inner\n  HostName 127.0.0.1\n  Port {inner.get_port()}\n  ProxyJump outer\n"
                f"Host target\n  HostName 127.0.0.1\n  Port {target.get_port()}\n  ProxyJump inner\n"
                f"Host *\n  User tester\n  IdentityFile {keys().client_paths['ed25519']}\n"
                f"  UserKnownHostsFile {known}\n  IdentityAgent none\n"
            )
            async with aio.connect("target", config=str(config)) as conn:
                result = await conn.run("echo $SSH_CONNECTION", check=True)
                assert result.stdout.split()[3] == str(target.get_port())
                assert all(len(a.connections) == 1 for a in hosts)

    run(main())


def test_local_forward_from_config_is_started(tmp_path: Path) -> None:
    async def main() -> None:
        import asyncio

        async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"echo:" + await reader.read(100))
            await writer.drain()
            writer.close()

        service = await asyncio.start_server(echo, "127.0.0.1", 0)
        service_port = service.sockets[0].getsockname()[1]
        async with ready_server(authorized_keys=keys().authorized_keys(), allow_tcp_forwarding="local") as server:
            port = server.get_port()
            import socket

            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                local_port = probe.getsockname()[1]
            config = tmp_path / "config"
            config.write_text(
                f"Host fwd\n  HostName 127.0.0.1\n  Port {port}\n  User tester\n"
                f"  IdentityFile {keys().client_paths['ed25519']}\n"
                f"  UserKnownHostsFile {known_hosts(port, [keys().host['ed25519']])}\n  IdentityAgent none\n"
                f"  LocalForward 127.0.0.1:{local_port} 127.0.0.1:{service_port}\n"
            )
            async with aio.connect("fwd", config=str(config)):
                reader, writer = await asyncio.open_connection("127.0.0.1", local_port)
                writer.write(b"hi")
                assert await asyncio.wait_for(reader.read(100), 10) == b"echo:hi"
                writer.close()
        service.close()
        await service.wait_closed()

    run(main())
