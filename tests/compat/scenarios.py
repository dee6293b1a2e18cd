"""Scenarios written against paramiko's API; each runs with ``pm = paramiko`` and ``pm = blockssh``.

Every scenario records what a script could observe (outputs, str/bytes types, return values,
attribute values, exception classes) in an :class:`Observed`. Keep them deterministic: the
same OpenSSH server answers both runs.
"""

from __future__ import annotations

import importlib
import io
import pickle
import select
import socket
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from .harness import EXCEPTION_NAMES, Env, Observed

Scenario = Callable[[ModuleType, Env], Observed]
SCENARIOS: dict[str, Scenario] = {}


def scenario(fn: Scenario) -> Scenario:
    SCENARIOS[fn.__name__] = fn
    return fn


# -- SSHClient.exec_command -----------------------------------------------------------------


@scenario
def exec_trio_read(pm: ModuleType, env: Env) -> Observed:
    obs = Observed(pm)
    with env.connect(pm) as client:
        stdin, stdout, stderr = client.exec_command("printf 'l1\\nl2\\nl3'; printf 'e1\\ne2\\n' >&2; exit 3")
        obs.put("classes", [type(stdin).__name__, type(stdout).__name__, type(stderr).__name__])
        obs.put("same channel", stdout.channel is stderr.channel is stdin.channel)
        obs.put("stdout.read()", stdout.read())
        obs.put("stderr.readlines()", stderr.readlines())
        obs.put("recv_exit_status", stdout.channel.recv_exit_status())
        obs.put("exit_status_ready", stdout.channel.exit_status_ready())
        obs.put("exit_status attr", stdout.channel.exit_status)
        obs.put("read at EOF", stdout.read())
        obs.put("readline at EOF", stdout.readline())
        obs.put("tell", stdout.tell())
        obs.put("readable/writable", [stdout.readable(), stdout.writable(), stdin.readable(), stdin.writable()])
        obs.call("seek", stdout.seek, 0)
        obs.put("eof_received", bool(stdout.channel.eof_received))
        time.sleep(0.2)  # the server's CHANNEL_CLOSE follows the exit status
        obs.put("closed", stdout.channel.closed)
        obs.put("active", bool(stdout.channel.active))
        obs.put("file closed", stdout.closed)
        stdout.close()
        obs.put("file closed after close()", stdout.closed)
        obs.call("read after close", stdout.read)
    return obs


@scenario
def exec_lines_and_iteration(pm: ModuleType, env: Env) -> Observed:
    obs = Observed(pm)
    with env.connect(pm) as client:
        _, stdout, _ = client.exec_command("printf 'alpha\\nbeta\\ngamma\\n\\ndelta'")
        obs.put("readline", stdout.readline())
        obs.put("readline(3)", stdout.readline(3))
        obs.put("read(2)", stdout.read(2))
        obs.put("iteration", list(stdout))
        _, stdout, _ = client.exec_command("printf 'x\\ny\\nz\\n'")
        obs.put("readlines", stdout.readlines())
        _, stdout, _ = client.exec_command("printf 'a\\nbb\\nccc\\n'")
        obs.put("readlines(sizehint=3)", stdout.readlines(3))
        _, stdout, _ = client.exec_command("printf '\\303\\251t\\303\\251\\n'")
        obs.put("utf-8 line", stdout.readline())
        _, stdout, _ = client.exec_command("printf '\\377\\376\\n'")
        obs.call("invalid utf-8 line", stdout.readline)
        chan = client.get_transport().open_session()
        chan.exec_command("printf 'b1\\nb2\\n'")
        binary = chan.makefile("rb")
        obs.put("binary readline", binary.readline())
        obs.put("binary iteration", list(binary))
        chan = client.get_transport().open_session()
        chan.exec_command("printf 'u1\\r\\nu2\\ru3\\n'")
        universal = chan.makefile("rU")
        obs.put("universal lines", list(universal))
        obs.put("newlines", universal.newlines)
    return obs


@scenario
def exec_stdin(pm: ModuleType, env: Env) -> Observed:
    obs = Observed(pm)
    with env.connect(pm) as client:
        stdin, stdout, _ = client.exec_command("cat; echo done")
        obs.put("write returns", stdin.write("hello "))
        stdin.write(b"world\n")
        obs.put("stdin tell", stdin.tell())
        stdin.close()
        obs.put("stdin closed", stdin.closed)
        obs.put("eof_sent", bool(stdin.channel.eof_sent))
        obs.put("output", stdout.read())
        stdin, stdout, _ = client.exec_command("wc -c", bufsize=1)
        stdin.write("line one\nline ")
        stdin.flush()
        stdin.channel.shutdown_write()
        obs.put("line-buffered output", stdout.read().strip())
        stdin, stdout, _ = client.exec_command("cat", bufsize=4096)
        stdin.write("buffered")
        stdin.close()
        obs.put("buffered output", stdout.read())
        stdin, stdout, _ = client.exec_command("cat")
        stdin.channel.sendall(b"direct")
        stdin.channel.shutdown_write()
        obs.put("sendall output", stdout.read())
        time.sleep(0.2)  # the server closes the channel after cat exits
        obs.call("send on a closed channel", stdin.channel.send, b"x")
        stdin, stdout, _ = client.exec_command("sleep 0.5")
        stdin.close()
        obs.call("send after shutdown_write", stdin.channel.send, b"x")
    return obs


