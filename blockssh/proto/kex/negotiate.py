"""KEXINIT messages and algorithm negotiation (RFC 4253 section 7.1)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...exceptions import IncompatiblePeer
from ..constants import Msg
from ..wire import Reader, boolean, byte, name_list, uint32

__all__ = [
    "KexInit",
    "Negotiated",
    "negotiate",
    "EXT_INFO_C",
    "EXT_INFO_S",
    "STRICT_KEX_C",
    "STRICT_KEX_S",
]

EXT_INFO_C = "ext-info-c"
EXT_INFO_S = "ext-info-s"
STRICT_KEX_C = "kex-strict-c-v00@openssh.com"
STRICT_KEX_S = "kex-strict-s-v00@openssh.com"
PSEUDO_KEX = frozenset({EXT_INFO_C, EXT_INFO_S, STRICT_KEX_C, STRICT_KEX_S})


@dataclass
class KexInit:
    """The contents of one SSH_MSG_KEXINIT."""

    cookie: bytes
    kex: list[str]
    host_key: list[str]
    cipher_c2s: list[str]
    cipher_s2c: list[str]
    mac_c2s: list[str]
    mac_s2c: list[str]
    compression_c2s: list[str]
    compression_s2c: list[str]
    lang_c2s: list[str] = field(default_factory=list)
    lang_s2c: list[str] = field(default_factory=list)
    first_kex_follows: bool = False

    def encode(self) -> bytes:
        """Return the message payload (the I_C / I_S of the exchange hash)."""
        return b"".join(
            (
                byte(Msg.KEXINIT),
                self.cookie,
                name_list(self.kex),
                name_list(self.host_key),
                name_list(self.cipher_c2s),
                name_list(self.cipher_s2c),
                name_list(self.mac_c2s),
                name_list(self.mac_s2c),
                name_list(self.compression_c2s),
                name_list(self.compression_s2c),
                name_list(self.lang_c2s),
                name_list(self.lang_s2c),
                boolean(self.first_kex_follows),
                uint32(0),
            )
        )

    @classmethod
    def decode(cls, payload: bytes | memoryview) -> KexInit:
        """Parse a KEXINIT payload (message byte included)."""
        r = Reader(payload)
        r.get_byte()
        cookie = r.get_bytes(16)
        kex, host_key, c2s, s2c, mac_c2s, mac_s2c, comp_c2s, comp_s2c, lang_c2s, lang_s2c = (
            r.get_name_list() for _ in range(10)
        )
        follows = r.get_boolean()
        r.get_uint32()  # reserved
        r.check_end()
        return cls(cookie, kex, host_key, c2s, s2c, mac_c2s, mac_s2c, comp_c2s, comp_s2c, lang_c2s, lang_s2c, follows)


@dataclass(frozen=True)
class Negotiated:
    """The algorithms both sides agreed on."""

    kex: str
    host_key: str
    cipher_c2s: str
    cipher_s2c: str
    mac_c2s: str
    mac_s2c: str
    compression_c2s: str
    compression_s2c: str


def _choose(category: str, client: list[str], server: list[str], *, required: bool = True) -> str:
    offered = set(server)
    for name in client:
        if name in offered and name not in PSEUDO_KEX:
            return name
    if required:
        raise IncompatiblePeer(f"no matching {category} algorithm (we/peer offered {client} / {server})")
    return ""


def negotiate(client: KexInit, server: KexInit, aead_ciphers: frozenset[str]) -> Negotiated:
    """Pick, in each category, the first client algorithm the server also offers.

    MACs are not negotiated (and may have no match) when the chosen cipher is AEAD.
    """
    kex = _choose("key exchange", client.kex, server.kex)
    host_key = _choose("host key", client.host_key, server.host_key)
    c2s = _choose("client-to-server cipher", client.cipher_c2s, server.cipher_c2s)
    s2c = _choose("server-to-client cipher", client.cipher_s2c, server.cipher_s2c)
    mac_c2s = "" if c2s in aead_ciphers else _choose("client-to-server MAC", client.mac_c2s, server.mac_c2s)
    mac_s2c = "" if s2c in aead_ciphers else _choose("server-to-client MAC", client.mac_s2c, server.mac_s2c)
    comp_c2s = _choose("client-to-server compression", client.compression_c2s, server.compression_c2s)
    comp_s2c = _choose("server-to-client compression", client.compression_s2c, server.compression_s2c)
    return Negotiated(kex, host_key, c2s, s2c, mac_c2s, mac_s2c, comp_c2s, comp_s2c)


def guess_was_wrong(sender: KexInit, chosen: Negotiated) -> bool:
    """True when a first_kex_packet_follows guess by ``sender`` must be ignored."""
    if not sender.kex or not sender.host_key:
        return True
    return sender.kex[0] != chosen.kex or sender.host_key[0] != chosen.host_key
