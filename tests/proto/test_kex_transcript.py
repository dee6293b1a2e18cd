"""Key exchange transcripts, checked by an independent implementation in this file.

Both cores of a ``CorePair`` draw their randomness from seeded generators and the server has a
fixed Ed25519 host key, so every exchange except ML-KEM's (whose server encapsulates with its
own randomness) is the same on every run. This file re-derives what the cores computed, using
only ``hashlib``, ``hmac`` and ``cryptography`` plus its own SSH encoders (nothing from
``blockssh.proto``):

* it parses the clear-text part of both byte streams (identification lines, KEXINITs, the
  method's messages, NEWKEYS);
* it recovers the client's ephemeral secret among the random chunks the client drew (the one
  whose public value is on the wire) and computes the shared secret K from it;
* it computes the exchange hash H per RFC 4253 section 8, RFC 4419, RFC 5656, RFC 8731 and
  OpenSSH's mlkem768x25519-sha256, checks the server's signature over it, and compares with the
  session id both cores report;
* it derives the keys (RFC 4253 section 7.2) and decrypts and authenticates the first encrypted
  packet in each direction with them.

One exchange (curve25519-sha256, seeds 1 and 2) also has its session id written down below, so a
change in any encoding that goes into H is caught even if both sides change together. For
mlkem768x25519-sha256 a recorded server reply is replayed to a deterministic client.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import struct
from dataclasses import dataclass, field

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mlkem, x25519
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.poly1305 import Poly1305

from blockssh.exceptions import KeyExchangeFailed
from blockssh.keys import SSHKey
from blockssh.proto import events as ev
from blockssh.proto.algorithms.policy import Algorithms
from blockssh.proto.connection import CoreOptions, SSHConnectionCore
from blockssh.proto.kex.methods import KEX_ALGORITHMS
from blockssh.proto.transport import TransportOptions
from blockssh.testing.core_pair import CorePair

pytestmark = pytest.mark.timeout(60)

HOST_PRIVATE = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(100, 132)))
HOST_KEY = SSHKey(HOST_PRIVATE)
MLKEM = "mlkem768x25519-sha256"
DETERMINISTIC = [name for name in KEX_ALGORITHMS if name != MLKEM]
HASHES = {
    "curve25519-sha256": "sha256",
    "curve25519-sha256@libssh.org": "sha256",
    "ecdh-sha2-nistp256": "sha256",
    "ecdh-sha2-nistp384": "sha384",
    "ecdh-sha2-nistp521": "sha512",
    "diffie-hellman-group-exchange-sha256": "sha256",
    "diffie-hellman-group14-sha256": "sha256",
    "diffie-hellman-group16-sha512": "sha512",
    "diffie-hellman-group18-sha512": "sha512",
    MLKEM: "sha256",
}
CURVES = {
    "ecdh-sha2-nistp256": ec.SECP256R1(),
    "ecdh-sha2-nistp384": ec.SECP384R1(),
    "ecdh-sha2-nistp521": ec.SECP521R1(),
}
FIXED_GROUPS = {
    "diffie-hellman-group14-sha256": "_group14_p",
    "diffie-hellman-group16-sha512": "_group16_p",
    "diffie-hellman-group18-sha512": "_group18_p",
}

# curve25519-sha256, client seed 1, server seed 2, default algorithms otherwise: computed by the
# independent implementation in this file (test_fixed_session_id prints it on mismatch).
CURVE25519_SESSION_ID = "79c23bba2dcca3a793d96dec565b606c71a5277afeb87cf90ab7856f01a137e1"
# The chacha20-poly1305 keys of that exchange (RFC 4253 section 7.2 letters C and D), same origin.
CURVE25519_KEYS = {
    "C": "cf215ec2ec190c0d954994dcb56698f282dc523665981dc215870c4209bfb74e"
    "116aa39fd77bbeeeaccbfeadf0fcce749987f1ec00f966c3161aad68f61e1b2b",
    "D": "f921d857ede6f1d5a95246781e86f9ae35cef92a75799ed98b9395da59035a76"
    "29d04b91b25251b16896d62811d281f770a70e72939442130bc1d102ded308df",
}


# -- an independent SSH encoder/decoder --------------------------------------------------------


def s(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def mp(n: int) -> bytes:
    """RFC 4251 mpint of a non-negative integer."""
    if n == 0:
        return s(b"")
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return s(b"\x00" + raw if raw[0] & 0x80 else raw)


class Cursor:
    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data, self.pos = data, pos

    def take(self, n: int) -> bytes:
        assert self.pos + n <= len(self.data), "truncated"
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u32(self) -> int:
        return int(struct.unpack(">I", self.take(4))[0])

    def string(self) -> bytes:
        return self.take(self.u32())

    def mpint(self) -> int:
        return int.from_bytes(self.string(), "big", signed=True)

    def end(self) -> None:
        assert self.pos == len(self.data), f"{len(self.data) - self.pos} trailing bytes"


@dataclass
class Stream:
    """One direction's clear-text start: identification line and payloads up to NEWKEYS."""

    version: bytes
    payloads: list[bytes]
    encrypted: bytes  # everything after NEWKEYS

    def messages(self, number: int) -> list[bytes]:
        return [p for p in self.payloads if p[0] == number]


