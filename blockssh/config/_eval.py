"""Evaluate parsed blocks for one destination, the way ssh(1) does.

Pass one matches ``Host`` lines against the name as given. Then HostName is
applied (``%h``), the name is lowercased and, if asked for, canonicalized. When
the configuration contains ``Match final`` or canonicalization is enabled, a
second pass runs with ``final``/``canonical`` true and ``Host`` lines matched
against the new name; it only fills in options still unset.
"""

from __future__ import annotations

import getpass
import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from ..exceptions import CouldNotCanonicalize
from ._keywords import Kind
from ._lex import (
    ExpandError,
    is_address,
    match_hostname,
    match_pattern,
    match_pattern_list,
    percent_expand,
)
from ._parse import Block, Condition, Directive, Source, config_error

__all__ = [
    "Collected",
    "Evaluation",
    "ExecRunner",
    "LocalInfo",
    "Resolver",
    "canonicalize_name",
    "evaluate",
    "run_shell",
    "system_resolver",
]

#: ``runner(command) -> exit status`` for ``Match exec`` (negative: killed by a signal).
ExecRunner = Callable[[str], int]
#: ``resolver(name, address_family) -> canonical name, or None if it does not resolve``.
Resolver = Callable[[str, str], "str | None"]


def run_shell(command: str) -> int:
    """Run a ``Match exec`` command like ssh does: ``$SHELL -c`` (else ``/bin/sh``), stdin/stdout on /dev/null."""
    import subprocess

    shell = os.environ.get("SHELL") or "/bin/sh"
    proc = subprocess.run([shell, "-c", command], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, check=False)
    return proc.returncode


def system_resolver(name: str, address_family: str = "any") -> str | None:
    """Resolve ``name`` with getaddrinfo; return its canonical name, or None if it does not resolve."""
    import socket

    family = {"inet": socket.AF_INET, "inet6": socket.AF_INET6}.get(address_family, socket.AF_UNSPEC)
    try:
        infos = socket.getaddrinfo(name, None, family, socket.SOCK_STREAM, 0, socket.AI_CANONNAME)
    except (OSError, UnicodeError):
        return None
    for info in infos:
        if info[3]:
            return info[3].rstrip(".")
    return name.rstrip(".")


@dataclass(frozen=True)
class LocalInfo:
    """Facts about the local side used by tokens and ``Match localuser``."""

    user: str
    home: str
    uid: int
    hostname: str
    environ: Mapping[str, str]

    @classmethod
    def current(cls, *, user: str | None = None, home: str | None = None) -> LocalInfo:
        """Collect the facts for this process (the local host name via ``socket.gethostname``)."""
        import socket

        return cls(
            user=user or getpass.getuser(),
            home=home or os.path.expanduser("~"),
            uid=os.getuid() if hasattr(os, "getuid") else 0,
            hostname=socket.gethostname(),
            environ=dict(os.environ),
        )


@dataclass
class Collected:
    """First-obtained values after one or two passes (OpenSSH's "first value wins")."""

    first: dict[str, Directive] = field(default_factory=dict)
    files: dict[str, list[Directive]] = field(default_factory=dict)
    forwards: list[Directive] = field(default_factory=list)
    sendenv: list[str] = field(default_factory=list)
    sendenv_name: str | None = None
    setenv: Directive | None = None
    proxy: Directive | None = None
    user: str | None = None  # command-line override
    port: int | None = None  # command-line override
    tag: str | None = None  # command-line override

    def apply(self, d: Directive) -> None:
        """Record one active directive."""
        kind = d.kind
        if kind is Kind.FILE:
            lst = self.files.setdefault(d.key, [])
            if all(x.value != d.value for x in lst):
                lst.append(d)
        elif kind is Kind.FORWARD:
            if all((x.key, x.args) != (d.key, d.args) for x in self.forwards):
                self.forwards.append(d)
        elif kind is Kind.SENDENV:
            self.sendenv_name = self.sendenv_name or d.name
            for name in d.args:
                if name.startswith("-"):
                    self.sendenv = [n for n in self.sendenv if not match_pattern(n, name[1:])]
                else:
                    self.sendenv.append(name)
        elif kind is Kind.SETENV:
            if self.setenv is None:
                self.setenv = d
        elif d.key in ("proxycommand", "proxyjump"):
            if self.proxy is None:
                self.proxy = d
        else:
            self.first.setdefault(d.key, d)

    def get(self, key: str) -> object:
        """The parsed value of a first-wins keyword, or None."""
        d = self.first.get(key)
        return d.value if d is not None else None

    def jump_host(self) -> str:
        """The host of the last ProxyJump hop (OpenSSH's ``%j``), or ``""``."""
        from ._keywords import parse_jump

        if self.proxy is None or self.proxy.key != "proxyjump":
            return ""
        hops = parse_jump(str(self.proxy.value))
        return hops[-1].host if hops else ""