@scenario
def exec_options(pm: ModuleType, env: Env) -> Observed:
    obs = Observed(pm)
    with env.connect(pm) as client:
        _, stdout, _ = client.exec_command("echo $BLOCKSSH_X-$OTHER_X", environment={"BLOCKSSH_X": "v", "OTHER_X": "w"})
        obs.put("environment (AcceptEnv BLOCKSSH_*)", stdout.read())
        _, stdout, _ = client.exec_command("tty -s && echo tty || echo notty", get_pty=True)
        obs.put("get_pty", stdout.read())
        _, stdout, _ = client.exec_command("tty -s && echo tty || echo notty")
        obs.put("no pty", stdout.read())
        _, stdout, _ = client.exec_command("sleep 5", timeout=0.3)
        obs.put("channel timeout", stdout.channel.gettimeout())
        start = time.monotonic()
        obs.call("read past timeout", stdout.read)
        obs.put("timed out promptly", time.monotonic() - start < 3)
        stdout.channel.close()
        _, stdout, stderr = client.exec_command("exit 0")
        obs.put("empty output", [stdout.read(), stderr.read(), stdout.channel.recv_exit_status()])
        _, stdout, _ = client.exec_command("kill -9 $$")
        obs.put("killed: exit status", stdout.channel.recv_exit_status())
    return obs


# -- Channel ------------------------------------------------------------------------------------


@scenario
def channel_api(pm: ModuleType, env: Env) -> Observed:
    obs = Observed(pm)
    with env.connect(pm) as client:
        t = client.get_transport()
        chan = t.open_session()
        obs.put("class", type(chan).__name__)
        obs.put("chanid type", type(chan.get_id()).__name__)
        obs.put("name", chan.get_name() == str(chan.get_id()))
        chan.set_name("mine")
        obs.put("set_name", chan.get_name())
        obs.put("get_transport", chan.get_transport() is t)
        obs.put("getpeername", chan.getpeername()[0])
        obs.put("initial state", [chan.closed, bool(chan.eof_received), bool(chan.eof_sent), chan.exit_status])
        obs.put("exit_status_ready before", chan.exit_status_ready())
        obs.put("gettimeout", chan.gettimeout())
        chan.setblocking(0)
        obs.put("setblocking(0)", chan.gettimeout())
        obs.call("recv non-blocking with nothing", chan.recv, 10)
        chan.setblocking(1)
        obs.put("setblocking(1)", chan.gettimeout())
        obs.put("send_ready", chan.send_ready())
        obs.put("exec_command returns", chan.exec_command("echo out; echo err >&2; exit 4"))
        obs.put("recv_exit_status", chan.recv_exit_status())
        out = b""
        while data := chan.recv(100):  # to EOF: then stderr has arrived too
            out += data
        obs.put("recv", out)
        obs.put("recv_ready after", chan.recv_ready())
        obs.put("recv_stderr_ready", chan.recv_stderr_ready())
        obs.put("recv_stderr", chan.recv_stderr(100))
        obs.put("recv at EOF", chan.recv(100))
        obs.put("recv_stderr at EOF", chan.recv_stderr(100))
        chan.close()
        obs.put("closed after close", chan.closed)
        obs.call("send on closed channel", chan.send, b"x")
        obs.call("exec on closed channel", chan.exec_command, "true")
        chan.close()  # twice is fine
        with t.open_session() as chan2:
            obs.put("combine_stderr old", chan2.set_combine_stderr(True))
            chan2.exec_command("echo a; sleep 0.1; echo b >&2")
            got = b""
            while True:
                data = chan2.recv(100)
                if not data:
                    break
                got += data
            obs.put("combined output", got)
            obs.put("stderr after combine", chan2.recv_stderr(100))
        obs.put("context manager closes", chan2.closed)
        chan3 = t.open_session()
        chan3.exec_command("read x; echo got-$x")
        obs.put("send returns", chan3.send("42\n"))
        obs.put("makefile_stderr class", type(chan3.makefile_stderr()).__name__)
        obs.put("makefile_stdin class", type(chan3.makefile_stdin()).__name__)
        obs.put("reply", chan3.makefile().read())
        chan4 = t.open_session()
        chan4.exec_command("cat >/dev/null; echo eof-seen")
        chan4.shutdown(1)
        obs.put("shutdown(1) sends EOF", chan4.recv(100))
        chan5 = t.open_session()
        chan5.exec_command("sleep 0.5; echo late")
        obs.call("second exec on the same channel", chan5.exec_command, "true")
        obs.put("refusal closes the channel", [chan5.closed, chan5.recv(100), chan5.recv_exit_status()])
    return obs


