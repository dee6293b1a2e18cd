"""The agent clients against OpenSSH's ``ssh-agent``: asyncio SSHAgentClient and paramiko's blocking Agent."""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
import threading
import time
from collections.abc import Iterator

import pytest

import blockssh
from blockssh.aio.agent import AgentError, SSHAgentClient
from blockssh.keys import KeyPair, create_certificate, generate_private_key
from blockssh.keys.pkey import PKey

from interop.aio_helpers import run
from interop.jump_helpers import ssh_add, ssh_agent  # noqa: F401 - fixture
from interop.server_helpers import keys

pytestmark = pytest.mark.timeout(60)


def test_add_list_sign_remove(ssh_agent: str) -> None:  # noqa: F811
    ed = keys().client["ed25519"]
    rsa = keys().client["rsa"]
    ecdsa = keys().client["ecdsa"]
    ca = generate_private_key("ssh-ed25519")
    cert = create_certificate(ca, ed.public_only(), 1, "agent-test", ["tester"])

    async def main() -> None:
        async with SSHAgentClient(ssh_agent) as agent:
            assert await agent.get_keys() == []
            await agent.add_keys([ed, rsa, ecdsa, KeyPair(ed, cert)])
            pairs = await agent.get_keys()
            blobs = [p.public_blob for p in pairs]
            assert set(blobs) == {ed.public_blob, rsa.public_blob, ecdsa.public_blob, cert.public_blob}
            certified = next(p for p in pairs if p.certificate is not None)
            assert certified.certificate == cert and certified.key == ed.public_only()
            for pair in pairs:
                for algorithm in pair.sig_algorithms:
                    signature = await pair.sign(b"data to sign", algorithm)
                    sha1 = algorithm == "ssh-rsa"
                    assert pair.key.verify(b"data to sign", signature, allow_sha1=sha1), algorithm
            rsa_pair = next(p for p in pairs if p.key == rsa.public_only())
            assert rsa_pair.sig_algorithms[:2] == ("rsa-sha2-512", "rsa-sha2-256")
            await agent.remove_keys([rsa_pair])
            assert len(await agent.get_keys()) == 3
            await agent.lock("secret")
            with pytest.raises(AgentError):
                await agent.sign(ed.public_blob, b"x", "ssh-ed25519")
            await agent.unlock("secret")
            await agent.remove_all()
            assert await agent.get_keys() == []
            with pytest.raises(AgentError, match="refused"):
                await agent.sign(ed.public_blob, b"x", "ssh-ed25519")

    run(main())
    assert "no identities" in ssh_add(ssh_agent, "-l").stdout.lower()


def test_constrained_keys_are_listed_by_ssh_add(ssh_agent: str) -> None:  # noqa: F811
    async def main() -> None:
        async with SSHAgentClient(ssh_agent) as agent:
            await agent.add_keys([keys().client["ed25519"]], lifetime=600)

    run(main())
    listed = ssh_add(ssh_agent, "-l").stdout
    assert keys().client["ed25519"].fingerprint_sha256() in listed


def test_no_agent_and_unreachable_agent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)

    async def main() -> None:
        with pytest.raises(AgentError, match="SSH_AUTH_SOCK"):
            await SSHAgentClient().get_keys()
        with pytest.raises(AgentError, match="cannot connect"):
            await SSHAgentClient("/nonexistent/agent.sock").get_keys()

    run(main())
    assert blockssh.Agent().get_keys() == ()
    assert blockssh.Agent("/nonexistent/agent.sock").get_keys() == ()


@pytest.fixture
def hostile_agent() -> Iterator[tuple[str, list[bytes]]]:
    """A fake agent on a UNIX socket that answers each connection with the next scripted reply."""
    directory = tempfile.mkdtemp(prefix="blockssh-fake-agent-")
    path = os.path.join(directory, "agent.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(4)
    replies: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(4096)
                if replies:
                    reply = replies.pop(0)
                    if reply:
                        conn.sendall(reply)
                stop.wait(0.6)  # hold the connection open (a silent agent) past the 0.3 s timeout

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield path, replies
    stop.set()
    thread.join(5)
    server.close()
    os.unlink(path)
    os.rmdir(directory)


def test_hostile_agent_answers_are_refused(hostile_agent: tuple[str, list[bytes]]) -> None:
    path, replies = hostile_agent

    async def main() -> None:
        replies.append((256 * 1024 + 1).to_bytes(4, "big"))  # longer than the limit
        start = time.monotonic()
        with pytest.raises(AgentError, match="limit"):
            await SSHAgentClient(path).get_keys()
        replies.append(b"")  # never answers
        with pytest.raises(AgentError, match="did not answer"):
            await SSHAgentClient(path, timeout=0.3).get_keys()
        replies.append(b"\x00\x00\x00\x01\x05")  # SSH_AGENT_FAILURE to a key list request
        async with SSHAgentClient(path) as agent:
            with pytest.raises(AgentError, match="unexpected answer"):
                await agent.get_keys()
        assert time.monotonic() - start < 5

    run(main())


def test_paramiko_agent_api(ssh_agent: str, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    ed_path = keys().client_paths["ed25519"]
    rsa_path = keys().client_paths["rsa"]
    assert ssh_add(ssh_agent, str(ed_path), str(rsa_path)).returncode == 0
    monkeypatch.setenv("SSH_AUTH_SOCK", ssh_agent)
    with blockssh.Agent() as agent:
        agent_keys = agent.get_keys()
        assert isinstance(agent_keys, tuple) and len(agent_keys) == 2
        file_keys = [PKey.from_private_key_file(str(p)) for p in (ed_path, rsa_path)]
        for akey in agent_keys:
            assert isinstance(akey, blockssh.AgentKey)
            assert akey in file_keys  # equality with the file key holding the same public key
            match = file_keys[file_keys.index(akey)]
            assert akey.get_name() == match.get_name()
            assert akey.asbytes() == match.asbytes()
            assert akey.fingerprint == match.fingerprint
            assert akey.algorithm_name == match.algorithm_name
            assert akey.get_bits() == match.get_bits()
            assert akey.comment  # ssh-add stores the file name when the key file has no comment
            for algorithm in (None, "rsa-sha2-256") if akey.get_name() == "ssh-rsa" else (None,):
                sig = akey.sign_ssh_data(b"blob", algorithm)
                assert match.verify_ssh_sig(b"blob", sig)
        extra = generate_private_key("ecdsa-sha2-nistp256")
        agent.add_key(extra, comment="added")
        assert len(agent.refresh()) == 3
        agent.remove_key(extra)
        assert len(agent.refresh()) == 2
    assert blockssh.agent.Agent is blockssh.Agent


def test_agent_client_is_usable_from_another_loop(ssh_agent: str) -> None:  # noqa: F811
    """A key listed on one loop signs on another (the facade's keys do exactly that)."""
    assert ssh_add(ssh_agent, str(keys().client_paths["ed25519"])).returncode == 0

    async def listing() -> list[object]:
        async with SSHAgentClient(ssh_agent) as agent:
            return list(await agent.get_keys())

    pairs = asyncio.run(listing())
    pair = pairs[0]
    from blockssh.aio.agent import SSHAgentKeyPair

    assert isinstance(pair, SSHAgentKeyPair)
    detached = SSHAgentKeyPair(ssh_agent, pair.public_blob, pair.comment)
    signature = asyncio.run(detached.sign(b"x", "ssh-ed25519"))
    assert pair.key.verify(b"x", signature)
