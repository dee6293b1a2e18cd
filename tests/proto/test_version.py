"""The identification exchange: banners, limits, malformed lines."""

from __future__ import annotations

import pytest

from blockssh.exceptions import ProtocolVersionNotSupported
from blockssh.proto.version import VersionReader, make_version_line


def test_client_accepts_lines_before_the_version_and_keeps_the_rest() -> None:
    r = VersionReader(is_server=False)
    assert not r.feed(b"Welcome\r\nplease be nice\n")
    assert r.feed(b"SSH-2.0-OpenSSH_9.2p1 Debian\r\n\x00\x00\x01")
    assert r.version == "SSH-2.0-OpenSSH_9.2p1 Debian"
    assert r.banner_lines == ["Welcome", "please be nice"]
    assert r.leftover() == b"\x00\x00\x01"


def test_version_split_across_reads() -> None:
    r = VersionReader(is_server=True)
    for chunk in (b"SS", b"H-2.0", b"-x\r", b"\n"):
        done = r.feed(chunk)
    assert done and r.version == "SSH-2.0-x"


def test_ssh_1_99_is_accepted_and_ssh_1_is_not() -> None:
    assert VersionReader(is_server=False).feed(b"SSH-1.99-old\r\n")
    with pytest.raises(ProtocolVersionNotSupported):
        VersionReader(is_server=False).feed(b"SSH-1.5-ancient\r\n")


def test_server_refuses_anything_but_a_version_line() -> None:
    with pytest.raises(ProtocolVersionNotSupported):
        VersionReader(is_server=True).feed(b"GET / HTTP/1.1\r\n")
    with pytest.raises(ProtocolVersionNotSupported):
        VersionReader(is_server=True).feed(b"GET")  # refused before the line even ends


def test_version_line_over_255_bytes_is_refused() -> None:
    with pytest.raises(ProtocolVersionNotSupported):
        VersionReader(is_server=False).feed(b"SSH-2.0-" + b"x" * 260 + b"\r\n")
    with pytest.raises(ProtocolVersionNotSupported):
        VersionReader(is_server=False).feed(b"SSH-2.0-" + b"x" * 260)  # no newline yet, already too long


def test_number_of_pre_banner_lines_is_bounded() -> None:
    r = VersionReader(is_server=False, max_banner_lines=3)
    with pytest.raises(ProtocolVersionNotSupported):
        r.feed(b"a\r\n" * 4)


def test_overlong_pre_banner_line_is_refused() -> None:
    with pytest.raises(ProtocolVersionNotSupported):
        VersionReader(is_server=False).feed(b"x" * 9000)


def test_http_response_is_refused_by_a_client_at_the_line_limit() -> None:
    r = VersionReader(is_server=False, max_banner_lines=5)
    with pytest.raises(ProtocolVersionNotSupported):
        r.feed(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n" + b"x\r\n" * 10)


def test_make_version_line() -> None:
    assert make_version_line("blockssh_1.0") == b"SSH-2.0-blockssh_1.0\r\n"
    with pytest.raises(ValueError):
        make_version_line("bad version")