@scenario
def channel_pty_requests(pm: ModuleType, env: Env) -> Observed:
    obs = Observed(pm)
    with env.connect(pm) as client:
        chan = client.get_transport().open_session()
        obs.put("get_pty returns", chan.get_pty(term="xterm", width=100, height=30))
        chan.update_environment({"BLOCKSSH_Y": "yy"})
        chan.set_environment_variable("BLOCKSSH_Z", "zz")
        obs.put("resize_pty returns", chan.resize_pty(width=120, height=40))
        chan.exec_command("sleep 0.3; stty size; echo $TERM $BLOCKSSH_Y $BLOCKSSH_Z")
        chan.settimeout(10)
        data = b""
        while True:
            chunk = chan.recv(1024)
            if not chunk:
                break
            data += chunk
        obs.put("output", data)
        obs.put("exit", chan.recv_exit_status())
        chan = client.get_transport().open_session()
        obs.call("invoke_subsystem sftp", chan.invoke_subsystem, "sftp")
        chan.close()
        chan = client.get_transport().open_session()
        obs.call("invoke_subsystem unknown", chan.invoke_subsystem, "no-such-subsystem")
        obs.put("closed after refusal", chan.closed)
    return obs


@scenario
def invoke_shell(pm: ModuleType, env: Env) -> Observed:
    obs = Observed(pm)
    with env.connect(pm) as client:
        chan = client.invoke_shell(width=90, height=33)
        chan.settimeout(10)
        obs.put("class", type(chan).__name__)
        obs.put("send returns", chan.send("stty size; echo MARK$((40+2))\n"))
        buf = b""
        deadline = time.monotonic() + 10
        while b"MARK42" not in buf and time.monotonic() < deadline:
            if chan.recv_ready():
                buf += chan.recv(1000)
            else:
                time.sleep(0.01)
        obs.put("marker seen", b"MARK42" in buf)
        obs.put("size seen", b"33 90" in buf)
        obs.put("recv type", type(buf).__name__)
        chan.send(b"exit 7\n")
        while True:
            data = chan.recv(1000)
            if not data:
                break
        obs.put("exit status", chan.recv_exit_status())
        time.sleep(0.2)  # CHANNEL_CLOSE follows EOF
        obs.put("closed", chan.closed)
    return obs


@scenario
def select_on_fileno(pm: ModuleType, env: Env) -> Observed:
    obs = Observed(pm)
    with env.connect(pm) as client:
        chan = client.get_transport().open_session()
        chan.exec_command("sleep 0.3; echo hi; sleep 0.3")
        obs.put("fileno type", type(chan.fileno()).__name__)
        obs.put("fileno stable", chan.fileno() == chan.fileno())
        r, _, _ = select.select([chan], [], [], 0.05)
        obs.put("not readable yet", r == [])
        r, _, _ = select.select([chan], [], [], 10)
        obs.put("readable", r == [chan])
        obs.put("data", chan.recv(10))
        r, _, _ = select.select([chan], [], [], 0.05)
        obs.put("drained", r == [])
        r, _, _ = select.select([chan], [], [], 10)
        obs.put("readable at EOF", r == [chan])
        obs.put("EOF", chan.recv(10))
        chan.close()
        chan = client.get_transport().open_session()
        chan.exec_command("echo err >&2; sleep 0.5")
        r, _, _ = select.select([chan], [], [], 10)
        obs.put("readable on stderr data", r == [chan])
        obs.put("stderr data", chan.recv_stderr(10))
        chan.close()
    return obs


# -- Transport ------------------------------------------------------------------------------------


@scenario
def transport_connect(pm: ModuleType, env: Env) -> Observed:
    obs = Observed(pm)
    t = pm.Transport((env.host, env.port))
    obs.put("active before connect", t.is_active())
    obs.call("get_remote_server_key before", t.get_remote_server_key)
    key = pm.Ed25519Key.from_private_key_file(env.keys["ed25519"])
    obs.put("connect returns", t.connect(username=env.user, pkey=key))
    obs.put("state", [t.is_active(), bool(t.active), t.is_authenticated(), t.get_username()])
    obs.put("peer", t.getpeername())
    obs.put("versions", [t.remote_version.startswith("SSH-2.0-OpenSSH"), t.local_version.startswith("SSH-2.0-")])
    obs.put("hostname", t.hostname)
    chan = t.open_session()
    chan.exec_command("echo via-transport")
    obs.put("output", chan.makefile("r").read())
    obs.put("status", chan.recv_exit_status())
    chan = t.open_channel("session")
    obs.put("open_channel session", type(chan).__name__)
    chan.close()
    obs.put("get_exception", t.get_exception())
    obs.put("get_banner", t.get_banner())
    t.close()
    obs.put("after close", [t.is_active(), bool(t.active), t.is_authenticated()])
    obs.call("open_session after close", t.open_session)
    t.close()
    t2 = pm.Transport(f"{env.host}:{env.port}")
    t2.connect(username=env.user, pkey=key)
    obs.put("host:port string form", t2.is_authenticated())
    t2.close()
    sock = socket.create_connection((env.host, env.port))
    t3 = pm.Transport(sock)
    obs.put("hostname from a socket", t3.hostname)
    t3.connect(username=env.user, pkey=key)
    obs.put("socket form", t3.is_authenticated())
    t3.close()
    obs.call("Transport to a closed port", pm.Transport, (env.host, env.closed_port))
    return obs


