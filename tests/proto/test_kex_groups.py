"""The computed RFC 3526 groups match the RFC and are safe primes."""

from __future__ import annotations

import pytest

from blockssh.proto.kex.groups import modp_group

# The last 128 bits of each prime as printed in RFC 3526 (and its first 128 bits, shared by all).
RFC_TAILS = {
    2048: "15728E5A8AACAA68FFFFFFFFFFFFFFFF",
    3072: "4B82D120A93AD2CAFFFFFFFFFFFFFFFF",
    4096: "4DF435C934063199FFFFFFFFFFFFFFFF",
    6144: "E694F91E6DCC4024FFFFFFFFFFFFFFFF",
    8192: "60C980DD98EDD3DFFFFFFFFFFFFFFFFF",
}
RFC_HEAD = "FFFFFFFFFFFFFFFFC90FDAA22168C234"


@pytest.mark.parametrize("bits", sorted(RFC_TAILS))
def test_group_matches_rfc_3526(bits: int) -> None:
    p, g = modp_group(bits)
    text = format(p, "X")
    assert g == 2
    assert p.bit_length() == bits
    assert text.startswith(RFC_HEAD)
    assert text.endswith(RFC_TAILS[bits])


@pytest.mark.parametrize("bits", [2048, 3072, 4096])
def test_group_is_a_safe_prime(bits: int) -> None:
    p, _ = modp_group(bits)
    q = (p - 1) // 2
    for base in (2, 3, 5):
        assert pow(base, p - 1, p) == 1
        assert pow(base, q - 1, q) == 1
