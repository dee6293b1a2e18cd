"""Parse ssh_config text into a flat list of conditional blocks.

``Include`` is resolved at parse time: the included files' blocks are spliced
in place, each carrying the chain of conditions that was in force at the
``Include`` line, so an Include inside a ``Host``/``Match`` block applies only
when that block does. Evaluation walks the blocks in order and a block applies
when every condition of its chain holds (each condition is evaluated at most
once per pass, at the point OpenSSH would evaluate it).
"""

from __future__ import annotations

import glob
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..exceptions import ConfigParseError
from ._keywords import KEYWORDS, LIST_KEYS, Keyword, Kind, parse_value
from ._lex import ExpandError, argv_split, dollar_expand, match_pattern_list, split_keyword, tilde_expand

__all__ = [
    "MAX_INCLUDE_DEPTH",
    "MATCH_CRITERIA",
    "Block",
    "Condition",
    "ConfigEntry",
    "Criterion",
    "Directive",
    "Parser",
    "Source",
    "config_error",
]

MAX_INCLUDE_DEPTH = 16
MATCH_CRITERIA = frozenset({"all", "canonical", "final", "host", "originalhost", "user", "localuser", "exec", "tagged"})
_NO_ARGUMENT = frozenset({"all", "canonical", "final"})


@dataclass(frozen=True)
class Source:
    """Where a directive came from."""

    filename: str
    lineno: int

    def __str__(self) -> str:
        return f"{self.filename} line {self.lineno}"


def config_error(source: Source | None, message: str) -> ConfigParseError:
    """Build a ConfigParseError that names the file and line (also as attributes)."""
    exc = ConfigParseError(f"{source}: {message}" if source else message)
    exc.filename = source.filename if source else None  # type: ignore[attr-defined]
    exc.lineno = source.lineno if source else None  # type: ignore[attr-defined]
    return exc


@dataclass
class Directive:
    """One keyword line: the name as written (lowercased), its arguments and parsed value."""

    name: str
    keyword: Keyword | None
    args: tuple[str, ...]
    raw: str
    value: object
    source: Source

    @property
    def key(self) -> str:
        """The canonical keyword (aliases resolved); the written name for unknown keywords."""
        return self.keyword.key if self.keyword else self.name

    @property
    def kind(self) -> Kind:
        """The keyword's kind; unknown keywords behave like RAW."""
        return self.keyword.kind if self.keyword else Kind.RAW

    def text(self) -> str:
        """The value as one string (the raw command for command-like keywords)."""
        if self.kind in (Kind.COMMAND, Kind.PROXYJUMP):
            return str(self.value)
        return " ".join(self.args)


@dataclass(frozen=True)
class Criterion:
    """One Match criterion, e.g. ``!host *.example.com``."""

    kind: str
    arg: str | None
    negate: bool


@dataclass(eq=False)
class Condition:
    """A ``Host`` line (patterns) or a ``Match`` line (criteria)."""

    kind: str  # "host" or "match"
    patterns: tuple[str, ...] = ()
    criteria: tuple[Criterion, ...] = ()
    source: Source | None = None


@dataclass(eq=False)
class Block:
    """Directives that apply when every condition in ``chain`` holds."""

    chain: tuple[Condition, ...]
    directives: list[Directive] = field(default_factory=list)
    continuation: bool = False  # resumes an enclosing block after an Include


class ConfigEntry(dict[str, Any]):
    """A paramiko-shaped ``_config`` entry (``host``/``matches`` and ``config``) carrying its :class:`Block`."""

    block: Block


def summarize(block: Block) -> ConfigEntry:
    """Build the paramiko-style view of a block: first value per key, lists for multi-value keys."""
    entry = ConfigEntry()
    last = block.chain[-1] if block.chain else None
    if last is not None and last.kind == "match":
        entry["matches"] = [{"type": c.kind, "param": c.arg, "negate": c.negate} for c in last.criteria]
    else:
        entry["host"] = list(last.patterns) if last is not None else ["*"]
    config: dict[str, Any] = {}
    for d in block.directives:
        if d.name in LIST_KEYS:
            items = list(d.args) if d.kind in (Kind.SENDENV, Kind.SETENV) else [d.text()]
            config.setdefault(d.name, []).extend(items)
        elif d.name not in config:
            text = d.text()
            config[d.name] = None if d.name == "proxycommand" and text.lower() == "none" else text
    entry["config"] = config
    entry.block = block
    return entry


