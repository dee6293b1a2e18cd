"""The typed API: SSHConfig.resolve() -> ResolvedConfig, algorithm lists, forwards, jumps, lexing."""

from __future__ import annotations

import pytest

from blockssh.config import (
    OPENSSH_CLIENT_DEFAULTS,
    Forward,
    JumpHost,
    LocalInfo,
    SSHConfig,
    apply_algorithm_spec,
    match_pattern_list,
    parse_forward,
    parse_jump,
)
from blockssh.config._lex import argv_split, dollar_expand, percent_expand, split_keyword, tilde_expand
from blockssh.exceptions import ConfigParseError

LOCAL = LocalInfo("alice", "/home/alice", 1000, "box", {"XDG": "/run/user/1000"})


def resolve(text: str, host: str = "h", **kwargs: object) -> object:
    config = SSHConfig.from_text(text, local=LOCAL, resolver=lambda n, f: None)
    return config.resolve(host, **kwargs)  # type: ignore[arg-type]


def test_defaults_like_ssh_g() -> None:
    rc = SSHConfig.from_text("", local=LOCAL).resolve("Target")
    assert (rc.host, rc.hostname, rc.user, rc.port) == ("Target", "target", "alice", 22)
    assert rc.identity_files == [
        f"/home/alice/.ssh/{n}"
        for n in ("id_rsa", "id_ecdsa", "id_ecdsa_sk", "id_ed25519", "id_ed25519_sk", "id_xmss", "id_dsa")
    ]
    assert rc.user_known_hosts_files == ["/home/alice/.ssh/known_hosts", "/home/alice/.ssh/known_hosts2"]
    assert rc.global_known_hosts_files == ["/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"]
    assert rc.strict_host_key_checking == "ask" and rc.compression is False and rc.forward_agent is False
    assert rc.connect_timeout is None and rc.server_alive_interval == 0 and rc.server_alive_count_max == 3
    assert rc.identities_only is False and rc.proxy_command is None and rc.proxy_jump == []
    assert rc.kex_algorithms == list(OPENSSH_CLIENT_DEFAULTS["kexalgorithms"])
    assert rc.update_host_keys == "yes" and rc.escape_char == "~" and rc.canonicalize_max_dots == 1
    g = rc.dump()
    assert g["port"] == ["22"] and g["stricthostkeychecking"] == ["ask"] and g["connecttimeout"] == ["none"]


def test_typed_values() -> None:
    rc = resolve(
        "Host h\n  Port 2022\n  User bob\n  ConnectTimeout 1m30s\n  ServerAliveInterval 15\n"
        "  ServerAliveCountMax 5\n  Compression yes\n  ForwardAgent ${XDG}/agent\n  IdentitiesOnly true\n"
        "  StrictHostKeyChecking off\n  ControlMaster autoask\n  ControlPersist 10m\n  AddKeysToAgent confirm 1h\n"
        '  RekeyLimit 1.5M 1h\n  EscapeChar ^C\n  SetEnv A=1 B="two words" A=dup\n  SendEnv LANG\n'
        "  UserKnownHostsFile none\n  GlobalKnownHostsFile ~/g1 /g2\n  PreferredAuthentications publickey,password\n"
        "  CanonicalDomains a.example b.example\n  CanonicalizePermittedCNAMEs *.a:*.b,*.c\n  RemoteCommand uptime\n"
        "  HostKeyAlias MixedAlias\n  LogLevel DEBUG3\n  Tunnel point-to-point\n"
    )
    assert rc.port == 2022 and rc.user == "bob" and rc.connect_timeout == 90
    assert rc.server_alive_interval == 15 and rc.server_alive_count_max == 5 and rc.compression is True
    assert rc.forward_agent is True and rc.forward_agent_path == "/run/user/1000/agent"
    assert rc.identities_only is True and rc.strict_host_key_checking == "no" and rc.control_master == "autoask"
    assert (rc.control_persist, rc.control_persist_timeout) == (True, 600)
    assert (rc.add_keys_to_agent, rc.add_keys_to_agent_lifespan) == ("confirm", 3600)
    assert (rc.rekey_limit, rc.rekey_interval) == (1572864, 3600)
    assert rc.escape_char == "\x03" and rc.dump()["escapechar"] == ["\\^C"]
    assert rc.set_env == {"A": "1", "B": "two words"} and rc.send_env == ["LANG"]
    assert rc.user_known_hosts_files == [] and rc.global_known_hosts_files == ["/home/alice/g1", "/g2"]
    assert rc.update_host_keys == "no"
    assert rc.preferred_authentications == ["publickey", "password"]
    assert rc.canonical_domains == ["a.example", "b.example"]
    assert rc.canonicalize_permitted_cnames == [("*.a", "*.b,*.c")]
    assert rc.remote_command == "uptime" and rc.host_key_alias == "mixedalias" and rc.log_level == "DEBUG3"
    assert rc.extra == {"tunnel": ("point-to-point",)}


def test_proxy_jump_hops() -> None:
    rc = resolve("ProxyJump alice@jump1:2200,[2001:db8::1]:2022,ssh://bob@gw3:24,plain\n")
    assert rc.proxy_jump == [
        JumpHost("alice", "jump1", 2200),
        JumpHost(None, "2001:db8::1", 2022),
        JumpHost("bob", "gw3", 24),
        JumpHost(None, "plain", None),
    ]
    assert str(rc.proxy_jump[1]) == "[2001:db8::1]:2022" and rc.proxy_command is None
    assert resolve("ProxyJump none\nProxyCommand x\n").proxy_jump == []
    assert resolve("ProxyJump %r@gw\n", user="carol").proxy_jump == [JumpHost("carol", "gw", None)]
    assert parse_jump("NONE") is None
    for bad in ("a,,b", "@host", "host:0", "ssh://u@h/path"):
        with pytest.raises(ValueError):
            parse_jump(bad)