def parse_stream(data: bytes) -> Stream:
    end = data.index(b"\r\n")
    version, pos = data[:end], end + 2
    payloads = []
    while True:
        length, padding = struct.unpack(">IB", data[pos : pos + 5])
        payload = data[pos + 5 : pos + 4 + length - padding]
        payloads.append(payload)
        pos += 4 + length
        if payload == b"\x15":  # NEWKEYS
            return Stream(version, payloads, data[pos:])


class RecordingRng:
    """A seeded random source that remembers every chunk it handed out."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)
        self.chunks: list[bytes] = []

    def __call__(self, n: int) -> bytes:
        chunk = self._random.randbytes(n)
        self.chunks.append(chunk)
        return chunk


# -- the independent key exchange computations ------------------------------------------------------


def find(chunks: list[bytes], size: int, matches: object) -> bytes:
    for chunk in chunks:
        if len(chunk) == size and matches(chunk):  # type: ignore[operator]
            return chunk
    raise AssertionError(f"no {size}-byte random chunk of the client produces its public value on the wire")


def dh_exponent(chunk: bytes, p: int) -> int:
    bits = min(512, p.bit_length() - 2)
    return int.from_bytes(chunk, "big") % (1 << bits) | (1 << (bits - 1))


def fixed_group_prime(method: str) -> int:
    asyncssh_kex_dh = pytest.importorskip("asyncssh.kex_dh")  # an independent copy of RFC 3526
    return int(getattr(asyncssh_kex_dh, FIXED_GROUPS[method]))


@dataclass
class Exchange:
    method: str
    h: bytes
    k: bytes  # wire-encoded shared secret
    host_key_blob: bytes
    signature: bytes
    details: dict[str, object] = field(default_factory=dict)


def independent_exchange(method: str, client: Stream, server: Stream, client_chunks: list[bytes]) -> Exchange:
    """Recompute K and H from the transcript and the client's random chunks."""
    (i_c,) = client.messages(20)
    (i_s,) = server.messages(20)
    prefix = s(client.version) + s(server.version) + s(i_c) + s(i_s)
    hash_name = HASHES[method]
    if method.startswith("diffie-hellman-group-exchange"):
        (request,) = client.messages(34)
        (group,) = server.messages(31)
        (init,) = client.messages(32)
        (reply,) = server.messages(33)
        r = Cursor(group, 1)
        p, g = r.mpint(), r.mpint()
        r.end()
        r = Cursor(init, 1)
        e = r.mpint()
        r = Cursor(reply, 1)
        k_s, f, signature = r.string(), r.mpint(), r.string()
        r.end()
        x = dh_exponent(find(client_chunks, 64, lambda c: pow(g, dh_exponent(c, p), p) == e), p)
        k = mp(pow(f, x, p))
        h_input = prefix + s(k_s) + request[1:] + mp(p) + mp(g) + mp(e) + mp(f) + k
        details: dict[str, object] = {"p_bits": p.bit_length()}
    else:
        (init,) = client.messages(30)
        (reply,) = server.messages(31)
        r = Cursor(reply, 1)
        k_s = r.string()
        if method in FIXED_GROUPS:
            p, g = fixed_group_prime(method), 2
            e = Cursor(init, 1).mpint()
            f = r.mpint()
            x = dh_exponent(find(client_chunks, 64, lambda c: pow(g, dh_exponent(c, p), p) == e), p)
            k = mp(pow(f, x, p))
            client_field, server_field = mp(e), mp(f)
        else:
            q_c = Cursor(init, 1).string()
            q_s = r.string()
            client_field, server_field = s(q_c), s(q_s)
            k = shared_secret(method, q_c, q_s, client_chunks)
        signature = r.string()
        r.end()
        h_input = prefix + s(k_s) + client_field + server_field + k
        details = {}
    h = hashlib.new(hash_name, h_input).digest()
    return Exchange(method, h, k, k_s, signature, details)