@dataclass
class Parser:
    """Turns config text into blocks; knows where relative Include paths live."""

    home: str
    environ: Mapping[str, str]
    include_dir: str = "~/.ssh"
    system: bool = False
    strict: bool = False
    check_permissions: bool = True
    ignore_unknown: list[str] = field(default_factory=list)

    def parse_lines(
        self, lines: Iterable[str], filename: str, chain: tuple[Condition, ...] = (), depth: int = 0
    ) -> list[Block]:
        """Parse one file's lines; ``chain`` is the condition chain of the including block."""
        current = Block(chain)
        blocks = [current]
        for lineno, line in enumerate(lines, 1):
            src = Source(filename, lineno)
            try:
                split = split_keyword(line)
            except ValueError as exc:
                raise config_error(src, str(exc)) from None
            if split is None:
                continue
            name, rest = split[0].lower(), split[1]
            if not rest.strip():
                raise config_error(src, f'no argument after keyword "{split[0]}"')
            try:
                args = argv_split(rest)
            except ValueError:
                raise config_error(src, "invalid quotes") from None
            kw = KEYWORDS.get(name)
            if kw is None:
                if self.strict and not any(match_pattern_list(name, p, lower=True) == 1 for p in self.ignore_unknown):
                    raise config_error(src, f"Bad configuration option: {split[0]}")
                current.directives.append(Directive(name, None, tuple(args), rest, tuple(args), src))
                continue
            if kw.kind is Kind.HOST:
                current = Block((*chain, self._host(args, src)))
                blocks.append(current)
            elif kw.kind is Kind.MATCH:
                current = Block((*chain, self._match(args, src)))
                blocks.append(current)
            elif kw.kind is Kind.INCLUDE:
                for path in self._include_paths(args, src):
                    blocks.extend(self.parse_file(path, current.chain, depth + 1, src))
                current = Block(current.chain, continuation=True)
                blocks.append(current)
            else:
                try:
                    value = parse_value(kw, args, rest)
                except ValueError as exc:
                    raise config_error(src, str(exc)) from None
                if kw.key == "ignoreunknown":
                    self.ignore_unknown.append(str(value))
                current.directives.append(Directive(name, kw, tuple(args), rest, value, src))
        return [b for b in blocks if b.directives or not b.continuation]

    def parse_file(
        self, path: str, chain: tuple[Condition, ...], depth: int, include_src: Source | None = None
    ) -> list[Block]:
        """Read and parse one file (an included one when ``depth`` > 0)."""
        if depth > MAX_INCLUDE_DEPTH:
            raise config_error(include_src, f"too many recursive configuration includes (limit {MAX_INCLUDE_DEPTH})")
        try:
            with open(path, encoding="utf-8", errors="surrogateescape") as fh:
                if self.check_permissions and depth > 0:
                    self._check_permissions(fh.fileno(), path, include_src)
                lines = fh.read().splitlines()
        except OSError as exc:
            if depth == 0:
                raise
            if isinstance(exc, (FileNotFoundError, IsADirectoryError)):
                return []
            raise config_error(include_src, f"cannot open config file {path}: {exc.strerror}") from None
        return self.parse_lines(lines, path, chain, depth)

    def _check_permissions(self, fd: int, path: str, src: Source | None) -> None:
        st = os.fstat(fd)
        uid = os.getuid() if hasattr(os, "getuid") else 0
        if (st.st_uid not in (0, uid)) or (stat.S_IMODE(st.st_mode) & 0o022):
            raise config_error(src, f"bad owner or permissions on {path}")

    def _include_paths(self, args: list[str], src: Source) -> list[str]:
        paths: list[str] = []
        for arg in args:
            if not arg:
                raise config_error(src, "Include: empty argument")
            try:
                arg = dollar_expand(arg, self.environ)
            except ExpandError as exc:
                raise config_error(src, str(exc)) from None
            if arg.startswith("~") and self.system:
                raise config_error(src, f"bad include path {arg} in a system configuration file")
            if not os.path.isabs(arg) and not arg.startswith("~"):
                arg = os.path.join(self.include_dir, arg)
            try:
                arg = tilde_expand(arg, self.home)
            except ExpandError as exc:
                raise config_error(src, str(exc)) from None
            if glob.has_magic(arg):
                paths.extend(sorted(glob.glob(arg)))
            elif os.path.exists(arg):
                paths.append(arg)
        return paths

    @staticmethod
    def _host(args: list[str], src: Source) -> Condition:
        if not args:
            raise config_error(src, "Host: missing pattern")
        if any(not a for a in args):
            raise config_error(src, "Host: empty argument")
        return Condition("host", patterns=tuple(args), source=src)

    @staticmethod
    def _match(args: list[str], src: Source) -> Condition:
        criteria: list[Criterion] = []
        i = 0
        while i < len(args):
            word = args[i]
            negate = word.startswith("!")
            kind = (word[1:] if negate else word).lower()
            i += 1
            if kind not in MATCH_CRITERIA:
                raise config_error(src, f"unsupported Match criterion {word!r}")
            if kind == "all":
                if len(criteria) > 1 or i < len(args):
                    raise config_error(src, "Match 'all' cannot be combined with other criteria")
                criteria.append(Criterion("all", None, negate))
                break
            if kind in _NO_ARGUMENT:
                criteria.append(Criterion(kind, None, negate))
                continue
            if i >= len(args) or (not args[i] and kind != "tagged"):
                raise config_error(src, f"missing argument for Match criterion {kind!r}")
            criteria.append(Criterion(kind, args[i], negate))
            i += 1
        if not criteria:
            raise config_error(src, "Match needs one or more criteria")
        return Condition("match", criteria=tuple(criteria), source=src)
