"""The message flow of one key exchange, for either role, and key derivation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ...exceptions import KeyExchangeFailed, MessageOrderError
from ..wire import Reader, byte, mpint, string, uint32
from .groups import MODP_SIZES, modp_group
from .methods import FiniteFieldDH, KexSpec, Rng

__all__ = ["KexExchange", "KexResult", "derive_key", "GEX_MIN", "GEX_PREFERRED", "GEX_MAX"]

MSG_KEX_INIT = 30  # also DH_GEX_REQUEST_OLD, which we refuse
MSG_KEX_REPLY = 31  # also DH_GEX_GROUP
MSG_GEX_INIT = 32
MSG_GEX_REPLY = 33
MSG_GEX_REQUEST = 34

GEX_MIN = 2048
GEX_PREFERRED = 3072
GEX_MAX = 8192


@dataclass(frozen=True)
class KexResult:
    """What a finished exchange produced."""

    k: bytes  # the shared secret, wire-encoded
    h: bytes  # the exchange hash
    host_key_blob: bytes
    signature: bytes  # the server's signature over ``h``


def derive_key(spec: KexSpec, k: bytes, h: bytes, letter: bytes, session_id: bytes, size: int) -> bytes:
    """Derive one key or IV (RFC 4253 section 7.2)."""
    out = spec.hash(k + h + letter + session_id)
    while len(out) < size:
        out += spec.hash(k + h + out)
    return out[:size]


class KexExchange:
    """Runs one key exchange method for the client or the server role.

    Call :meth:`start` once, then :meth:`receive` with each method-specific
    message; both return payloads to send. :attr:`result` is set when done.
    """

    def __init__(
        self,
        spec: KexSpec,
        *,
        is_server: bool,
        v_c: bytes,
        v_s: bytes,
        i_c: bytes,
        i_s: bytes,
        rng: Rng,
        host_key_blob: bytes = b"",
        sign: Callable[[bytes], bytes] | None = None,
        gex_sizes: tuple[int, int, int] = (GEX_MIN, GEX_PREFERRED, GEX_MAX),
    ) -> None:
        self.spec = spec
        self._is_server = is_server
        self._prefix = string(v_c) + string(v_s) + string(i_c) + string(i_s)
        self._rng = rng
        self._host_key_blob = host_key_blob
        self._sign = sign
        self._gex_sizes = gex_sizes
        self._gex_params = b""
        self._agreement = spec.make(rng) if spec.make is not None else None
        if is_server:
            self._expect = MSG_GEX_REQUEST if spec.make is None else MSG_KEX_INIT
        else:
            self._expect = MSG_KEX_REPLY  # KEXDH_REPLY, or DH_GEX_GROUP which shares its number
        self.result: KexResult | None = None

    def start(self) -> list[bytes]:
        """Return the messages this side sends first."""
        if self._is_server:
            return []
        if self._agreement is None:
            lo, n, hi = self._gex_sizes
            return [byte(MSG_GEX_REQUEST) + uint32(lo) + uint32(n) + uint32(hi)]
        return [byte(MSG_KEX_INIT) + self._agreement.public_field()]

    def receive(self, msg: int, payload: bytes | memoryview) -> list[bytes]:
        """Handle one kex-method message; return the messages to send in reply."""
        if self.result is not None or msg != self._expect:
            raise MessageOrderError(f"unexpected key exchange message {msg}")
        r = Reader(payload, 1)
        if self._is_server:
            return self._server_receive(msg, r)
        return self._client_receive(msg, r)

    # -- client ----------------------------------------------------------

    def _client_receive(self, msg: int, r: Reader) -> list[bytes]:
        if self._agreement is None:  # DH_GEX_GROUP
            p = r.get_positive_mpint()
            g = r.get_positive_mpint()
            r.check_end()
            lo, n, hi = self._gex_sizes
            if not lo <= p.bit_length() <= hi:
                raise KeyExchangeFailed(f"server chose a {p.bit_length()}-bit group outside [{lo}, {hi}]")
            if not 1 < g < p - 1:
                raise KeyExchangeFailed("invalid group generator")
            self._agreement = FiniteFieldDH(self._rng, p, g)
            self._gex_params = uint32(lo) + uint32(n) + uint32(hi) + mpint(p) + mpint(g)
            self._expect = MSG_GEX_REPLY
            return [byte(MSG_GEX_INIT) + self._agreement.public_field()]
        host_key_blob = r.get_string()
        start = r.position
        k = self._agreement.client_finish(r)
        server_field = r.bytes_since(start)  # Q_S or f, as encoded
        signature = r.get_string()
        r.check_end()
        h = self._hash(host_key_blob, self._agreement.public_field(), server_field, k)
        self.result = KexResult(k, h, host_key_blob, signature)
        return []

    # -- server ----------------------------------------------------------

    def _server_receive(self, msg: int, r: Reader) -> list[bytes]:
        if msg == MSG_GEX_REQUEST:
            lo, n, hi = r.get_uint32(), r.get_uint32(), r.get_uint32()
            r.check_end()
            p, g = _choose_group(lo, n, hi)
            self._agreement = FiniteFieldDH(self._rng, p, g)
            self._gex_params = uint32(lo) + uint32(n) + uint32(hi) + mpint(p) + mpint(g)
            self._expect = MSG_GEX_INIT
            return [byte(MSG_KEX_REPLY) + mpint(p) + mpint(g)]
        assert self._agreement is not None and self._sign is not None
        start = r.position
        k = self._agreement.server_respond(r)
        client_field = r.bytes_since(start)  # Q_C or e, as encoded
        r.check_end()
        server_field = self._agreement.public_field()
        h = self._hash(self._host_key_blob, client_field, server_field, k)
        signature = self._sign(h)
        self.result = KexResult(k, h, self._host_key_blob, signature)
        reply = MSG_GEX_REPLY if msg == MSG_GEX_INIT else MSG_KEX_REPLY
        return [byte(reply) + string(self._host_key_blob) + server_field + string(signature)]

    def _hash(self, host_key_blob: bytes, client_field: bytes, server_field: bytes, k: bytes) -> bytes:
        return self.spec.hash(
            b"".join((self._prefix, string(host_key_blob), self._gex_params, client_field, server_field, k))
        )


def _choose_group(lo: int, n: int, hi: int) -> tuple[int, int]:
    """Pick the smallest built-in group of at least ``n`` bits within ``[lo, hi]``."""
    if not (1024 <= lo <= n <= hi) or hi > 1 << 16:
        raise KeyExchangeFailed(f"invalid group exchange request ({lo}, {n}, {hi})")
    fitting = [bits for bits in MODP_SIZES if lo <= bits <= hi]
    if not fitting:
        raise KeyExchangeFailed(f"no group between {lo} and {hi} bits")
    chosen = next((bits for bits in fitting if bits >= n), fitting[-1])
    return modp_group(chosen)