def shared_secret(method: str, q_c: bytes, q_s: bytes, chunks: list[bytes]) -> bytes:
    if method.startswith("curve25519"):
        private = x25519.X25519PrivateKey.from_private_bytes(find(chunks, 32, lambda c: x25519_public(c) == q_c))
        secret = private.exchange(x25519.X25519PublicKey.from_public_bytes(q_s))
        return mp(int.from_bytes(secret, "big"))  # RFC 8731: the X25519 output as an unsigned integer
    if method in CURVES:
        curve = CURVES[method]
        size = (curve.key_size - 1 + 7) // 8 + 8

        def scalar(chunk: bytes) -> int:
            return int.from_bytes(chunk, "big") % (1 << (curve.key_size - 1)) + 1

        def point(chunk: bytes) -> bytes:
            public = ec.derive_private_key(scalar(chunk), curve).public_key()
            return public.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)

        private_ec = ec.derive_private_key(scalar(find(chunks, size, lambda c: point(c) == q_c)), curve)
        peer = ec.EllipticCurvePublicKey.from_encoded_point(curve, q_s)
        return mp(int.from_bytes(private_ec.exchange(ec.ECDH(), peer), "big"))  # RFC 5656: x coordinate
    assert method == MLKEM
    kem_public, x_public = q_c[:1184], q_c[1184:]
    ciphertext, x_server = q_s[:1088], q_s[1088:]
    assert len(q_c) == 1184 + 32 and len(q_s) == 1088 + 32
    seed = find(
        chunks, 64, lambda c: mlkem.MLKEM768PrivateKey.from_seed_bytes(c).public_key().public_bytes_raw() == kem_public
    )
    x_private = x25519.X25519PrivateKey.from_private_bytes(find(chunks, 32, lambda c: x25519_public(c) == x_public))
    kem_secret = mlkem.MLKEM768PrivateKey.from_seed_bytes(seed).decapsulate(ciphertext)
    x_secret = x_private.exchange(x25519.X25519PublicKey.from_public_bytes(x_server))
    return s(hashlib.sha256(kem_secret + x_secret).digest())


def x25519_public(private: bytes) -> bytes:
    return x25519.X25519PrivateKey.from_private_bytes(private).public_key().public_bytes_raw()


def check_signature(exchange: Exchange) -> None:
    r = Cursor(exchange.host_key_blob)
    assert r.string() == b"ssh-ed25519"
    public = ed25519.Ed25519PublicKey.from_public_bytes(r.string())
    r.end()
    assert public.public_bytes_raw() == HOST_PRIVATE.public_key().public_bytes_raw()
    r = Cursor(exchange.signature)
    assert r.string() == b"ssh-ed25519"
    public.verify(r.string(), exchange.h)  # raises InvalidSignature on mismatch
    r.end()


def derive(hash_name: str, k: bytes, h: bytes, letter: bytes, session_id: bytes, size: int) -> bytes:
    out = hashlib.new(hash_name, k + h + letter + session_id).digest()
    while len(out) < size:
        out += hashlib.new(hash_name, k + h + out).digest()
    return out[:size]