@scenario
def transport_step_by_step(pm: ModuleType, env: Env) -> Observed:
    obs = Observed(pm)
    t = pm.Transport(socket.create_connection((env.host, env.port)))
    obs.put("start_client returns", t.start_client(timeout=10))
    obs.put("active, authenticated", [t.is_active(), t.is_authenticated()])
    obs.put("server key class", type(t.get_remote_server_key()).__name__)
    exc = obs.raises("auth_none", t.auth_none, env.user)
    obs.put("auth_none allowed_types", sorted(getattr(exc, "allowed_types", [])))
    stranger = pm.Ed25519Key.from_private_key_file(env.keys["stranger"])
    exc = obs.raises("auth with an unknown key", t.auth_publickey, env.user, stranger)
    obs.put("unknown key message", str(exc))
    obs.put("still active after a refusal", t.is_active())
    obs.call("auth_password with a wrong password", t.auth_password, env.user, "definitely-wrong")
    obs.call(
        "auth_interactive with wrong answers",
        t.auth_interactive,
        env.user,
        lambda title, instr, prompts: ["x"] * len(prompts),
    )
    obs.put("auth_publickey", t.auth_publickey(env.user, pm.RSAKey.from_private_key_file(env.keys["rsa"])))
    obs.put("authenticated", t.is_authenticated())
    obs.put("username", t.get_username())
    t.close()
    ed = pm.Ed25519Key.from_private_key_file(env.keys["ed25519"])
    t = pm.Transport((env.host, env.port))
    obs.call("connect with a wrong hostkey", t.connect, hostkey=ed, username=env.user, pkey=ed)
    t.close()
    server_key = pm.PKey.from_type_string(*_server_key_parts(env, "ssh-ed25519"))
    t = pm.Transport((env.host, env.port))
    obs.put("connect with the right hostkey", t.connect(hostkey=server_key, username=env.user, pkey=ed))
    obs.put("right hostkey: authenticated", t.is_authenticated())
    obs.put("host key type negotiated", t.get_remote_server_key().get_name())
    t.close()
    return obs


def _server_key_parts(env: Env, keytype: str) -> tuple[str, bytes]:
    import base64

    return keytype, base64.b64decode(env.host_public_keys[keytype].split()[1])


@scenario
def transport_services(pm: ModuleType, env: Env) -> Observed:
    obs = Observed(pm)
    with env.connect(pm) as client:
        t = client.get_transport()
        obs.put("set_keepalive returns", t.set_keepalive(1))
        time.sleep(2.3)
        obs.put("alive after keepalives", t.is_active())
        _, stdout, _ = client.exec_command("echo still-here")
        obs.put("works after keepalives", stdout.read())
    # (a separate connection: paramiko's keepalive thread can stall its own rekey)
    with env.connect(pm) as client:
        t = client.get_transport()
        opts = t.get_security_options()
        obs.put("security option types", [type(opts.ciphers).__name__, type(opts.kex).__name__])
        obs.put("aes256-ctr offered", "aes256-ctr" in opts.ciphers)
        obs.call("unknown cipher", setattr, opts, "ciphers", ("no-such-cipher",))
        obs.call("not a sequence", setattr, opts, "ciphers", "aes128-ctr")
        obs.put("renegotiate_keys returns", t.renegotiate_keys())
        obs.put("active after rekey", t.is_active())
        _, stdout, _ = client.exec_command("echo after-rekey")
        obs.put("works after rekey", stdout.read())
        response = t.global_request("no-such-request@example.com", wait=True)
        obs.put("refused global request", response)
        obs.put("global request without wait", t.global_request("keepalive@example.com", wait=False))
        obs.put("send_ignore", t.send_ignore())
        key = t.get_remote_server_key()
        obs.put("server key name", key.get_name())
        obs.put("server key matches known_hosts", key.get_base64() in env.host_public_keys[key.get_name()])
        obs.put("server key fingerprint type", type(key.get_fingerprint()).__name__)
        obs.put("server key sha256", key.fingerprint.startswith("SHA256:"))
        t.use_compression(True)
    with env.connect(pm, compress=True) as client:
        _, stdout, _ = client.exec_command("echo compressed")
        obs.put("compress=True", stdout.read())
    with env.connect(
        pm,
        disabled_algorithms={"ciphers": ["aes128-ctr"]},
        banner_timeout=5,
        auth_timeout=5,
        channel_timeout=5,
        timeout=10,
    ) as client:
        _, stdout, _ = client.exec_command("echo kw")
        obs.put("timeouts and disabled_algorithms", stdout.read())
        obs.put("channel_timeout attr", client.get_transport().channel_timeout)
        obs.put("banner_timeout attr", client.get_transport().banner_timeout)
    return obs


# -- host keys and policies -------------------------------------------------------------------


