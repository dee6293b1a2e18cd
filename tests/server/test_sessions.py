"""SSHServerSession semantics against our own client: every request, flow control, EOF, the line editor."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import blockssh.aio as aio
from blockssh.aio.server import SSHServer
from blockssh.exceptions import ChannelException, SSHException
from blockssh.proto import events as ev
from blockssh.proto.constants import ChannelOpenFailure

from interop.server_helpers import CoreClient, serving, until

pytestmark = pytest.mark.timeout(30)


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 25))


class RecordingSession(aio.SSHServerSession[Any]):
    """Records every callback; what it does is steered by the command."""

    last: RecordingSession | None = None

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.chan: Any = None
        RecordingSession.last = self
        self.lost = asyncio.get_running_loop().create_future()

    def connection_made(self, chan: Any) -> None:
        self.chan = chan

    def connection_lost(self, exc: BaseException | None) -> None:
        self.calls.append(("lost", exc))
        if not self.lost.done():
            self.lost.set_result(exc)

    def pty_requested(self, term_type: str, term_size: tuple[int, int, int, int], term_modes: dict[int, int]) -> bool:
        self.calls.append(("pty", term_type, term_size, term_modes))
        return True

    def terminal_size_changed(self, width: int, height: int, pixwidth: int, pixheight: int) -> None:
        self.calls.append(("size", width, height, pixwidth, pixheight))

    def shell_requested(self) -> bool:
        self.calls.append(("shell",))
        return True

    def exec_requested(self, command: str) -> bool:
        self.calls.append(("exec", command))
        return command != "refuse"

    def subsystem_requested(self, subsystem: str) -> bool:
        self.calls.append(("subsystem", subsystem))
        return subsystem == "upper"

    def session_started(self) -> None:
        self.calls.append(("started",))
        command = self.chan.get_command()
        if command == "streams":
            self.chan.write(b"to stdout\n")
            self.chan.write_stderr(b"to stderr\n")
            self.chan.exit(7)
        elif command == "signal-exit":
            self.chan.exit_with_signal("KILL", True, "killed it", "en")
        elif command == "xon":
            self.chan.set_xon_xoff(True)
            self.chan.exit(0)
        elif command == "flood":
            self.chan.set_write_buffer_limits(high=8192, low=1024)
            for _ in range(64):
                self.chan.write(b"x" * 4096)

    def data_received(self, data: Any, datatype: int | None) -> None:
        self.calls.append(("data", data, datatype))
        if self.chan.get_subsystem() == "upper" or self.chan.get_command() == "echo":
            self.chan.write(data.upper())

    def eof_received(self) -> bool:
        self.calls.append(("eof",))
        self.chan.write(b"after eof\n")  # still allowed: we keep our half open
        self.chan.exit(0)
        return True

    def break_received(self, msec: int) -> bool:
        self.calls.append(("break", msec))
        return True

    def signal_received(self, signal: str) -> None:
        self.calls.append(("signal", signal))

    def soft_eof_received(self) -> None:
        self.calls.append(("soft_eof",))

    def pause_writing(self) -> None:
        self.calls.append(("pause",))

    def resume_writing(self) -> None:
        self.calls.append(("resume",))
        if self.chan.get_command() == "flood" and not self.chan.is_closing():
            self.chan.exit(0)


class Server(SSHServer):
    def begin_auth(self, username: str) -> bool:
        return False

    def session_requested(self) -> aio.SSHServerSession[Any]:
        return RecordingSession()


class Collector(aio.SSHClientSession[Any]):
    def __init__(self) -> None:
        self.out: list[Any] = []
        self.err: list[Any] = []
        self.xon: list[bool] = []
        self.done = asyncio.get_running_loop().create_future()

    def data_received(self, data: Any, datatype: int | None) -> None:
        (self.out if datatype is None else self.err).append(data)

    def xon_xoff_requested(self, client_can_do: bool) -> None:
        self.xon.append(client_can_do)

    def connection_lost(self, exc: BaseException | None) -> None:
        if not self.done.done():
            self.done.set_result(exc)


async def connect(port: int) -> aio.SSHClientConnection:
    return await aio.connect("127.0.0.1", port, username="u", known_hosts=None, client_keys=())


def session_calls(name: str) -> list[tuple[Any, ...]]:
    assert RecordingSession.last is not None
    return [c for c in RecordingSession.last.calls if c[0] == name]


def test_exec_streams_and_exit_status() -> None:
    async def main() -> None:
        async with serving(server_factory=Server) as acceptor:
            conn = await connect(acceptor.get_port())
            chan, session = await conn.create_session(Collector, "streams")
            await session.done
            assert b"".join(session.out) == b"to stdout\n" and b"".join(session.err) == b"to stderr\n"
            assert chan.get_exit_status() == 7
            assert session_calls("exec") == [("exec", "streams")]
            conn.close()

    run(main())


def test_eof_half_close_then_more_output() -> None:
    async def main() -> None:
        async with serving(server_factory=Server) as acceptor:
            conn = await connect(acceptor.get_port())
            chan, session = await conn.create_session(Collector, "echo")
            chan.write(b"abc")
            chan.write_eof()
            await session.done
            assert b"".join(session.out) == b"ABCafter eof\n"
            assert chan.get_exit_status() == 0
            assert RecordingSession.last is not None
            await RecordingSession.last.lost
            calls = [c[0] for c in RecordingSession.last.calls]
            assert calls.index("data") < calls.index("eof") < calls.index("lost")
            conn.close()

    run(main())


def test_exit_signal_is_reported() -> None:
    async def main() -> None:
        async with serving(server_factory=Server) as acceptor:
            conn = await connect(acceptor.get_port())
            chan, session = await conn.create_session(Collector, "signal-exit")
            await session.done
            assert chan.get_exit_signal() == ("KILL", True, "killed it", "en")
            assert chan.get_exit_status() is None
            conn.close()

    run(main())


def test_xon_xoff_reaches_the_client() -> None:
    async def main() -> None:
        async with serving(server_factory=Server) as acceptor:
            conn = await connect(acceptor.get_port())
            chan, session = await conn.create_session(Collector, "xon")
            await session.done
            assert session.xon == [True]
            conn.close()

    run(main())


def test_pty_modes_size_changes_signals_and_breaks() -> None:
    modes = {53: 0, 1: 3, 91: 1, 128: 38400, 129: 38400}  # ECHO off, VINTR ^C, CS8, speeds

    async def main() -> None:
        async with serving(server_factory=Server) as acceptor:
            conn = await connect(acceptor.get_port())
            chan, session = await conn.create_session(
                Collector, "echo", term_type="xterm-256color", term_size=(100, 30, 640, 480), term_modes=modes
            )
            server_chan = RecordingSession.last.chan  # type: ignore[union-attr]
            assert session_calls("pty") == [("pty", "xterm-256color", (100, 30, 640, 480), modes)]
            assert server_chan.get_terminal_type() == "xterm-256color"
            assert server_chan.get_terminal_mode(1) == 3 and server_chan.get_terminal_mode(53) == 0
            chan.change_terminal_size(120, 40)
            chan.send_signal("INT")
            chan.send_break(250)
            chan.write(b"ping")
            await until(lambda: session.out)
            assert session_calls("size") == [("size", 120, 40, 0, 0)]
            assert server_chan.get_terminal_size() == (120, 40, 0, 0)
            assert session_calls("signal") == [("signal", "INT")]
            assert session_calls("break") == [("break", 250)]
            chan.close()
            conn.close()

    run(main())


def test_refused_requests_and_subsystems() -> None:
    async def main() -> None:
        async with serving(server_factory=Server) as acceptor:
            conn = await connect(acceptor.get_port())
            with pytest.raises(SSHException, match="refused"):
                await conn.create_session(Collector, "refuse")
            with pytest.raises(SSHException, match="refused"):
                await conn.create_session(Collector, subsystem="nope")
            chan, session = await conn.create_session(Collector, subsystem="upper")
            assert RecordingSession.last is not None and RecordingSession.last.chan.get_subsystem() == "upper"
            chan.write(b"sub")
            chan.write_eof()
            await session.done
            assert b"".join(session.out).startswith(b"SUB")
            conn.close()

    run(main())


def test_shell_without_command() -> None:
    async def main() -> None:
        async with serving(server_factory=Server) as acceptor:
            conn = await connect(acceptor.get_port())
            chan, session = await conn.create_session(Collector)
            assert session_calls("shell") == [("shell",)]
            chan.write_eof()
            await session.done
            conn.close()

    run(main())


def test_write_buffer_limits_pause_and_resume_writing() -> None:
    async def main() -> None:
        async with serving(server_factory=Server) as acceptor:
            conn = await connect(acceptor.get_port())
            chan, session = await conn.create_session(Collector, "flood", window=16384)
            await session.done
            assert sum(len(d) for d in session.out) == 64 * 4096
            calls = [c[0] for c in RecordingSession.last.calls]  # type: ignore[union-attr]
            assert "pause" in calls and "resume" in calls and calls.index("pause") < calls.index("resume")
            conn.close()

    run(main())


def test_environment_is_filtered_by_accept_env() -> None:
    async def main() -> None:
        async with serving(server_factory=Server, accept_env=["LANG", "FOO_*"]) as acceptor:
            conn = await connect(acceptor.get_port())
            chan, session = await conn.create_session(
                Collector, "echo", env={"LANG": "C.UTF-8", "FOO_BAR": "1", "LD_PRELOAD": "/evil.so"}
            )
            server_chan = RecordingSession.last.chan  # type: ignore[union-attr]
            assert server_chan.get_environment() == {"LANG": "C.UTF-8", "FOO_BAR": "1"}
            chan.close()
            conn.close()

    run(main())


class Limited(Server):
    async def session_requested(self) -> Any:  # an awaitable answer
        await asyncio.sleep(0.01)
        return RecordingSession()


def test_max_sessions_and_async_session_requested() -> None:
    async def main() -> None:
        async with serving(server_factory=Limited, max_sessions=2) as acceptor:
            conn = await connect(acceptor.get_port())
            first = await conn.create_session(Collector, "echo")
            second = await conn.create_session(Collector, "echo")
            with pytest.raises(ChannelException) as info:
                await conn.create_session(Collector, "echo")
            assert info.value.code == ChannelOpenFailure.RESOURCE_SHORTAGE
            first[0].close()
            await first[0].wait_closed()
            third = await conn.create_session(Collector, "echo")
            for chan, _ in (second, third):
                chan.close()
            conn.close()

    run(main())


class Refusing(Server):
    def session_requested(self) -> Any:
        return False


def test_refused_sessions_and_other_channel_types() -> None:
    async def main() -> None:
        async with serving(server_factory=Refusing) as acceptor:
            conn = await connect(acceptor.get_port())
            with pytest.raises(ChannelException):
                await conn.create_session(Collector, "echo")
            conn.close()
            client = await CoreClient.open(acceptor.get_port())
            await client.handshake()
            client.core.auth_none("u")
            await client.wait_for(ev.AuthSuccess)
            client.core.open_channel("direct-tcpip", b"")
            failed = await client.wait_for(ev.ChannelOpenFailed)
            assert failed.code == ChannelOpenFailure.ADMINISTRATIVELY_PROHIBITED
            await client.close()

    run(main())


class EditorSession(aio.SSHServerSession[str]):
    last: EditorSession | None = None

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.events: list[tuple[str, ...]] = []
        EditorSession.last = self

    def connection_made(self, chan: Any) -> None:
        self.chan = chan

    def pty_requested(self, term_type: str, term_size: tuple[int, int, int, int], term_modes: dict[int, int]) -> bool:
        return True

    def shell_requested(self) -> bool:
        return True

    def session_started(self) -> None:
        self.chan.write("> ")

    def data_received(self, data: str, datatype: int | None) -> None:
        self.lines.append(data)
        self.chan.write(f"got {data.strip()}\n> ")

    def soft_eof_received(self) -> None:
        self.events.append(("soft_eof",))
        self.chan.write("bye\n")
        self.chan.exit(0)

    def signal_received(self, signal: str) -> None:
        self.events.append(("signal", signal))


class EditorServer(Server):
    def session_requested(self) -> Any:
        return EditorSession()


def test_line_editor_echoes_edits_and_turns_ctrl_d_into_soft_eof() -> None:
    async def main() -> None:
        async with serving(server_factory=EditorServer, line_editor=True, encoding="utf-8") as acceptor:
            conn = await connect(acceptor.get_port())
            chan, session = await conn.create_session(Collector, term_type="vt100", encoding="utf-8")
            chan.write("helo\x1b[Dl\r")  # a typo fixed with the left arrow
            chan.write("x\x03")
            chan.write("\x04")
            await session.done
            server = EditorSession.last
            assert server is not None
            assert server.lines == ["hello\n"]
            assert server.events == [("signal", "INT"), ("soft_eof",)]
            output = "".join(session.out)
            assert "got hello\r\n> " in output and "bye\r\n" in output
            assert chan.get_exit_status() == 0
            conn.close()

    run(main())


def test_line_editor_stays_off_without_a_pty() -> None:
    async def main() -> None:
        async with serving(server_factory=EditorServer, line_editor=True, encoding="utf-8") as acceptor:
            conn = await connect(acceptor.get_port())
            chan, session = await conn.create_session(Collector, encoding="utf-8")
            chan.write("raw\x04")
            await until(lambda: EditorSession.last is not None and EditorSession.last.lines)
            assert EditorSession.last.lines == ["raw\x04"] and EditorSession.last.chan.line_editor is None
            chan.close()
            conn.close()

    run(main())