def connection_hash(local_host: str, host: str, port: str, user: str, jump: str) -> str:
    """OpenSSH's ``%C``: SHA-1 hex of %l%h%p%r (plus %j when a ProxyJump is set)."""
    return hashlib.sha1((local_host + host + port + user + jump).encode(), usedforsecurity=False).hexdigest()


def _cname_rules(col: Collected) -> tuple[tuple[str, str], ...]:
    value = col.get("canonicalizepermittedcnames")
    return value if isinstance(value, tuple) else ()


def canonicalize_name(
    host: str,
    *,
    mode: str,
    max_dots: int,
    domains: Sequence[str],
    fallback_local: bool,
    permitted_cnames: Sequence[tuple[str, str]],
    direct: bool,
    resolver: Resolver,
    address_family: str = "any",
) -> str:
    """Apply CanonicalizeHostname rules to an already-lowercased name; return the new name.

    Raises CouldNotCanonicalize when no domain resolves and fallback is off.
    """
    if is_address(host):
        import ipaddress

        bare, _, zone = host.partition("%")
        text = str(ipaddress.ip_address(bare))
        return f"{text}%{zone}" if zone else text

    def follow(name: str, cname: str | None) -> str:
        if not cname or not permitted_cnames or name == cname or mode == "no":
            return name
        if not direct and mode != "always":
            return name
        for src, dst in permitted_cnames:
            if match_pattern_list(name, src, True) == 1 and match_pattern_list(cname, dst, True) == 1:
                return cname
        return name

    if mode == "no" or (not direct and mode != "always"):
        return host
    found: str | None = None
    if host.endswith("."):
        cname = resolver(host, address_family)
        if cname is not None:
            found = follow(host[:-1], cname)
    elif host.count(".") > max_dots:
        found = host
    else:
        for domain in domains:
            if domain.lower() == "none":
                break
            full = f"{host}.{domain}."
            cname = resolver(full, address_family)
            if cname is not None:
                found = follow(full[:-1], cname)
                break
    if found is None:
        if not fallback_local:
            raise CouldNotCanonicalize(host)
        found = host
    if found == host and permitted_cnames:
        found = follow(host, resolver(host, address_family))
    return found


@dataclass
class Evaluation:
    """The outcome of evaluating the blocks for one destination."""

    original: str
    hostname: str
    collected: Collected
    local: LocalInfo

    @property
    def user(self) -> str:
        """Remote user: command line, then config, then the local user."""
        value = self.collected.user or self.collected.get("user")
        return str(value) if value else self.local.user

    @property
    def port(self) -> int:
        """Remote port: command line, then config, then 22."""
        value = self.collected.port or self.collected.get("port")
        return value if isinstance(value, int) else 22

    def tokens(self) -> dict[str, str]:
        """The %-token values once the destination is known (ssh's connection info)."""
        local = self.local
        alias = self.collected.get("hostkeyalias")
        jump = self.collected.jump_host()
        port = str(self.port)
        return {
            "C": connection_hash(local.hostname, self.hostname, port, self.user, jump),
            "L": local.hostname.split(".", 1)[0],
            "i": str(local.uid),
            "k": str(alias).lower() if alias else self.original,
            "l": local.hostname,
            "n": self.original,
            "p": port,
            "d": local.home,
            "h": self.hostname,
            "r": self.user,
            "u": local.user,
            "j": jump,
        }


@dataclass
class _Pass:
    host: str  # what Host lines match against
    original: str
    final: bool
    canonical_host: str | None
    memo: dict[int, bool] = field(default_factory=dict)