@scenario
def policies(pm: ModuleType, env: Env) -> Observed:
    obs = Observed(pm)
    label = f"[{env.host}]:{env.port}"
    auth = {"username": env.user, "key_filename": env.keys["ed25519"], "look_for_keys": False, "allow_agent": False}
    client = pm.SSHClient()
    exc = obs.raises("RejectPolicy (default)", client.connect, env.host, env.port, **auth)
    obs.put("reject message", str(exc))
    client.close()
    path = env.tmp / "known_hosts_auto"
    path.write_text("")
    client = pm.SSHClient()
    client.load_host_keys(str(path))
    client.set_missing_host_key_policy(pm.AutoAddPolicy())
    client.connect(env.host, env.port, **auth)
    saved = [line.split()[:2] for line in path.read_text().splitlines()]
    obs.put("AutoAddPolicy wrote", [[host == label, bool(keytype)] for host, keytype in saved])
    obs.put("host keys has label", label in client.get_host_keys())
    obs.put("saved key is the server's", saved[0][1] == client.get_transport().get_remote_server_key().get_name())
    client.close()
    client = pm.SSHClient()
    client.load_host_keys(str(path))
    client.connect(env.host, env.port, **auth)  # now known: RejectPolicy lets it in
    obs.put("reconnect with saved key", client.get_transport().is_authenticated())
    client.close()
    client = pm.SSHClient()
    client.set_missing_host_key_policy(pm.WarningPolicy)  # a class, not an instance
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client.connect(env.host, env.port, **auth)
    obs.put("WarningPolicy warns", [type(w.message).__name__ for w in caught if "host key" in str(w.message)])
    client.close()
    wrong = env.tmp / "known_hosts_wrong"
    other = Path(env.keys["ecdsa"] + ".pub").read_text().split()
    wrong.write_text(f"{label} ssh-ed25519 {_ed25519_blob(env)}\n{label} {other[0]} {other[1]}\n")
    client = pm.SSHClient()
    client.load_host_keys(str(wrong))
    exc = obs.raises("bad host key", client.connect, env.host, env.port, **auth)
    obs.put(
        "bad host key attrs",
        [
            getattr(exc, "hostname", None),
            type(getattr(exc, "key", None)).__name__,
            type(getattr(exc, "expected_key", None)).__name__,
        ],
    )
    client.close()
    client = pm.SSHClient()
    client.load_system_host_keys(str(env.known_hosts))
    client.connect(env.host, env.port, **auth)
    obs.put("system host keys", client.get_transport().is_authenticated())
    client.close()
    obs.put("save_host_keys", _save_roundtrip(pm, env))

    class Custom(pm.MissingHostKeyPolicy):  # type: ignore[name-defined,misc]
        def missing_host_key(self, client: object, hostname: str, key: object) -> None:
            raise KeyError(f"custom refusal of {hostname}")

    client = pm.SSHClient()
    client.set_missing_host_key_policy(Custom())
    obs.call("custom policy exception propagates", client.connect, env.host, env.port, **auth)
    client.close()
    return obs


def _ed25519_blob(env: Env) -> str:
    # A client key (not the server's): the right type, the wrong key.
    return Path(env.keys["ed25519"] + ".pub").read_text().split()[1]


def _save_roundtrip(pm: ModuleType, env: Env) -> list[str]:
    client = pm.SSHClient()
    client.load_host_keys(env.known_hosts)
    out = env.tmp / "saved_hosts"
    client.save_host_keys(str(out))
    return sorted(line.split()[1] for line in out.read_text().splitlines())


@scenario
def hostkeys(pm: ModuleType, env: Env) -> Observed:
    obs = Observed(pm)
    hk = pm.HostKeys(env.known_hosts)
    label = f"[{env.host}]:{env.port}"
    obs.put("len", len(hk))
    obs.put("keys", list(hk.keys()))
    entry = hk.lookup(label)
    obs.put("lookup types", sorted(entry.keys()))
    obs.put("lookup unknown", hk.lookup("nowhere.example"))
    obs.put("in", [label in hk, "nowhere.example" in hk])
    key = entry["ssh-ed25519"]
    obs.put("check", [hk.check(label, key), hk.check("nowhere.example", key)])
    obs.put("entry value class", type(key).__name__)
    obs.put("hash_host", pm.HostKeys.hash_host("example.com", "|1|" + "c2FsdHNhbHRzYWx0c2FsdHNhbHQ=|x"))
    hashed = pm.HostKeys.hash_host("example.com")
    obs.put("hash_host random salt", [hashed.startswith("|1|"), len(hashed.split("|"))])
    fresh = pm.HostKeys()
    fresh.add("example.com", key.get_name(), key)
    fresh.add(hashed, key.get_name(), key)
    obs.put("lookup by hashed entry", sorted(fresh.lookup("example.com").keys()))
    path = env.tmp / "hk"
    fresh.save(str(path))
    obs.put("saved lines", [line.split()[1:] for line in path.read_text().splitlines()])
    reloaded = pm.HostKeys(str(path))
    obs.put("reloaded lookup", reloaded.lookup("example.com")["ssh-ed25519"] == key)
    bad = env.tmp / "hk_bad"
    bad.write_text(f"# comment\n\ngarbage line\nexample.org {key.get_name()} {key.get_base64()}\n")
    partial = pm.HostKeys(str(bad))
    obs.put("bad lines skipped", list(partial.keys()))
    fresh.clear()
    obs.put("clear", len(fresh))
    entry_line = f"example.net {key.get_name()} {key.get_base64()}"
    he = importlib.import_module(f"{pm.__name__}.hostkeys").HostKeyEntry.from_line(entry_line)
    obs.put("HostKeyEntry", [he.hostnames, he.key.get_name(), he.to_line()])
    return obs


# -- keys -----------------------------------------------------------------------------------------