def open_first_packet(cipher: str, encrypted: bytes, key: bytes, iv: bytes, mac_key: bytes, seq: int = 0) -> bytes:
    """Decrypt and authenticate the first packet of a stream; return its payload."""
    if cipher == "aes128-ctr":  # with hmac-sha2-256, encrypt-and-MAC
        decryptor = Cipher(algorithms.AES(key), modes.CTR(iv)).decryptor()
        first = decryptor.update(encrypted[:16])
        length = struct.unpack(">I", first[:4])[0]
        plain = first + decryptor.update(encrypted[16 : 4 + length])
        tag = encrypted[4 + length : 4 + length + 32]
        assert hmac.compare_digest(tag, hmac.digest(mac_key, struct.pack(">I", seq) + plain, "sha256"))
        body = plain[4:]
    elif cipher == "aes256-gcm@openssh.com":
        length = struct.unpack(">I", encrypted[:4])[0]
        body = AESGCM(key).decrypt(iv, encrypted[4 : 4 + length + 16], encrypted[:4])
    else:
        assert cipher == "chacha20-poly1305@openssh.com"
        main_key, header_key = key[:32], key[32:]
        nonce = b"\x00" * 8 + struct.pack(">Q", seq)
        length_bytes = Cipher(algorithms.ChaCha20(header_key, nonce), None).decryptor().update(encrypted[:4])
        length = struct.unpack(">I", length_bytes)[0]
        poly_key = Cipher(algorithms.ChaCha20(main_key, nonce), None).encryptor().update(bytes(32))
        Poly1305.verify_tag(poly_key, encrypted[: 4 + length], encrypted[4 + length : 4 + length + 16])
        counter1 = struct.pack("<Q", 1) + struct.pack(">Q", seq)
        body = Cipher(algorithms.ChaCha20(main_key, counter1), None).decryptor().update(encrypted[4 : 4 + length])
    padding = body[0]
    return body[1 : length - padding]


# -- running the cores ---------------------------------------------------------------------------------


def options(*, server: bool, method: str, cipher: str | None = None) -> CoreOptions:
    algorithms = Algorithms.server_default() if server else Algorithms.client_default()
    edits: dict[str, object] = {"kex": list(KEX_ALGORITHMS) if server else [method]}
    if cipher is not None:
        edits["ciphers"] = [cipher]
        edits["macs"] = ["hmac-sha2-256"]
    algorithms = algorithms.edit(**edits)  # type: ignore[arg-type]
    transport = TransportOptions(
        algorithms=algorithms,
        host_keys=[HOST_KEY] if server else (),
        server_sig_algs=["ssh-ed25519"] if server else (),
    )
    return CoreOptions(transport=transport)


@dataclass
class Run:
    pair: CorePair
    client_rng: RecordingRng
    client: Stream
    server: Stream


def run_exchange(method: str, *, cipher: str | None = None, seeds: tuple[int, int] = (1, 2)) -> Run:
    client_rng, server_rng = RecordingRng(seeds[0]), RecordingRng(seeds[1])
    pair = CorePair(
        options(server=False, method=method, cipher=cipher),
        options(server=True, method=method, cipher=cipher),
        client_rng=client_rng,
        server_rng=server_rng,
    )
    pair.start()
    pair.pump()
    assert [type(e) for e in pair.client_events] == [ev.HostKeyReceived]
    pair.client.accept_host_key()
    pair.pump()
    assert any(isinstance(e, ev.AuthReady) for e in pair.client_events)
    return Run(pair, client_rng, parse_stream(b"".join(pair.wire_c2s)), parse_stream(b"".join(pair.wire_s2c)))


# -- the tests -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", list(KEX_ALGORITHMS))
def test_exchange_hash_matches_independent_computation(method: str) -> None:
    run = run_exchange(method)
    exchange = independent_exchange(method, run.client, run.server, run.client_rng.chunks)
    check_signature(exchange)
    assert run.pair.client.transport.session_id == exchange.h
    assert run.pair.server.transport.session_id == exchange.h
    kex = [e for e in run.pair.client_events if isinstance(e, ev.KexComplete)]
    assert kex[0].algorithms.kex == method
    if method == "diffie-hellman-group-exchange-sha256":
        assert exchange.details["p_bits"] == 3072  # the preferred size of the client's request


@pytest.mark.parametrize("method", DETERMINISTIC)
def test_exchange_is_deterministic(method: str) -> None:
    first, second = run_exchange(method), run_exchange(method)
    assert first.pair.wire_c2s == second.pair.wire_c2s
    assert first.pair.wire_s2c == second.pair.wire_s2c
    assert first.pair.client.transport.session_id == second.pair.client.transport.session_id
    other = run_exchange(method, seeds=(3, 4))
    assert other.pair.client.transport.session_id != first.pair.client.transport.session_id


