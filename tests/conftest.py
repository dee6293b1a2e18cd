"""Suite-wide pytest configuration and the OpenSSH ``sshd`` fixtures.

Fixtures:

``sshd``
    Session-scoped :class:`interop.sshd_fixture.SSHD`: a running OpenSSH server on 127.0.0.1.
    Attributes: ``host``, ``port``, ``user``, ``password`` (None when tests do not run as
    root: skip password and keyboard-interactive tests then), ``client_keys`` (``"ed25519"``,
    ``"ecdsa"``, ``"rsa"`` -> private key path), ``encrypted_key``, ``encrypted_key_passphrase``,
    ``host_key_paths`` (same names -> private key path, ``.pub`` alongside), ``known_hosts``,
    ``pid``, ``log_path``, ``config_path``, ``algorithms`` (``"kex"``, ``"cipher"``, ``"mac"``,
    ``"key"``, ``"pubkey"``, ``"hostkey"``, ``"compression"`` -> names), ``home``,
    ``scratch_dir`` (writable by ``user``). Helpers: ``ssh_command(*remote_args, key=...)``,
    ``ssh_env(secret)``, ``run_ssh(*remote_args, secret=..., key=...)``, ``log_tail()``.
``sshd_factory``
    ``sshd_factory(**overrides)`` starts another server with sshd_config keywords replaced,
    added or removed (``None``), e.g. ``sshd_factory(AuthenticationMethods="publickey,password")``;
    ``extra_config=`` appends raw lines (Match blocks). Stopped when the test ends.

Tests that use them are skipped only when ``/usr/sbin/sshd`` is not installed. A failing test
that used a server gets the tail of that server's DEBUG2 log in its report.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from interop.sshd_fixture import SSHD, SSHDEnvironment, unavailable_reason

_TESTS_DIR = Path(__file__).resolve().parent
_INTEROP_DIR = _TESTS_DIR / "interop"

# Timing-based failures are noise on loaded CI machines; every test still has pytest-timeout.
settings.register_profile("blockssh", deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "blockssh"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test under tests/interop/ carries the ``interop`` marker (``-m "not interop"``)."""
    for item in items:
        if _INTEROP_DIR in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.interop)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach the sshd log tail to the report of a failed test that used a server."""
    report = yield
    if not report.failed:
        return report
    servers: list[SSHD] = list(getattr(item, "_blockssh_sshd_servers", []))
    funcargs = getattr(item, "funcargs", {})
    if isinstance(funcargs.get("sshd"), SSHD):
        servers.insert(0, funcargs["sshd"])
    for server in servers:
        report.sections.append((f"sshd log ({server.host}:{server.port})", server.log_tail(80)))
    return report


@pytest.fixture(scope="session")
def sshd_environment() -> Iterator[SSHDEnvironment]:
    """Keys, login user and algorithm lists shared by all OpenSSH servers of this session."""
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    env = SSHDEnvironment()
    try:
        yield env
    finally:
        env.close()


@pytest.fixture(scope="session")
def sshd(sshd_environment: SSHDEnvironment) -> Iterator[SSHD]:
    """A running OpenSSH sshd on 127.0.0.1 with every algorithm it supports enabled."""
    server = sshd_environment.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sshd_factory(sshd_environment: SSHDEnvironment, request: pytest.FixtureRequest) -> Iterator[Callable[..., SSHD]]:
    """Start extra sshd instances with config overrides; each is stopped at test teardown."""
    started: list[SSHD] = []
    request.node._blockssh_sshd_servers = started

    def factory(extra_config: str | list[str] | tuple[str, ...] = (), **overrides: Any) -> SSHD:
        server = sshd_environment.start(extra_config, **overrides)
        started.append(server)
        return server

    try:
        yield factory
    finally:
        for server in started:
            server.stop()
