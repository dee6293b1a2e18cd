"""The SSH transport layer (RFC 4253), sans I/O.

:class:`Transport` owns the identification exchange, the packet codec, key
exchange and re-exchange (strict kex included), EXT_INFO, IGNORE / DEBUG /
UNIMPLEMENTED and DISCONNECT. Messages of the layers above (service
requests, user authentication, connection protocol) are handed to the
``upper`` callable once the transport lets them through.

Rules of the gate, in one place (:meth:`Transport._dispatch`):

* before the first key exchange completes only kex messages pass; with strict
  kex even IGNORE/DEBUG are fatal then, and KEXINIT must be the first packet;
* after the peer's KEXINIT and until its NEWKEYS, only transport generic and
  kex messages are allowed (OpenSSH 10.4 behaviour);
* EXT_INFO is accepted only as the first packet after the first NEWKEYS, or
  (client side) once more while user authentication is in progress.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..exceptions import (
    ConnectionLost,
    DisconnectError,
    DisconnectReason,
    HostKeyNotVerifiable,
    KeyExchangeFailed,
    MessageOrderError,
    PacketDecodeError,
    ProtocolVersionNotSupported,
)
from ..keys import import_public_key_blob
from .algorithms.cipher import CIPHER_ALGORITHMS, PacketProtector, make_protector
from .algorithms.compression import Compressor, Decompressor, is_delayed
from .algorithms.mac import MAC_ALGORITHMS, Mac
from .algorithms.policy import Algorithms
from .constants import DEFAULT_MAX_PACKET_LENGTH, Msg
from .events import ConnectionClosed, DebugReceived, Event, ExtInfoReceived, HostKeyReceived, KexComplete
from .kex.exchange import GEX_MAX, GEX_MIN, GEX_PREFERRED, KexExchange, derive_key
from .kex.methods import KEX_ALGORITHMS
from .kex.negotiate import (
    EXT_INFO_C,
    EXT_INFO_S,
    STRICT_KEX_C,
    STRICT_KEX_S,
    KexInit,
    Negotiated,
    guess_was_wrong,
    negotiate,
)
from .packet import PacketDecoder, PacketEncoder
from .version import DEFAULT_MAX_BANNER_LINES, VersionReader, make_version_line
from .wire import Reader, byte, name_list, string, uint32

__all__ = ["Transport", "TransportOptions", "signature_algorithm_of"]

_AEAD = frozenset(name for name, spec in CIPHER_ALGORITHMS.items() if spec.is_aead)
_MAX_PACKETS_BEFORE_REKEY = 1 << 31
_EXT_INFO_MAX_ENTRIES = 64


@dataclass
class TransportOptions:
    """Transport settings; every limit has a name and a default."""

    algorithms: Algorithms = field(default_factory=Algorithms)
    software_version: str = "blockssh_0.1"
    max_packet_length: int = DEFAULT_MAX_PACKET_LENGTH
    rekey_bytes: int = 1 << 30  # per direction, like OpenSSH's default RekeyLimit
    rekey_seconds: float = 3600.0
    strict_kex: bool = True
    max_banner_lines: int = DEFAULT_MAX_BANNER_LINES
    gex_sizes: tuple[int, int, int] = (GEX_MIN, GEX_PREFERRED, GEX_MAX)
    compression_level: int = 6
    host_keys: Sequence[Any] = ()  # server: private keys (blockssh.keys objects)
    server_sig_algs: Sequence[str] = ()  # server: what EXT_INFO advertises


def signature_algorithm_of(key_algorithm: str) -> str:
    """Map a public-key algorithm name (certificates included) to the signature name it uses."""
    if key_algorithm.endswith("-cert-v01@openssh.com"):
        base = key_algorithm[: -len("-cert-v01@openssh.com")]
        return base
    return key_algorithm


class Transport:
    """One side of an SSH transport, fed bytes and producing bytes and events."""

    def __init__(
        self,
        *,
        is_server: bool,
        options: TransportOptions,
        events: list[Event],
        upper: Callable[[int, memoryview | bytes], None],
        rng: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self.is_server = is_server
        self.options = options
        self._events = events
        self._upper = upper
        self._rng = rng
        self._encoder = PacketEncoder(rng)
        self._decoder = PacketDecoder(options.max_packet_length)
        self._version_reader: VersionReader | None = VersionReader(
            is_server=is_server, max_banner_lines=options.max_banner_lines
        )
        self._out: list[bytes | bytearray] = []
        self._now = 0.0
        self.local_version = make_version_line(options.software_version).rstrip(b"\r\n").decode("ascii")
        self.peer_version: str | None = None
        self.banner_lines: list[str] = []
        self.closed = False
        self.close_error: DisconnectError | None = None
        self.authenticated = False  # set by the auth layer; enables delayed compression and rekey triggers
        self.on_kex_complete: Callable[[bool], None] | None = None

        # key exchange state
        self.session_id: bytes | None = None
        self.negotiated: Negotiated | None = None
        self.host_key: Any = None  # the server's key, from the first exchange
        self.strict_kex = False
        self.peer_ext_info = False  # the peer offered ext-info-c/-s in its first KEXINIT
        self.extensions: dict[str, bytes] = {}
        self.kex_count = 0
        self._first_kex_done = False
        self._our_kexinit: bytes | None = None  # sent and not yet followed by our NEWKEYS
        self._peer_kexinit: bytes | None = None  # received and not yet followed by the peer's NEWKEYS
        self._our_kexinit_parsed: KexInit | None = None
        self._peer_kexinit_parsed: KexInit | None = None
        self._exchange: KexExchange | None = None
        self._chosen: Negotiated | None = None  # negotiated by the exchange in progress
        self._awaiting_host_key = False
        self._ignore_next_kex_packet = False
        self._sent_newkeys = False
        self._pending_in: PacketProtector | None = None
        self._pending_compression_in = "none"
        self._deferred: list[bytes] = []
        self._paused = False
        self._processing = False
        self._packets_before_kexinit = 0
        self._ext_info_window = False  # the next packet may be EXT_INFO
        self.allow_ext_info_in_auth = False  # set by the client auth layer
        self._last_kex_time = 0.0
        self._compression_out = "none"
        self._compression_in = "none"
        # Byte counts at which to check for a rekey (the option, or the cipher's block limit if lower).
        self._out_limit = options.rekey_bytes
        self._in_limit = options.rekey_bytes

    # -- driver API ------------------------------------------------------

    def start(self) -> None:
        """Queue our identification line and first KEXINIT."""
        self._out.append(self.local_version.encode("ascii") + b"\r\n")
        self.start_kex()

    def tick(self, now: float) -> None:
        """Tell the transport the time; starts a time-based rekey when due."""
        self._now = now
        if (
            self._first_kex_done
            and self.authenticated
            and self._our_kexinit is None
            and not self.closed
            and now - self._last_kex_time >= self.options.rekey_seconds
        ):
            self.start_kex()

    def data_to_send(self) -> bytes:
        """Return (and forget) everything queued for the peer."""
        if not self._out:
            return b""
        out = self._out
        self._out = []
        return bytes(out[0]) if len(out) == 1 and isinstance(out[0], bytes) else b"".join(out)

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the peer. Raises a :class:`DisconnectError` on fatal errors."""
        if self.closed:
            return
        try:
            if self._version_reader is not None:
                if not self._version_reader.feed(data):
                    return
                reader = self._version_reader
                self._version_reader = None
                self.peer_version = reader.version
                self.banner_lines = reader.banner_lines
                data = reader.leftover()
            self._decoder.feed(data)
            self._process()
        except DisconnectError as exc:
            self.fail(exc)
            raise

    def receive_eof(self) -> None:
        """The peer closed its end of the byte stream."""
        if self.closed:
            return
        exc: DisconnectError = ConnectionLost("connection closed by peer", remote=True)
        reader = self._version_reader
        if reader is not None:  # closed before its identification line: say what it sent instead
            said = (reader.banner_lines or [reader.leftover().decode("utf-8", "replace")])[0]
            if said.strip():
                exc = ProtocolVersionNotSupported(
                    f"connection closed without an SSH identification string; the peer sent {said[:100]!r}",
                    remote=True,
                )
        self.closed = True
        self.close_error = exc
        self._events.append(ConnectionClosed(exc))

    def disconnect(self, code: int = DisconnectReason.BY_APPLICATION, reason: str = "") -> None:
        """Send SSH_MSG_DISCONNECT and stop."""
        if self.closed:
            return
        self._send_now(byte(Msg.DISCONNECT) + uint32(code) + string(reason) + string(""))
        self.closed = True
        self._events.append(ConnectionClosed(None))

    def pause(self) -> None:
        """Stop processing received packets (they are buffered) until :meth:`resume`."""
        self._paused = True

    def resume(self) -> None:
        """Process packets buffered while paused (a no-op inside :meth:`receive_data`)."""
        self._paused = False
        if self._processing:
            return  # the running loop picks up where it paused
        try:
            self._process()
        except DisconnectError as exc:
            self.fail(exc)
            raise

    # -- sending ---------------------------------------------------------

    @property
    def kex_in_progress(self) -> bool:
        """True between sending our KEXINIT and sending our NEWKEYS (upper layers must wait)."""
        return self._our_kexinit is not None

    def send(self, payload: bytes, tail: bytes | memoryview = b"") -> None:
        """Send an upper-layer message (``payload`` + ``tail``), deferring it while a key exchange runs."""
        if self.closed:
            raise ConnectionLost("connection is closed")
        if self._our_kexinit is not None:
            self._deferred.append(payload + tail if tail else payload)
            return
        encoder = self._encoder
        self._out.append(encoder.encode(payload, tail))
        if encoder.bytes_since_rekey >= self._out_limit:
            self._maybe_rekey()

    def _send_now(self, payload: bytes) -> None:
        self._out.append(self._encoder.encode(payload))

    def send_ignore(self, data: bytes = b"") -> None:
        """Send SSH_MSG_IGNORE (padding or keepalive traffic)."""
        self.send(byte(Msg.IGNORE) + string(data))

    # -- errors ----------------------------------------------------------

    def fail(self, exc: DisconnectError) -> None:
        """Send DISCONNECT for ``exc`` and close (a received DISCONNECT has already closed us)."""
        if self.closed:
            return
        self._send_now(byte(Msg.DISCONNECT) + uint32(int(exc.code)) + string(str(exc)) + string(""))
        self.closed = True
        self.close_error = exc
        self._events.append(ConnectionClosed(exc))

    # -- receiving -------------------------------------------------------

    def _process(self) -> None:
        self._processing = True
        try:
            self._process_packets()
        finally:
            self._processing = False

    def _process_packets(self) -> None:
        decoder = self._decoder
        upper = self._upper
        while not self._paused and not self.closed:
            payload = decoder.next_payload()
            if payload is None:
                return
            if not len(payload):
                raise PacketDecodeError("empty packet")
            msg = payload[0]
            if msg >= 50 and self._first_kex_done and self._peer_kexinit is None and not self._ext_info_window:
                upper(msg, payload)
            else:
                self._dispatch(msg, payload)
            if decoder.bytes_since_rekey >= self._in_limit:
                self._maybe_rekey()

    def _dispatch(self, msg: int, payload: memoryview | bytes) -> None:
        initial = not self._first_kex_done
        if self._ext_info_window:
            self._ext_info_window = False
            if msg == Msg.EXT_INFO:
                self._on_ext_info(payload)
                return
        if msg == Msg.KEXINIT:
            self._on_kexinit(payload)
            return
        if self._peer_kexinit is None and initial:
            # Nothing but KEXINIT (and, without strict kex, generic messages) before the first exchange.
            self._packets_before_kexinit += 1
            if msg in (Msg.DISCONNECT, Msg.IGNORE, Msg.DEBUG, Msg.UNIMPLEMENTED):
                self._generic(msg, payload)
                return
            raise MessageOrderError(f"message {msg} before key exchange")
        if Msg.KEX_FIRST <= msg <= Msg.KEX_LAST:
            self._on_kex_message(msg, payload)
            return
        if msg == Msg.NEWKEYS:
            self._on_newkeys(payload)
            return
        if msg in (Msg.DISCONNECT, Msg.IGNORE, Msg.DEBUG, Msg.UNIMPLEMENTED):
            if self.strict_kex and initial and msg != Msg.DISCONNECT:
                raise MessageOrderError(f"message {msg} not allowed during strict key exchange")
            self._generic(msg, payload)
            return
        if self._peer_kexinit is not None or initial:
            raise MessageOrderError(f"message {msg} not allowed during key exchange")
        if msg == Msg.EXT_INFO:
            if not (self.allow_ext_info_in_auth and not self.is_server):
                raise MessageOrderError("unexpected EXT_INFO")
            self.allow_ext_info_in_auth = False
            self._on_ext_info(payload)
            return
        if msg in (Msg.SERVICE_REQUEST, Msg.SERVICE_ACCEPT) or msg >= Msg.USERAUTH_REQUEST:
            self._upper(msg, payload)
            return
        self.send_unimplemented()

    def send_unimplemented(self) -> None:
        """Answer the last received packet with SSH_MSG_UNIMPLEMENTED."""
        self.send(byte(Msg.UNIMPLEMENTED) + uint32((self._decoder.seq - 1) & 0xFFFFFFFF))

    def _generic(self, msg: int, payload: memoryview | bytes) -> None:
        r = Reader(payload, 1)
        if msg == Msg.DISCONNECT:
            code = r.get_uint32()
            reason = r.get_string().decode("utf-8", "replace")
            lang = r.get_string().decode("utf-8", "replace") if r.remaining else ""
            exc = DisconnectError.from_code(code, reason or "peer disconnected", lang=lang, remote=True)
            self.closed = True
            self.close_error = exc
            self._events.append(ConnectionClosed(None if code == DisconnectReason.BY_APPLICATION else exc))
            if code != DisconnectReason.BY_APPLICATION:
                raise exc
        elif msg == Msg.DEBUG:
            always = r.get_boolean()
            text = r.get_string().decode("utf-8", "replace")
            lang = r.get_string().decode("utf-8", "replace") if r.remaining else ""
            self._events.append(DebugReceived(always, text, lang))
        # IGNORE and UNIMPLEMENTED need no action.

    def _on_ext_info(self, payload: memoryview | bytes) -> None:
        r = Reader(payload, 1)
        count = r.get_uint32()
        if count > _EXT_INFO_MAX_ENTRIES:
            raise PacketDecodeError(f"EXT_INFO with {count} entries")
        extensions: dict[str, bytes] = {}
        for _ in range(count):
            name = r.get_ascii()
            extensions[name] = r.get_string()
        r.check_end()
        self.extensions.update(extensions)
        self._events.append(ExtInfoReceived(extensions))

    # -- key exchange ----------------------------------------------------

    def start_kex(self) -> None:
        """Send our KEXINIT (no-op if one is already outstanding or the exchange is still finishing)."""
        # Between our NEWKEYS and the peer's, the exchange is not over: a rekey trigger firing then
        # (byte counts of the old incoming keys, the clock) must not start another one on top of it.
        if self._our_kexinit is not None or self._sent_newkeys or self.closed:
            return
        algs = self.options.algorithms
        kex = list(algs.kex)
        if not self._first_kex_done:
            if self.is_server:
                kex.append(EXT_INFO_S)  # we accept a client's EXT_INFO
                if self.options.strict_kex:
                    kex.append(STRICT_KEX_S)
            else:
                kex.append(EXT_INFO_C)
                if self.options.strict_kex:
                    kex.append(STRICT_KEX_C)
        if self.is_server:
            host_key_algs = [a for a in algs.host_key if self._host_key_for(a) is not None]
        else:
            host_key_algs = list(algs.host_key)
        macs = list(algs.macs)
        init = KexInit(
            cookie=self._rng(16),
            kex=kex,
            host_key=host_key_algs,
            cipher_c2s=list(algs.ciphers),
            cipher_s2c=list(algs.ciphers),
            mac_c2s=macs,
            mac_s2c=macs,
            compression_c2s=list(algs.compression),
            compression_s2c=list(algs.compression),
        )
        payload = init.encode()
        self._our_kexinit = payload
        self._our_kexinit_parsed = init
        self._sent_newkeys = False
        self._send_now(payload)
        if self._peer_kexinit is not None:
            self._begin_exchange()

    def _on_kexinit(self, payload: memoryview | bytes) -> None:
        if self._peer_kexinit is not None:
            raise MessageOrderError("second KEXINIT during key exchange")
        raw = bytes(payload)
        peer = KexInit.decode(raw)
        if not self._first_kex_done:
            marker = STRICT_KEX_C if self.is_server else STRICT_KEX_S
            self.strict_kex = self.options.strict_kex and marker in peer.kex
            if self.strict_kex and (self._packets_before_kexinit or self._decoder.wrapped):
                raise MessageOrderError("strict key exchange: KEXINIT was not the first packet")
            self.peer_ext_info = (EXT_INFO_C if self.is_server else EXT_INFO_S) in peer.kex
        self._peer_kexinit = raw
        self._peer_kexinit_parsed = peer
        if self._our_kexinit is None:
            self.start_kex()  # calls _begin_exchange
        else:
            self._begin_exchange()

    def _begin_exchange(self) -> None:
        ours, peer = self._our_kexinit_parsed, self._peer_kexinit_parsed
        assert ours is not None and peer is not None and self._our_kexinit and self._peer_kexinit
        client, server = (peer, ours) if self.is_server else (ours, peer)
        chosen = negotiate(client, server, _AEAD)
        self._chosen = chosen
        if peer.first_kex_follows and guess_was_wrong(peer, chosen):
            self._ignore_next_kex_packet = True
        spec = KEX_ALGORITHMS[chosen.kex]
        our_raw, peer_raw = self._our_kexinit, self._peer_kexinit
        i_c, i_s = (peer_raw, our_raw) if self.is_server else (our_raw, peer_raw)
        peer_version = self.peer_version or ""
        v_c, v_s = (peer_version, self.local_version) if self.is_server else (self.local_version, peer_version)
        host_key_blob = b""
        sign = None
        if self.is_server:
            key = self._host_key_for(chosen.host_key)
            if key is None:
                raise KeyExchangeFailed(f"no host key for {chosen.host_key}")
            host_key_blob = key.public_blob
            host_alg = chosen.host_key

            def sign(h: bytes) -> bytes:
                return bytes(key.sign(h, signature_algorithm_of(host_alg)))

        self._exchange = KexExchange(
            spec,
            is_server=self.is_server,
            v_c=v_c.encode(),
            v_s=v_s.encode(),
            i_c=i_c,
            i_s=i_s,
            rng=self._rng,
            host_key_blob=host_key_blob,
            sign=sign,
            gex_sizes=self.options.gex_sizes,
        )
        for message in self._exchange.start():
            self._send_now(message)

    def _host_key_for(self, algorithm: str) -> Any:
        sig = signature_algorithm_of(algorithm)
        for key in self.options.host_keys:
            if sig in key.sig_algorithms and (algorithm == key.algorithm or algorithm == sig):
                return key
        return None

    def _on_kex_message(self, msg: int, payload: memoryview | bytes) -> None:
        if self._ignore_next_kex_packet:
            self._ignore_next_kex_packet = False
            return
        exchange = self._exchange
        if exchange is None or self._peer_kexinit is None:
            raise MessageOrderError(f"key exchange message {msg} outside a key exchange")
        for message in exchange.receive(msg, payload):
            self._send_now(message)
        if exchange.result is None:
            return
        if self.is_server:
            self._send_newkeys()
            return
        self._check_server_signature()

    def _check_server_signature(self) -> None:
        exchange = self._exchange
        assert exchange is not None and exchange.result is not None
        result = exchange.result
        chosen = self._chosen
        assert chosen is not None
        try:
            key = import_public_key_blob(result.host_key_blob)
        except Exception as exc:  # noqa: BLE001 - any parse failure is a kex failure
            raise KeyExchangeFailed(f"unusable server host key: {exc}") from None
        sig_name = signature_algorithm_of(chosen.host_key)
        if getattr(key, "algorithm", None) != chosen.host_key and sig_name not in getattr(key, "sig_algorithms", ()):
            raise KeyExchangeFailed(f"server host key type does not match {chosen.host_key}")
        sig_reader = Reader(result.signature)
        try:
            sig_alg = sig_reader.get_ascii()
        except PacketDecodeError:
            raise KeyExchangeFailed("malformed host key signature") from None
        if sig_alg != signature_algorithm_of(chosen.host_key):
            raise KeyExchangeFailed(f"host key signature uses {sig_alg}, expected {chosen.host_key}")
        # ssh-rsa (SHA-1) can only have been negotiated if the caller enabled it explicitly.
        if not key.verify(result.h, result.signature, algorithm=sig_alg, allow_sha1=sig_alg == "ssh-rsa"):
            raise KeyExchangeFailed("host key signature verification failed")
        if self.host_key is None:
            self.host_key = key
            self._events.append(HostKeyReceived(key, chosen.host_key))
            self.pause()
            self._awaiting_host_key = True
            return
        if key.public_blob != self.host_key.public_blob:
            raise KeyExchangeFailed("server host key changed during re-exchange")
        self._send_newkeys()

    def accept_host_key(self) -> None:
        """Client: trust the key from :class:`HostKeyReceived` and continue."""
        if not self._awaiting_host_key:
            return
        self._awaiting_host_key = False
        self._send_newkeys()
        self.resume()

    def reject_host_key(self, reason: str = "host key not trusted") -> None:
        """Client: refuse the server's key; the connection ends."""
        self._awaiting_host_key = False
        exc = HostKeyNotVerifiable(reason)
        self.fail(exc)

    def _send_newkeys(self) -> None:
        exchange = self._exchange
        assert exchange is not None and exchange.result is not None
        result = exchange.result
        chosen = self._chosen
        assert chosen is not None
        if self.session_id is None:
            self.session_id = result.h
        spec = exchange.spec
        c2s = CIPHER_ALGORITHMS[chosen.cipher_c2s]
        s2c = CIPHER_ALGORITHMS[chosen.cipher_s2c]
        mac_c2s = MAC_ALGORITHMS.get(chosen.mac_c2s)
        mac_s2c = MAC_ALGORITHMS.get(chosen.mac_s2c)

        def key(letter: bytes, size: int) -> bytes:
            assert self.session_id is not None
            return derive_key(spec, result.k, result.h, letter, self.session_id, size) if size else b""

        protect_c2s = (
            c2s,
            key(b"C", c2s.key_size),
            key(b"A", c2s.iv_size),
            None if c2s.is_aead or mac_c2s is None else Mac(mac_c2s, key(b"E", mac_c2s.key_size)),
        )
        protect_s2c = (
            s2c,
            key(b"D", s2c.key_size),
            key(b"B", s2c.iv_size),
            None if s2c.is_aead or mac_s2c is None else Mac(mac_s2c, key(b"F", mac_s2c.key_size)),
        )
        out_spec, in_spec = (protect_s2c, protect_c2s) if self.is_server else (protect_c2s, protect_s2c)
        out_comp, in_comp = (
            (chosen.compression_s2c, chosen.compression_c2s)
            if self.is_server
            else (chosen.compression_c2s, chosen.compression_s2c)
        )
        self._send_now(byte(Msg.NEWKEYS))
        out_protector = make_protector(out_spec[0], out_spec[1], out_spec[2], out_spec[3], encrypt=True)
        self._encoder.set_protector(out_protector, reset_seq=self.strict_kex)
        self._out_limit = _byte_limit(out_protector, self.options.rekey_bytes)
        self._compression_out = out_comp
        self._encoder.compressor = None  # new keys, new zlib stream (as OpenSSH does at every NEWKEYS)
        self._apply_compression()
        self._pending_in = make_protector(in_spec[0], in_spec[1], in_spec[2], in_spec[3], encrypt=False)
        self._pending_compression_in = in_comp
        self._sent_newkeys = True
        self._our_kexinit = None
        if self.is_server and not self._first_kex_done and self.peer_ext_info and self.options.server_sig_algs:
            self._send_now(
                byte(Msg.EXT_INFO) + uint32(1) + string("server-sig-algs") + name_list(self.options.server_sig_algs)
            )
        deferred = self._deferred
        self._deferred = []
        for payload in deferred:
            self._send_now(payload)
        self._maybe_complete()

    def _on_newkeys(self, payload: memoryview | bytes) -> None:
        if len(payload) != 1:
            raise PacketDecodeError("malformed NEWKEYS")
        if self._exchange is None or self._exchange.result is None or self._pending_in is None:
            raise MessageOrderError("NEWKEYS before the key exchange finished")
        self._decoder.set_protector(self._pending_in, reset_seq=self.strict_kex)
        self._in_limit = _byte_limit(self._pending_in, self.options.rekey_bytes)
        self._pending_in = None
        self._compression_in = self._pending_compression_in
        self._decoder.decompressor = None  # the peer starts a new zlib stream with its new keys
        self._apply_compression()
        first = not self._first_kex_done
        self._peer_kexinit = None
        if first:
            # We offered ext-info-c (client) / ext-info-s (server): the peer may send EXT_INFO now.
            self._ext_info_window = True
        self._maybe_complete()

    def _maybe_complete(self) -> None:
        if not self._sent_newkeys or self._peer_kexinit is not None or self._pending_in is not None:
            return
        initial = not self._first_kex_done
        self._first_kex_done = True
        self.negotiated = self._chosen
        self._exchange = None
        self._sent_newkeys = False
        self._last_kex_time = self._now
        self.kex_count += 1
        self._events.append(KexComplete(initial, self.negotiated))
        if self.on_kex_complete is not None:
            self.on_kex_complete(initial)

    def _apply_compression(self) -> None:
        out_on = self._compression_out != "none" and (self.authenticated or not is_delayed(self._compression_out))
        in_on = self._compression_in != "none" and (self.authenticated or not is_delayed(self._compression_in))
        if out_on and self._encoder.compressor is None:
            self._encoder.compressor = Compressor(self.options.compression_level)
        elif not out_on:
            self._encoder.compressor = None
        if in_on and self._decoder.decompressor is None:
            self._decoder.decompressor = Decompressor(self.options.max_packet_length)
        elif not in_on:
            self._decoder.decompressor = None

    def set_authenticated(self) -> None:
        """Called by the auth layer on success: starts delayed compression."""
        self.authenticated = True
        self._apply_compression()

    def _maybe_rekey(self) -> None:
        if not self._first_kex_done or self._our_kexinit is not None or not self.authenticated or self.closed:
            return
        enc, dec = self._encoder, self._decoder
        if (
            enc.bytes_since_rekey >= self._out_limit
            or dec.bytes_since_rekey >= self._in_limit
            or enc.packets_since_rekey >= _MAX_PACKETS_BEFORE_REKEY
            or dec.packets_since_rekey >= _MAX_PACKETS_BEFORE_REKEY
        ):
            self.start_kex()

    # -- introspection ---------------------------------------------------

    @property
    def peer_server_sig_algs(self) -> list[str] | None:
        """The server-sig-algs extension, if the server sent one."""
        raw = self.extensions.get("server-sig-algs")
        if raw is None:
            return None
        try:
            return raw.decode("ascii").split(",") if raw else []
        except UnicodeDecodeError:
            return []

    @property
    def bytes_sent(self) -> int:
        """Bytes sent under the current keys."""
        return self._encoder.bytes_since_rekey

    @property
    def bytes_received(self) -> int:
        """Bytes received under the current keys."""
        return self._decoder.bytes_since_rekey


def _byte_limit(protector: PacketProtector, rekey_bytes: int) -> int:
    """Bytes the protector may carry before a rekey: the option, capped by the cipher's block limit."""
    if protector.max_blocks is None:
        return rekey_bytes
    return min(rekey_bytes, protector.max_blocks * protector.block_size)