def test_fixed_session_id() -> None:
    run = run_exchange("curve25519-sha256")
    exchange = independent_exchange("curve25519-sha256", run.client, run.server, run.client_rng.chunks)
    assert exchange.h.hex() == CURVE25519_SESSION_ID, f"independent H is now {exchange.h.hex()}"
    assert run.pair.client.transport.session_id == bytes.fromhex(CURVE25519_SESSION_ID)


def test_fixed_derived_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """The keys the cores hand to their ciphers are the independently derived ones, and the recorded ones."""
    from blockssh.proto import transport as transport_module

    used: list[tuple[bool, str, bytes]] = []
    original = transport_module.make_protector

    def recording(spec, key, iv, mac, encrypt):  # type: ignore[no-untyped-def]
        used.append((encrypt, spec.name, key))
        return original(spec, key, iv, mac, encrypt)

    monkeypatch.setattr(transport_module, "make_protector", recording)
    run = run_exchange("curve25519-sha256")
    exchange = independent_exchange("curve25519-sha256", run.client, run.server, run.client_rng.chunks)
    c2s = derive("sha256", exchange.k, exchange.h, b"C", exchange.h, 64)
    s2c = derive("sha256", exchange.k, exchange.h, b"D", exchange.h, 64)
    assert (c2s.hex(), s2c.hex()) == (CURVE25519_KEYS["C"], CURVE25519_KEYS["D"])
    # Each side encrypts with its own direction's key and decrypts with the other's.
    assert sorted(used) == sorted(
        [
            (True, "chacha20-poly1305@openssh.com", c2s),  # client out
            (False, "chacha20-poly1305@openssh.com", c2s),  # server in
            (True, "chacha20-poly1305@openssh.com", s2c),  # server out
            (False, "chacha20-poly1305@openssh.com", s2c),  # client in
        ]
    )


@pytest.mark.parametrize("cipher", ["aes128-ctr", "aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com"])
def test_derived_keys_protect_the_first_packets(cipher: str) -> None:
    """Keys derived per RFC 4253 section 7.2 decrypt and authenticate the first packet each way."""
    method = "curve25519-sha256"
    run = run_exchange(method, cipher=cipher)
    exchange = independent_exchange(method, run.client, run.server, run.client_rng.chunks)
    h = sid = exchange.h
    sizes = {"aes128-ctr": (16, 16), "aes256-gcm@openssh.com": (32, 12), "chacha20-poly1305@openssh.com": (64, 0)}
    key_size, iv_size = sizes[cipher]
    mac_size = 32 if cipher == "aes128-ctr" else 0

    def keys(iv: bytes, key: bytes, mac: bytes) -> tuple[bytes, bytes, bytes]:
        return (
            derive("sha256", exchange.k, h, key, sid, key_size),
            derive("sha256", exchange.k, h, iv, sid, iv_size) if iv_size else b"",
            derive("sha256", exchange.k, h, mac, sid, mac_size) if mac_size else b"",
        )

    c2s_key, c2s_iv, c2s_mac = keys(b"A", b"C", b"E")
    s2c_key, s2c_iv, s2c_mac = keys(b"B", b"D", b"F")
    # Strict kex: sequence numbers start again at 0 after NEWKEYS.
    client_first = open_first_packet(cipher, run.client.encrypted, c2s_key, c2s_iv, c2s_mac)
    server_first = open_first_packet(cipher, run.server.encrypted, s2c_key, s2c_iv, s2c_mac)
    assert client_first == b"\x05" + s(b"ssh-userauth")  # SERVICE_REQUEST
    assert server_first[0] == 7  # EXT_INFO
    assert s(b"server-sig-algs") in server_first