@scenario
def pkeys(pm: ModuleType, env: Env) -> Observed:
    obs = Observed(pm)
    classes = {"rsa": pm.RSAKey, "ecdsa": pm.ECDSAKey, "ed25519": pm.Ed25519Key}
    for name, cls in classes.items():
        key = cls.from_private_key_file(env.keys[name])
        pub = Path(env.keys[name] + ".pub").read_text().split()
        obs.put(f"{name}: class", type(key).__name__)
        obs.put(f"{name}: get_name", key.get_name())
        obs.put(f"{name}: get_bits", key.get_bits())
        obs.put(f"{name}: algorithm_name", key.algorithm_name)
        obs.put(f"{name}: can_sign", key.can_sign())
        obs.put(f"{name}: get_base64 matches .pub", key.get_base64() == pub[1])
        obs.put(f"{name}: get_fingerprint", key.get_fingerprint())
        obs.put(f"{name}: fingerprint", key.fingerprint)
        obs.put(f"{name}: asbytes type", type(key.asbytes()).__name__)
        sig = key.sign_ssh_data(b"payload")
        obs.put(f"{name}: signature class", type(sig).__name__)
        public = cls(data=key.asbytes())  # (paramiko's Ed25519Key cannot verify with a private key object)
        msg = importlib.import_module(f"{pm.__name__}.message").Message(sig.asbytes())
        obs.put(f"{name}: verify", public.verify_ssh_sig(b"payload", msg))
        msg.rewind()
        obs.put(f"{name}: verify other data", public.verify_ssh_sig(b"other", msg))
        obs.put(f"{name}: public-only can_sign", public.can_sign())
        obs.put(f"{name}: public == private", public == key)
        obs.put(f"{name}: hash equal", hash(public) == hash(key))
        if name != "ed25519":  # paramiko cannot write Ed25519 private keys
            buf = io.StringIO()
            key.write_private_key(buf)
            again = cls.from_private_key(io.StringIO(buf.getvalue()))
            obs.put(f"{name}: write/read round trip", again == key)
            obs.put(f"{name}: PEM header", buf.getvalue().splitlines()[0])
            path = env.tmp / f"written_{name}"
            key.write_private_key_file(str(path), password="secret")
            obs.call(f"{name}: encrypted without password", cls.from_private_key_file, str(path))
            obs.put(f"{name}: encrypted with password", cls.from_private_key_file(str(path), password="secret") == key)
        from_path = pm.PKey.from_path(env.keys[name])
        obs.put(f"{name}: from_path class", type(from_path).__name__)
    obs.call("wrong class for the file", pm.RSAKey.from_private_key_file, env.keys["ed25519"])
    obs.call("encrypted key, no password", pm.Ed25519Key.from_private_key_file, env.encrypted_key)
    obs.put(
        "encrypted key, password",
        pm.Ed25519Key.from_private_key_file(env.encrypted_key, password=env.encrypted_key_passphrase).get_name(),
    )
    obs.call("missing file", pm.PKey.from_path, str(env.tmp / "does-not-exist"))
    obs.call("from_type_string unknown", pm.PKey.from_type_string, "ssh-nope", b"\x00\x00\x00\x07ssh-nope")
    rsa = pm.RSAKey.from_private_key_file(env.keys["rsa"])
    obs.put("from_type_string", type(pm.PKey.from_type_string("ssh-rsa", rsa.asbytes())).__name__)
    return obs


@scenario
def connect_auth_variants(pm: ModuleType, env: Env) -> Observed:
    obs = Observed(pm)
    label = "connect"
    for name in ("rsa", "ecdsa"):
        with env.connect(pm, key_filename=env.keys[name]) as client:
            obs.put(f"{label} key_filename {name}", client.get_transport().is_authenticated())
    with env.connect(pm, key_filename=None, pkey=pm.RSAKey.from_private_key_file(env.keys["rsa"])) as client:
        obs.put("pkey", client.get_transport().is_authenticated())
    with env.connect(pm, key_filename=[env.keys["ecdsa"], env.keys["ed25519"]]) as client:
        obs.put("key_filename list", client.get_transport().get_username())
    with env.connect(pm, key_filename=env.encrypted_key, passphrase=env.encrypted_key_passphrase) as client:
        obs.put("passphrase (key not authorized)", client.get_transport().is_authenticated())
    client = pm.SSHClient()
    client.load_host_keys(env.known_hosts)
    obs.call(
        "encrypted key without passphrase",
        client.connect,
        env.host,
        env.port,
        username=env.user,
        key_filename=env.encrypted_key,
        look_for_keys=False,
        allow_agent=False,
    )
    obs.call(
        "no credentials at all",
        client.connect,
        env.host,
        env.port,
        username=env.user,
        look_for_keys=False,
        allow_agent=False,
    )
    obs.call(
        "missing key file",
        client.connect,
        env.host,
        env.port,
        username=env.user,
        key_filename=str(env.tmp / "missing"),
        look_for_keys=False,
        allow_agent=False,
    )
    client.close()
    client = pm.SSHClient()
    client.load_host_keys(env.known_hosts)
    obs.call(
        "closed port",
        client.connect,
        env.host,
        env.closed_port,
        username=env.user,
        look_for_keys=False,
        allow_agent=False,
    )
    client.close()
    obs.put("get_transport before connect", pm.SSHClient().get_transport())
    client = pm.SSHClient()
    client.load_host_keys(env.known_hosts)
    sock = socket.create_connection((env.host, env.port))
    client.connect(
        env.host,
        env.port,
        username=env.user,
        key_filename=env.keys["ecdsa"],
        sock=sock,
        look_for_keys=False,
        allow_agent=False,
    )
    obs.put("sock= a connected socket", client.get_transport().is_authenticated())
    client.close()
    return obs


