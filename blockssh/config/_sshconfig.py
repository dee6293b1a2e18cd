"""SSHConfig: paramiko's ssh_config API, on an OpenSSH-faithful parser and resolver."""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import IO, Any

from ..exceptions import ConfigParseError
from ._eval import Evaluation, ExecRunner, LocalInfo, Resolver, canonicalize_name, evaluate, run_shell, system_resolver
from ._keywords import KEYWORDS, Kind
from ._lex import argv_split, tilde_expand
from ._parse import Block, Condition, Criterion, Parser, Source, config_error, summarize
from ._resolved import Expander, ResolvedConfig, build_resolved

__all__ = ["SSHConfig", "SSHConfigDict", "load_user_config"]

USER_CONFIG = "~/.ssh/config"
SYSTEM_CONFIG = "/etc/ssh/ssh_config"


class SSHConfigDict(dict[str, Any]):
    """The options for one host, as returned by :meth:`SSHConfig.lookup`.

    Keys are lowercase keywords. Values are strings, except ``identityfile``,
    ``certificatefile``, ``localforward``, ``remoteforward``, ``dynamicforward``,
    ``sendenv`` and ``setenv`` (lists), and ``proxycommand none`` (None).
    """

    def as_bool(self, key: str) -> bool:
        """The value as a bool: ``yes``/``true`` (any case) are True, anything else False."""
        value = self[key]
        if isinstance(value, bool):
            return value
        return str(value).lower() in ("yes", "true")

    def as_int(self, key: str) -> int:
        """The value as an int; raises like ``int()`` when it is not one."""
        return int(self[key])


