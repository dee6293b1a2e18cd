"""Two protocol cores talking in memory (``blockssh.testing.CorePair``): the rules of the protocol.

Everything is deterministic: both sides draw randomness from seeded ``random.Random`` instances,
and the host and client keys are fixed. Messages a well-behaved core would never send are
injected through the sending core's own transport (``transport.send``), so they arrive encrypted
and authenticated exactly like real traffic.
"""

from __future__ import annotations

import random
import zlib
from collections import defaultdict
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from blockssh.exceptions import (
    ChannelClosedError,
    ConnectionLost,
    DisconnectError,
    DisconnectReason,
    IllegalUserName,
    KeyExchangeFailed,
    MACError,
    MessageOrderError,
    PacketDecodeError,
    ProtocolError,
    ProtocolVersionNotSupported,
    SSHException,
    TooManyConnections,
)
from blockssh.keys import SSHKey
from blockssh.proto import events as ev
from blockssh.proto import transport as transport_module
from blockssh.proto.algorithms.compression import Compressor
from blockssh.proto.algorithms.policy import Algorithms
from blockssh.proto.connection import CoreOptions, SSHConnectionCore
from blockssh.proto.constants import Msg
from blockssh.proto.kex.negotiate import KexInit
from blockssh.proto.packet import PacketEncoder
from blockssh.proto.transport import TransportOptions
from blockssh.proto.wire import Reader, boolean, byte, mpint, name_list, string, uint32
from blockssh.testing.core_pair import CorePair

pytestmark = pytest.mark.timeout(60)

HOST_KEY = SSHKey(ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32))))
CLIENT_KEY = SSHKey(ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32, 64))))
OTHER_KEY = SSHKey(ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(64, 96))))
USER = "alice"


def core_options(*, server: bool, strict: bool = True, rekey_bytes: int = 1 << 30, **algs: Any) -> CoreOptions:
    algorithms = Algorithms.server_default() if server else Algorithms.client_default()
    algorithms = algorithms.edit(**algs)
    transport = TransportOptions(
        algorithms=algorithms,
        strict_kex=strict,
        rekey_bytes=rekey_bytes,
        host_keys=[HOST_KEY] if server else (),
        server_sig_algs=list(algorithms.signatures) if server else (),
    )
    return CoreOptions(transport=transport)


class Pair(CorePair):
    """A CorePair that also consumes received channel data (reopening windows) and keeps it per channel."""

    def __init__(
        self,
        client_options: CoreOptions | None = None,
        server_options: CoreOptions | None = None,
        *,
        seed: int = 0,
    ) -> None:
        super().__init__(
            client_options or core_options(server=False),
            server_options or core_options(server=True),
            client_rng=random.Random(seed).randbytes,
            server_rng=random.Random(seed + 1000).randbytes,
        )
        self.data: dict[str, dict[tuple[int, int | None], bytearray]] = {
            "client": defaultdict(bytearray),
            "server": defaultdict(bytearray),
        }
        self.auto_consume = True

    def pump(self, max_rounds: int = 1000) -> None:
        for _ in range(max_rounds):
            seen = len(self.client_events), len(self.server_events)
            super().pump()
            consumed = False
            for side, core, events in (
                ("client", self.client, self.client_events[seen[0] :]),
                ("server", self.server, self.server_events[seen[1] :]),
            ):
                for event in events:
                    if isinstance(event, ev.ChannelData):
                        self.data[side][(event.channel, event.datatype)] += bytes(event.data)
                        if self.auto_consume:
                            core.channel_consumed(event.channel, len(event.data))
                            consumed = True
            if not consumed:
                return
        raise RuntimeError("cores kept talking for too long")

    # -- the steps of a connection ---------------------------------------------------------------

    def handshake(self) -> None:
        """Identification, key exchange and host key acceptance, up to the client's AuthReady."""
        self.start()
        self.pump()
        (host_key,) = self.take("client", ev.HostKeyReceived)
        assert host_key.key.public_blob == HOST_KEY.public_blob
        self.client.accept_host_key()
        self.pump()
        assert self.take("client", ev.AuthReady)

    def authenticate(self) -> None:
        """Password authentication, accepted by the server."""
        self.client.auth_password(USER, "secret")
        self.pump()
        (request,) = self.take("server", ev.AuthRequest)
        assert (request.username, request.method, request.password) == (USER, "password", "secret")
        self.server.auth_accept()
        self.pump()
        assert self.take("client", ev.AuthSuccess)
        assert self.client.authenticated and self.server.authenticated

    def open_session(self) -> tuple[int, int]:
        """Open a session channel from the client; return (client id, server id)."""
        client_id = self.client.open_channel("session")
        self.pump()
        (request,) = self.take("server", ev.ChannelOpenRequest)
        assert request.kind == "session"
        self.server.accept_channel(request.channel)
        self.pump()
        (opened,) = self.take("client", ev.ChannelOpened)
        assert opened.channel == client_id
        return client_id, request.channel

    def established(self) -> tuple[int, int]:
        self.handshake()
        self.authenticate()
        return self.open_session()


def record_payloads(core: SSHConnectionCore) -> list[bytes]:
    """Record every payload ``core`` decodes from now on (wraps its packet decoder)."""
    decoder = core.transport._decoder
    seen: list[bytes] = []
    original = decoder.next_payload

    def next_payload() -> Any:
        payload = original()
        if payload is not None:
            seen.append(bytes(payload))
        return payload

    decoder.next_payload = next_payload  # type: ignore[method-assign]
    return seen


