"""Parsing: syntax, malformed input (ConfigParseError with file and line) and Include."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from blockssh.config import MAX_INCLUDE_DEPTH, LocalInfo, SSHConfig, load_user_config
from blockssh.exceptions import ConfigParseError, SSHException

MakeConfig = Callable[..., SSHConfig]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Port\n", "no argument"),
        ("Port   \n", "no argument"),
        ("Host x\n  Port 0\n", "bad port"),
        ("Host x\n  Port 65536\n", "bad port"),
        ("Host x\n  Port twenty-two\n", "bad port"),
        ("User a b\n", "extra arguments"),
        ('User "unterminated\n', "invalid quotes"),
        ("ProxyCommand sh -c 'oops\n", "invalid quotes"),
        ("Compression maybe\n", "unsupported option"),
        ("ConnectTimeout soon\n", "invalid time"),
        ("ServerAliveCountMax lots\n", "bad integer"),
        ("Match\n", "no argument"),
        ("Match host\n", "missing argument"),
        ("Match exec\n", "missing argument"),
        ("Match user\n", "missing argument"),
        ("Match localnetwork 10.0.0.0/8\n", "unsupported Match criterion"),
        ("Match bogus x\n", "unsupported Match criterion"),
        ("Match all host x\n", "cannot be combined"),
        ("Match host x user y all\n", "cannot be combined"),
        ("LocalForward 8080\n", "missing target"),
        ("LocalForward 8080 localhost\n", "bad forwarding"),
        ("LocalForward 0 localhost:80\n", "bad forwarding"),
        ("DynamicForward 1080 extra\n", "extra arguments"),
        ("ProxyJump user@\n", "invalid ProxyJump"),
        ("ProxyJump host:99999\n", "bad port"),
        ("SendEnv A=B\n", "invalid environment name"),
        ("SetEnv NOEQUALS\n", "invalid SetEnv"),
        ("UserKnownHostsFile none /x\n", "must appear alone"),
        ("RekeyLimit 8\n", "too small"),
        ("EscapeChar xyz\n", "bad escape"),
        ("CanonicalizePermittedCNAMEs nocolon\n", "invalid permitted CNAME"),
        ("AddKeysToAgent yes 5m\n", "unsupported option"),
        ("StreamLocalBindMask 999\n", "bad mask"),
        ("Host\n", "no argument"),
        ('Host ""\n', "empty argument"),
    ],
)
def test_malformed_input_raises_with_location(make_config: MakeConfig, text: str, message: str) -> None:
    with pytest.raises(ConfigParseError, match=message) as info:
        make_config("# header\n" + text)
    lineno = text.count("\n") + 1  # the bad line is the last one, after the header
    assert f"<config> line {lineno}:" in str(info.value)
    assert info.value.lineno == lineno  # type: ignore[attr-defined]
    assert info.value.filename == "<config>"  # type: ignore[attr-defined]
    assert isinstance(info.value, SSHException)


def test_errors_in_inactive_blocks_are_still_reported(make_config: MakeConfig) -> None:
    """Like ssh, values are checked whether or not their block applies."""
    with pytest.raises(ConfigParseError, match="line 2"):
        make_config("Host never-used\n  Port 0\n")


def test_error_names_the_included_file(tmp_path: Path, local: LocalInfo) -> None:
    (tmp_path / "bad.conf").write_text("\n\nPort nope\n")
    main = tmp_path / "main.conf"
    main.write_text(f"Include {tmp_path}/bad.conf\n")
    with pytest.raises(ConfigParseError) as info:
        SSHConfig.from_path(main, local=local)
    assert str(info.value).startswith(f"{tmp_path}/bad.conf line 3:")


@pytest.mark.parametrize(
    ("line", "key", "value"),
    [
        ("Port 2222", "port", "2222"),
        ("Port=2222", "port", "2222"),
        ("Port = 2222", "port", "2222"),
        ("  \tPORT\t2222  ", "port", "2222"),
        ('"Port" 2222', "port", "2222"),
        ("Port 2222 # trailing comment", "port", "2222"),
        ("Port ssh", "port", "22"),
        ('User "john smith"', "user", "john smith"),
        ("User john\\ smith", "user", "john smith"),
        ("User 'quoted'", "user", "quoted"),
        ('User a\\"b', "user", 'a"b'),
        ("User x#y", "user", "x#y"),
        ("ProxyCommand=ssh -W %%h %h", "proxycommand", "ssh -W %h target"),
        ("RemoteCommand echo 'a  b' # shell comment", "remotecommand", "echo 'a  b' # shell comment"),
        ('UserKnownHostsFile /a "/b c"', "userknownhostsfile", "/a /b c"),
        ("Ciphers +aes128-cbc", "ciphers", "+aes128-cbc"),
        ("SomeFutureOption  on  off", "somefutureoption", "on off"),
    ],
)
def test_line_syntax(make_config: MakeConfig, line: str, key: str, value: str) -> None:
    assert make_config(line + "\r\n").lookup("target")[key] == value


def test_comments_blank_lines_and_form_feed(make_config: MakeConfig) -> None:
    config = make_config("# comment\n\n   # indented comment\nHost a\n\n  User u\f\n")
    assert config.lookup("a")["user"] == "u"


def test_strict_mode_and_ignore_unknown(make_config: MakeConfig) -> None:
    with pytest.raises(ConfigParseError, match="Bad configuration option: UseKeychain"):
        make_config("UseKeychain yes\n", strict=True)
    # An earlier IgnoreUnknown (a pattern list) covers it, case-insensitively.
    config = make_config("IgnoreUnknown Foo,usekey*\nUseKeychain yes\nFOO 1\n", strict=True)
    assert config.lookup("h")["usekeychain"] == "yes"
    with pytest.raises(ConfigParseError):
        make_config("UseKeychain yes\nIgnoreUnknown UseKeychain\n", strict=True)
    # Default (paramiko-compatible): unknown keywords are kept as strings.
    assert make_config("Frob a b\n").lookup("h")["frob"] == "a b"


def test_deprecated_and_alias_keywords(make_config: MakeConfig) -> None:
    config = make_config("Protocol 2\nChallengeResponseAuthentication no\nKbdInteractiveAuthentication yes\n")
    result = config.lookup("h")
    assert result["challengeresponseauthentication"] == "no"  # the name as written, first value wins
    assert "kbdinteractiveauthentication" not in result
    assert config.resolve("h").kbd_interactive_authentication is False


# --- Include -----------------------------------------------------------------------------------------


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o644)
    return path


def test_include_relative_to_include_dir_and_glob_order(tmp_path: Path, local: LocalInfo) -> None:
    _write(tmp_path / "conf.d" / "20-b.conf", "User from-b\nPort 2020\n")
    _write(tmp_path / "conf.d" / "10-a.conf", "User from-a\n")
    _write(tmp_path / "conf.d" / ".hidden.conf", "Port 1\n")
    config = SSHConfig.from_text("Include conf.d/*.conf\n", local=local, include_dir=str(tmp_path))
    result = config.lookup("h")
    assert result["user"] == "from-a" and result["port"] == "2020"


def test_include_default_dir_is_dot_ssh_under_home(tmp_path: Path) -> None:
    local = LocalInfo("me", str(tmp_path), os.getuid(), "box", {})
    _write(tmp_path / ".ssh" / "extra", "User tilde-relative\n")
    assert SSHConfig.from_text("Include extra\n", local=local).lookup("h")["user"] == "tilde-relative"
    assert SSHConfig.from_text("Include ~/.ssh/extra\n", local=local).lookup("h")["user"] == "tilde-relative"


def test_include_env_expansion_and_missing_files(tmp_path: Path) -> None:
    local = LocalInfo("me", str(tmp_path), os.getuid(), "box", {"CONF": str(tmp_path)})
    _write(tmp_path / "x.conf", "User env\n")
    config = SSHConfig.from_text("Include /nonexistent/*.conf /nonexistent-file ${CONF}/x.conf\n", local=local)
    assert config.lookup("h")["user"] == "env"
    with pytest.raises(ConfigParseError, match="not set"):
        SSHConfig.from_text("Include ${NOPE}/x.conf\n", local=local)


def test_include_inside_host_block_is_conditional(tmp_path: Path, local: LocalInfo) -> None:
    inc = _write(
        tmp_path / "inc.conf",
        "User included\nHost other\n  Port 1111\nHost *\n  Compression yes\nMatch all\n  ForwardAgent yes\n",
    )
    config = SSHConfig.from_text(
        f"Host web*\n  Include {inc}\n  Port 2222\nHost *\n  Port 22\n  ForwardAgent no\n", local=local
    )
    web = config.lookup("web1")
    assert web["user"] == "included" and web["compression"] == "yes" and web["forwardagent"] == "yes"
    assert web["port"] == "2222"  # the Host block resumes after the Include
    other = config.lookup("other")
    # Nothing from the include applies: not even its own "Host other" or "Match all" blocks.
    assert other == {"port": "22", "forwardagent": "no", "hostname": "other"}


def test_include_does_not_leak_match_state(tmp_path: Path, local: LocalInfo) -> None:
    inc = _write(tmp_path / "inc.conf", "Host nomatch\n")
    config = SSHConfig.from_text(f"Host a\n  Include {inc}\n  User still-a\n", local=local)
    assert config.lookup("a")["user"] == "still-a"
    assert "user" not in config.lookup("b")


def test_include_recursion_limit(tmp_path: Path, local: LocalInfo) -> None:
    for i in range(MAX_INCLUDE_DEPTH + 1):
        _write(tmp_path / f"{i}.conf", f"Include {tmp_path}/{i + 1}.conf\n")
    _write(tmp_path / f"{MAX_INCLUDE_DEPTH + 1}.conf", "User deepest\n")
    # 1.conf is the top: it includes 2..17, i.e. 16 levels of Include are fine...
    config = SSHConfig.from_path(tmp_path / "1.conf", local=local)
    assert config.lookup("h")["user"] == "deepest"
    # ...and 17 are not.
    with pytest.raises(ConfigParseError, match="recursive") as info:
        SSHConfig.from_path(tmp_path / "0.conf", local=local)
    assert "line 1" in str(info.value)


def test_include_refuses_writable_files(tmp_path: Path, local: LocalInfo) -> None:
    inc = _write(tmp_path / "inc.conf", "User x\n")
    inc.chmod(0o666)
    with pytest.raises(ConfigParseError, match="bad owner or permissions"):
        SSHConfig.from_text(f"Include {inc}\n", local=local)
    config = SSHConfig.from_text(f"Include {inc}\n", local=local, check_permissions=False)
    assert config.lookup("h")["user"] == "x"


def test_system_config_includes(tmp_path: Path, local: LocalInfo) -> None:
    system = _write(tmp_path / "ssh_config", "Include ~/evil.conf\n")
    with pytest.raises(ConfigParseError, match="bad include path"):
        SSHConfig(local=local).read(str(system), system=True)


def test_load_user_config(tmp_path: Path) -> None:
    local = LocalInfo("me", str(tmp_path), os.getuid(), "box", {})
    assert load_user_config(local=local)._config == []  # no ~/.ssh/config: empty, not an error
    user = _write(tmp_path / ".ssh" / "config", "Host a\n  User from-user\n")
    system = _write(tmp_path / "etc_ssh_config", "Host *\n  User from-system\n  Port 2200\n")
    config = load_user_config(local=local, system=True, system_path=str(system))
    assert config.lookup("a")["user"] == "from-user" and config.lookup("a")["port"] == "2200"
    assert config.lookup("b")["user"] == "from-system"
    assert "port" not in load_user_config(local=local, system_path=str(system)).lookup("a")
    user.chmod(0o664)
    with pytest.raises(ConfigParseError, match="permissions"):
        load_user_config(local=local)


def test_from_file_and_multiple_parses_append(tmp_path: Path, local: LocalInfo) -> None:
    path = _write(tmp_path / "c", "Host a\n  User first\n")
    with open(path) as fh:
        config = SSHConfig.from_file(fh, local=local)
    with open(path) as fh:
        config.parse(iter(["Host *\n", "  User second\n", "  Port 99\n"]))
        assert fh.name == str(path)
    assert config.lookup("a")["user"] == "first" and config.lookup("a")["port"] == "99"
    with pytest.raises(FileNotFoundError):
        SSHConfig.from_path(tmp_path / "missing")


def test_unreadable_include_is_an_error_but_a_directory_is_skipped(tmp_path: Path, local: LocalInfo) -> None:
    (tmp_path / "dir.conf").mkdir()
    config = SSHConfig.from_text(f"Include {tmp_path}/*.conf\nUser u\n", local=local)
    assert config.lookup("h")["user"] == "u"
    if os.getuid() == 0:
        pytest.skip("root can read any file")
    secret = _write(tmp_path / "secret.conf", "User s\n")
    secret.chmod(0o200)
    with pytest.raises(ConfigParseError, match="cannot open"):
        SSHConfig.from_text(f"Include {secret}\n", local=local)
    with pytest.raises(PermissionError):
        SSHConfig.from_path(secret, local=local)