class SSHConfig:
    """An OpenSSH client configuration (ssh_config(5)), parsed once and looked up per host.

    Drop-in for ``paramiko.SSHConfig`` (``lookup`` returns an
    :class:`SSHConfigDict`), with what paramiko lacks: ``Include`` (globs,
    nesting, inside Host/Match), ``Match tagged``, the two-pass ``Match final``
    semantics, CNAME rules, every %token and ``${VAR}`` where ssh expands them,
    and :meth:`resolve` for typed values with ``ssh -G`` defaults.

    Keyword arguments (all optional): ``exec_runner(command) -> status`` runs
    ``Match exec`` commands; ``resolver(name, address_family) -> cname | None``
    does canonicalization lookups; ``local`` gives the local user, home, uid,
    host name and environment; ``include_dir`` is where relative Include paths
    live (``~/.ssh``); ``strict`` makes unknown keywords an error unless an
    earlier ``IgnoreUnknown`` covers them (by default they are kept as strings,
    as paramiko does, so configs written for newer or vendor OpenSSH builds
    still load); ``check_permissions`` refuses included files that are
    group/world-writable or owned by another user, as ssh does.
    """

    def __init__(
        self,
        *,
        exec_runner: ExecRunner | None = None,
        resolver: Resolver | None = None,
        local: LocalInfo | None = None,
        include_dir: str = "~/.ssh",
        strict: bool = False,
        check_permissions: bool = True,
    ) -> None:
        self._config: list[dict[str, Any]] = []
        self.exec_runner: ExecRunner = exec_runner or run_shell
        self.resolver: Resolver = resolver or system_resolver
        self._local = local
        self.include_dir = include_dir
        self.strict = strict
        self.check_permissions = check_permissions
        self._ignore_unknown: list[str] = []

    @property
    def local(self) -> LocalInfo:
        """Local user/home/host facts (collected on first use unless given)."""
        if self._local is None:
            self._local = LocalInfo.current()
        return self._local

    @classmethod
    def from_text(cls, text: str, **kwargs: Any) -> SSHConfig:
        """Parse config text."""
        obj = cls(**kwargs)
        obj.parse(io.StringIO(text))
        return obj

    @classmethod
    def from_path(cls, path: str | os.PathLike[str], **kwargs: Any) -> SSHConfig:
        """Parse the file at ``path`` (a missing file raises FileNotFoundError)."""
        obj = cls(**kwargs)
        obj.read(os.fspath(path))
        return obj

    @classmethod
    def from_file(cls, flo: IO[str], **kwargs: Any) -> SSHConfig:
        """Parse an open text file."""
        obj = cls(**kwargs)
        obj.parse(flo)
        return obj

    def _parser(self, system: bool) -> Parser:
        return Parser(
            home=self.local.home,
            environ=self.local.environ,
            include_dir="/etc/ssh" if system else self.include_dir,
            system=system,
            strict=self.strict,
            check_permissions=self.check_permissions,
            ignore_unknown=self._ignore_unknown,
        )

    def parse(self, file_obj: Iterable[str], *, system: bool = False) -> None:
        """Parse more config from an iterable of lines (appends, like reading another file)."""
        name = getattr(file_obj, "name", None)
        filename = name if isinstance(name, str) else "<config>"
        lines = [line.rstrip("\r\n") for line in file_obj]
        self._add(self._parser(system).parse_lines(lines, filename))

    def read(self, path: str, *, system: bool = False) -> None:
        """Parse more config from a file path (appends)."""
        self._add(self._parser(system).parse_file(path, (), 0))

    def _add(self, blocks: list[Block]) -> None:
        self._config.extend(summarize(b) for b in blocks)

    def _blocks(self) -> list[Block]:
        blocks: list[Block] = []
        for entry in self._config:
            block = getattr(entry, "block", None)
            blocks.append(block if isinstance(block, Block) else _block_from_entry(entry))
        return blocks

    def _wants_final(self, blocks: Sequence[Block]) -> bool:
        return any(
            crit.kind == "final"
            for block in blocks
            for cond in block.chain
            if cond.kind == "match"
            for crit in cond.criteria
        )

    def _evaluate(
        self,
        host: str,
        *,
        user: str | None = None,
        port: int | None = None,
        tag: str | None = None,
        final_pass: bool = True,
        local: LocalInfo | None = None,
    ) -> Evaluation:
        blocks = self._blocks()
        return evaluate(
            blocks,
            host,
            local=local or self.local,
            runner=self.exec_runner,
            resolver=self.resolver,
            wants_final=self._wants_final(blocks),
            user=user,
            port=port,
            tag=tag,
            final_pass=final_pass,
        )

    def lookup(self, hostname: str) -> SSHConfigDict:
        """Options for ``hostname`` as a paramiko-style dict (only keys the config sets, plus ``hostname``).

        Values are strings as written (tokens and ``~`` expanded where ssh
        expands them; unknown tokens are left alone). ``port`` is normalised to
        digits. Of ProxyCommand and ProxyJump only the first obtained is kept,
        as in ssh; ``ProxyJump none`` is dropped and ``ProxyCommand none`` is None.
        """
        ev = self._evaluate(hostname)
        return _to_dict(ev)

    def resolve(
        self,
        host: str,
        *,
        user: str | None = None,
        port: int | None = None,
        local_user: str | None = None,
        final_pass: bool = True,
        tag: str | None = None,
        algorithms: Mapping[str, Sequence[str]] | None = None,
        supported: Mapping[str, Sequence[str]] | None = None,
    ) -> ResolvedConfig:
        """Typed, fully expanded options for ``host``, with defaults filled like ``ssh -G``.

        ``user``/``port``/``tag`` act like ssh's ``-l``/``-p``/``-P`` (they beat
        the config). ``local_user`` overrides the local user name. With
        ``final_pass`` False the second pass (``Match final``, canonical names)
        is skipped. ``algorithms`` maps keyword (``ciphers``, ``kexalgorithms``,
        ...) to the default list that ``+``/``-``/``^`` apply to;
        ``supported`` to the full list wildcards expand against.
        Raises ConfigParseError for unknown %tokens and bad values.
        """
        local = self.local
        if local_user is not None:
            local = LocalInfo(local_user, local.home, local.uid, local.hostname, local.environ)
        ev = self._evaluate(host, user=user, port=port, tag=tag, final_pass=final_pass, local=local)
        return build_resolved(ev, defaults=algorithms or {}, supported=supported or {})

    def get_hostnames(self) -> set[str]:
        """Every pattern named on a ``Host`` line (including ``*``)."""
        hosts: set[str] = set()
        for entry in self._config:
            hosts.update(entry.get("host", []))
        return hosts

    def canonicalize(self, hostname: str, options: Mapping[str, Any], domains: Sequence[str]) -> str:
        """Try ``hostname`` under each of ``domains``; return the first that resolves.

        Falls back to ``hostname`` unless ``options`` says
        ``canonicalizefallbacklocal no``, in which case CouldNotCanonicalize is raised.
        """
        fallback = str(options.get("canonicalizefallbacklocal", "yes")).lower() in ("yes", "true")
        rules: list[tuple[str, str]] = []
        for arg in str(options.get("canonicalizepermittedcnames", "")).split():
            src, _, dst = arg.lower().partition(":")
            if dst:
                rules.append((src, dst))
        return canonicalize_name(
            hostname.lower(),
            mode="yes",
            max_dots=len(hostname),
            domains=list(domains),
            fallback_local=fallback,
            permitted_cnames=rules,
            direct=True,
            resolver=self.resolver,
            address_family=str(options.get("addressfamily", "any")).lower(),
        )

    @staticmethod
    def _get_hosts(host: str) -> list[str]:
        """Split a Host line's value into patterns (paramiko's private helper)."""
        try:
            return argv_split(host)
        except ValueError:
            raise ConfigParseError(f"Unparsable host {host}") from None