class _Evaluator:
    def __init__(self, local: LocalInfo, runner: ExecRunner) -> None:
        self.local = local
        self.runner = runner

    def run(self, blocks: Sequence[Block], p: _Pass, col: Collected) -> None:
        for block in blocks:
            if all(self._condition(c, p, col) for c in block.chain):
                for d in block.directives:
                    col.apply(d)

    def _condition(self, cond: Condition, p: _Pass, col: Collected) -> bool:
        key = id(cond)
        if key not in p.memo:
            p.memo[key] = self._host(cond, p) if cond.kind == "host" else self._match(cond, p, col)
        return p.memo[key]

    @staticmethod
    def _host(cond: Condition, p: _Pass) -> bool:
        active = False
        for pattern in cond.patterns:
            negated = pattern.startswith("!")
            if match_pattern(p.host, pattern[1:] if negated else pattern):
                if negated:
                    return False
                active = True
        return active

    def _match(self, cond: Condition, p: _Pass, col: Collected) -> bool:
        if p.final:
            host = p.canonical_host or p.original
        else:
            configured = col.get("hostname")
            host = p.original
            if configured:
                host = percent_expand(str(configured), {"h": p.original}, strict=False)
        user = col.user or col.get("user") or self.local.user
        result = True
        for crit in cond.criteria:
            if crit.kind == "all":
                return result and not crit.negate
            arg = crit.arg or ""
            if crit.kind in ("canonical", "final"):
                ok = p.final
            elif crit.kind == "host":
                ok = match_hostname(host, arg)
            elif crit.kind == "originalhost":
                ok = match_hostname(p.original, arg)
            elif crit.kind == "user":
                ok = match_pattern_list(str(user), arg) == 1
            elif crit.kind == "localuser":
                ok = match_pattern_list(self.local.user, arg) == 1
            elif crit.kind == "tagged":
                tag = str(col.tag or col.get("tag") or "")
                ok = match_pattern_list(tag, arg) == 1 if tag else not arg
            else:  # exec
                if not result:
                    continue
                ok = self._exec(arg, host, str(user), p, col, cond.source)
            if ok == crit.negate:
                result = False
        return result

    def _exec(self, arg: str, host: str, user: str, p: _Pass, col: Collected, src: Source | None) -> bool:
        port = col.port or col.get("port") or 22
        alias = col.get("hostkeyalias")
        jump = col.jump_host()
        tokens = {
            "C": connection_hash(self.local.hostname, host, str(port), user, jump),
            "L": self.local.hostname.split(".", 1)[0],
            "d": self.local.home,
            "h": host,
            "k": str(alias) if alias else host,
            "l": self.local.hostname,
            "n": p.original,
            "p": str(port),
            "r": user,
            "u": self.local.user,
            "i": str(self.local.uid),
            "j": jump,
        }
        try:
            command = percent_expand(arg, tokens)
        except ExpandError as exc:
            raise config_error(src, f"Match exec: {exc}") from None
        status = self.runner(command)
        if status < 0:
            raise config_error(src, f"Match exec {command!r} exited abnormally")
        return status == 0


def evaluate(
    blocks: Sequence[Block],
    host: str,
    *,
    local: LocalInfo,
    runner: ExecRunner,
    resolver: Resolver,
    wants_final: bool,
    user: str | None = None,
    port: int | None = None,
    tag: str | None = None,
    final_pass: bool = True,
) -> Evaluation:
    """Evaluate ``blocks`` for destination ``host`` (both passes, canonicalization included)."""
    col = Collected(user=user, port=port, tag=tag)
    ev = _Evaluator(local, runner)
    ev.run(blocks, _Pass(host, host, False, None), col)

    name = host
    configured = col.first.get("hostname")
    if configured is not None:
        try:
            name = percent_expand(str(configured.value), {"h": host})
        except ExpandError as exc:
            raise config_error(configured.source, f"HostName: {exc}") from None
    if not is_address(name):
        name = name.lower()
    mode = str(col.get("canonicalizehostname") or "no")
    proxy = col.proxy
    direct = proxy is None or (proxy.key == "proxycommand" and str(proxy.value).lower() == "none")
    if proxy is not None and proxy.key == "proxyjump" and str(proxy.value).split("#")[0].strip().lower() == "none":
        direct = True
    if mode != "no" or is_address(name) or _cname_rules(col):
        max_dots = col.get("canonicalizemaxdots")
        domains = col.get("canonicaldomains")
        fallback = col.get("canonicalizefallbacklocal")
        name = canonicalize_name(
            name,
            mode=mode,
            max_dots=max_dots if isinstance(max_dots, int) else 1,
            domains=domains if isinstance(domains, tuple) else (),
            fallback_local=fallback if isinstance(fallback, bool) else True,
            permitted_cnames=_cname_rules(col),
            direct=direct,
            resolver=resolver,
            address_family=str(col.get("addressfamily") or "any"),
        )
    if final_pass and (wants_final or mode != "no"):
        ev.run(blocks, _Pass(name, host, True, name), col)
    return Evaluation(host, name, col, local)
