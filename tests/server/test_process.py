"""The ready server: commands and shells as OS processes, ptys, signals, env, forced commands, subsystems."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import bcrypt
import pytest

import blockssh.aio as aio
from blockssh.exceptions import ConfigurationError, PermissionDenied, SSHException
from blockssh.server import PasswordTable, start_server

from interop.server_helpers import keys, ready_server, until

pytestmark = pytest.mark.timeout(30)


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 25))


def server_kwargs(**kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("authorized_keys", keys().authorized_keys("ed25519"))
    kwargs.setdefault("shell", "/bin/sh")
    return kwargs


async def connect(port: int, **kwargs: Any) -> aio.SSHClientConnection:
    kwargs.setdefault("client_keys", [keys().client["ed25519"]])
    kwargs.setdefault("username", "tester")
    return await aio.connect("127.0.0.1", port, known_hosts=None, **kwargs)


class Collector(aio.SSHClientSession[bytes]):
    def __init__(self) -> None:
        self.out = bytearray()
        self.err = bytearray()
        self.done = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes, datatype: int | None) -> None:
        (self.out if datatype is None else self.err).extend(data)

    def connection_lost(self, exc: BaseException | None) -> None:
        if not self.done.done():
            self.done.set_result(exc)


def test_exec_keeps_stdout_stderr_and_exit_status_apart() -> None:
    async def main() -> None:
        async with ready_server(**server_kwargs()) as acceptor:
            conn = await connect(acceptor.get_port())
            result = await conn.run("echo out; echo err >&2; exit 3")
            assert (result.stdout, result.stderr, result.exit_status) == ("out\n", "err\n", 3)
            result = await conn.run("cat; echo done", input="line one\nline two\n")
            assert result.stdout == "line one\nline two\ndone\n" and result.exit_status == 0
            conn.close()

    run(main())


def test_killed_process_reports_exit_signal() -> None:
    async def main() -> None:
        async with ready_server(**server_kwargs()) as acceptor:
            conn = await connect(acceptor.get_port())
            result = await conn.run("kill -TERM $$")
            assert result.exit_status is None and result.exit_signal is not None
            assert result.exit_signal[0] == "TERM"
            conn.close()

    run(main())


def test_pty_size_window_change_and_terminal_modes() -> None:
    script = "stty size; stty -a | tr ' ' '\\n' | grep -x -- '-echo'; trap 'stty size; exit 0' WINCH; echo ready; "
    script += "while :; do sleep 0.05; done"

    async def main() -> None:
        async with ready_server(**server_kwargs()) as acceptor:
            conn = await connect(acceptor.get_port())
            chan, session = await conn.create_session(
                Collector, script, term_type="xterm", term_size=(91, 27), term_modes={53: 0}
            )
            await until(lambda: b"ready" in session.out)
            assert b"27 91\r\n" in session.out  # rows columns, as the client asked
            assert b"-echo" in session.out  # the ECHO mode the client sent was applied
            chan.change_terminal_size(77, 33)
            await session.done
            assert b"33 77" in session.out.split(b"ready", 1)[1]
            assert chan.get_exit_status() == 0
            conn.close()

    run(main())


def test_shell_in_a_pty_reads_commands_and_exits_on_eof() -> None:
    async def main() -> None:
        async with ready_server(**server_kwargs()) as acceptor:
            conn = await connect(acceptor.get_port())
            chan, session = await conn.create_session(Collector, term_type="dumb", term_size=(80, 24))
            chan.write(b"echo $TERM-$((6*7)); tty\n")
            await until(lambda: b"dumb-42" in session.out)
            chan.write_eof()  # with a pty: EOF arrives as the terminal's EOF character
            await session.done
            assert b"/dev/pts/" in session.out
            assert chan.get_exit_status() == 0
            conn.close()

    run(main())


def test_signals_reach_the_process() -> None:
    async def main() -> None:
        async with ready_server(**server_kwargs()) as acceptor:
            conn = await connect(acceptor.get_port())
            chan, session = await conn.create_session(
                Collector, "trap 'echo got-int; exit 3' INT; echo ready; while :; do sleep 0.05; done"
            )
            await until(lambda: b"ready" in session.out)
            chan.send_signal("NOSUCHSIGNAL")  # ignored
            chan.send_signal("INT")
            await session.done
            assert b"got-int" in session.out and chan.get_exit_status() == 3
            conn.close()

    run(main())


def test_environment_allow_list_and_ssh_variables() -> None:
    async def main() -> None:
        async with ready_server(**server_kwargs(accept_env=["LANG", "LC_*"])) as acceptor:
            conn = await connect(acceptor.get_port())
            result = await conn.run("env", env={"LANG": "C", "LC_TEST": "x", "EVIL": "1"})
            env = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
            assert env["LANG"] == "C" and env["LC_TEST"] == "x" and "EVIL" not in env
            assert env["SSH_CONNECTION"].startswith("127.0.0.1 ") and env["USER"] and env["HOME"]
            conn.close()

    run(main())


def test_authorized_keys_forced_command_and_no_pty() -> None:
    path = keys().authorized_keys("ed25519", options='command="echo forced:$SSH_ORIGINAL_COMMAND",no-pty')

    async def main() -> None:
        async with ready_server(**server_kwargs(authorized_keys=path)) as acceptor:
            conn = await connect(acceptor.get_port())
            result = await conn.run("rm -rf /nothing")
            assert result.stdout == "forced:rm -rf /nothing\n"
            with pytest.raises(SSHException, match="pseudo-terminal"):
                await conn.run("true", term_type="xterm")
            conn.close()

    run(main())


class Upper(aio.SSHServerSession[bytes]):
    def connection_made(self, chan: Any) -> None:
        self.chan = chan

    def data_received(self, data: bytes, datatype: int | None) -> None:
        self.chan.write(data.upper())

    def eof_received(self) -> bool:
        self.chan.exit(0)
        return True


def test_subsystems_as_programs_and_in_process_sessions() -> None:
    subsystems = {"tr": ["tr", "a-z", "A-Z"], "shellcmd": "rev", "inproc": Upper}

    async def main() -> None:
        async with ready_server(**server_kwargs(subsystems=subsystems)) as acceptor:
            conn = await connect(acceptor.get_port())
            for name, expected in (("tr", "HELLO\n"), ("shellcmd", "olleh\n"), ("inproc", "HELLO\n")):
                result = await conn.run(subsystem=name, input="hello\n")
                assert (result.stdout, result.exit_status) == (expected, 0), name
            with pytest.raises(SSHException, match="refused"):
                await conn.run(subsystem="missing")
            conn.close()

    run(main())


def test_bulk_data_both_ways_with_flow_control() -> None:
    async def main() -> None:
        async with ready_server(**server_kwargs()) as acceptor:
            conn = await connect(acceptor.get_port())
            result = await conn.run("head -c 6000000 /dev/zero", encoding=None)
            assert len(result.stdout) == 6000000 and result.exit_status == 0
            data = os.urandom(3_000_000)
            result = await conn.run("sha256sum", input=data, encoding=None)
            import hashlib

            assert result.stdout.split()[0].decode() == hashlib.sha256(data).hexdigest()
            conn.close()

    run(main())


def test_closing_the_channel_hangs_up_the_process(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"

    async def main() -> None:
        async with ready_server(**server_kwargs(kill_grace=1.0)) as acceptor:
            conn = await connect(acceptor.get_port())
            chan, session = await conn.create_session(Collector, f"echo $$ > {pidfile}; exec sleep 30")
            await until(lambda: pidfile.exists() and pidfile.read_text().strip())
            pid = int(pidfile.read_text())
            chan.close()
            await session.done

            def gone() -> bool:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    return True
                return False

            await until(gone, timeout=5)
            conn.close()

    run(main())


def test_missing_shell_gives_exit_127() -> None:
    async def main() -> None:
        async with ready_server(**server_kwargs(shell="/nonexistent/shell")) as acceptor:
            conn = await connect(acceptor.get_port())
            result = await conn.run("true")
            assert result.exit_status == 127 and "cannot start" in result.stderr
            conn.close()

    run(main())


def test_password_table_plain_and_bcrypt(tmp_path: Path) -> None:
    hashed = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode()
    path = tmp_path / "passwords"
    path.write_text(f"# users\ntester:{hashed}\nplain:pw\n")
    table = PasswordTable.from_file(path)
    assert table("tester", "s3cret") and not table("tester", "wrong")
    assert table("plain", "pw") and not table("nobody", "pw")

    async def main() -> None:
        async with ready_server(**server_kwargs(password_checker=table, allowed_users=["tester"])) as acceptor:
            port = acceptor.get_port()
            conn = await aio.connect(
                "127.0.0.1", port, username="tester", password="s3cret", known_hosts=None, client_keys=()
            )
            assert (await conn.run("echo ok")).stdout == "ok\n"
            conn.close()
            with pytest.raises(PermissionDenied):  # right password, but the name is not allowed
                await aio.connect("127.0.0.1", port, username="plain", password="pw", known_hosts=None, client_keys=())
            with pytest.raises(PermissionDenied):  # keys are checked against the allowed names too
                await aio.connect(
                    "127.0.0.1", port, username="plain", known_hosts=None, client_keys=[keys().client["ed25519"]]
                )

    run(main())


def test_start_server_needs_a_way_to_log_in() -> None:
    async def main() -> None:
        with pytest.raises(ConfigurationError):
            await start_server("127.0.0.1", 0, server_host_keys=[keys().host["ed25519"]])

    run(main())


def test_wait_closed_covers_a_process_that_ignores_hangup(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"

    async def main() -> None:
        acceptor = await start_server(
            "127.0.0.1", 0, server_host_keys=[keys().host["ed25519"]], **server_kwargs(kill_grace=0.5)
        )
        conn = await connect(acceptor.get_port())
        chan, session = await conn.create_session(
            Collector, f"trap '' HUP; echo $$ > {pidfile}; while :; do sleep 0.05; done"
        )
        await until(lambda: pidfile.exists() and pidfile.read_text().strip())
        pid = int(pidfile.read_text())
        conn.close()
        loop = asyncio.get_running_loop()
        start = loop.time()
        acceptor.close()
        await acceptor.wait_closed()  # returns once SIGKILL (after kill_grace) has ended the process
        assert 0.3 < loop.time() - start < 5
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)

    run(main())
