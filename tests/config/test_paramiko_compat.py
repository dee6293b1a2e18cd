"""The same lookups through paramiko.SSHConfig and blockssh's give equal results.

Only configs paramiko supports are used (no Include, no tokens paramiko
computes differently such as %C/%l, no keys whose type we deliberately changed).
"""

from __future__ import annotations

import copy

import pytest

from blockssh.config import SSHConfig, SSHConfigDict
from blockssh.exceptions import ConfigParseError, CouldNotCanonicalize

paramiko = pytest.importorskip("paramiko")

ROBEY = """\
# a global line before any Host
IdentityFile ~/.ssh/id_rsa

Host *
    User robey
    IdentityFile    =~/.ssh/id_ecdsa

Host *.example.com
    \tUser bjork
Port=3333
Host *
 \t  \t Crazy something dumb
Host spoo.example.com
Crazy something else
"""

ORDERING = """\
Host www13.* !*.example.com
    Port 22
Host *.example.com !www13.*
    Port 2222
Host www13.*
    Port 8080
Host *
    Port 3333
"""

PROXY = """\
Host specific
    Port 37
    ProxyCommand host %h port %p lol
Host equals
    ProxyCommand=foo=bar:%h-%p
Host spaced-equals
    ProxyCommand = foo bar=biz baz
Host tilde
    ProxyCommand ssh -F ~/.ssh/test_config bastion nc %h %p
Host none-host
    ProxyCommand None
Host *
    Port 25
    ProxyCommand host %h port %p
"""

TOKENS = """\
Host explicit_user
    User root
    ControlPath "user %u remoteuser %r port %p"
Host explicit_host
    HostName ohai
    ControlPath "remoteuser %r host %h orighost %n"
Host id*
    IdentityFile ~/.ssh/id_%h_%r
    IdentityFile /abs/%u/%d/key
Host hn
    HostName %h.example.org
Host *
    Port 2201
"""

LISTS = """\
IdentityFile id_dsa0
Host *
    IdentityFile id_dsa1
Host dsa2
    IdentityFile id_dsa2
    LocalForward 8080 localhost:80
    RemoteForward 9090 localhost:90
Host dsa2*
    IdentityFile id_dsa22
    IdentityFile id_dsa2
Host dsa3
    LocalForward 8081 localhost:81
    LocalForward 8082 localhost:82
Host "param pam" param "pam"
    IdentityFile "test rsa key"
    Port 1111
Host "param2"
    Port 2222
"""

MATCH = """\
Match originalhost target
    HostName bogus
Match host bogus
    User rand
Match originalhost orig* !host real
    Port 7000
Match user rand
    ServerAliveInterval 11
Match !user rand
    ServerAliveInterval 22
Match localuser {localuser} originalhost local*
    User me
Match !localuser {localuser}
    User never
Match originalhost docs,pages !originalhost pages
    Compression yes
Match final originalhost fin*
    ConnectTimeout 5
Match all
    TCPKeepAlive no
"""

CRLF = "Host abcqwerty\r\nHostName 127.0.0.1\r\nPort 99\r\n"

CASES = [
    (ROBEY, ["irc.danger.com", "irc.example.com", "spoo.example.com", "whatever"]),
    (ORDERING, ["www13.example.com", "www13.other", "a.example.com", "nothing"]),
    (PROXY, ["specific", "equals", "spaced-equals", "tilde", "none-host", "foo.com"]),
    (TOKENS, ["explicit_user", "explicit_host", "id1", "hn", "other"]),
    (LISTS, ["foo", "dsa2", "dsa22", "dsa3", "param pam", "param", "pam", "param2"]),
    (MATCH, ["target", "orig1", "real", "local1", "docs", "pages", "fin", "plain"]),
    (CRLF, ["abcqwerty"]),
]


def _localuser() -> str:
    import getpass

    return getpass.getuser()


@pytest.mark.parametrize(
    ("text", "hosts"), CASES, ids=["robey", "ordering", "proxy", "tokens", "lists", "match", "crlf"]
)
def test_lookup_equals_paramiko(text: str, hosts: list[str]) -> None:
    text = text.replace("{localuser}", _localuser())
    theirs = paramiko.SSHConfig.from_text(text)
    ours = SSHConfig.from_text(text)
    for host in hosts:
        expected = theirs.lookup(host)
        got = ours.lookup(host)
        assert got == expected, host
        assert isinstance(got, SSHConfigDict)


def test_match_case_really_exercises_match() -> None:
    ours = SSHConfig.from_text(MATCH.replace("{localuser}", _localuser()))
    assert ours.lookup("target")["user"] == "rand"
    assert ours.lookup("target")["serveraliveinterval"] == "11"
    assert ours.lookup("orig1")["port"] == "7000"
    assert ours.lookup("local1")["user"] == "me"
    assert "compression" not in ours.lookup("pages")
    assert ours.lookup("fin")["connecttimeout"] == "5"


def test_parsed_structure_equals_paramiko() -> None:
    """Fabric reads (and deep-copies) the private ``_config`` list."""
    assert SSHConfig.from_text(ROBEY)._config == paramiko.SSHConfig.from_text(ROBEY)._config
    assert SSHConfig.from_text(LISTS)._config == paramiko.SSHConfig.from_text(LISTS)._config
    assert SSHConfig()._config == paramiko.SSHConfig()._config == []