def split_version(data: bytes) -> tuple[bytes, bytes]:
    end = data.index(b"\r\n") + 2
    return data[:end], data[end:]


IGNORE = byte(Msg.IGNORE) + string(b"injected")


# -- the happy path -----------------------------------------------------------------------------


def test_handshake_auth_channel_and_data_both_ways() -> None:
    pair = Pair()
    client_id, server_id = pair.established()
    (c_kex,) = pair.take("client", ev.KexComplete)
    (s_kex,) = pair.take("server", ev.KexComplete)
    assert c_kex.initial and s_kex.initial
    assert c_kex.algorithms == s_kex.algorithms
    assert pair.client.transport.session_id == pair.server.transport.session_id is not None
    assert pair.client.transport.strict_kex and pair.server.transport.strict_kex

    upload = random.Random(1).randbytes(5 * 1024 * 1024 + 17)  # more than the 2 MiB window
    download = random.Random(2).randbytes(3 * 1024 * 1024 + 5)
    errors = b"E" * 70_000
    pair.client.channel_write(client_id, upload)
    pair.server.channel_write(server_id, download)
    pair.server.channel_write(server_id, errors, 1)
    pair.client.channel_eof(client_id)
    pair.server.channel_eof(server_id)
    pair.pump()
    assert pair.data["server"][(server_id, None)] == upload
    assert pair.data["client"][(client_id, None)] == download
    assert pair.data["client"][(client_id, 1)] == errors
    assert [e.channel for e in pair.take("client", ev.ChannelEOF)] == [client_id]
    assert [e.channel for e in pair.take("server", ev.ChannelEOF)] == [server_id]

    pair.client.channel_close(client_id)
    pair.pump()
    assert [e.channel for e in pair.take("client", ev.ChannelClosed)] == [client_id]
    assert [e.channel for e in pair.take("server", ev.ChannelClosed)] == [server_id]
    assert not pair.client.closed and not pair.server.closed


def test_channel_requests_round_trip() -> None:
    pair = Pair()
    client_id, server_id = pair.established()
    pair.client.channel_request(client_id, "exec", string("echo hi"), want_reply=True)
    pair.pump()
    (request,) = pair.take("server", ev.ChannelRequest)
    assert (request.channel, request.request, request.want_reply) == (server_id, "exec", True)
    assert Reader(request.data).get_text() == "echo hi"
    pair.server.channel_reply(server_id, True)
    pair.pump()
    (reply,) = pair.take("client", ev.ChannelRequestReply)
    assert (reply.channel, reply.success) == (client_id, True)


def test_eof_after_the_peer_closed_in_the_same_batch_is_harmless() -> None:
    """A driver reacts to ChannelEOF after the core already released the channel (EOF and CLOSE came together).

    Answering the EOF with our own EOF (what an asyncio session does by default) must not raise.
    """
    pair = Pair()
    client_id, server_id = pair.established()
    pair.server.channel_write(server_id, b"bye")
    pair.server.channel_eof(server_id)
    pair.server.channel_close(server_id)
    pair.pump()
    events = [e for e in pair.client_events if isinstance(e, (ev.ChannelEOF, ev.ChannelClosed))]
    assert [type(e) for e in events] == [ev.ChannelEOF, ev.ChannelClosed]
    pair.client.channel_eof(client_id)  # raised ChannelClosedError before the fix
    pair.client.channel_close(client_id)
    pair.pump()
    assert not pair.client.closed
    with pytest.raises(ChannelClosedError):
        pair.client.channel_write(client_id, b"too late")


