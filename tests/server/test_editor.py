"""The server-side line editor (sans I/O): echo, editing keys, history, soft EOF, signals, output."""

from __future__ import annotations

import pytest

from blockssh.aio.editor import LineEditor


def typed(editor: LineEditor, text: str) -> tuple[str, list[tuple[str, str]]]:
    result = editor.feed(text)
    return result.echo, result.items


def screen(echo: str) -> str:
    """Replay echo output on a one-line terminal (printable, \\b, \\r, \\n) and return the final line."""
    line: list[str] = []
    pos = 0
    for ch in echo:
        if ch == "\b":
            pos = max(0, pos - 1)
        elif ch in "\r\n":
            if ch == "\n":
                line, pos = [], 0
            else:
                pos = 0
        elif ch == "\a":
            continue
        else:
            if pos < len(line):
                line[pos] = ch
            else:
                line.append(ch)
            pos += 1
    return "".join(line).rstrip()


def test_plain_line_is_echoed_and_delivered() -> None:
    ed = LineEditor()
    echo, items = typed(ed, "ls -l\r")
    assert items == [("data", "ls -l\n")]
    assert echo == "ls -l\r\n"


def test_crlf_counts_as_one_enter_even_across_feeds() -> None:
    ed = LineEditor()
    assert typed(ed, "a\r")[1] == [("data", "a\n")]
    assert typed(ed, "\nb\n")[1] == [("data", "b\n")]


def test_backspace_and_cursor_editing_show_the_right_line() -> None:
    ed = LineEditor()
    echo, items = typed(ed, "helo")
    echo2, _ = typed(ed, "\x1b[D" + "l")  # left arrow, insert "l": "hello"
    assert ed.line == "hello" and ed.cursor == 4
    echo3, _ = typed(ed, "\x01X")  # Ctrl-A then X at the start
    assert ed.line == "Xhello"
    echo4, _ = typed(ed, "\x05\x7f")  # Ctrl-E, backspace
    assert ed.line == "Xhell"
    echo5, _ = typed(ed, "\x1b[H\x1b[3~")  # Home, Delete
    assert ed.line == "hell"
    assert screen(echo + echo2 + echo3 + echo4 + echo5) == "hell"
    assert typed(ed, "\r")[1] == [("data", "hell\n")]


def test_kill_and_word_erase() -> None:
    ed = LineEditor()
    echo, _ = typed(ed, "one two three\x17")
    assert ed.line == "one two "
    echo2, _ = typed(ed, "\x02\x02\x0b")  # two left, kill to end
    assert ed.line == "one tw"
    echo3, _ = typed(ed, "\x15")  # kill to start
    assert ed.line == "" and ed.cursor == 0
    assert screen(echo + echo2 + echo3) == ""


def test_history_walks_back_and_forward() -> None:
    ed = LineEditor()
    typed(ed, "first\rsecond\r")
    typed(ed, "draft")
    echo, _ = typed(ed, "\x1b[A")
    assert ed.line == "second"
    typed(ed, "\x1b[A\x1b[A")  # past the oldest: bell, stays
    assert ed.line == "first"
    typed(ed, "\x1b[B\x1b[B")
    assert ed.line == "draft"
    assert ed.history == ["first", "second"]


def test_ctrl_d_is_soft_eof_only_on_an_empty_line() -> None:
    ed = LineEditor()
    assert typed(ed, "\x04")[1] == [("eof", "")]
    assert typed(ed, "ab\x01\x04")[1] == []  # deletes "a" instead
    assert ed.line == "b"


@pytest.mark.parametrize(
    ("key", "signal", "shown"), [("\x03", "INT", "^C"), ("\x1c", "QUIT", "^\\"), ("\x1a", "TSTP", "^Z")]
)
def test_signal_keys_discard_the_line(key: str, signal: str, shown: str) -> None:
    ed = LineEditor()
    echo, items = typed(ed, "partial" + key)
    assert items == [("signal", signal)]
    assert echo.endswith(shown + "\r\n")
    assert ed.line == ""


def test_echo_off_hides_input_but_ends_the_line() -> None:
    ed = LineEditor(echo=False)
    echo, items = typed(ed, "secret\r")
    assert echo == "\r\n"
    assert items == [("data", "secret\n")]


def test_raw_mode_passes_keys_through() -> None:
    ed = LineEditor()
    ed.set_line_mode(False)
    echo, items = typed(ed, "\x03q\r")
    assert echo == "" and items == [("data", "\x03q\r")]


def test_max_line_length_rings_the_bell() -> None:
    ed = LineEditor(max_line_length=3)
    echo, _ = typed(ed, "abcd")
    assert ed.line == "abc" and echo.endswith("\a")


def test_output_translates_newlines_and_redraws_pending_input() -> None:
    ed = LineEditor()
    assert ed.render_output("a\nb\r\n") == "a\r\nb\r\n"
    echo, _ = typed(ed, "xy")
    out = ed.render_output("msg\n")
    assert screen(echo + out) == "xy"  # the input line was moved below the message
    assert out.startswith("\b\b  \b\b") and "msg\r\n" in out and out.endswith("xy")


def test_unknown_escape_sequences_are_ignored() -> None:
    ed = LineEditor()
    typed(ed, "a\x1b[99;5Zb\x1bOAc")
    assert ed.line == "abc"