def test_get_hostnames_equals_paramiko() -> None:
    for text in (ROBEY, ORDERING, LISTS):
        assert SSHConfig.from_text(text).get_hostnames() == paramiko.SSHConfig.from_text(text).get_hostnames()


def test_fabric_style_clone_keeps_working() -> None:
    base = SSHConfig.from_text(MATCH.replace("{localuser}", _localuser()) + "\nHost *\n  IdentityFile k\n")
    clone = SSHConfig()
    clone._config = copy.deepcopy(base._config)
    assert len(clone._config) == len(base._config)
    assert clone.lookup("target") == base.lookup("target")
    assert clone.lookup("target")["identityfile"]


def test_hand_built_config_entries_are_understood() -> None:
    """A paramiko-shaped ``_config`` without blockssh internals still looks up the same."""
    entries = copy.deepcopy(paramiko.SSHConfig.from_text(LISTS + MATCH.replace("{localuser}", _localuser()))._config)
    theirs = paramiko.SSHConfig()
    theirs._config = copy.deepcopy(entries)
    ours = SSHConfig()
    ours._config = entries
    for host in ("dsa2", "param pam", "target", "orig1", "docs"):
        assert ours.lookup(host) == theirs.lookup(host), host


def test_private_get_hosts_like_paramiko() -> None:
    for value, expected in [('"param" pam', ["param", "pam"]), ('"pa ram" pam', ["pa ram", "pam"])]:
        assert SSHConfig._get_hosts(value) == expected == paramiko.SSHConfig()._get_hosts(value)
    with pytest.raises(ConfigParseError):
        SSHConfig._get_hosts('param "pam')


def test_canonicalization_equals_paramiko(monkeypatch: pytest.MonkeyPatch) -> None:
    text = """\
CanonicalizeHostname yes
CanonicalDomains not-a-real-tld paramiko.org
Host www.paramiko.org
    User rando
Match canonical host *.paramiko.org
    Port 2222
Host *
    IdentityFile base.key
Match canonical
    IdentityFile canonicalized.key
"""
    known = {"www.paramiko.org"}

    def gethostbyname(name: str) -> str:
        if name in known:
            return "192.0.2.1"
        raise paramiko.config.socket.gaierror(name)

    monkeypatch.setattr(paramiko.config.socket, "gethostbyname", gethostbyname)
    calls: list[str] = []

    def resolver(name: str, family: str) -> str | None:
        calls.append(name)
        return name.rstrip(".") if name.rstrip(".") in known else None

    theirs = paramiko.SSHConfig.from_text(text)
    ours = SSHConfig.from_text(text, resolver=resolver)
    for host in ("www", "sub.www"):
        assert ours.lookup(host) == theirs.lookup(host), host
    # ssh runs the canonical pass whenever CanonicalizeHostname is on, even for names with too many dots;
    # paramiko only when a domain matched.
    assert ours.lookup("deeper.sub.www")["identityfile"] == ["base.key", "canonicalized.key"]
    assert theirs.lookup("deeper.sub.www")["identityfile"] == ["base.key"]
    result = ours.lookup("www")
    assert result["hostname"] == "www.paramiko.org" and result["user"] == "rando" and result["port"] == "2222"
    assert result["identityfile"][-1].endswith("canonicalized.key")
    assert calls[:2] == ["www.not-a-real-tld.", "www.paramiko.org."]

    fallback_no = "CanonicalizeFallbackLocal no\n" + text
    with pytest.raises(paramiko.CouldNotCanonicalize) as theirs_exc:
        paramiko.SSHConfig.from_text(fallback_no).lookup("nope")
    with pytest.raises(CouldNotCanonicalize) as ours_exc:
        SSHConfig.from_text(fallback_no, resolver=resolver).lookup("nope")
    assert str(ours_exc.value) == str(theirs_exc.value) == "nope"


def test_documented_differences_from_paramiko() -> None:
    """Where paramiko departs from ssh, blockssh follows ssh (these would fail against paramiko)."""
    text = """\
Host a*
    LocalForward 1 h:1
    SendEnv LANG
    ProxyJump jump1
Host *
    LocalForward 2 h:2
    SendEnv LC_*
    ProxyCommand nc %h %p
    Port 22 # trailing comment
"""
    ours = SSHConfig.from_text(text).lookup("ab")
    theirs = paramiko.SSHConfig.from_text(text).lookup("ab")
    assert ours["localforward"] == ["1 h:1", "2 h:2"] != theirs["localforward"]
    assert ours["sendenv"] == ["LANG", "LC_*"] and theirs["sendenv"] == "LANG"
    assert "proxycommand" not in ours and "proxycommand" in theirs
    assert ours["port"] == "22" != theirs["port"]
    assert SSHConfig.from_text("Host x\n  HostName MiXeD\n").lookup("x")["hostname"] == "mixed"


def test_as_bool_and_as_int_like_paramiko() -> None:
    for value in ("yes", "YES", True, "no", "No", False):
        assert SSHConfigDict(k=value).as_bool("k") == paramiko.SSHConfigDict(k=value).as_bool("k")
    assert SSHConfigDict(k="42").as_int("k") == SSHConfigDict(k=42).as_int("k") == 42
    for bad in ("not an int", None):
        with pytest.raises((ValueError, TypeError)):
            SSHConfigDict(k=bad).as_int("k")
    assert SSHConfig.from_text("Host *\n  Port 2222\n").lookup("x").as_int("port") == 2222