def test_ssh_rsa_host_key_when_both_sides_enable_it() -> None:
    """ssh-rsa (SHA-1) is legacy and off by default, but naming it on both sides must work."""
    rsa_key = SSHKey(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    server = core_options(server=True, host_key=["ssh-rsa"])
    server.transport.host_keys = [rsa_key]
    pair = Pair(core_options(server=False, host_key=["ssh-rsa"]), server)
    pair.start()
    pair.pump()
    (host_key,) = pair.take("client", ev.HostKeyReceived)
    assert host_key.algorithm == "ssh-rsa"
    pair.client.accept_host_key()
    pair.pump()
    assert pair.take("client", ev.AuthReady)


def test_ssh_rsa_signature_is_refused_when_rsa_sha2_was_negotiated() -> None:
    """A server that negotiated rsa-sha2-256 but signs with SHA-1 ssh-rsa fails the key exchange."""
    rsa_key = SSHKey(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    server = core_options(server=True, host_key=["rsa-sha2-256"])
    server.transport.host_keys = [rsa_key]
    original = rsa_key.sign

    class Downgrading:
        algorithm = rsa_key.algorithm
        sig_algorithms = rsa_key.sig_algorithms
        public_blob = rsa_key.public_blob

        def sign(self, data: bytes, algorithm: str | None = None) -> bytes:
            return original(data, "ssh-rsa")

    server.transport.host_keys = [Downgrading()]
    pair = Pair(core_options(server=False), server)
    pair.start()
    with pytest.raises(KeyExchangeFailed):
        pair.pump()
    assert pair.client.closed


# -- strict key exchange (Terrapin countermeasure) ----------------------------------------------


def start_with_injected(core: SSHConnectionCore, payload: bytes) -> None:
    """Like ``core.start()``, but send ``payload`` between the identification line and KEXINIT."""
    transport = core.transport
    transport._out.append(transport.local_version.encode("ascii") + b"\r\n")
    transport._send_now(payload)
    transport.start_kex()


@pytest.mark.parametrize("strict", [True, False])
def test_ignore_before_kexinit(strict: bool) -> None:
    pair = Pair(core_options(server=False, strict=strict))
    start_with_injected(pair.client, IGNORE)
    pair.server.start()
    if strict:
        with pytest.raises(MessageOrderError):
            pair.pump()
        assert pair.server.closed
        return
    pair.pump()
    pair.client.accept_host_key()
    pair.pump()
    assert pair.take("client", ev.AuthReady)
    assert not pair.client.transport.strict_kex and not pair.server.transport.strict_kex


@pytest.mark.parametrize("strict", [True, False])
def test_ignore_during_initial_kex(strict: bool) -> None:
    pair = Pair(core_options(server=False, strict=strict))
    pair.start()
    pair.client.receive_data(pair.server.data_to_send())  # server KEXINIT: the client sends its kex init
    pair.client.transport._send_now(IGNORE)  # before its NEWKEYS
    if strict:
        with pytest.raises(MessageOrderError):
            pair.server.receive_data(pair.client.data_to_send())
        assert pair.server.closed
        return
    pair.pump()
    pair.client.accept_host_key()
    pair.pump()
    assert pair.take("client", ev.AuthReady)


def test_ignore_is_fine_after_the_initial_kex_even_when_strict() -> None:
    pair = Pair()
    pair.established()
    pair.client.transport.send_ignore(b"padding")
    pair.server.transport.send_ignore(b"padding")
    pair.pump()
    assert not pair.client.closed and not pair.server.closed


@pytest.mark.parametrize("strict", [True, False])
def test_sequence_numbers_reset_at_newkeys_only_when_strict(strict: bool) -> None:
    pair = Pair(core_options(server=False, strict=strict))
    pair.handshake()
    # Sent by the client so far: KEXINIT, KEX_ECDH_INIT, NEWKEYS, SERVICE_REQUEST.
    # Sent by the server: KEXINIT, KEX_ECDH_REPLY, NEWKEYS, EXT_INFO, SERVICE_ACCEPT.
    c_out, s_in = pair.client.transport._encoder.seq, pair.server.transport._decoder.seq
    s_out, c_in = pair.server.transport._encoder.seq, pair.client.transport._decoder.seq
    assert (c_out, s_out) == ((1, 2) if strict else (4, 5))
    assert (c_in, s_in) == (s_out, c_out)
    pair.authenticate()
    pair.client.rekey()
    pair.pump()
    # After a rekey, strict kex resets again (only packets since this NEWKEYS count).
    c_out, s_out = pair.client.transport._encoder.seq, pair.server.transport._decoder.seq
    assert c_out == s_out
    if strict:
        assert c_out == 0
    else:
        assert c_out >= 8


def test_wrong_first_kex_packet_follows_guess_is_ignored() -> None:
    """A client guesses a kex method the server will not choose and sends a guessed packet: the server drops it."""
    client_options = core_options(server=False, kex=["diffie-hellman-group14-sha256", "curve25519-sha256"])
    pair = Pair(client_options)
    client = pair.client.transport
    pair.client.start()
    version, _ = split_version(pair.client.data_to_send())
    init = client._our_kexinit_parsed
    assert init is not None and init.kex[0] == "diffie-hellman-group14-sha256"
    init.first_kex_follows = True
    client._our_kexinit = init.encode()  # what goes into the exchange hash
    plain = PacketEncoder()
    guessed = byte(30) + mpint(0x1234567890ABCDEF)  # a bogus KEXDH_INIT for the guessed DH group
    wire = version + plain.encode(client._our_kexinit) + plain.encode(guessed)
    client._encoder.seq = plain.seq  # the client really sent both packets
    pair.server.start()
    pair.server.receive_data(wire)
    pair.pump()
    pair.client.accept_host_key()
    pair.pump()
    assert pair.take("client", ev.AuthReady)
    (kex,) = pair.take("server", ev.KexComplete)
    assert kex.algorithms.kex == "curve25519-sha256"


def test_right_guess_is_not_ignored() -> None:
    """With a correct guess the guessed packet is the real one: a bogus guess then breaks the exchange."""
    pair = Pair()
    client = pair.client.transport
    pair.client.start()
    version, _ = split_version(pair.client.data_to_send())
    init = client._our_kexinit_parsed
    assert init is not None
    init.first_kex_follows = True
    client._our_kexinit = init.encode()
    plain = PacketEncoder()
    wire = version + plain.encode(client._our_kexinit) + plain.encode(byte(30) + string(b"\x00" * 5))
    pair.server.start()
    with pytest.raises(KeyExchangeFailed):
        pair.server.receive_data(wire)


# -- rekeying -------------------------------------------------------------------------------------


@pytest.mark.parametrize("initiator", ["client", "server"])
def test_rekey_mid_transfer(initiator: str) -> None:
    pair = Pair()
    client_id, server_id = pair.established()
    first_session_id = pair.client.transport.session_id
    rng = random.Random(3)
    before_c, before_s = rng.randbytes(3_000_000), rng.randbytes(3_000_000)
    after_c, after_s = rng.randbytes(1_000_000), rng.randbytes(1_000_000)
    pair.client.channel_write(client_id, before_c)
    pair.server.channel_write(server_id, before_s)
    # Deliver only part of what is in flight, then start the re-exchange.
    pair.server.receive_data(pair.client.data_to_send())
    getattr(pair, initiator).rekey()
    pair.client.channel_write(client_id, after_c)  # queued while the exchange runs
    pair.server.channel_write(server_id, after_s)
    pair.pump()
    assert pair.data["server"][(server_id, None)] == before_c + after_c
    assert pair.data["client"][(client_id, None)] == before_s + after_s
    assert pair.client.transport.kex_count == pair.server.transport.kex_count == 2
    kex = pair.take("client", ev.KexComplete)
    assert [k.initial for k in kex] == [True, False]
    assert pair.client.transport.session_id == first_session_id  # the session id never changes


def test_rekey_triggered_by_rekey_bytes() -> None:
    limit = 256 * 1024
    pair = Pair(core_options(server=False, rekey_bytes=limit))
    client_id, server_id = pair.established()
    encoder = pair.client.transport._encoder
    per_key: list[int] = []  # wire bytes the client sent under each of its keys
    original = encoder.set_protector

    def set_protector(*args: Any, **kwargs: Any) -> None:
        per_key.append(encoder.bytes_since_rekey)
        original(*args, **kwargs)

    encoder.set_protector = set_protector  # type: ignore[method-assign]
    payload = random.Random(4).randbytes(4 * 1024 * 1024)
    pair.client.channel_write(client_id, payload)
    pair.server.channel_write(server_id, payload[::-1])
    pair.pump()
    assert pair.data["server"][(server_id, None)] == payload
    assert pair.data["client"][(client_id, None)] == payload[::-1]
    # 4 MiB each way at 256 KiB per key: the client rekeys about every 256 KiB of either direction.
    assert pair.client.transport.kex_count > 16
    assert pair.server.transport.kex_count == pair.client.transport.kex_count
    # No key carries much more than the limit: at most the packet that crossed it, plus kex messages.
    assert per_key and max(per_key) <= limit + 40 * 1024, per_key


@pytest.mark.parametrize("trigger", ["rekey", "clock"])
def test_rekey_trigger_between_our_newkeys_and_the_peers(trigger: str) -> None:
    """Our NEWKEYS is out, the peer's is not in yet: a new rekey request must not restart the exchange."""
    options = core_options(server=False)
    options.transport.rekey_seconds = 60
    pair = Pair(options)
    client_id, server_id = pair.established()
    pair.client.rekey()
    pair.server.receive_data(pair.client.data_to_send())  # client KEXINIT
    pair.client.receive_data(pair.server.data_to_send())  # server KEXINIT
    pair.server.receive_data(pair.client.data_to_send())  # client kex init
    reply = pair.server.data_to_send()  # kex reply and NEWKEYS
    transport = pair.client.transport
    for i in range(len(reply)):  # feed byte by byte until the client has sent its NEWKEYS
        pair.client.receive_data(reply[i : i + 1])
        if transport._sent_newkeys:
            break
    else:
        raise AssertionError("the client never sent NEWKEYS")
    if trigger == "rekey":
        pair.client.rekey()
    else:
        pair.client.tick(3600.0)
    pair.client.receive_data(reply[i + 1 :])
    pair.pump()
    assert not pair.client.closed and not pair.server.closed
    pair.client.channel_write(client_id, b"after")
    pair.pump()
    assert pair.data["server"][(server_id, None)] == b"after"
    assert pair.client.transport.kex_count == pair.server.transport.kex_count


def test_rekey_after_rekey_seconds() -> None:
    """Time is an input: a tick past rekey_seconds since the last exchange starts a new one, earlier ones do not."""
    options = core_options(server=False)
    options.transport.rekey_seconds = 3600.0
    pair = Pair(options)
    client_id, server_id = pair.established()
    pair.client.tick(3599.0)
    pair.pump()
    assert pair.client.transport.kex_count == 1
    pair.client.tick(3600.5)
    pair.pump()
    assert pair.client.transport.kex_count == pair.server.transport.kex_count == 2
    pair.client.channel_write(client_id, b"still works")
    pair.pump()
    assert pair.data["server"][(server_id, None)] == b"still works"
    pair.client.tick(3600.5 + 1800.0)  # counted from the second exchange
    pair.pump()
    assert pair.client.transport.kex_count == 2


def test_no_rekey_below_the_limit() -> None:
    pair = Pair(core_options(server=False, rekey_bytes=64 * 1024 * 1024))
    client_id, server_id = pair.established()
    pair.client.channel_write(client_id, bytes(4 * 1024 * 1024))
    pair.pump()
    assert pair.client.transport.kex_count == 1


def test_compression_streams_restart_at_every_newkeys(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in OpenSSH, each NEWKEYS after authentication starts fresh zlib streams.

    The first compressed payloads after a rekey must inflate with a new zlib stream; a peer
    like OpenSSH starts one there and fails ("invalid format") on a continued stream.
    """
    outputs: list[tuple[Compressor, bytes, bytes]] = []

    class RecordingCompressor(Compressor):
        def compress(self, payload: bytes) -> bytes:
            out = super().compress(payload)
            outputs.append((self, bytes(payload), out))
            return out

    monkeypatch.setattr(transport_module, "Compressor", RecordingCompressor)
    zlib_only = {"compression": ["zlib@openssh.com"]}
    pair = Pair(core_options(server=False, **zlib_only), core_options(server=True, **zlib_only))
    client_id, server_id = pair.established()
    before = pair.client.transport._encoder.compressor
    assert before is not None  # delayed compression is on after authentication
    pair.client.channel_write(client_id, b"a" * 5000)
    pair.pump()
    pair.client.rekey()
    pair.pump()
    pair.client.channel_write(client_id, b"b" * 5000)
    pair.server.channel_write(server_id, b"c" * 5000)
    pair.pump()
    assert pair.data["server"][(server_id, None)] == b"a" * 5000 + b"b" * 5000
    assert pair.data["client"][(client_id, None)] == b"c" * 5000
    after = pair.client.transport._encoder.compressor
    client_out = [(p, o) for c, p, o in outputs if c is before or c is after]
    newkeys = [i for i, (p, _) in enumerate(client_out) if p == b"\x15"]
    assert len(newkeys) == 1  # the rekey's NEWKEYS (the first one was sent before compression started)
    fresh = zlib.decompressobj()
    for payload, out in client_out[newkeys[0] + 1 :]:
        assert fresh.decompress(out) == payload


# -- flow control ---------------------------------------------------------------------------------


def test_peer_exceeding_our_window_is_a_protocol_error() -> None:
    pair = Pair()
    pair.handshake()
    pair.authenticate()
    client_id = pair.client.open_channel("session")
    pair.pump()
    (request,) = pair.take("server", ev.ChannelOpenRequest)
    pair.server.accept_channel(request.channel, window=1000)
    pair.pump()
    remote = pair.client.channels.get(client_id).remote_id
    pair.client.channel_write(client_id, b"x" * 5000)  # the client respects the window...
    pair.auto_consume = False
    pair.pump()
    assert len(pair.data["server"][(request.channel, None)]) == 1000
    assert pair.client.channel_queued(client_id) == 4000
    # ...a rogue one does not.
    pair.client.transport.send(byte(Msg.CHANNEL_DATA) + uint32(remote) + string(b"y"))
    with pytest.raises(ProtocolError, match="window"):
        pair.pump()
    assert pair.server.closed


def test_window_adjust_overflow_is_a_protocol_error() -> None:
    pair = Pair()
    client_id, _ = pair.established()
    remote = pair.client.channels.get(client_id).remote_id
    pair.client.transport.send(byte(Msg.CHANNEL_WINDOW_ADJUST) + uint32(remote) + uint32(0xFFFFFFFF))
    with pytest.raises(ProtocolError, match="overflow"):
        pair.pump()


def test_window_adjust_up_to_the_maximum_is_fine() -> None:
    pair = Pair()
    client_id, server_id = pair.established()
    remote = pair.client.channels.get(client_id).remote_id
    room = 0xFFFFFFFF - pair.server.channels.send_window(server_id)
    pair.client.transport.send(byte(Msg.CHANNEL_WINDOW_ADJUST) + uint32(remote) + uint32(room))
    pair.pump()
    assert pair.server.channels.send_window(server_id) == 0xFFFFFFFF


# -- unexpected messages ----------------------------------------------------------------------------


@pytest.mark.parametrize("msg", [15, 19, 120, 200, 255])
def test_unknown_message_gets_unimplemented_and_the_connection_continues(msg: int) -> None:
    pair = Pair()
    client_id, server_id = pair.established()
    seen = record_payloads(pair.client)
    seq = pair.client.transport._encoder.seq
    pair.client.transport.send(byte(msg) + b"whatever")
    pair.pump()
    assert byte(Msg.UNIMPLEMENTED) + uint32(seq) in seen
    pair.client.channel_write(client_id, b"still here")
    pair.pump()
    assert pair.data["server"][(server_id, None)] == b"still here"


def test_channel_message_before_authentication() -> None:
    pair = Pair()
    pair.handshake()
    pair.client.transport.send(
        byte(Msg.CHANNEL_OPEN) + string("session") + uint32(0) + uint32(1 << 20) + uint32(1 << 15)
    )
    with pytest.raises(MessageOrderError):
        pair.pump()
    assert pair.server.closed


def test_open_channel_before_authentication_is_refused_locally() -> None:
    pair = Pair()
    pair.handshake()
    with pytest.raises(MessageOrderError):
        pair.client.open_channel("session")


def test_userauth_success_with_no_request_in_flight() -> None:
    """The rogue-session attack: a server may not declare us logged in unasked."""
    pair = Pair()
    pair.handshake()
    pair.server.transport.send(byte(Msg.USERAUTH_SUCCESS))
    with pytest.raises(MessageOrderError):
        pair.pump()
    assert not pair.client.authenticated
    assert pair.client.closed


def test_userauth_success_after_a_failure_reply() -> None:
    pair = Pair()
    pair.handshake()
    pair.client.auth_none(USER)
    pair.pump()
    pair.take("server", ev.AuthRequest)
    pair.server.auth_reject(["password"])
    pair.pump()
    assert pair.take("client", ev.AuthFailure)
    pair.server.transport.send(byte(Msg.USERAUTH_SUCCESS))
    with pytest.raises(MessageOrderError):
        pair.pump()
    assert not pair.client.authenticated


@pytest.mark.parametrize("sender", ["server", "client"])
def test_ext_info_after_authentication(sender: str) -> None:
    pair = Pair()
    pair.established()
    core = getattr(pair, sender)
    core.transport.send(byte(Msg.EXT_INFO) + uint32(1) + string("server-sig-algs") + name_list(["ssh-ed25519"]))
    with pytest.raises(MessageOrderError):
        pair.pump()


def test_second_ext_info_during_auth_is_accepted_once() -> None:
    """RFC 8308: a server may send EXT_INFO again just before USERAUTH_SUCCESS; not a third time."""
    pair = Pair()
    pair.handshake()
    ext = byte(Msg.EXT_INFO) + uint32(1) + string("server-sig-algs") + name_list(["ssh-ed25519", "rsa-sha2-256"])
    assert len(pair.take("client", ev.ExtInfoReceived)) == 1  # the one after NEWKEYS
    pair.server.transport.send(ext)
    pair.pump()
    (info,) = pair.take("client", ev.ExtInfoReceived)
    assert info.extensions == {"server-sig-algs": b"ssh-ed25519,rsa-sha2-256"}
    pair.server.transport.send(ext)
    with pytest.raises(MessageOrderError):
        pair.pump()


DISCONNECT_CASES = [
    (DisconnectReason.PROTOCOL_ERROR, ProtocolError),
    (DisconnectReason.KEY_EXCHANGE_FAILED, KeyExchangeFailed),
    (DisconnectReason.MAC_ERROR, MACError),
    (DisconnectReason.TOO_MANY_CONNECTIONS, TooManyConnections),
    (DisconnectReason.ILLEGAL_USER_NAME, IllegalUserName),
    (DisconnectReason.NO_MORE_AUTH_METHODS_AVAILABLE, DisconnectError),
    (DisconnectReason.HOST_NOT_ALLOWED_TO_CONNECT, DisconnectError),
]


@pytest.mark.parametrize(("code", "cls"), DISCONNECT_CASES, ids=[c.name for c, _ in DISCONNECT_CASES])
def test_disconnect_from_peer(code: DisconnectReason, cls: type[DisconnectError]) -> None:
    pair = Pair()
    pair.established()
    pair.server.disconnect(code, "go away")
    with pytest.raises(cls) as info:
        pair.pump()
    assert type(info.value) is cls
    assert (info.value.code, info.value.reason, info.value.remote) == (code, "go away", True)
    closed = [e for e in pair.client.events_received() if isinstance(e, ev.ConnectionClosed)]
    assert len(closed) == 1
    assert closed[0].error is info.value
    assert pair.client.closed


def test_disconnect_by_application_is_an_orderly_close() -> None:
    pair = Pair()
    pair.established()
    pair.server.disconnect(DisconnectReason.BY_APPLICATION, "bye")
    pair.pump()
    (closed,) = pair.take("client", ev.ConnectionClosed)
    assert closed.error is None
    assert pair.client.closed
    assert pair.client.transport.close_error is not None and pair.client.transport.close_error.reason == "bye"


def test_disconnect_during_initial_kex() -> None:
    pair = Pair()
    pair.start()
    pair.server.data_to_send()
    pair.server.disconnect(DisconnectReason.HOST_NOT_ALLOWED_TO_CONNECT, "not you")
    wire = pair.server.transport.local_version.encode() + b"\r\n"
    # The server's KEXINIT was dropped above; send a clear-text DISCONNECT after the version.
    wire += PacketEncoder().encode(
        byte(Msg.DISCONNECT) + uint32(DisconnectReason.HOST_NOT_ALLOWED_TO_CONNECT) + string("not you") + string("")
    )
    with pytest.raises(DisconnectError) as info:
        pair.client.receive_data(wire)
    assert info.value.code == DisconnectReason.HOST_NOT_ALLOWED_TO_CONNECT and info.value.remote


@pytest.mark.parametrize(
    ("received", "expected"),
    [
        (b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", ProtocolVersionNotSupported),
        (b"220 smtp.example.com ESMTP", ProtocolVersionNotSupported),  # no newline before EOF
        (b"", ConnectionLost),
        (b"SSH-2.0-OpenSSH_9.2\r\n", ConnectionLost),
    ],
    ids=["http", "smtp-partial-line", "nothing", "after-version"],
)
def test_eof_before_or_after_the_identification_line(received: bytes, expected: type[DisconnectError]) -> None:
    """A peer that closes after talking something else than SSH gets "not SSH", with what it said."""
    client = SSHConnectionCore(is_server=False, options=core_options(server=False))
    client.start()
    client.receive_data(received)
    client.receive_eof()
    (closed,) = [e for e in client.events_received() if isinstance(e, ev.ConnectionClosed)]
    assert type(closed.error) is expected
    assert client.closed
    if expected is ProtocolVersionNotSupported:
        assert received.split(b"\r\n")[0].decode()[:20] in str(closed.error)


# -- malformed input ----------------------------------------------------------------------------------


def test_truncated_kexinit() -> None:
    pair = Pair()
    pair.client.start()
    version, rest = split_version(pair.client.data_to_send())
    kexinit = pair.client.transport._our_kexinit
    assert kexinit is not None
    pair.server.start()
    with pytest.raises(PacketDecodeError):
        pair.server.receive_data(version + PacketEncoder().encode(kexinit[:60]))
    assert pair.server.closed
    assert rest  # the real KEXINIT was there


def test_kexinit_with_trailing_garbage() -> None:
    init = KexInit(bytes(16), ["curve25519-sha256"], ["ssh-ed25519"], *[["none"]] * 6)
    pair = Pair()
    pair.server.start()
    with pytest.raises(PacketDecodeError):
        pair.server.receive_data(b"SSH-2.0-rogue\r\n" + PacketEncoder().encode(init.encode() + b"extra"))


def test_garbage_channel_data() -> None:
    pair = Pair()
    client_id, _ = pair.established()
    remote = pair.client.channels.get(client_id).remote_id
    pair.client.transport.send(byte(Msg.CHANNEL_DATA) + uint32(remote) + uint32(100) + b"short")
    with pytest.raises(PacketDecodeError):
        pair.pump()


def test_data_for_unknown_channel() -> None:
    pair = Pair()
    pair.established()
    pair.client.transport.send(byte(Msg.CHANNEL_DATA) + uint32(77) + string(b"x"))
    with pytest.raises(ProtocolError, match="unknown channel"):
        pair.pump()


def _pair_at(stage: str) -> Pair:
    """A pair after the handshake: mid keyboard-interactive authentication, or with a channel open."""
    pair = Pair()
    if stage == "established":
        pair.established()
    else:
        pair.handshake()
        pair.client.auth_kbdint(USER)
        pair.pump()
        pair.take("server", ev.AuthRequest)
        pair.server.auth_info_request("", "", [("Password: ", False)])
        pair.pump()
    pair.take("client", ev.Event)
    pair.take("server", ev.Event)
    return pair


def _check_only_ssh_exceptions(pair: Pair, sender: str, payload: bytes) -> None:
    receiver = pair.server if sender == "client" else pair.client
    getattr(pair, sender).transport.send(payload)
    try:
        pair.pump()
    except SSHException as exc:
        # The documented contract: errors caused by the peer are DisconnectErrors, raised after
        # a DISCONNECT was queued, and that side's connection is over. (It may be the sender that
        # fails, on the receiver's answer to its nonsense.)
        assert isinstance(exc, DisconnectError), repr(exc)
        failed = [core for core in (pair.client, pair.server) if core.transport.close_error is exc]
        assert failed and failed[0].closed, repr(exc)
    else:
        assert not receiver.closed


message_numbers = st.sampled_from([*range(1, 8), 20, 21, 30, 31, 50, 51, 52, 53, 60, 61, 80, 81, 82, *range(90, 101)])


@st.composite
def payloads(draw: st.DrawFn) -> bytes:
    msg = draw(st.one_of(message_numbers, st.integers(0, 255)))
    if draw(st.booleans()):
        body = draw(st.binary(max_size=64))
    else:  # plausible structure: small channel ids and lengths, strings
        parts = draw(
            st.lists(
                st.one_of(
                    st.integers(0, 3).map(uint32),
                    st.integers(0, (1 << 32) - 1).map(uint32),
                    st.binary(max_size=20).map(string),
                    st.booleans().map(boolean),
                ),
                max_size=6,
            )
        )
        body = b"".join(parts)
    return byte(msg) + body


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(payload=payloads(), sender=st.sampled_from(["client", "server"]), stage=st.sampled_from(["auth", "established"]))
@example(payload=byte(Msg.CHANNEL_DATA) + uint32(0) + uint32(10), sender="client", stage="established")
@example(payload=byte(61) + uint32(1) + string("hunter2"), sender="client", stage="auth")
@example(payload=byte(61) + uint32(2) + string("a") + string("b"), sender="client", stage="auth")
@example(payload=byte(Msg.USERAUTH_SUCCESS), sender="server", stage="auth")
@example(
    payload=byte(Msg.CHANNEL_EXTENDED_DATA) + uint32(0) + uint32(1) + uint32(5) + b"ab",
    sender="server",
    stage="established",
)
@example(payload=byte(Msg.CHANNEL_REQUEST) + uint32(0) + string("pty-req"), sender="client", stage="established")
@example(payload=byte(Msg.KEXINIT) + b"\x00" * 10, sender="client", stage="established")
@example(payload=byte(Msg.NEWKEYS), sender="server", stage="established")
@example(payload=byte(Msg.DISCONNECT) + uint32(2), sender="server", stage="established")
@example(
    payload=byte(Msg.GLOBAL_REQUEST) + string("tcpip-forward") + boolean(True), sender="client", stage="established"
)
@example(payload=byte(Msg.REQUEST_SUCCESS), sender="client", stage="established")
@example(payload=byte(Msg.CHANNEL_OPEN_CONFIRMATION) + uint32(0) * 4, sender="server", stage="established")
@example(
    payload=byte(Msg.USERAUTH_REQUEST) + string(USER) + string("ssh-connection") + string("none"),
    sender="client",
    stage="established",
)
def test_random_payloads_after_the_handshake_raise_only_ssh_exceptions(payload: bytes, sender: str, stage: str) -> None:
    _check_only_ssh_exceptions(_pair_at(stage), sender, payload)


# -- server-side authentication --------------------------------------------------------------------


def test_max_auth_tries() -> None:
    pair = Pair()
    pair.handshake()
    pair.client.auth_none(USER)  # the initial "none" probe does not count
    pair.pump()
    pair.take("server", ev.AuthRequest)
    pair.server.auth_reject(["password"])
    pair.pump()
    assert pair.take("client", ev.AuthFailure)
    for attempt in range(1, 7):
        pair.client.auth_password(USER, f"guess {attempt}")
        pair.pump()
        (request,) = pair.take("server", ev.AuthRequest)
        assert request.password == f"guess {attempt}"
        if attempt < 6:
            pair.server.auth_reject(["password"])
            pair.pump()
            (failure,) = pair.take("client", ev.AuthFailure)
            assert failure.methods == ["password"] and not failure.partial
            continue
        with pytest.raises(DisconnectError) as server_side:
            pair.server.auth_reject(["password"])
        assert server_side.value.code == DisconnectReason.NO_MORE_AUTH_METHODS_AVAILABLE
        with pytest.raises(DisconnectError) as client_side:
            pair.pump()
        assert client_side.value.code == DisconnectReason.NO_MORE_AUTH_METHODS_AVAILABLE
        assert client_side.value.remote
    assert pair.client.closed and pair.server.closed


def test_publickey_query_pk_ok_and_signature() -> None:
    pair = Pair()
    pair.handshake()
    blob = CLIENT_KEY.public_blob
    pair.client.auth_publickey_query(USER, "ssh-ed25519", blob)
    pair.pump()
    (query,) = pair.take("server", ev.AuthRequest)
    assert (query.method, query.key_algorithm, query.key_blob, query.signature_valid) == (
        "publickey",
        "ssh-ed25519",
        blob,
        None,
    )
    assert query.key.public_blob == blob
    pair.server.auth_pk_ok("ssh-ed25519", blob)
    pair.pump()
    (ok,) = pair.take("client", ev.AuthPublicKeyOk)
    assert (ok.algorithm, ok.key_blob) == ("ssh-ed25519", blob)

    # A signature over the wrong data, then one by the wrong key, then the right one.
    data = pair.client.auth_publickey_data(USER, "ssh-ed25519", blob)
    assert data.startswith(string(pair.client.transport.session_id))
    attempts = [
        (CLIENT_KEY.sign(data + b"x"), False),
        (OTHER_KEY.sign(data), False),
        (CLIENT_KEY.sign(data), True),
    ]
    for signature, valid in attempts:
        pair.client.auth_publickey(USER, "ssh-ed25519", blob, signature)
        pair.pump()
        (request,) = pair.take("server", ev.AuthRequest)
        assert request.signature_valid is valid
        if valid:
            pair.server.auth_accept()
        else:
            pair.server.auth_reject(["publickey"])
        pair.pump()
    assert pair.take("client", ev.AuthSuccess)
    assert len(pair.take("client", ev.AuthFailure)) == 2


def test_publickey_signature_for_another_session_is_invalid() -> None:
    """A signature is bound to the session id: one made for another connection does not verify."""
    other = Pair(seed=7)
    other.handshake()
    pair = Pair()
    pair.handshake()
    assert other.client.transport.session_id != pair.client.transport.session_id
    blob = CLIENT_KEY.public_blob
    stolen = CLIENT_KEY.sign(other.client.auth_publickey_data(USER, "ssh-ed25519", blob))
    pair.client.auth_publickey(USER, "ssh-ed25519", blob, stolen)
    pair.pump()
    (request,) = pair.take("server", ev.AuthRequest)
    assert request.signature_valid is False


def test_keyboard_interactive_round_trip() -> None:
    pair = Pair()
    pair.handshake()
    pair.client.auth_kbdint(USER, "pam")
    pair.pump()
    (request,) = pair.take("server", ev.AuthRequest)
    assert (request.method, request.submethods) == ("keyboard-interactive", "pam")
    pair.server.auth_info_request("Login", "Answer both", [("Password: ", False), ("Code: ", True)])
    pair.pump()
    (info,) = pair.take("client", ev.AuthInfoRequest)
    assert (info.name, info.instruction, info.prompts) == (
        "Login",
        "Answer both",
        [("Password: ", False), ("Code: ", True)],
    )
    with pytest.raises(ValueError):
        pair.client.auth_kbdint_respond(["only one"])
    pair.client.auth_kbdint_respond(["hunter2", "123456"])
    pair.pump()
    (response,) = pair.take("server", ev.AuthInfoResponse)
    assert response.responses == ["hunter2", "123456"]
    pair.server.auth_accept()
    pair.pump()
    assert pair.take("client", ev.AuthSuccess)


def test_info_response_without_request_is_an_error() -> None:
    pair = Pair()
    pair.handshake()
    pair.client.transport.send(byte(61) + uint32(0))
    with pytest.raises(MessageOrderError):
        pair.pump()


def test_password_change_request() -> None:
    pair = Pair()
    pair.handshake()
    pair.client.auth_password(USER, "old")
    pair.pump()
    (request,) = pair.take("server", ev.AuthRequest)
    assert (request.password, request.new_password) == ("old", None)
    pair.server.auth_password_change_request("Password expired, choose another")
    pair.pump()
    (change,) = pair.take("client", ev.AuthPasswordChangeRequired)
    assert change.prompt == "Password expired, choose another"
    pair.client.auth_password(USER, "old", "new")
    pair.pump()
    (request,) = pair.take("server", ev.AuthRequest)
    assert (request.password, request.new_password) == ("old", "new")
    pair.server.auth_accept()
    pair.pump()
    assert pair.take("client", ev.AuthSuccess)


def test_auth_banner_before_success() -> None:
    pair = Pair()
    pair.handshake()
    pair.server.auth_banner("Welcome\n")
    pair.pump()
    (banner,) = pair.take("client", ev.AuthBanner)
    assert banner.message == "Welcome\n"
    pair.authenticate()
    with pytest.raises(MessageOrderError):
        pair.server.auth_banner("too late")
