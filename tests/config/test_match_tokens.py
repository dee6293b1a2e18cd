"""Match criteria, the two passes, canonicalization, %tokens, ${VAR} and ~ expansion."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from blockssh.config import LocalInfo, SSHConfig, run_shell
from blockssh.exceptions import ConfigParseError, CouldNotCanonicalize

MakeConfig = Callable[..., SSHConfig]
LOCAL = LocalInfo("alice", "/home/alice", 1000, "box.example.lan", {"HOME": "/home/alice", "SOCK": "/run/a.sock"})


class Runner:
    """A Match exec runner that records commands; exit 0 for the ones listed."""

    def __init__(self, *ok: str) -> None:
        self.ok = set(ok)
        self.commands: list[str] = []

    def __call__(self, command: str) -> int:
        self.commands.append(command)
        return 0 if command in self.ok else 1


def cfg(text: str, **kwargs: object) -> SSHConfig:
    kwargs.setdefault("local", LOCAL)
    kwargs.setdefault("resolver", lambda name, family: None)
    return SSHConfig.from_text(text, **kwargs)  # type: ignore[arg-type]


def test_first_obtained_value_wins_and_host_negation() -> None:
    config = cfg("Host a* !ab\n  User one\nHost a*\n  User two\n  Port 1\nHost *\n  Port 2\n")
    assert config.lookup("ac") == {"user": "one", "port": "1", "hostname": "ac"}
    assert config.lookup("ab") == {"user": "two", "port": "1", "hostname": "ab"}
    assert config.lookup("zz") == {"port": "2", "hostname": "zz"}


def test_host_patterns_are_literal_except_star_and_question() -> None:
    config = cfg("Host a?c [x] a.b\n  User hit\n")
    assert config.lookup("abc")["user"] == "hit"
    assert config.lookup("[x]")["user"] == "hit"
    assert "user" not in config.lookup("x") and "user" not in config.lookup("aXb")


def test_match_exec_tokens_and_short_circuit() -> None:
    runner = Runner("check web1 2200 bob web1 /home/alice alice 1000 box")
    config = cfg(
        "Host web1\n  Port 2200\n  User bob\n"
        'Match exec "check %h %p %r %n %d %u %i %L"\n  Compression yes\n'
        'Match host nomatch exec "never-run"\n  Compression no\n'
        'Match !exec "false-cmd" host web1\n  ForwardAgent yes\n',
        exec_runner=runner,
    )
    result = config.lookup("web1")
    assert result["compression"] == "yes" and result["forwardagent"] == "yes"
    assert "never-run" not in runner.commands  # exec is skipped once an earlier criterion failed
    assert runner.commands == ["check web1 2200 bob web1 /home/alice alice 1000 box", "false-cmd"]


def test_match_exec_sees_hostname_and_connection_hash() -> None:
    runner = Runner()
    cfg('Host a\n  HostName real.example\nMatch exec "%h %C %k %%"\n  User x\n', exec_runner=runner).lookup("a")
    digest = hashlib.sha1(b"box.example.lanreal.example22alice").hexdigest()
    assert runner.commands == [f"real.example {digest} real.example %"]


def test_match_exec_errors() -> None:
    with pytest.raises(ConfigParseError, match="line 1.*unknown token"):
        cfg('Match exec "echo %Z"\n  User x\n', exec_runner=Runner()).lookup("h")
    with pytest.raises(ConfigParseError, match="abnormally"):
        cfg('Match exec "x"\n  User x\n', exec_runner=lambda c: -9).lookup("h")


def test_default_exec_runner_uses_a_real_shell() -> None:
    assert run_shell("test 1 = 1") == 0
    assert run_shell("exit 3") == 3
    config = cfg('Match exec "test %h = yes-host"\n  User matched\n', exec_runner=run_shell)
    assert config.lookup("yes-host")["user"] == "matched"
    assert "user" not in config.lookup("no-host")


def test_match_user_and_localuser() -> None:
    config = cfg(
        "Match user alice\n  Port 1\nMatch localuser al*,!bob\n  Compression yes\nMatch !localuser alice\n  X 1\n"
    )
    assert config.lookup("h") == {"port": "1", "compression": "yes", "hostname": "h"}
    config = cfg("Host h\n  User bob\nMatch user bob\n  Port 2\nMatch user alice\n  Port 3\n")
    assert config.lookup("h")["port"] == "2"
    assert config.resolve("h", user="alice").port == 3  # like ssh -l, the command line wins
    assert cfg("Match localuser carol\n  Port 4\n").resolve("h", local_user="carol").port == 4


def test_match_host_uses_hostname_set_so_far_and_is_case_insensitive() -> None:
    config = cfg(
        "Match originalhost orig\n  HostName Real.Example\n"
        "Match host REAL.example\n  User via-hostname\n"
        "Match host orig\n  Port 99\n"
    )
    result = config.lookup("orig")
    assert result["user"] == "via-hostname" and "port" not in result
    assert result["hostname"] == "real.example"


def test_match_all_and_negated_all() -> None:
    assert cfg("Match all\n  User u\n").lookup("h")["user"] == "u"
    assert "user" not in cfg("Match !all\n  User u\n").lookup("h")
    assert "user" not in cfg("Match host x all\n  User u\n").lookup("h")
    assert cfg("Match host h all\n  User u\n").lookup("h")["user"] == "u"


def test_match_tagged() -> None:
    config = cfg("Host t*\n  Tag web\nMatch tagged web\n  User tagged\nMatch tagged ''\n  Port 1\n")
    assert config.lookup("tx")["user"] == "tagged"
    assert config.lookup("other")["port"] == "1" and "user" not in config.lookup("other")
    assert config.resolve("other", tag="web").user == "tagged"


def test_final_pass_only_when_requested() -> None:
    text = "Host a\n  HostName b\nHost b\n  Port 2\n"
    assert "port" not in cfg(text).lookup("a")
    assert cfg(text + "Match final\n  User f\n").lookup("a") == {"hostname": "b", "port": "2", "user": "f"}
    assert cfg(text + "Match final\n").resolve("a", final_pass=False).port == 22


def test_match_final_inside_inactive_include_still_triggers_second_pass(tmp_path: Path) -> None:
    inc = tmp_path / "inc.conf"
    inc.write_text("Match final\n")
    inc.chmod(0o644)
    config = cfg(f"Host never\n  Include {inc}\nHost a\n  HostName b\nHost b\n  Port 2\n")
    assert config.lookup("a")["port"] == "2"


def test_canonicalization_with_injected_resolver() -> None:
    calls: list[tuple[str, str]] = []
    table = {"www.corp.example.": "www.corp.example", "db.corp.example.": "db-1.cname.example"}

    def resolver(name: str, family: str) -> str | None:
        calls.append((name, family))
        return table.get(name)

    text = (
        "CanonicalizeHostname yes\nCanonicalDomains other.example corp.example\nAddressFamily inet\n"
        "Match canonical host *.corp.example\n  User canon\n"
        "Match canonical host *.cname.example\n  Port 2022\n"
    )
    config = cfg(text, resolver=resolver)
    result = config.lookup("WWW")
    assert result["hostname"] == "www.corp.example" and result["user"] == "canon"
    assert calls == [("www.other.example.", "inet"), ("www.corp.example.", "inet")]
    assert config.lookup("db")["hostname"] == "db.corp.example"  # CNAME not followed without a rule
    cname = cfg("CanonicalizePermittedCNAMEs *.corp.example:*.cname.example\n" + text, resolver=resolver)
    assert cname.lookup("db")["hostname"] == "db-1.cname.example" and cname.lookup("db")["port"] == "2022"
    calls.clear()
    assert config.lookup("a.b.c")["hostname"] == "a.b.c" and not calls  # more dots than CanonicalizeMaxDots
    assert config.lookup("nowhere")["hostname"] == "nowhere"  # fallback local
    with pytest.raises(CouldNotCanonicalize, match="nowhere"):
        cfg("CanonicalizeFallbackLocal no\n" + text, resolver=resolver).lookup("nowhere")


def test_canonicalization_skips_proxied_hosts_unless_always() -> None:
    calls: list[str] = []

    def resolver(name: str, family: str) -> str | None:
        calls.append(name)
        return name.rstrip(".")

    text = "CanonicalDomains example.com\nProxyJump gw\n"
    assert cfg("CanonicalizeHostname yes\n" + text, resolver=resolver).lookup("h")["hostname"] == "h"
    assert not calls
    assert cfg("CanonicalizeHostname always\n" + text, resolver=resolver).lookup("h")["hostname"] == "h.example.com"
    assert cfg("CanonicalizeHostname yes\n", resolver=resolver).lookup("::0:1")["hostname"] == "::1"


def test_paramiko_style_canonicalize_method() -> None:
    config = cfg("", resolver=lambda name, family: "x" if name == "h.two." else None)
    assert config.canonicalize("h", {}, ["one", "two"]) == "h.two"
    assert config.canonicalize("h", {}, ["one"]) == "h"
    with pytest.raises(CouldNotCanonicalize):
        config.canonicalize("h", {"canonicalizefallbacklocal": "no"}, ["one"])


def test_tokens_per_keyword() -> None:
    config = cfg(
        "Host h\n  HostName %h.example\n  Port 2200\n  User bob\n"
        "  IdentityFile ~/.ssh/%r@%h:%p-%n-%u-%L-%l-%i-%d-%%\n"
        "  CertificateFile ${HOME}/c-%h\n"
        "  ControlPath ~/cm-%C\n"
        "  IdentityAgent ${SOCK}\n"
        "  ProxyCommand ssh -W %h:%p %r@gw %n ~/x a~b\n"
        "  RemoteCommand echo %h %k\n"
        "  LocalCommand echo %T %h %%T\n"
        "  KnownHostsCommand /bin/kh %f %H %h\n"
        "  UserKnownHostsFile ~/kh-%h /etc/kh2\n"
        "  LocalForward /tmp/%h.sock /remote/%r.sock\n"
        "  User ignored-%h\n"
    )
    r = config.lookup("h")
    assert r["hostname"] == "h.example"
    assert r["identityfile"] == ["/home/alice/.ssh/bob@h.example:2200-h-alice-box-box.example.lan-1000-/home/alice-%"]
    assert r["certificatefile"] == ["/home/alice/c-h.example"]
    digest = hashlib.sha1(b"box.example.lanh.example2200bob").hexdigest()
    assert r["controlpath"] == f"/home/alice/cm-{digest}"
    assert r["identityagent"] == "/run/a.sock"
    assert r["proxycommand"] == "ssh -W h.example:2200 bob@gw h /home/alice/x a~b"
    assert r["remotecommand"] == "echo h.example h"
    assert r["localcommand"] == "echo %T h.example %%T"  # %T is expanded at connect time
    assert r["knownhostscommand"] == "/bin/kh %f %H h.example"
    assert r["userknownhostsfile"] == "/home/alice/kh-h.example /etc/kh2"
    assert r["localforward"] == ["/tmp/h.example.sock /remote/bob.sock"]
    assert r["user"] == "bob"


def test_lookup_is_lenient_resolve_is_strict_about_tokens() -> None:
    config = cfg("Host h\n  ControlPath /tmp/%Z-%h\n  IdentityFile ${UNSET}/k\n  IdentityFile /k2\n")
    r = config.lookup("h")
    assert r["controlpath"] == "/tmp/%Z-h"
    assert r["identityfile"] == ["/k2"]  # an unset ${VAR} drops the setting, as ssh does
    with pytest.raises(ConfigParseError, match="line 2.*unknown token %Z"):
        config.resolve("h")
    assert cfg("HostName %h-%%\n").lookup("x")["hostname"] == "x-%"
    with pytest.raises(ConfigParseError, match="HostName"):
        cfg("HostName %r\n").lookup("x")


def test_percent_j_and_hash_with_proxyjump() -> None:
    """OpenSSH 10 adds %j (the last jump host) and includes it in %C."""
    r = cfg("ProxyJump u@first,second:2222\nControlPath /cm/%C-%j\n").lookup("t")
    digest = hashlib.sha1(b"box.example.lant22alicesecond").hexdigest()
    assert r["controlpath"] == f"/cm/{digest}-second"
    assert r["proxyjump"] == "u@first,second:2222"


def test_proxycommand_and_proxyjump_mask_each_other() -> None:
    assert cfg("ProxyJump a\nProxyCommand b\n").lookup("h") == {"proxyjump": "a", "hostname": "h"}
    assert cfg("ProxyCommand b %h\nProxyJump a\n").lookup("h") == {"proxycommand": "b h", "hostname": "h"}
    assert cfg("ProxyCommand none\nProxyJump a\n").lookup("h") == {"proxycommand": None, "hostname": "h"}
    assert cfg("ProxyJump none\nProxyCommand b\n").lookup("h") == {"hostname": "h"}
    assert cfg("ProxyJump %r@gw\n").lookup("h")["proxyjump"] == "alice@gw"


def test_multi_value_keywords_accumulate() -> None:
    text = (
        "Host h\n  IdentityFile a\n  SendEnv LANG LC_*\n  SetEnv A=1 B=2\n  LocalForward 1 x:1\n  DynamicForward 3\n"
        "Host *\n  IdentityFile b\n  IdentityFile a\n  SendEnv -LC_* TZ\n  SetEnv C=3\n"
        "  LocalForward 1 x:1\n  LocalForward 2 x:2\n  RemoteForward 5\n  CertificateFile c1\n  CertificateFile c2\n"
    )
    r = cfg(text).lookup("h")
    assert r["identityfile"] == ["/home/alice/a"[0:0] + "a", "b"]
    assert r["sendenv"] == ["LANG", "TZ"]
    assert r["setenv"] == ["A=1", "B=2"]  # only the first SetEnv line counts
    assert r["localforward"] == ["1 x:1", "2 x:2"]
    assert r["dynamicforward"] == ["3"] and r["remoteforward"] == ["5"]
    assert r["certificatefile"] == ["c1", "c2"]


def test_get_hostnames_and_config_shape() -> None:
    config = cfg("User u\nHost a b\n  Port 1\nMatch host c\n  Port 2\nHost *\n")
    assert config.get_hostnames() == {"*", "a", "b"}
    assert config._config[0] == {"host": ["*"], "config": {"user": "u"}}
    assert config._config[2] == {
        "matches": [{"type": "host", "param": "c", "negate": False}],
        "config": {"port": "2"},
    }


def test_local_info_defaults_follow_the_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/custom/home")
    info = LocalInfo.current()
    assert info.home == "/custom/home" and info.uid == os.getuid() and info.hostname
    assert SSHConfig.from_text("IdentityFile ~/k\n").lookup("h")["identityfile"] == ["/custom/home/k"]