def test_forwards_are_structured() -> None:
    rc = resolve(
        "LocalForward 8080 db:5432\nLocalForward 127.0.0.1:8081 [::1]:80\nLocalForward /tmp/%h.s /run/x.s\n"
        "LocalForward [::1]:9000 /run/y.s\nRemoteForward 9090\nRemoteForward 0 localhost:22\nDynamicForward 1080\n"
        "DynamicForward [::1]:1081\nLocalForward ${XDG}/l.s r:1\n",
    )
    assert rc.local_forwards == [
        Forward(None, 8080, None, "db", 5432, None),
        Forward("127.0.0.1", 8081, None, "::1", 80, None),
        Forward(None, None, "/tmp/h.s", None, None, "/run/x.s"),
        Forward("::1", 9000, None, None, None, "/run/y.s"),
        Forward(None, None, "/run/user/1000/l.s", "r", 1, None),
    ]
    assert rc.remote_forwards == [
        Forward(None, 9090, None, None, None, None),
        Forward(None, 0, None, "localhost", 22, None),
    ]
    assert rc.remote_forwards[0].dynamic and not rc.remote_forwards[1].dynamic
    assert rc.dynamic_forwards == [
        Forward(None, 1080, None, None, None, None),
        Forward("::1", 1081, None, None, None, None),
    ]
    assert resolve("LocalForward 1 h:1\nClearAllForwardings yes\n").local_forwards == []
    assert parse_forward("a\\:b:1:c:2", dynamic=False, remote=False) == Forward("a:b", 1, None, "c", 2, None)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (None, ["a", "b", "c"]),
        ("+d,a", ["a", "b", "c", "d"]),
        ("-b*", ["a", "c"]),
        ("^c,x", ["c", "x", "a", "b"]),
        ("c,a", ["c", "a"]),
        ("x?", ["x1", "x2"]),  # wildcards expand against the supported list
    ],
)
def test_algorithm_spec(spec: str | None, expected: list[str]) -> None:
    supported = ["a", "b", "c", "d", "x", "x1", "x2"]
    assert apply_algorithm_spec(spec, ["a", "b", "c"], supported) == expected


def test_algorithm_spec_in_resolve_and_errors() -> None:
    rc = resolve(
        "Ciphers -*cbc,aes128*\nMACs +hmac-md5\n", algorithms={"ciphers": ["aes128-ctr", "aes256-ctr", "aes128-cbc"]}
    )
    assert rc.ciphers == ["aes256-ctr"]
    assert rc.macs[-1] == "hmac-md5" and rc.macs[:-1] == list(OPENSSH_CLIENT_DEFAULTS["macs"])
    with pytest.raises(ConfigParseError, match="line 1.*selects nothing"):
        resolve("KexAlgorithms nothing*\n")
    with pytest.raises(ValueError):
        apply_algorithm_spec("!a", ["a"])


def test_update_host_keys_rules() -> None:
    assert resolve("UserKnownHostsFile ~/.ssh/known_hosts\n").update_host_keys == "yes"
    assert resolve("VerifyHostKeyDNS yes\n").update_host_keys == "no"
    assert resolve("UpdateHostKeys ask\nRequestTTY no\n").update_host_keys == "no"
    assert resolve("UpdateHostKeys ask\n").update_host_keys == "ask"


def test_pattern_list_semantics() -> None:
    assert match_pattern_list("web1", "web*,!web2") == 1
    assert match_pattern_list("web2", "web*,!web2") == -1
    assert match_pattern_list("db", "web*") == 0
    assert match_pattern_list("Web1", "WEB*", lower=True) == 0  # only the patterns are lowercased
    assert match_pattern_list("web1", "WEB*", lower=True) == 1


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("a b\tc", ["a", "b", "c"]),
        ('"a b" c', ["a b", "c"]),
        ("'a \"b' c", ['a "b', "c"]),
        ("a\\ b", ["a b"]),
        ("a\\nb", ["a\\nb"]),
        ('"a\\ b"', ["a\\ b"]),
        ("x # comment", ["x"]),
        ("x#y", ["x#y"]),
        ('""', [""]),
        ('pre"fix and"post', ["prefix andpost"]),
    ],
)
def test_argv_split(text: str, words: list[str]) -> None:
    assert argv_split(text) == words


def test_lexing_helpers() -> None:
    assert split_keyword("  Key=Value") == ("Key", "Value")
    assert split_keyword("Key = = v") == ("Key", "= v")
    assert split_keyword("   # c") is None and split_keyword("") is None
    with pytest.raises(ValueError):
        argv_split('"open')
    assert percent_expand("%a-%%-%b", {"a": "1"}, keep="b") == "1-%%-%b"
    assert percent_expand("%a%z", {"a": "1"}, strict=False) == "1%z"
    with pytest.raises(ValueError):
        percent_expand("%z", {})
    with pytest.raises(ValueError):
        percent_expand("trailing %", {})
    assert dollar_expand("${A}/x$B", {"A": "1"}) == "1/x$B"
    for bad in ("${A", "${}", "${MISSING}"):
        with pytest.raises(ValueError):
            dollar_expand(bad, {"A": "1"})
    assert tilde_expand("~", "/h") == "/h/" and tilde_expand("~//x", "/h/") == "/h/x"
    assert tilde_expand("~root/x", "/h").endswith("/x") and tilde_expand("a~b", "/h") == "a~b"
    with pytest.raises(ValueError):
        tilde_expand("~no-such-user-blockssh/x", "/h")
