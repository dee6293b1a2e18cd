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
CURVE25519_SESSION_ID = "9b512adfe4df0ed9d5fb42c46b1eafb1f92be237f43ba6d4961b066b3f539be8"
# The chacha20-poly1305 keys of that exchange (RFC 4253 section 7.2 letters C and D), same origin.
CURVE25519_KEYS = {
    "C": "4cb036ec512e756b01df55759260133dcd10c84ad3133b1c4999351085dc2fa6"
    "32423492d136a6aecdaa0e5efda08b764a8b28bf080ef56fad1008a4fb1f2a78",
    "D": "9e8be1b9a31eec3d2f2be3acd129e4e1212e87aa452d5636e3edcef52cc51581"
    "cc1b96cbc1fd259e0df6ff9424dbbeccd8ace9f9b3f82ded870152d4b61fd3ef",
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
    "5353482d322e302d626c6f636b7373685f302e310d0a0000036c0614fe5518cbe8dfe59296946bd26935a014000001246d6c6b65"
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
    "000000000000000000000000be3a2b7c20c3000004fc081f000000330000000b7373682d65643235353139000000200bbc346a57"
    "667c380120bd9c7fd7e51d2c5fdfea37cd2f5bf405b2c6bf6f2d7800000460cede33a81c95e2d3f8f4a070a3d9756785f2c8d6a7"
    "d9d054ab2a3893280e9929179117dec274f3122a87b51996fddc8e9aa6c42a9a5f2382ad978699f6e3139d0b02ee7bdba02e6e19"
    "eda89ab13551963d8ae61b9c0be328c0105329524d545340545f485696fbf3db57edaa81fdb80ca0739053f7380df176511954b7"
    "127a87b0507ebc074619895c12b663cf3108f06c1d3e4144a8e7b88cf31585bd02e546f350d6758459c3f9f09b1541df14384fbe"
    "9691101a3da2d232a92e6c7448ecd96d106429ffe62d24cbce1f21bcbb3bddbc984b535ae763389b336d9a1e7761845a93618dae"
    "e1388d36efbad6838df7358c48d3a0e98ea3cf2fd1dc4dc758007ab9f11e4a51cd4de2bab38b8f6c24f1c3491501d725b4a3e9f6"
    "780b8216df3c8cf5a4f14aef2ae78b9e88a2e33b05c99cb2ada573650c47fb07a58e4f50b8a0b0162fc09bcb2c61852a655cec5d"
    "3ea34c999862880669a8bbdf7929fd2b135f1bba04cc1755e06fa02df22f6600ee2f44182cceffbf11e89e72e4aa8abc5e44e4e6"
    "b7c9a27597aeed96dde548e3189dd3b2af4d26e39be4c4f2a9990f7baaed41222faba0423d9ca14607a0376834ae0286bacb2b60"
    "8a3bbbc1129e26af7547f3f01bf182e87f9ede42a1bef92261a7bca01bdfcf210a79be27fb76503adc130922d814e2e9041ab5cd"
    "faf439359e0eeb80816ce3403a0da743ebf8d61d756eef50acd5884fe6412d21b6f4e1ba903a43e035d0695c57951a3053680220"
    "e8daa22525cff71470d7e3b2cc3ecfd60c9844836511c5c14388a697885f305abff56ed2e7364705a31efe7f4701f31f02fe3dd9"
    "bd9a0298cf7f2b50ae5ff6cdff50576ae5b8a9095ed89e2a1f6fb9572c7e8d5ebac429d9bf735ba89751b8e02989daa6766336c2"
    "6487570d66af19b527c051e77b298e2f947734cf0c12b5c43c389506c3ff3451da950ae43ef969725ad48f5496b4aef60d962127"
    "6cf6f809d0d5422030848c50d7635672c7237f76d48e07f170b19504132e54bf094b49d1378afa7f75d96167e670746dcad09736"
    "a90978ccfdfaa853ff0468c653dcc20cc65dfb326cd5828164de38ae9df40ddf80805faca2d17af43f6128f477b350715e72ebf0"
    "876ccac4379d8ad14d8f742a8e973b9aca0e8370b447f2bb5f85bd8840febec42f63e3cda342c8562ca05cb5dabfacc1721eb3af"
    "b3d2d26aef8e3ed52a3f8c09853c56694b8183767c3957e13b50f2447d8adf15ef9968c521f7855e60db204f7ad4aa753eb29ae6"
    "2c84fe684e9e27024106f6e4382a7418ec9d37ef5523f1d22e707828c198d79578c00f86afa2e1fc2d871f6e0a46fb6f59e0e37c"
    "38a59d759ed3612106d56c519c57c54371025f9b0acc1439ad18fa58c55b56f014062108fba417830510f769f6d35bde85bdff1f"
    "be7c4b8734528fc03c357eba8cef3f0db2c674d3a2a03e025f6dea3b08ff7fe01ab4cda216d560b1f356402dc9f209759cebaa19"
    "dcf7b9e0cd908e5f62729f2d2d0a96242f27a682ff8ec33f21fb53d0da3f44f039e0a173707125d9bdaf04072d10fe6bba0fade6"
    "b85304df64f623000000530000000b7373682d6564323535313900000040e54f23dbe1ade91d165f89a4f5323e338cd9bc1a65ec"
    "e0e2b6c3f6994db6585b8a98cf62c33481eaa8964dcc4e83abd4a6463d44206efbd1f842aaa49e1d1009ecb47dc2c13a1ebc0000"
    "000c0a153170875f5042c35127c5"
)
MLKEM_SESSION_ID = "5e7f5b07de4509e73e152c532f047ab70fed0367080433777e3827be72ff8fe9"


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
