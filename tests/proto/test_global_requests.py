"""Global requests: keepalives answered by the core, replies kept in request order."""

from __future__ import annotations

from blockssh.keys import generate_private_key
from blockssh.proto import events as ev
from blockssh.proto.algorithms.policy import Algorithms
from blockssh.proto.connection import CoreOptions
from blockssh.proto.transport import TransportOptions
from blockssh.testing.core_pair import CorePair

HOST_KEY = generate_private_key("ssh-ed25519")


def established() -> CorePair:
    server = CoreOptions(TransportOptions(algorithms=Algorithms.server_default(), host_keys=[HOST_KEY]))
    pair = CorePair(CoreOptions(), server)
    pair.start()
    pair.pump()
    pair.client.accept_host_key()
    pair.pump()
    pair.client.auth_none("user")
    pair.pump()
    pair.server.auth_accept()
    pair.pump()
    pair.client_events.clear()
    pair.server_events.clear()
    return pair


def test_keepalive_is_answered_by_the_core() -> None:
    pair = established()
    pair.client.send_global_request("keepalive@openssh.com")
    pair.pump()
    assert not pair.take("server", ev.GlobalRequest)  # the server's driver never saw it
    replies = pair.take("client", ev.GlobalRequestReply)
    assert [r.success for r in replies] == [False]


def test_keepalive_behind_an_unanswered_request_waits_its_turn() -> None:
    pair = established()
    pair.client.send_global_request("tcpip-forward@example.com", b"x")
    pair.client.send_global_request("keepalive@openssh.com")
    pair.pump()
    requests = pair.take("server", ev.GlobalRequest)
    # The keepalive is handed to the driver too, so both replies go out in request order.
    assert [r.name for r in requests] == ["tcpip-forward@example.com", "keepalive@openssh.com"]
    assert not pair.take("client", ev.GlobalRequestReply)
    pair.server.reply_global_request(True, b"")
    pair.server.reply_global_request(False)
    pair.pump()
    replies = pair.take("client", ev.GlobalRequestReply)
    assert [r.success for r in replies] == [True, False]
