"""Running a remote command to completion: :class:`SSHCompletedProcess` and the session that collects it."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..exceptions import ProcessError, SSHTimeoutError
from .session import SSHClientSession

if TYPE_CHECKING:
    from .client import SSHClientConnection

__all__ = ["SSHCompletedProcess", "collect_output"]


@dataclass
class SSHCompletedProcess:
    """The outcome of a finished remote command."""

    command: str | None
    exit_status: int | None
    exit_signal: tuple[str, bool, str, str] | None
    stdout: Any  # str with an encoding, else bytes
    stderr: Any
    subsystem: str | None = None

    @property
    def returncode(self) -> int:
        """The exit status; ``-1`` without one, negative signal-style ``-128`` when killed by a signal."""
        if self.exit_status is not None:
            return self.exit_status
        return -128 if self.exit_signal is not None else -1

    @property
    def ok(self) -> bool:
        """True when the command exited with status 0."""
        return self.exit_status == 0

    def check_returncode(self) -> None:
        """Raise :class:`ProcessError` unless the command succeeded."""
        if not self.ok:
            raise ProcessError(self.command, self.exit_status, self.exit_signal, self.stdout, self.stderr)


class _Collector(SSHClientSession[Any]):
    def __init__(self) -> None:
        self.stdout: list[Any] = []
        self.stderr: list[Any] = []
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def data_received(self, data: Any, datatype: int | None) -> None:
        (self.stdout if datatype is None else self.stderr).append(data)

    def connection_lost(self, exc: BaseException | None) -> None:
        if not self.done.done():
            if exc is None:
                self.done.set_result(None)
            else:
                self.done.set_exception(exc)


async def collect_output(
    conn: SSHClientConnection,
    command: str | None,
    *,
    input: str | bytes | None,  # noqa: A002
    check: bool,
    timeout: float | None,
    env: Mapping[str, str] | None,
    term_type: str | None,
    term_size: tuple[int, int] | None,
    subsystem: str | None,
    encoding: str | None,
    errors: str,
) -> SSHCompletedProcess:
    """Run ``command`` (or a subsystem, or a shell fed ``input``) and gather its output."""
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout

    async def body() -> SSHCompletedProcess:
        chan, session = await conn.create_session(
            _Collector,
            command,
            subsystem=subsystem,
            env=env,
            term_type=term_type,
            term_size=term_size,
            encoding=encoding,
            errors=errors,
        )
        try:
            if input is not None:
                chan.write(input if encoding is not None or isinstance(input, bytes) else input.encode())
            chan.write_eof()
            await session.done
        except BaseException:
            chan.abort()
            raise
        joiner: Any = "" if encoding is not None else b""
        return SSHCompletedProcess(
            command,
            chan.get_exit_status(),
            chan.get_exit_signal(),
            joiner.join(session.stdout),
            joiner.join(session.stderr),
            subsystem,
        )

    try:
        if deadline is None:
            result = await body()
        else:
            result = await asyncio.wait_for(body(), max(0.0, deadline - loop.time()))
    except asyncio.TimeoutError:
        raise SSHTimeoutError(f"command {command!r} did not finish within {timeout:g} s") from None
    if check:
        result.check_returncode()
    return result