@scenario
def auth_strategy(pm: ModuleType, env: Env) -> Observed:
    obs = Observed(pm)
    strategies = importlib.import_module(f"{pm.__name__}.auth_strategy")
    good = pm.Ed25519Key.from_private_key_file(env.keys["ed25519"])
    stranger = pm.Ed25519Key.from_private_key_file(env.keys["stranger"])

    class Strategy(strategies.AuthStrategy):  # type: ignore[misc,name-defined]
        def __init__(self, keys: list[object]) -> None:
            super().__init__(ssh_config=pm.SSHConfig())
            self.keys = keys

        def get_sources(self):  # type: ignore[no-untyped-def]
            yield strategies.NoneAuth(env.user)
            for key in self.keys:
                yield strategies.InMemoryPrivateKey(env.user, key)

    client = pm.SSHClient()
    client.load_host_keys(env.known_hosts)
    result = client.connect(env.host, env.port, username=env.user, auth_strategy=Strategy([stranger, good]))
    obs.put("result class", type(result).__name__)
    obs.put("results", [type(r.result).__name__ for r in result])
    obs.put("authenticated", client.get_transport().is_authenticated())
    client.close()
    client = pm.SSHClient()
    client.load_host_keys(env.known_hosts)
    exc = obs.raises(
        "all sources fail", client.connect, env.host, env.port, username=env.user, auth_strategy=Strategy([stranger])
    )
    obs.put("failure results", [type(r.result).__name__ for r in getattr(exc, "result", [])])
    client.close()
    return obs


@scenario
def no_valid_connections(pm: ModuleType, env: Env) -> Observed:
    obs = Observed(pm)
    client = pm.SSHClient()
    try:
        client.connect(env.host, env.closed_port, username=env.user, look_for_keys=False, allow_agent=False)
    except Exception as exc:  # noqa: BLE001
        obs.put("class name", type(exc).__name__)
        obs.put("errno", exc.errno)  # type: ignore[attr-defined]
        obs.put("errors keys", [k[1] for k in exc.errors])  # type: ignore[attr-defined]
        obs.put("str", str(exc))
        copy = pickle.loads(pickle.dumps(exc))
        obs.put("pickles", [type(copy).__name__, str(copy)])
    ssh_exception = importlib.import_module(f"{pm.__name__}.ssh_exception")
    err = ssh_exception.NoValidConnectionsError(
        {("127.0.0.1", 22): OSError(111, "refused"), ("::1", 22, 0, 0): OSError(111, "refused")}
    )
    obs.put("constructed str", str(err))
    obs.put("constructed errno", err.errno)
    return obs


# -- exceptions and module layout ------------------------------------------------------------------


@scenario
def exception_tree(pm: ModuleType, env: Env) -> Observed:
    obs = Observed(pm)
    from .harness import exception_classes

    classes = exception_classes(pm)
    for name in EXCEPTION_NAMES:
        cls = classes.get(name)
        if cls is None:
            obs.put(f"{name}", None)
            continue
        bases = [other for other, ocls in classes.items() if other != name and issubclass(cls, ocls)]
        bases += [b for b, bcls in {"OSError": OSError, "Exception": Exception}.items() if issubclass(cls, bcls)]
        obs.raw(f"{name} is a", ("exception", tuple(sorted(bases))))
    se = importlib.import_module(f"{pm.__name__}.ssh_exception")
    obs.put("BadAuthenticationType.allowed_types", se.BadAuthenticationType("x", ["publickey"]).allowed_types)
    obs.put("PartialAuthentication.allowed_types", se.PartialAuthentication(["password"]).allowed_types)
    ce = se.ChannelException(2, "Connect failed")
    obs.put("ChannelException attrs", [ce.code, ce.text])
    obs.put("ChannelException pickles", str(pickle.loads(pickle.dumps(ce))) == str(ce))
    obs.put("ProxyCommandFailure", str(se.ProxyCommandFailure("nc x 22", "broken")))
    return obs


