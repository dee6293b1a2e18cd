"""Sessions through the asyncio client against OpenSSH's sshd: exec, shell with a pty, subsystems, I/O."""

from __future__ import annotations

import asyncio
import base64
import random
import re
import struct
import time
from collections.abc import Callable
from typing import Any

import pytest

import blockssh.aio as aio
from blockssh.exceptions import ChannelException, ProcessError, SSHException, SSHTimeoutError

from interop.aio_helpers import COMMAND, connected, no_logged_errors, run
from interop.sshd_fixture import SSHD

pytestmark = pytest.mark.timeout(60)


class Recorder(aio.SSHClientSession[Any]):
    """Collects output; lets a test wait for some text to show up, or for the channel to close."""

    def __init__(self) -> None:
        self.stdout = bytearray()
        self.stderr = bytearray()
        self.changed = asyncio.Event()
        self.closed: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()
        self.exit_status: int | None = None

    def data_received(self, data: Any, datatype: int | None) -> None:
        data = data.encode() if isinstance(data, str) else data
        (self.stdout if datatype is None else self.stderr).extend(data)
        self.changed.set()

    def exit_status_received(self, status: int) -> None:
        self.exit_status = status

    def connection_lost(self, exc: BaseException | None) -> None:
        if not self.closed.done():
            self.closed.set_result(exc)
        self.changed.set()

    async def wait_for(self, text: bytes, timeout: float = 10.0) -> None:
        async def waiting() -> None:
            while text not in self.stdout:
                if self.closed.done():
                    raise AssertionError(f"channel closed before {text!r} arrived; got {bytes(self.stdout)!r}")
                self.changed.clear()
                await self.changed.wait()

        try:
            await asyncio.wait_for(waiting(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"{text!r} did not arrive within {timeout} s; got {bytes(self.stdout)!r}") from None


def test_run_collects_output_and_logs_no_errors(sshd: SSHD, caplog: pytest.LogCaptureFixture) -> None:
    """The common path must not leave tracebacks in the application's log either."""

    async def main() -> None:
        async with connected(sshd) as conn:
            for _ in range(3):
                result = await conn.run(COMMAND)
                assert (result.stdout, result.stderr, result.exit_status, result.returncode) == ("out", "err", 7, 7)
                assert result.exit_signal is None

    with no_logged_errors(caplog):
        run(main())


def test_exit_signal(sshd: SSHD) -> None:
    async def main() -> aio.SSHCompletedProcess:
        async with connected(sshd) as conn:
            return await conn.run("echo before; kill -TERM $$; echo after")

    result = run(main())
    assert result.exit_status is None
    assert result.exit_signal is not None and result.exit_signal[0] == "TERM"
    assert result.stdout == "before\n"
    assert result.returncode < 0


def test_pty_shell(sshd: SSHD) -> None:
    async def main() -> Recorder:
        async with connected(sshd) as conn:
            chan, session = await conn.create_session(Recorder, term_type="xterm", term_size=(100, 30))
            chan.write(b"stty size; tty; echo TERM=$TERM; exit 3\n")
            await asyncio.wait_for(session.closed, 15)
            assert chan.get_exit_status() == 3
            return session

    session = run(main())
    out = bytes(session.stdout).replace(b"\r\n", b"\n")
    assert re.search(rb"(^|[\n\r])30 100\n", out), out
    assert b"/dev/pts/" in out, out
    assert b"TERM=xterm\n" in out, out
    assert session.exit_status == 3


def test_window_change_reaches_the_process(sshd: SSHD) -> None:
    script = "trap 'stty size' WINCH; stty size; echo ready; while sleep 0.05; do :; done"

    async def main() -> bytes:
        async with connected(sshd) as conn:
            chan, session = await conn.create_session(Recorder, script, term_type="xterm", term_size=(80, 24))
            await session.wait_for(b"ready")
            assert b"24 80" in session.stdout
            chan.change_terminal_size(132, 43)
            await session.wait_for(b"43 132")
            # bash can lose a SIGWINCH that arrives while its WINCH trap is still running.
            await asyncio.sleep(0.3)
            chan.change_terminal_size(90, 20, 720, 400)
            await session.wait_for(b"20 90")
            chan.close()
            await asyncio.wait_for(session.closed, 10)
            return bytes(session.stdout)

    out = run(main())
    assert out.index(b"24 80") < out.index(b"ready") < out.index(b"43 132") < out.index(b"20 90")


def test_environment(sshd: SSHD) -> None:
    """AcceptEnv BLOCKSSH_* lets BLOCKSSH_TEST through; a name it does not match is dropped silently."""

    async def main() -> aio.SSHCompletedProcess:
        async with connected(sshd) as conn:
            env = {"BLOCKSSH_TEST": "v", "XBLOCKSSH_REFUSED": "x"}
            return await conn.run('echo "${BLOCKSSH_TEST-unset} ${XBLOCKSSH_REFUSED-unset}"', env=env)

    result = run(main())
    assert result.stdout == "v unset\n"
    assert result.exit_status == 0


def test_stdin(sshd: SSHD) -> None:
    data = base64.b64encode(random.Random(5).randbytes(3 * 1024 * 1024))  # past the window, several times

    async def main() -> aio.SSHCompletedProcess:
        async with connected(sshd) as conn:
            return await conn.run("cat", input=data, encoding=None)

    result = run(main())
    assert result.stdout == data
    assert result.exit_status == 0


def test_large_stdout_and_stderr_at_once(sshd: SSHD) -> None:
    size = 8 * 1024 * 1024
    command = f"head -c {size} /dev/zero & tr '\\0' e < /dev/zero | head -c {size} >&2; wait"

    async def main() -> aio.SSHCompletedProcess:
        async with connected(sshd) as conn:
            return await conn.run(command, encoding=None)

    result = run(main())
    assert result.exit_status == 0
    assert len(result.stdout) == size and result.stdout == bytes(size)
    assert len(result.stderr) == size and result.stderr == b"e" * size


def test_many_sessions_on_one_connection(sshd: SSHD) -> None:
    async def main() -> list[aio.SSHCompletedProcess]:
        async with connected(sshd) as conn:
            return await asyncio.gather(
                *(conn.run(f"echo out{i}; sleep 0.2; echo err{i} >&2; exit {i}") for i in range(20))
            )

    results = run(main())
    for i, result in enumerate(results):
        assert (result.stdout, result.stderr, result.exit_status) == (f"out{i}\n", f"err{i}\n", i)


def test_channel_open_refused_by_max_sessions(sshd_factory: Callable[..., SSHD]) -> None:
    """A refused session raises ChannelException, and the connection stays usable."""
    server = sshd_factory(MaxSessions="2")

    async def main() -> None:
        async with connected(server) as conn:
            first, _ = await conn.create_session(Recorder, "cat")
            second, _ = await conn.create_session(Recorder, "cat")
            with pytest.raises(ChannelException) as info:
                await conn.create_session(Recorder, "cat")
            assert info.value.code in (1, 2, 4)  # OpenSSH says "open failed" (2)
            first.write_eof()
            await asyncio.wait_for(first.wait_closed(), 10)
            # sshd frees the session slot in its main loop, just after it saw our CLOSE: retry briefly.
            for _ in range(20):
                try:
                    result = await conn.run(COMMAND)
                    break
                except ChannelException:
                    await asyncio.sleep(0.1)
            else:
                raise AssertionError("sshd never freed the closed session's slot")
            assert (result.stdout, result.stderr, result.exit_status) == ("out", "err", 7)
            second.close()

    run(main())


def test_sftp_subsystem(sshd: SSHD) -> None:
    async def main() -> bytes:
        async with connected(sshd) as conn:
            chan, session = await conn.create_session(Recorder, subsystem="sftp")
            chan.write(struct.pack(">IBI", 5, 1, 3))  # SSH_FXP_INIT, version 3
            while len(session.stdout) < 4 or len(session.stdout) < 4 + struct.unpack(">I", session.stdout[:4])[0]:
                session.changed.clear()
                await asyncio.wait_for(session.changed.wait(), 10)
            chan.close()
            return bytes(session.stdout)

    reply = run(main())
    length, kind, version = struct.unpack(">IBI", reply[:9])
    assert kind == 2  # SSH_FXP_VERSION
    assert version == 3
    assert len(reply) == 4 + length


def test_unknown_subsystem_is_refused(sshd: SSHD) -> None:
    async def main() -> None:
        async with connected(sshd) as conn:
            await conn.create_session(Recorder, subsystem="no-such-subsystem")

    with pytest.raises(SSHException, match="subsystem"):
        run(main())


def test_check_raises_process_error(sshd: SSHD) -> None:
    async def main() -> None:
        async with connected(sshd) as conn:
            await conn.run("echo partial; echo broken >&2; exit 4", check=True)

    with pytest.raises(ProcessError) as info:
        run(main())
    error = info.value
    assert (error.exit_status, error.returncode, error.exit_signal) == (4, 4, None)
    assert error.stderr == "broken\n"
    assert error.stdout == "partial\n"
    assert "4" in str(error)


def test_check_passes_on_success(sshd: SSHD) -> None:
    async def main() -> aio.SSHCompletedProcess:
        async with connected(sshd) as conn:
            return await conn.run("true", check=True)

    assert run(main()).exit_status == 0


def test_run_timeout(sshd: SSHD) -> None:
    async def main() -> float:
        async with connected(sshd) as conn:
            start = time.monotonic()
            with pytest.raises(SSHTimeoutError) as info:
                await conn.run("sleep 10", timeout=0.5)
            elapsed = time.monotonic() - start
            assert isinstance(info.value, TimeoutError)
            # The connection survives a timed-out command.
            result = await conn.run(COMMAND)
            assert result.exit_status == 7
            return elapsed

    elapsed = run(main())
    assert 0.4 < elapsed < 2.5


def test_strict_kex_is_negotiated(sshd: SSHD) -> None:
    async def main() -> Any:
        async with connected(sshd) as conn:
            return conn.get_extra_info("strict_kex")

    assert run(main()) is True