# A recorded reply of a blockssh server to the deterministic client below (client seed 5): the
# server's identification line, KEXINIT, KEX_ECDH_REPLY (ML-KEM ciphertext and X25519 key) and
# NEWKEYS, in clear text as they were on the wire.
MLKEM_SERVER_REPLY = (
    "5353482d322e302d626c6f636b7373685f302e310d0a0000036c06143dd392cc02d0b240df956e5306318332000001246d6c6b65"
    "6d3736387832353531392d7368613235362c637572766532353531392d7368613235362c637572766532353531392d7368613235"
    "36406c69627373682e6f72672c656364682d736861322d6e697374703235362c656364682d736861322d6e697374703338342c65"
    "6364682d736861322d6e697374703532312c6469666669652d68656c6c6d616e2d67726f75702d65786368616e67652d73686132"
    "35362c6469666669652d68656c6c6d616e2d67726f757031362d7368613531322c6469666669652d68656c6c6d616e2d67726f75"
    "7031382d7368613531322c6469666669652d68656c6c6d616e2d67726f757031342d7368613235362c6578742d696e666f2d732c"
    "6b65782d7374726963742d732d763030406f70656e7373682e636f6d0000000b7373682d656432353531390000006c6368616368"
    "6132302d706f6c7931333035406f70656e7373682e636f6d2c6165733132382d67636d406f70656e7373682e636f6d2c61657332"
    "35362d67636d406f70656e7373682e636f6d2c6165733132382d6374722c6165733139322d6374722c6165733235362d63747200"
    "00006c63686163686132302d706f6c7931333035406f70656e7373682e636f6d2c6165733132382d67636d406f70656e7373682e"
    "636f6d2c6165733235362d67636d406f70656e7373682e636f6d2c6165733132382d6374722c6165733139322d6374722c616573"
    "3235362d6374720000007b686d61632d736861322d3235362d65746d406f70656e7373682e636f6d2c686d61632d736861322d35"
    "31322d65746d406f70656e7373682e636f6d2c686d61632d736861312d65746d406f70656e7373682e636f6d2c686d61632d7368"
    "61322d3235362c686d61632d736861322d3531322c686d61632d736861310000007b686d61632d736861322d3235362d65746d40"
    "6f70656e7373682e636f6d2c686d61632d736861322d3531322d65746d406f70656e7373682e636f6d2c686d61632d736861312d"
    "65746d406f70656e7373682e636f6d2c686d61632d736861322d3235362c686d61632d736861322d3531322c686d61632d736861"
    "31000000156e6f6e652c7a6c6962406f70656e7373682e636f6d000000156e6f6e652c7a6c6962406f70656e7373682e636f6d00"
    "000000000000000000000000acfb903db2fa000004fc081f000000330000000b7373682d65643235353139000000200bbc346a57"
    "667c380120bd9c7fd7e51d2c5fdfea37cd2f5bf405b2c6bf6f2d78000004600352d730f5b315e3de32060b81b7b56d03e3b287a4"
    "04becddafa010d51c662c5435327125837b3e9404bc1313a598750645f6ba9c6e87b2deb0e330c72f0aca30b89146e5dcdb1afcc"
    "95dc5cfe8c770e65e8300af2ccb21d26cb7f8c82abf016614e4aafd40d877529cdcd3b75d202d38af20a62ab4e865c9ed38d1001"
    "443b5281f95e9c00dffdc387794ca6eb4dc5e092d69ec0f3cf07d5dce94a8d97e5be0865b0e662ae047a64565e44c68f93e30305"
    "6c808ce9a4085398b0600aa803b8310c93e2d8575e9017ca108942f73119800e88efb406a271a8a0301e5cc73d0dac3362ba9f24"
    "5f4e3a80cf5a4ae4fdaab051acebdc1fac10e75787ef65c0c1797b02d78e89044923aad37beeab34e77f9656e2ae45a72dfc45a9"
    "f0f5c44b347ad285193fd4861ffa42f006178d7ad444df2b39b9911013dff85df3c42105ad253ffd01d1b9e163f88e7d95f32c3a"
    "b59024f4a542e2e4c1198c2fb3ae4d6fa0b390992866d3d1fceb8adc238268a8ed110fe6c9a0216e16579f738b91238960f0f8c9"
    "39ba8e067c100b7f448ccb94d2a1adc5eb04a7f53f7fd5230873fffa41cfc45b833847e92f0867a2edde264d6caec2d65f921e86"
    "0f8d616e767cb2e4d91ca6dfb9a0a713180896437f08a1c454f20b319650460cf457e2894fa1730b8522eefa2163102ec3405e4b"
    "3fd60d1f0cbb8ffb193078354f9844b39863e61ee362593833d8db65b2e9d98d401ed398392c090fe6819ab1f09fa1e21f3feb3b"
    "7aec76c808f4612762de1c4aeb77f08c270448f5748b12a18fd14c0fbb0e52b3e367d8a56eec7ba984bf6f5bee7bcb3592a550dc"
    "f49f240bcb708f66966e6fc0c768d3c8432b75187f4fd8e317d4a6f093cafd34524f0bce91a68695a8e2ca9af7921d64d056d78e"
    "6ed587b332179e7e49c6a786c473c536803af201910b8b778e0a7456a4cf1b36f20ff7f8bced0edb2c7ee9b053d07be982d6ff27"
    "b692e9d14a10f6808dd32957985edece621a6aef8f8d62dc06580865a372046b86059a63b916e5d46afea8ff5aa0b92f7bb7cb40"
    "4155c469801bcce4442ffb8fed54ebf025cca373af59d95073485575bdb1b2e3e6ef156313c7425877a8dbbd3c682fc91abf0fd3"
    "d2d42e98b0408a341f5ea1a3236b0d898ae11902ee81085da5771ccb6b9448d1160e4b9e4fb850d3d782f9e9d7a2aa851c61681e"
    "a510d7c0abb0469c7d3e615a9e7a36b714dae3283b974d4c9a7ad4dab35b157db685976ecdec55239347e98252cbbbc07eea3fc5"
    "b594b91ca98fa05b202f3892d924770a8edc022f7908145dc8eaa450fbf6747f6f2c436751b6727be8128b2c16dfb7a074e659ce"
    "718774286745ae447125a65d7b0e6bffa911d30c4c28ec4400758111f9959038de44f715ef9c5150e41ecc9c45f1c544d247f49c"
    "2956d731dbbf25c9e82c818dbf1fffd15db90004565778a68c96cd9088ed988159cd203dcccef97ca67b0aed479984f023d96a7d"
    "c04e029ea9c0e9023cfe8b4eb9ce9c75e3ecc6c9bc61f827df4c19891b8b52067893c7c2e6a2a0b52b86a639ad99f06175b036a6"
    "b8f432af2dea74000000530000000b7373682d65643235353139000000409ca5e37dd2001c8c5f5a92330e565b4bc15647ca30fa"
    "27c8ce00862d2c78bc39fa498fbe5bf68fe3af2a0a4330a9365f0021f1fe9306d9865da6438f6fa1dd0a70316a0593d22fb20000"
    "000c0a158df01cbd741dbccfd54a"
)
MLKEM_SESSION_ID = "bf677753db4f70689d9ba8afe5c5bf8545cbe02d578b188eeb79a9672457c26a"


