"""Lexical helpers for ssh_config: line splitting, patterns and expansions.

Everything here is a pure function over strings; nothing touches the
network, the file system or the process environment unless it is handed in.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Collection, Mapping

__all__ = [
    "ExpandError",
    "argv_split",
    "dollar_expand",
    "is_address",
    "match_hostname",
    "match_pattern",
    "match_pattern_list",
    "percent_expand",
    "split_keyword",
    "tilde_expand",
]

_WHITESPACE = " \t\r\n"


class ExpandError(ValueError):
    """A %token or ${VAR} could not be expanded."""


def split_keyword(line: str) -> tuple[str, str] | None:
    """Split a config line into ``(keyword, rest)``; None for blank or comment lines.

    The keyword ends at whitespace or ``=``; one ``=`` (with whitespace around it)
    separates it from the arguments, as in OpenSSH. ``rest`` is the unparsed
    remainder, which may be empty (the caller reports the missing argument).
    """
    line = line.rstrip(_WHITESPACE + "\f")
    i = 0
    n = len(line)
    while i < n and line[i] in _WHITESPACE:
        i += 1
    if i >= n or line[i] == "#":
        return None
    if line[i] == '"':
        end = line.find('"', i + 1)
        if end < 0:
            raise ValueError("unterminated quote in keyword")
        keyword = line[i + 1 : end]
        i = end + 1
    else:
        start = i
        while i < n and line[i] not in _WHITESPACE and line[i] not in '="':
            i += 1
        keyword = line[start:i]
    while i < n and line[i] in _WHITESPACE:
        i += 1
    if i < n and line[i] == "=":
        i += 1
        while i < n and line[i] in _WHITESPACE:
            i += 1
    return keyword, line[i:]


def argv_split(text: str, terminate_on_comment: bool = True) -> list[str]:
    """Split arguments the way OpenSSH's ``argv_split`` does.

    Whitespace separates words; single or double quotes group; a backslash
    escapes a quote, a backslash, or (outside quotes) a space; any other
    backslash is kept. A ``#`` at the start of a word ends the line.
    Raises ValueError on an unterminated quote.
    """
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c in " \t":
            i += 1
            continue
        if terminate_on_comment and c == "#":
            break
        quote = ""
        word: list[str] = []
        while i < n:
            c = text[i]
            if c == "\\" and i + 1 < n:
                nxt = text[i + 1]
                if nxt in "'\"\\" or (not quote and nxt == " "):
                    word.append(nxt)
                    i += 2
                    continue
                word.append(c)
            elif not quote and c in " \t":
                break
            elif not quote and c in "\"'":
                quote = c
            elif quote and c == quote:
                quote = ""
            else:
                word.append(c)
            i += 1
        if quote:
            raise ValueError("unterminated quote")
        out.append("".join(word))
    return out


@functools.lru_cache(maxsize=512)
def _compile_pattern(pattern: str) -> re.Pattern[str]:
    parts: list[str] = []
    for ch in pattern:
        if ch == "*":
            parts.append(".*")
        elif ch == "?":
            parts.append(".")
        else:
            parts.append(re.escape(ch))
    return re.compile("".join(parts), re.DOTALL)


def match_pattern(text: str, pattern: str) -> bool:
    """True if ``text`` matches the ``*``/``?`` wildcard ``pattern`` (case-sensitive)."""
    return _compile_pattern(pattern).fullmatch(text) is not None


def match_pattern_list(text: str, patterns: str, lower: bool = False) -> int:
    """Match against a comma-separated pattern list with ``!`` negation.

    Returns -1 if a negated pattern matches, 1 if a positive one does, else 0.
    With ``lower`` the patterns are lowercased first (``text`` is taken as is).
    """
    positive = 0
    for sub in patterns.split(","):
        negated = sub.startswith("!")
        if negated:
            sub = sub[1:]
        if lower:
            sub = sub.lower()
        if match_pattern(text, sub):
            if negated:
                return -1
            positive = 1
    return positive


def match_hostname(host: str, patterns: str) -> bool:
    """Case-insensitive host match against a pattern list (True only on a positive match)."""
    return match_pattern_list(host.lower(), patterns, lower=True) == 1


def percent_expand(
    text: str,
    tokens: Mapping[str, str],
    *,
    keep: Collection[str] = (),
    strict: bool = True,
) -> str:
    """Expand ``%x`` tokens; ``%%`` is a literal percent sign.

    Tokens named in ``keep`` are left as they are (they are expanded later, at
    connection time). An unknown token raises :class:`ExpandError` when
    ``strict``, otherwise it is left in place.
    """
    if "%" not in text:
        return text
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c != "%":
            out.append(c)
            i += 1
            continue
        if i + 1 >= n:
            if strict:
                raise ExpandError(f"invalid format: trailing '%' in {text!r}")
            out.append(c)
            break
        key = text[i + 1]
        i += 2
        if key == "%":
            out.append("%" if not keep else "%%")
        elif key in tokens:
            out.append(tokens[key])
        elif key in keep or not strict:
            out.append("%" + key)
        else:
            raise ExpandError(f"unknown token %{key} in {text!r}")
    return "".join(out)


def dollar_expand(text: str, environ: Mapping[str, str]) -> str:
    """Expand ``${NAME}`` from ``environ``; a missing or malformed reference raises ExpandError."""
    if "${" not in text:
        return text
    out: list[str] = []
    i = 0
    while True:
        j = text.find("${", i)
        if j < 0:
            out.append(text[i:])
            break
        out.append(text[i:j])
        end = text.find("}", j + 2)
        if end < 0:
            raise ExpandError(f"environment variable in {text!r} is missing its closing '}}'")
        name = text[j + 2 : end]
        if not name:
            raise ExpandError(f"empty environment variable name in {text!r}")
        if name not in environ:
            raise ExpandError(f"environment variable ${{{name}}} is not set")
        out.append(environ[name])
        i = end + 1
    return "".join(out)


def tilde_expand(path: str, home: str) -> str:
    """Expand a leading ``~`` or ``~/`` to ``home`` and ``~user/`` to that user's home."""
    if not path.startswith("~"):
        return path
    rest = path[1:]
    slash = rest.find("/")
    user = rest if slash < 0 else rest[:slash]
    tail = "" if slash < 0 else rest[slash + 1 :].lstrip("/")
    if user:
        try:
            import pwd
        except ImportError as exc:  # pragma: no cover - Windows
            raise ExpandError(f"cannot expand {path!r}: no user database") from exc
        try:
            base = pwd.getpwnam(user).pw_dir
        except KeyError as exc:
            raise ExpandError(f"no such user {user!r} in {path!r}") from exc
    else:
        base = home
    if not base.endswith("/"):
        base += "/"
    return base + tail


def is_address(host: str) -> bool:
    """True if ``host`` is a numeric IPv4 or IPv6 address (an IPv6 zone is allowed)."""
    try:
        ipaddress.ip_address(host.split("%", 1)[0] if ":" in host else host)
    except ValueError:
        return False
    return True
