r"""A small line editor for server sessions on a pseudo-terminal.

When a client asks for a pty, its terminal is in raw mode: every key press
arrives as it is typed and nothing is echoed locally. A server session that
is not backed by a real tty (a Python REPL-like handler, for instance) then
has to echo and edit input itself. :class:`LineEditor` does that, sans I/O:
:meth:`LineEditor.feed` takes what the client typed and returns the echo to
send back plus what the session should see (whole lines, a soft EOF, a
signal); :meth:`LineEditor.render_output` prepares the session's own output
(``\n`` becomes ``\r\n``, and a half-typed input line is moved out of the
way and redrawn after it).

Keys: printable characters insert at the cursor; Enter ends the line;
Backspace/Ctrl-H and Delete (``ESC [3~``) erase; Ctrl-A/Home, Ctrl-E/End,
Ctrl-B/Left and Ctrl-F/Right move; Ctrl-U and Ctrl-K kill to the start or
end; Ctrl-W erases a word; Up/Down (and Ctrl-P/Ctrl-N) walk the history;
Ctrl-D deletes the character under the cursor, or on an empty line reports
a soft EOF; Ctrl-C, Ctrl-\ and Ctrl-Z discard the line and report the
signals ``INT``, ``QUIT`` and ``TSTP``. Every character is assumed to take
one terminal cell, and the cursor is moved with backspaces, so editing is
exact as long as the input line does not wrap.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

__all__ = ["LineEditor", "EditorResult", "DEFAULT_MAX_LINE_LENGTH", "DEFAULT_HISTORY_SIZE"]

DEFAULT_MAX_LINE_LENGTH = 1024
DEFAULT_HISTORY_SIZE = 1000
_MAX_ESCAPE_LENGTH = 16  # an unfinished escape sequence longer than this is dropped

_BELL = "\a"
_SIGNAL_KEYS = {"\x03": ("INT", "^C"), "\x1c": ("QUIT", "^\\"), "\x1a": ("TSTP", "^Z")}


@dataclass
class EditorResult:
    r"""What one :meth:`LineEditor.feed` call produced.

    ``echo`` goes back to the client. ``items`` are for the session, in the
    order they were typed: ``("data", line)`` for a complete input line
    (ending in ``"\n"``; in raw mode, the data as typed), ``("eof", "")``
    for a soft EOF and ``("signal", name)`` for a signal key.
    """

    echo: str = ""
    items: list[tuple[str, str]] = field(default_factory=list)  # ("data" | "eof" | "signal", text)

    @property
    def lines(self) -> list[str]:
        """Just the data items."""
        return [text for kind, text in self.items if kind == "data"]


class LineEditor:
    """Echo and edit one line of input at a time, as a terminal's cooked mode would."""

    def __init__(
        self,
        *,
        echo: bool = True,
        line_mode: bool = True,
        max_line_length: int = DEFAULT_MAX_LINE_LENGTH,
        history_size: int = DEFAULT_HISTORY_SIZE,
    ) -> None:
        if max_line_length < 1 or history_size < 0:
            raise ValueError("max_line_length must be >= 1 and history_size >= 0")
        self.echo = echo
        self.line_mode = line_mode
        self.max_line_length = max_line_length
        self._history: deque[str] = deque(maxlen=history_size or None)
        self._history_size = history_size
        self._hist_pos = 0  # index into history while browsing; len(history) = the line being typed
        self._saved = ""  # the line being typed when history browsing started
        self._line: list[str] = []
        self._pos = 0
        self._escape = ""  # an escape sequence still being received
        self._last_cr_in = False  # swallow the LF of a CR LF pair
        self._last_cr_out = False

    # -- state -------------------------------------------------------------

    @property
    def line(self) -> str:
        """The input typed so far on the current line."""
        return "".join(self._line)

    @property
    def cursor(self) -> int:
        """The cursor position within :attr:`line`."""
        return self._pos

    @property
    def history(self) -> list[str]:
        """Entered lines, oldest first."""
        return list(self._history)

    def set_echo(self, echo: bool) -> str:
        """Turn echo on or off (off for passwords); returns output that hides or shows the pending input."""
        if echo == self.echo:
            return ""
        out = "" if echo else self._erase_display()
        self.echo = echo
        if echo:
            out += self._redisplay()
        return out

    def set_line_mode(self, line_mode: bool) -> None:
        """Switch between line editing (True) and passing keys through unchanged (False)."""
        self.line_mode = line_mode

    # -- input ------------------------------------------------------------

    def feed(self, text: str) -> EditorResult:
        """Process characters the client typed."""
        result = EditorResult()
        if not self.line_mode:
            if text:
                result.items.append(("data", text))
            return result
        echo: list[str] = []
        for ch in text:
            if self._escape:
                self._escape += ch
                self._escape_step(echo)
                continue
            if self._last_cr_in and ch == "\n":
                self._last_cr_in = False
                continue
            self._last_cr_in = ch == "\r"
            self._key(ch, echo, result)
        result.echo = "".join(echo) if self.echo else self._only_newlines(echo)
        return result

    def _only_newlines(self, echo: list[str]) -> str:
        # With echo off nothing typed is shown, but ending a line still moves to the next one.
        return "".join(piece for piece in echo if piece == "\r\n")

    def _key(self, ch: str, echo: list[str], result: EditorResult) -> None:
        if ch in ("\r", "\n"):
            line = "".join(self._line)
            self._line.clear()
            self._pos = 0
            if line and self._history_size and (not self._history or self._history[-1] != line):
                self._history.append(line)
            self._hist_pos = len(self._history)
            echo.append("\r\n")
            result.items.append(("data", line + "\n"))
        elif ch in _SIGNAL_KEYS:
            name, shown = _SIGNAL_KEYS[ch]
            self._line.clear()
            self._pos = 0
            self._hist_pos = len(self._history)
            echo.append(shown)
            echo.append("\r\n")
            result.items.append(("signal", name))
        elif ch == "\x04":  # Ctrl-D
            if not self._line:
                result.items.append(("eof", ""))
            else:
                self._delete(echo)
        elif ch in ("\x7f", "\x08"):
            self._backspace(echo)
        elif ch == "\x1b":
            self._escape = ch
        elif ch == "\x01":
            self._move_to(0, echo)
        elif ch == "\x05":
            self._move_to(len(self._line), echo)
        elif ch == "\x02":
            self._move_to(self._pos - 1, echo)
        elif ch == "\x06":
            self._move_to(self._pos + 1, echo)
        elif ch == "\x15":  # Ctrl-U: kill to the start
            self._replace(self._line[self._pos :], 0, echo)
        elif ch == "\x0b":  # Ctrl-K: kill to the end
            self._replace(self._line[: self._pos], self._pos, echo)
        elif ch == "\x17":  # Ctrl-W: erase the word before the cursor
            start = self._pos
            while start > 0 and self._line[start - 1] == " ":
                start -= 1
            while start > 0 and self._line[start - 1] != " ":
                start -= 1
            self._replace(self._line[:start] + self._line[self._pos :], start, echo)
        elif ch == "\x10":
            self._history_step(-1, echo)
        elif ch == "\x0e":
            self._history_step(1, echo)
        elif ch.isprintable():
            self._insert(ch, echo)
        # Other control characters are ignored.

    def _escape_step(self, echo: list[str]) -> None:
        seq = self._escape
        if len(seq) == 2:
            if seq[1] not in "[O":
                self._escape = ""  # a lone ESC followed by something else: drop both
            return
        final = seq[-1]
        if "@" <= final <= "~":
            self._escape = ""
            body = seq[2:]
            action = {
                "A": lambda: self._history_step(-1, echo),
                "B": lambda: self._history_step(1, echo),
                "C": lambda: self._move_to(self._pos + 1, echo),
                "D": lambda: self._move_to(self._pos - 1, echo),
                "H": lambda: self._move_to(0, echo),
                "F": lambda: self._move_to(len(self._line), echo),
                "1~": lambda: self._move_to(0, echo),
                "7~": lambda: self._move_to(0, echo),
                "4~": lambda: self._move_to(len(self._line), echo),
                "8~": lambda: self._move_to(len(self._line), echo),
                "3~": lambda: self._delete(echo),
            }.get(body)
            if action is not None:
                action()
        elif len(seq) > _MAX_ESCAPE_LENGTH:
            self._escape = ""

    # -- editing primitives (each appends the terminal output that mirrors it) ----

    def _insert(self, ch: str, echo: list[str]) -> None:
        if len(self._line) >= self.max_line_length:
            echo.append(_BELL)
            return
        self._line.insert(self._pos, ch)
        self._pos += 1
        tail = "".join(self._line[self._pos :])
        echo.append(ch + tail + "\b" * len(tail))

    def _backspace(self, echo: list[str]) -> None:
        if self._pos == 0:
            echo.append(_BELL)
            return
        self._pos -= 1
        del self._line[self._pos]
        tail = "".join(self._line[self._pos :])
        echo.append("\b" + tail + " " + "\b" * (len(tail) + 1))

    def _delete(self, echo: list[str]) -> None:
        if self._pos >= len(self._line):
            echo.append(_BELL)
            return
        del self._line[self._pos]
        tail = "".join(self._line[self._pos :])
        echo.append(tail + " " + "\b" * (len(tail) + 1))

    def _move_to(self, pos: int, echo: list[str]) -> None:
        pos = max(0, min(pos, len(self._line)))
        if pos < self._pos:
            echo.append("\b" * (self._pos - pos))
        elif pos > self._pos:
            echo.append("".join(self._line[self._pos : pos]))
        self._pos = pos

    def _replace(self, new: list[str], pos: int, echo: list[str]) -> None:
        """Show ``new`` instead of the current line, with the cursor at ``pos``."""
        old_len = len(self._line)
        out = "\b" * self._pos + "".join(new)
        if old_len > len(new):
            extra = old_len - len(new)
            out += " " * extra + "\b" * extra
        out += "\b" * (len(new) - pos)
        self._line = list(new)
        self._pos = pos
        echo.append(out)

    def _history_step(self, step: int, echo: list[str]) -> None:
        target = self._hist_pos + step
        if not 0 <= target <= len(self._history):
            echo.append(_BELL)
            return
        if self._hist_pos == len(self._history):
            self._saved = "".join(self._line)
        self._hist_pos = target
        text = self._saved if target == len(self._history) else self._history[target]
        new = list(text[: self.max_line_length])
        self._replace(new, len(new), echo)

    # -- output -------------------------------------------------------------

    def _erase_display(self) -> str:
        if not self.echo or not self._line:
            return ""
        n = len(self._line)
        return "\b" * self._pos + " " * n + "\b" * n

    def _redisplay(self) -> str:
        if not self.echo or not self._line:
            return ""
        return "".join(self._line) + "\b" * (len(self._line) - self._pos)

    def render_output(self, text: str) -> str:
        r"""Prepare the session's output for a raw-mode terminal.

        Bare ``\n`` becomes ``\r\n``; a partly typed input line is erased
        before the output and drawn again after it.
        """
        if not text:
            return ""
        parts: list[str] = []
        prev_cr = self._last_cr_out
        for ch in text:
            if ch == "\n" and not prev_cr:
                parts.append("\r\n")
            else:
                parts.append(ch)
            prev_cr = ch == "\r"
        self._last_cr_out = prev_cr
        return self._erase_display() + "".join(parts) + self._redisplay()