def mlkem_client() -> tuple[SSHConnectionCore, RecordingRng]:
    rng = RecordingRng(5)
    return SSHConnectionCore(is_server=False, options=options(server=False, method=MLKEM), rng=rng), rng


def test_mlkem_client_replays_a_recorded_server_reply() -> None:
    client, rng = mlkem_client()
    client.start()
    sent = client.data_to_send()
    reply = bytes.fromhex(MLKEM_SERVER_REPLY)
    client.receive_data(reply)
    sent += client.data_to_send()
    events = client.events_received()
    assert [type(e) for e in events] == [ev.HostKeyReceived]
    assert events[0].key.public_blob == HOST_KEY.public_blob
    client.accept_host_key()
    sent += client.data_to_send()
    exchange = independent_exchange(MLKEM, parse_stream(sent), parse_stream(reply), rng.chunks)
    check_signature(exchange)
    assert client.transport.session_id == exchange.h
    assert exchange.h.hex() == MLKEM_SESSION_ID


def test_mlkem_client_refuses_a_reply_signed_over_another_hash() -> None:
    """The same recorded reply with one ciphertext byte flipped: K and H change, the signature fails."""
    client, _ = mlkem_client()
    client.start()
    client.data_to_send()
    reply = bytearray(bytes.fromhex(MLKEM_SERVER_REPLY))
    stream = parse_stream(bytes(reply))
    (kex_reply,) = stream.messages(31)
    offset = bytes(reply).index(kex_reply) + 1 + 4 + len(Cursor(kex_reply, 1).string()) + 4 + 100
    reply[offset] ^= 1
    with pytest.raises(KeyExchangeFailed):
        client.receive_data(bytes(reply))
