"""paramiko.util-style helpers and the AuthStrategy machinery (with a fake transport)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

import blockssh
from blockssh import util
from blockssh.auth_strategy import AuthFailure, AuthStrategy, InMemoryPrivateKey, NoneAuth, OnDiskPrivateKey, Password
from blockssh.exceptions import AuthenticationException, BadAuthenticationType


def test_conversions() -> None:
    assert util.u(b"x") == "x" and util.b("x") == b"x"
    with pytest.raises(TypeError):
        util.u(3)  # type: ignore[arg-type]
    for n in (0, 1, 127, 128, 255, 256, -1, -128, -129, 2**64 + 5):
        assert util.inflate_long(util.deflate_long(n)) == n
    assert util.deflate_long(128) == b"\x00\x80"
    assert util.deflate_long(-128) == b"\x80"
    assert util.constant_time_bytes_eq(b"a", b"a") and not util.constant_time_bytes_eq(b"a", b"b")


def test_log_to_file(tmp_path: Path) -> None:
    logger = logging.getLogger("blockssh")
    saved = list(logger.handlers), logger.level
    try:
        logger.handlers.clear()
        path = tmp_path / "ssh.log"
        util.log_to_file(str(path))
        util.get_logger("paramiko.transport").debug("hello %s", "there")
        for h in logger.handlers:
            h.flush()
        text = path.read_text()
        assert "blockssh.transport: hello there" in text and text.startswith("DEB [")
        util.log_to_file(str(tmp_path / "other.log"))  # a second call adds nothing
        assert len(logger.handlers) == 1
    finally:
        for h in logger.handlers:
            h.close()
        logger.handlers[:] = saved[0]
        logger.setLevel(saved[1])


class FakeTransport:
    def __init__(self, accept: str) -> None:
        self.accept = accept
        self.calls: list[str] = []

    def auth_none(self, username: str) -> list[str]:
        self.calls.append("none")
        raise BadAuthenticationType("Bad authentication type", ["publickey", "password"])

    def auth_password(self, username: str, password: str) -> list[str]:
        self.calls.append(f"password:{password}")
        if self.accept != "password":
            raise AuthenticationException("Authentication failed.")
        return []

    def auth_publickey(self, username: str, key: Any) -> list[str]:
        self.calls.append("publickey")
        if self.accept != "publickey":
            raise AuthenticationException("Authentication failed.")
        return []


class Strategy(AuthStrategy):
    def __init__(self, key: Any) -> None:
        super().__init__(ssh_config=None)
        self.key = key

    def get_sources(self) -> Any:
        yield NoneAuth("me")
        yield InMemoryPrivateKey("me", self.key)
        yield Password("me", password_getter=lambda: "secret")


def test_strategy_stops_at_the_first_success() -> None:
    key = blockssh.Ed25519Key.generate()
    t = FakeTransport(accept="password")
    result = Strategy(key).authenticate(t)  # type: ignore[arg-type]
    assert t.calls == ["none", "publickey", "password:secret"]
    assert [type(r.result).__name__ for r in result] == ["BadAuthenticationType", "AuthenticationException", "list"]
    assert "Password(user='me') -> success" in str(result)


def test_strategy_failure_lists_every_source() -> None:
    t = FakeTransport(accept="nothing")
    with pytest.raises(AuthFailure) as info:
        Strategy(blockssh.Ed25519Key.generate()).authenticate(t)  # type: ignore[arg-type]
    assert isinstance(info.value, AuthenticationException)
    assert len(info.value.result) == 3


def test_on_disk_source_checks_its_origin() -> None:
    with pytest.raises(ValueError, match="source argument"):
        OnDiskPrivateKey("me", "somewhere", "/x", None)
    assert "implicit-home" in repr(OnDiskPrivateKey("me", "implicit-home", "/x", None))