@scenario
def module_paths(pm: ModuleType, env: Env) -> Observed:
    obs = Observed(pm)
    paths = {
        "client": ["SSHClient", "AutoAddPolicy", "RejectPolicy", "WarningPolicy", "MissingHostKeyPolicy", "SSH_PORT"],
        "transport": ["Transport", "SecurityOptions"],
        "channel": ["Channel", "ChannelFile", "ChannelStderrFile", "ChannelStdinFile"],
        "file": ["BufferedFile"],
        "ssh_exception": ["SSHException", "NoValidConnectionsError", "BadHostKeyException"],
        "config": ["SSHConfig", "SSHConfigDict"],
        "pkey": ["PKey", "PublicBlob", "UnknownKeyType"],
        "rsakey": ["RSAKey"],
        "ecdsakey": ["ECDSAKey"],
        "ed25519key": ["Ed25519Key"],
        "hostkeys": ["HostKeys", "HostKeyEntry"],
        "message": ["Message"],
        "common": [
            "DEFAULT_WINDOW_SIZE",
            "DEFAULT_MAX_PACKET_SIZE",
            "o777",
            "o644",
            "o600",
            "AUTH_SUCCESSFUL",
            "AUTH_FAILED",
            "OPEN_SUCCEEDED",
            "OPEN_FAILED_CONNECT_FAILED",
            "io_sleep",
            "MSG_CHANNEL_DATA",
        ],
        "util": ["log_to_file", "get_logger", "u", "b", "ClosingContextManager", "deflate_long", "inflate_long"],
        "auth_strategy": [
            "AuthStrategy",
            "AuthSource",
            "NoneAuth",
            "Password",
            "PrivateKey",
            "InMemoryPrivateKey",
            "OnDiskPrivateKey",
            "AuthResult",
            "AuthFailure",
            "SourceResult",
        ],
    }
    for module, names in paths.items():
        mod = importlib.import_module(f"{pm.__name__}.{module}")
        obs.put(f"{module}: names present", [hasattr(mod, n) for n in names])
    common = importlib.import_module(f"{pm.__name__}.common")
    obs.put(
        "common values",
        [
            common.DEFAULT_WINDOW_SIZE,
            common.DEFAULT_MAX_PACKET_SIZE,
            common.o644,
            common.AUTH_SUCCESSFUL,
            common.AUTH_FAILED,
            common.OPEN_FAILED_CONNECT_FAILED,
            common.MSG_CHANNEL_DATA,
        ],
    )
    top = [
        "SSHClient",
        "Transport",
        "Channel",
        "ChannelFile",
        "ChannelStdinFile",
        "ChannelStderrFile",
        "AutoAddPolicy",
        "RejectPolicy",
        "WarningPolicy",
        "MissingHostKeyPolicy",
        "HostKeys",
        "SSHConfig",
        "SSHConfigDict",
        "PKey",
        "RSAKey",
        "ECDSAKey",
        "Ed25519Key",
        "Message",
        "SSHException",
        "AuthenticationException",
        "BadHostKeyException",
        "ChannelException",
        "SecurityOptions",
        "BufferedFile",
        "util",
        "common",
        "__version__",
        "AuthStrategy",
        "key_classes",
    ]
    obs.put("top-level names present", [hasattr(pm, n) for n in top])
    util = importlib.import_module(f"{pm.__name__}.util")
    obs.put("util.u/b", [util.u(b"x"), util.b("x"), util.deflate_long(255), util.inflate_long(b"\x00\xff")])
    obs.put("log_to_file", util.log_to_file(str(env.tmp / "log.txt")))
    return obs


# -- ssh_config -----------------------------------------------------------------------------------

SSH_CONFIG = """
Host web*
    User deploy
    Port 2222
    IdentityFile ~/.ssh/web_key
Host web-special
    Port 3333
    IdentityFile ~/.ssh/second
Host *.example.com !bad.example.com
    ForwardAgent yes
    ProxyCommand ssh -W %h:%p jump
Host bad.example.com
    ProxyCommand none
Host alias
    HostName real.example.org
    ConnectTimeout 7
    LocalForward 8080 localhost:80
Host *
    ServerAliveInterval 30
    Compression no
"""


@scenario
def ssh_config(pm: ModuleType, env: Env) -> Observed:
    obs = Observed(pm)
    config = pm.SSHConfig.from_text(SSH_CONFIG)
    for host in ("web1", "web-special", "a.example.com", "bad.example.com", "alias", "other"):
        result = config.lookup(host)
        obs.put(f"lookup {host}", dict(result))
    obs.put("hostnames", sorted(config.get_hostnames()))
    alias = config.lookup("alias")
    obs.put("as_int", alias.as_int("connecttimeout"))
    obs.put("as_bool", config.lookup("a.example.com").as_bool("forwardagent"))
    parsed = pm.SSHConfig()
    parsed.parse(io.StringIO(SSH_CONFIG))
    obs.put("parse == from_text", dict(parsed.lookup("web1")) == dict(config.lookup("web1")))
    path = env.tmp / "ssh_config"
    path.write_text(SSH_CONFIG)
    obs.put("from_path", dict(pm.SSHConfig.from_path(str(path)).lookup("web1")))
    with open(path) as f:
        obs.put("from_file", dict(pm.SSHConfig.from_file(f).lookup("web1")))
    return obs


@scenario
def direct_tcpip_channel(pm: ModuleType, env: Env) -> Observed:
    obs = Observed(pm)
    with env.connect(pm) as client:
        t = client.get_transport()
        chan = t.open_channel("direct-tcpip", (env.host, env.port), ("127.0.0.1", 0), timeout=10)
        chan.settimeout(10)
        banner = b""
        while not banner.endswith(b"\n"):
            banner += chan.recv(100)
        obs.put("banner through the tunnel", banner.startswith(b"SSH-2.0-OpenSSH"))
        r, _, _ = select.select([chan], [], [], 0.1)
        obs.put("nothing more to read", r)
        chan.sendall(b"not ssh\r\n")
        rest = b""
        while data := chan.recv(1000):
            rest += data
        obs.put("server hung up", [rest.startswith(b"Invalid SSH identification") or rest == b"", chan.recv(10)])
        chan.close()
        exc = obs.raises("refused destination", t.open_channel, "direct-tcpip", (env.host, env.closed_port), ("", 0))
        obs.put("refusal code", getattr(exc, "code", None))
    return obs
