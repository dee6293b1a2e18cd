"""Server-side authentication: every method, partial success, limits, the login grace timer, the banner."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import pytest

import blockssh.aio as aio
from blockssh.aio.server import SSHServer, SSHServerConnection
from blockssh.exceptions import DisconnectReason, PermissionDenied
from blockssh.keys import AuthorizedKeys
from blockssh.proto import events as ev

from interop.server_helpers import CoreClient, keys, serving

pytestmark = pytest.mark.timeout(30)


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 25))


class Recorder(SSHServer):
    """Password "pw" works; records what was asked."""

    instances: list[Recorder] = []

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.conn: SSHServerConnection | None = None
        self.lost: list[BaseException | None] = []
        self.completed = False
        Recorder.instances.append(self)

    def connection_made(self, conn: SSHServerConnection) -> None:
        self.conn = conn

    def connection_lost(self, exc: BaseException | None) -> None:
        self.lost.append(exc)

    def begin_auth(self, username: str) -> bool:
        self.calls.append(("begin", username))
        return True

    def auth_completed(self) -> None:
        self.completed = True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        self.calls.append(("password", password))
        return password == "pw"


async def connect(port: int, **kwargs: Any) -> aio.SSHClientConnection:
    kwargs.setdefault("client_keys", ())
    kwargs.setdefault("username", "alice")
    return await aio.connect("127.0.0.1", port, known_hosts=None, **kwargs)


@pytest.fixture(autouse=True)
def _reset() -> None:
    Recorder.instances.clear()


def test_password_right_and_wrong() -> None:
    async def main() -> None:
        async with serving(server_factory=Recorder) as acceptor:
            conn = await connect(acceptor.get_port(), password="pw")
            server = Recorder.instances[-1]
            assert server.completed and server.conn is not None and server.conn.username == "alice"
            assert server.conn.auth_methods_used == ["password"]
            conn.close()
            with pytest.raises(PermissionDenied):
                await connect(acceptor.get_port(), password="nope")
            assert ("password", "nope") in Recorder.instances[-1].calls

    run(main())


def test_publickey_from_authorized_keys_and_the_entry_is_kept() -> None:
    ks = keys()
    path = ks.authorized_keys("ed25519", options='no-pty,environment="A=1"')

    async def main() -> None:
        async with serving(server_factory=Recorder, authorized_client_keys=path) as acceptor:
            conn = await connect(acceptor.get_port(), client_keys=[ks.client["ed25519"]])
            server_conn = Recorder.instances[-1].conn
            assert server_conn is not None
            entry = server_conn.authorized_key_entry
            assert entry is not None and not entry.permit_pty
            assert server_conn.client_key == ks.client["ed25519"]
            conn.close()
            with pytest.raises(PermissionDenied):  # a key that is not listed
                await connect(acceptor.get_port(), client_keys=[ks.client["ecdsa"]])

    run(main())


def test_authorized_keys_file_is_reread_when_it_changes() -> None:
    ks = keys()
    path = ks.authorized_keys("ecdsa")

    async def main() -> None:
        async with serving(server_factory=Recorder, authorized_client_keys=path) as acceptor:
            with pytest.raises(PermissionDenied):
                await connect(acceptor.get_port(), client_keys=[ks.client["ed25519"]])
            path.write_text(ks.client["ed25519"].export_public() + "\n")
            os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
            conn = await connect(acceptor.get_port(), client_keys=[ks.client["ed25519"]])
            conn.close()

    run(main())


def test_from_option_restricts_the_source_address() -> None:
    ks = keys()
    path = ks.authorized_keys("ed25519", options='from="10.1.2.3"')

    async def main() -> None:
        async with serving(server_factory=Recorder, authorized_client_keys=path) as acceptor:
            with pytest.raises(PermissionDenied):
                await connect(acceptor.get_port(), client_keys=[ks.client["ed25519"]])

    run(main())


class KeyCallbackServer(SSHServer):
    def public_key_auth_supported(self) -> bool:
        return True

    async def validate_public_key(self, username: str, key: Any) -> Any:
        await asyncio.sleep(0.01)  # an awaitable callback
        return AuthorizedKeys.from_text(keys().client["rsa"].export_public() + "\n").match(key, None, username, 0)


def test_validate_public_key_may_be_async_and_return_the_entry() -> None:
    async def main() -> None:
        async with serving(server_factory=KeyCallbackServer) as acceptor:
            conn = await connect(acceptor.get_port(), client_keys=[keys().client["rsa"]])
            server_conn = next(iter(acceptor.connections))
            assert server_conn.authorized_key_entry is not None
            assert conn.get_extra_info("send_cipher")
            conn.close()

    run(main())


async def _publickey_request(client: CoreClient, key_name: str, *, sign: bool, corrupt: bool = False) -> Any:
    key = keys().client[key_name]
    algorithm = key.sig_algorithms[0]
    if not sign:
        client.core.auth_publickey_query("alice", algorithm, key.public_blob)
    else:
        data = client.core.auth_publickey_data("alice", algorithm, key.public_blob)
        signature = bytearray(key.sign(data, algorithm))
        if corrupt:
            signature[-1] ^= 1
        client.core.auth_publickey("alice", algorithm, key.public_blob, bytes(signature))
    return await client.wait_for((ev.AuthPublicKeyOk, ev.AuthFailure, ev.AuthSuccess))  # type: ignore[arg-type]


def test_publickey_query_step_and_signature_check() -> None:
    path = keys().authorized_keys("ed25519")

    async def main() -> None:
        async with serving(server_factory=Recorder, authorized_client_keys=path) as acceptor:
            client = await CoreClient.open(acceptor.get_port())
            await client.handshake()
            assert isinstance(await _publickey_request(client, "ed25519", sign=False), ev.AuthPublicKeyOk)
            assert isinstance(await _publickey_request(client, "ecdsa", sign=False), ev.AuthFailure)
            reply = await _publickey_request(client, "ed25519", sign=True, corrupt=True)
            assert isinstance(reply, ev.AuthFailure) and not reply.partial
            assert isinstance(await _publickey_request(client, "ed25519", sign=True), ev.AuthSuccess)
            await client.close()

    run(main())


class KbdintServer(SSHServer):
    def kbdint_auth_supported(self) -> bool:
        return True

    def get_kbdint_challenge(self, username: str, lang: str, submethods: str) -> Any:
        return ("Login", "Answer two questions", "", [("Name: ", True), ("PIN: ", False)])

    async def validate_kbdint_response(self, username: str, responses: list[str]) -> Any:
        if responses == ["bob", "1234"]:
            return ("", "One more", "", [("Again: ", False)])  # a second round
        return responses == ["1234"]


def test_keyboard_interactive_with_two_rounds() -> None:
    rounds: list[list[tuple[str, bool]]] = []

    def handler(name: str, instruction: str, prompts: list[tuple[str, bool]]) -> list[str]:
        rounds.append(prompts)
        return ["bob", "1234"] if len(prompts) == 2 else ["1234"]

    async def main() -> None:
        async with serving(server_factory=KbdintServer) as acceptor:
            conn = await connect(acceptor.get_port(), kbdint_handler=handler)
            conn.close()
            with pytest.raises(PermissionDenied):
                await connect(acceptor.get_port(), kbdint_handler=lambda n, i, p: ["x"] * len(p))

    run(main())
    assert rounds[0] == [("Name: ", True), ("PIN: ", False)] and rounds[1] == [("Again: ", False)]


class TwoFactor(Recorder):
    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: Any) -> bool:
        return bool(key == keys().client["ed25519"])

    def auth_method_chains(self, username: str) -> list[list[str]]:
        return [["publickey", "password"]]


def test_partial_success_requires_the_whole_chain() -> None:
    async def main() -> None:
        async with serving(server_factory=TwoFactor) as acceptor:
            port = acceptor.get_port()
            conn = await connect(port, client_keys=[keys().client["ed25519"]], password="pw")
            assert Recorder.instances[-1].conn is not None
            assert Recorder.instances[-1].conn.auth_methods_used == ["publickey", "password"]
            conn.close()
            with pytest.raises(PermissionDenied, match="partial"):
                await connect(port, client_keys=[keys().client["ed25519"]], password="wrong")
            with pytest.raises(PermissionDenied):  # password alone is not enough: publickey comes first
                await connect(port, password="pw")

            # At the protocol level: the key earns a partial success naming the next method.
            client = await CoreClient.open(port)
            await client.handshake()
            reply = await _publickey_request(client, "ed25519", sign=True)
            assert isinstance(reply, ev.AuthFailure) and reply.partial and reply.methods == ["password"]
            await client.close()

    run(main())


def test_max_auth_tries_disconnects_with_a_reason() -> None:
    async def main() -> None:
        async with serving(server_factory=Recorder, max_auth_tries=3) as acceptor:
            client = await CoreClient.open(acceptor.get_port())
            await client.handshake()
            client.core.auth_none("alice")  # the first "none" probe is not counted, as in OpenSSH
            assert (await client.wait_for(ev.AuthFailure)).methods == ["password"]
            for attempt in range(3):
                client.core.auth_password("alice", f"wrong{attempt}")
                reply = await client.wait_for(ev.AuthFailure)
                if attempt < 2:
                    assert reply is not None
            assert client.error is not None
            assert client.error.code == DisconnectReason.NO_MORE_AUTH_METHODS_AVAILABLE
            await client.read_until_closed()
            server = Recorder.instances[-1]
            assert [c for c in server.calls if c[0] == "password"] == [("password", f"wrong{i}") for i in range(3)]
            await client.close()

    run(main())


def test_default_max_auth_tries_is_six() -> None:
    async def main() -> None:
        async with serving(server_factory=Recorder) as acceptor:
            client = await CoreClient.open(acceptor.get_port())
            await client.handshake()
            tries = 0
            while client.error is None and tries < 10:
                client.core.auth_password("alice", "wrong")
                tries += 1
                await client.wait_for(ev.AuthFailure)
            assert tries == 6 and client.error is not None
            await client.close()

    run(main())


def test_login_grace_timeout_closes_with_a_reason() -> None:
    async def main() -> None:
        async with serving(server_factory=Recorder, login_timeout=0.3) as acceptor:
            client = await CoreClient.open(acceptor.get_port())
            await client.handshake()
            start = asyncio.get_running_loop().time()
            await client.read_until_closed(5)
            assert 0.2 < asyncio.get_running_loop().time() - start < 3
            assert client.error is not None and "login grace time" in str(client.error)
            assert client.error.code == DisconnectReason.CONNECTION_LOST
            for _ in range(50):
                if Recorder.instances[-1].lost:
                    break
                await asyncio.sleep(0.01)
            assert Recorder.instances[-1].lost and acceptor.unauthenticated_count == 0
            await client.close()

    run(main())


def test_login_timer_stops_after_authentication() -> None:
    async def main() -> None:
        async with serving(server_factory=Recorder, login_timeout=0.2) as acceptor:
            conn = await connect(acceptor.get_port(), password="pw")
            await asyncio.sleep(0.4)
            assert not conn.is_closed()
            result = await conn.global_request("no-such-request@example.com")
            assert result[0] is False
            conn.close()

    run(main())


class Open(SSHServer):
    def begin_auth(self, username: str) -> bool:
        return username != "guest"


def test_begin_auth_false_lets_the_user_in() -> None:
    async def main() -> None:
        async with serving(server_factory=Open) as acceptor:
            conn = await connect(acceptor.get_port(), username="guest")
            conn.close()
            with pytest.raises(PermissionDenied):
                await connect(acceptor.get_port(), username="other", password="x")

    run(main())


def test_auth_banner_is_sent() -> None:
    async def main() -> None:
        async with serving(server_factory=Recorder, auth_banner="Authorized use only\n") as acceptor:
            conn = await connect(acceptor.get_port(), password="pw")
            assert conn.auth_banner == "Authorized use only\n"
            conn.close()

    run(main())


class Broken(Recorder):
    def validate_password(self, username: str, password: str) -> bool:
        if password == "boom":
            raise RuntimeError("checker crashed")
        return super().validate_password(username, password)


def test_a_failing_callback_counts_as_a_failed_attempt() -> None:
    async def main() -> None:
        async with serving(server_factory=Broken) as acceptor:
            client = await CoreClient.open(acceptor.get_port())
            await client.handshake()
            client.core.auth_password("alice", "boom")
            assert isinstance(await client.wait_for(ev.AuthFailure), ev.AuthFailure)
            client.core.auth_password("alice", "pw")
            assert isinstance(await client.wait_for(ev.AuthSuccess), ev.AuthSuccess)
            await client.close()

    run(main())


class SlowPassword(Recorder):
    async def validate_password(self, username: str, password: str) -> bool:
        await asyncio.sleep(0.2)
        return password == "pw"


def test_slow_async_callback_does_not_block_other_clients() -> None:
    async def main() -> None:
        async with serving(server_factory=SlowPassword) as acceptor:
            port = acceptor.get_port()
            loop = asyncio.get_running_loop()
            start = loop.time()
            conns = await asyncio.gather(*(connect(port, password="pw") for _ in range(5)))
            assert loop.time() - start < 1.0  # five 0.2 s checks ran concurrently
            for conn in conns:
                conn.close()

    run(main())
