"""Small helpers shared by the asyncio-client interop tests (``blockssh.aio`` against OpenSSH)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any, TypeVar

import pytest

import blockssh.aio as aio

from interop.sshd_fixture import SSHD

__all__ = ["COMMAND", "connect", "connected", "needs_password", "no_logged_errors", "run"]

T = TypeVar("T")

# The command every matrix case runs: stdout, stderr and an exit status that are all easy to check.
COMMAND = "printf out; printf err >&2; exit 7"


def run(coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
    """Run an async test body on a fresh event loop, bounded by ``timeout`` seconds."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def connect(server: SSHD, **kwargs: Any) -> aio.SSHClientConnection:
    """Connect to ``server`` as its test user with its known_hosts, the ed25519 key unless told otherwise."""
    kwargs.setdefault("client_keys", [server.client_keys["ed25519"]])
    kwargs.setdefault("known_hosts", server.known_hosts)
    kwargs.setdefault("username", server.user)
    return await aio.connect(server.host, server.port, **kwargs)


@contextlib.asynccontextmanager
async def connected(server: SSHD, **kwargs: Any) -> AsyncIterator[aio.SSHClientConnection]:
    """``async with connected(sshd) as conn``: connect, and close (and wait for it) afterwards."""
    conn = await connect(server, **kwargs)
    try:
        yield conn
    finally:
        conn.close()
        await asyncio.wait_for(conn.wait_closed(), 10)


def needs_password(server: SSHD) -> None:
    """Skip unless the fixture can check passwords (it runs as root, through PAM)."""
    if server.password is None:
        pytest.skip("password/keyboard-interactive logins need the dedicated test user (run the tests as root)")


@contextlib.contextmanager
def no_logged_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail if blockssh logged an error (``logger.exception`` in an event handler is a swallowed bug)."""
    with caplog.at_level(logging.ERROR, logger="blockssh"):
        yield
    errors = [r for r in caplog.records if r.name.startswith("blockssh") and r.levelno >= logging.ERROR]
    formatter = logging.Formatter()
    assert not errors, "blockssh logged errors:\n" + "\n".join(
        r.getMessage() + ("\n" + formatter.formatException(r.exc_info) if r.exc_info else "") for r in errors
    )
