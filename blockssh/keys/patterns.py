"""OpenSSH pattern matching: ``*``/``?`` wildcards, ``!`` negation, CIDR address lists.

Used by known_hosts host patterns, authorized_keys ``from=`` and certificate
``source-address`` options. Matching runs in O(len(name) * len(pattern)) with
no backtracking blow-up.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

__all__ = [
    "match_address_list",
    "match_host_and_address",
    "match_pattern",
    "match_pattern_list",
]


def match_pattern(name: str, pattern: str) -> bool:
    """True when ``name`` matches ``pattern`` (``*`` any run, ``?`` one character; case-sensitive)."""
    n = p = 0
    star_p = -1
    star_n = 0
    while n < len(name):
        if p < len(pattern) and (pattern[p] == "?" or pattern[p] == name[n]):
            n += 1
            p += 1
        elif p < len(pattern) and pattern[p] == "*":
            star_p = p
            star_n = n
            p += 1
        elif star_p >= 0:
            p = star_p + 1
            star_n += 1
            n = star_n
        else:
            return False
    while p < len(pattern) and pattern[p] == "*":
        p += 1
    return p == len(pattern)


def match_pattern_list(name: str, patterns: Iterable[str], *, ignore_case: bool = True) -> int:
    """Match ``name`` against a pattern list with negation, as OpenSSH's match_pattern_list.

    Returns 1 when some positive pattern matches and no negated one does, -1 when
    a negated (``!``) pattern matches, and 0 when nothing matches.
    """
    if ignore_case:
        name = name.lower()
    result = 0
    for raw in patterns:
        negated = raw.startswith("!")
        pattern = raw[1:] if negated else raw
        if ignore_case:
            pattern = pattern.lower()
        if not pattern:
            continue
        if match_pattern(name, pattern):
            if negated:
                return -1
            result = 1
    return result


def _parse_network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """Parse ``addr`` or ``addr/bits``; None when ``text`` is not an address; ValueError for a bad mask."""
    address, _, bits = text.partition("/")
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if not bits:
        return ipaddress.ip_network(ip)
    if not bits.isdigit():
        raise ValueError(f"invalid network mask in {text!r}")
    # strict=True: OpenSSH refuses networks with host bits set ("inconsistent mask length").
    return ipaddress.ip_network(f"{ip}/{int(bits)}", strict=True)


def match_address_list(address: str | None, patterns: Iterable[str]) -> int:
    """Match an IP address against a list of CIDR networks, addresses and wildcard patterns.

    Returns 1 (match), 0 (no match) or -1 (a negated entry matched). A malformed
    entry (empty, or a network with host bits set) makes the whole list fail
    closed with -1.
    """
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None
    if address is not None:
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            ip = None
    result = 0
    for raw in patterns:
        negated = raw.startswith("!")
        pattern = raw[1:] if negated else raw
        if not pattern:
            return -1
        try:
            network = _parse_network(pattern)
        except ValueError:
            return -1
        if network is not None:
            matched = ip is not None and ip.version == network.version and ip in network
        else:
            matched = address is not None and match_pattern(address.lower(), pattern.lower())
        if matched:
            if negated:
                return -1
            result = 1
    return result


def match_host_and_address(host: str | None, address: str | None, patterns: Iterable[str]) -> bool:
    """authorized_keys ``from=`` semantics: allow when the address or host name matches and neither is negated.

    With no client address the answer is False (fail closed).
    """
    pattern_list = list(patterns)
    if address is None:
        return False
    by_address = match_address_list(address, pattern_list)
    if by_address == -1:
        return False
    by_host = match_pattern_list(host, pattern_list) if host else 0
    if by_host == -1:
        return False
    return by_address == 1 or by_host == 1