def _to_dict(ev: Evaluation) -> SSHConfigDict:
    col = ev.collected
    x = Expander(ev, strict=False)
    out = SSHConfigDict()
    for key, d in col.first.items():
        name = d.name
        if key in ("hostname", "port"):
            continue
        if key in ("controlpath", "identityagent", "revokedhostkeys") or (
            key == "forwardagent" and isinstance(d.value, str)
        ):
            value = x.path(d) if d.text().lower() != "none" else d.text()
        elif key == "userknownhostsfile":
            items = [x.path(d, f) for f in d.args] if d.args[0].lower() != "none" else ["none"]
            value = " ".join(i for i in items if i is not None)
        elif key == "globalknownhostsfile":
            value = " ".join(tilde_expand(f, ev.local.home) for f in d.args)
        elif key == "knownhostscommand":
            value = x.expand(d.text(), d, dollar=True, keep="fHIKt")
        elif key == "remotecommand":
            value = x.expand(d.text(), d)
        elif key == "localcommand":
            value = x.expand(d.text(), d, keep="T")
        else:
            value = d.text()
        if value is not None:
            out[name] = value
    for ds in col.files.values():
        paths = [x.path(d) for d in ds]
        out[ds[0].name] = [p for p in paths if p is not None]
    for d in col.forwards:
        out.setdefault(d.key, []).append(x.forward_text(d))
    if col.sendenv_name is not None:
        out["sendenv"] = list(col.sendenv)
    if col.setenv is not None:
        seen: dict[str, str] = {}
        for item in col.setenv.args:
            seen.setdefault(item.partition("=")[0], item)
        out["setenv"] = list(seen.values())
    if col.proxy is not None:
        p = col.proxy
        if p.key == "proxycommand":
            out[p.name] = None if str(p.value).lower() == "none" else x.proxy_command(p)
        elif str(p.value).split("#")[0].strip().lower() != "none":
            out[p.name] = x.expand(str(p.value).split("#")[0].strip(), p, tokens="hnpr")
    port = col.first.get("port")
    if port is not None:
        out[port.name] = str(port.value)
    out["hostname"] = ev.hostname
    return out


def _block_from_entry(entry: Mapping[str, Any]) -> Block:
    """Rebuild a block from a hand-made paramiko-style ``_config`` entry."""
    src = Source("<_config>", 0)
    chain: tuple[Condition, ...] = ()
    if "matches" in entry:
        crits = tuple(Criterion(m["type"], m.get("param"), bool(m.get("negate"))) for m in entry["matches"])
        chain = (Condition("match", criteria=crits, source=src),)
    elif entry.get("host") and list(entry["host"]) != ["*"]:
        chain = (Condition("host", patterns=tuple(entry["host"]), source=src),)
    block = Block(chain)
    parser = Parser(home="~", environ={}, check_permissions=False)
    for key, value in entry.get("config", {}).items():
        values = value if isinstance(value, list) else [value]
        for item in values:
            text = "none" if item is None else str(item)
            kw = KEYWORDS.get(key)
            if kw is not None and kw.kind in (Kind.FILE, Kind.STRING):
                text = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
            blocks = parser.parse_lines([f"{key} {text}"], "<_config>")
            block.directives.extend(d for b in blocks for d in b.directives)
    return block


def load_user_config(
    path: str | None = None,
    *,
    system: bool = False,
    system_path: str = SYSTEM_CONFIG,
    **kwargs: Any,
) -> SSHConfig:
    """Load ``~/.ssh/config`` (or ``path``), then ``/etc/ssh/ssh_config`` when ``system`` is true.

    Missing files are skipped, so this always returns an SSHConfig. As in ssh,
    the user file is refused if another user owns it or others can write it.
    """
    config = SSHConfig(**kwargs)
    user_path = tilde_expand(path or USER_CONFIG, config.local.home)
    if os.path.exists(user_path):
        if config.check_permissions:
            st = os.stat(user_path)
            uid = os.getuid() if hasattr(os, "getuid") else 0
            if st.st_uid not in (0, uid) or st.st_mode & 0o022:
                raise config_error(None, f"bad owner or permissions on {user_path}")
        config.read(user_path)
    if system and os.path.exists(system_path):
        config.read(system_path, system=True)
    return config
