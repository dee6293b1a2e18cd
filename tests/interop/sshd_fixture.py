"""OpenSSH's own ``sshd`` as a real peer for the test suite.

The fixtures in ``tests/conftest.py`` are thin wrappers around this module:

``sshd`` (session scope)
    One ``/usr/sbin/sshd -D -e -f <config>`` on a free 127.0.0.1 port, with its own temporary
    directory, configuration, host keys (ed25519, ecdsa-256/384/521, rsa-3072) and client keys
    (ed25519, ecdsa-256, rsa-2048 and a passphrase-protected ed25519 key), all made with
    ``ssh-keygen``. Every algorithm this OpenSSH build supports is enabled, so matrix tests can
    pick any of ``sshd.algorithms[...]``.

``sshd_factory(**overrides)`` (function scope)
    Starts one more sshd sharing the keys and the user, with ``sshd_config`` keywords replaced,
    added (``AuthenticationMethods="publickey,password"``, ``RekeyLimit="1M"``) or removed
    (``None``); it is stopped when the test ends.

Logging in:

* As root (CI), the server is entered as a dedicated local user, ``blockssh-test``, created once
  with a home directory. Its password is random, generated once per machine, kept in
  ``/var/lib/blockssh-test/password`` (root only, so concurrent test runs agree on it) and set
  with ``chpasswd`` at every fixture start. Password and keyboard-interactive authentication go
  through PAM with a dedicated service, ``/etc/pam.d/blockssh-test-sshd`` (pam_unix for auth,
  account and password; an empty session stack): the stock ``sshd`` stack has
  ``session required pam_loginuid.so``, which fails every login in containers without
  ``CAP_AUDIT_CONTROL``. sshd picks the service by its program name, so it is started through a
  symlink called ``blockssh-test-sshd``.
* As any other user, the server runs unprivileged and only that user can log in, by public key.
  ``sshd.password`` is then ``None`` and password/keyboard-interactive tests must skip.

Nothing here blocks without a deadline: every subprocess has a timeout, startup polls the port
until ``START_TIMEOUT``, and teardown escalates from SIGTERM to SIGKILL on the process group and
every per-connection child. Failures carry the tail of sshd's DEBUG2 log.
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "HOST",
    "PAM_SERVICE",
    "SSHD",
    "SSHD_PATH",
    "TEST_USER",
    "SSHDEnvironment",
    "SSHDError",
    "unavailable_reason",
]

HOST = "127.0.0.1"
SSHD_PATH = os.environ.get("BLOCKSSH_TEST_SSHD", "/usr/sbin/sshd")
TEST_USER = "blockssh-test"
PAM_SERVICE = "blockssh-test-sshd"
STATE_DIR = Path("/var/lib/blockssh-test")  # root only: the lock and the test user's password

START_TIMEOUT = 10.0  # seconds for sshd to accept connections
STOP_TIMEOUT = 5.0  # seconds from SIGTERM to SIGKILL
TOOL_TIMEOUT = 30.0  # ssh-keygen, useradd, chpasswd, sshd -T
SSH_TIMEOUT = 30.0  # default for run_ssh()

HOST_KEY_SPECS: dict[str, tuple[str, ...]] = {
    "ed25519": ("-t", "ed25519"),
    "ecdsa": ("-t", "ecdsa", "-b", "256"),
    "ecdsa384": ("-t", "ecdsa", "-b", "384"),
    "ecdsa521": ("-t", "ecdsa", "-b", "521"),
    "rsa": ("-t", "rsa", "-b", "3072"),
}
CLIENT_KEY_SPECS: dict[str, tuple[str, ...]] = {
    "ed25519": ("-t", "ed25519"),
    "ecdsa": ("-t", "ecdsa", "-b", "256"),
    "rsa": ("-t", "rsa", "-b", "2048"),
}
# Host key type -> the signature algorithms a client can negotiate with it.
HOST_KEY_SIGNATURES: dict[str, tuple[str, ...]] = {
    "ed25519": ("ssh-ed25519",),
    "ecdsa": ("ecdsa-sha2-nistp256",),
    "ecdsa384": ("ecdsa-sha2-nistp384",),
    "ecdsa521": ("ecdsa-sha2-nistp521",),
    "rsa": ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"),
}

# sshd_config keyword -> (`ssh -Q` query, `sshd -T` keyword) for the algorithm lists we open up.
_ALGORITHM_OPTIONS: dict[str, tuple[str, str]] = {
    "KexAlgorithms": ("kex", "kexalgorithms"),
    "Ciphers": ("cipher", "ciphers"),
    "MACs": ("mac", "macs"),
    "HostKeyAlgorithms": ("key-sig", "hostkeyalgorithms"),
    "PubkeyAcceptedAlgorithms": ("key-sig", "pubkeyacceptedalgorithms"),
    "CASignatureAlgorithms": ("key-sig", "casignaturealgorithms"),
}
# The fixture owns these; overriding them would break readiness checks and teardown.
_RESERVED = frozenset({"port", "listenaddress", "pidfile", "addressfamily"})


class SSHDError(RuntimeError):
    """The OpenSSH server could not be set up or started (message includes diagnostics)."""


def unavailable_reason() -> str | None:
    """Why OpenSSH-based interop tests cannot run here, or None if they can."""
    if not os.path.isfile(SSHD_PATH) or not os.access(SSHD_PATH, os.X_OK):
        return f"OpenSSH server not installed ({SSHD_PATH} missing; .ci/run installs openssh-server)"
    if shutil.which("ssh-keygen") is None:
        return "ssh-keygen not installed (package openssh-client)"
    return None


# ---------------------------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------------------------


def _run(argv: Sequence[str], *, input: str | None = None, timeout: float = TOOL_TIMEOUT) -> str:
    """Run a helper tool; return stdout or raise SSHDError with its output."""
    try:
        proc = subprocess.run(
            list(argv),
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SSHDError(f"{argv[0]} failed: {exc}") from exc
    if proc.returncode != 0:
        raise SSHDError(f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no log: {exc})"
    return "\n".join(text.splitlines()[-lines:])


def _descendants(root_pid: int) -> list[int]:
    """PIDs below root_pid (Linux /proc; empty elsewhere). sshd's connection children setsid()."""
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 1:
            children.setdefault(int(fields[1]), []).append(int(entry))
    found: list[int] = []
    todo = [root_pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _signal_all(pids: Sequence[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _alive(pid: int) -> bool:
    """True if pid exists and is not a zombie waiting for its (re)parent to reap it."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        return stat[stat.rfind(b")") + 2 :][:1] not in (b"Z", b"X")
    except FileNotFoundError:
        return False
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _wait_gone(pids: Sequence[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    alive = [p for p in pids if _alive(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.02)
        alive = [p for p in alive if _alive(p)]
    return alive


def _render(value: Any) -> list[str] | None:
    """sshd_config value(s) for an override: None removes, bool -> yes/no, a sequence -> one line each."""
    if value is None:
        return None
    if isinstance(value, bool):
        return ["yes" if value else "no"]
    if isinstance(value, (list, tuple)):
        return [os.fspath(v) if isinstance(v, os.PathLike) else str(v) for v in value]
    if isinstance(value, os.PathLike):
        return [os.fspath(value)]
    return [str(value)]


# ---------------------------------------------------------------------------------------------
# root-only machine setup: the test user and the PAM service
# ---------------------------------------------------------------------------------------------

_PAM_SERVICE_TEXT = """\
# PAM service of blockssh's test sshd, written by tests/interop/sshd_fixture.py.
# sshd reads it because it is started through a symlink named blockssh-test-sshd.
# pam_unix checks the password; the session stack is empty on purpose: the stock
# sshd stack's pam_loginuid/pam_limits fail logins in unprivileged containers.
auth     required pam_unix.so nodelay
account  required pam_unix.so
password required pam_unix.so
session  required pam_permit.so
"""


@contextlib.contextmanager
def _state_lock() -> Iterator[None]:
    STATE_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(STATE_DIR / "lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + TOOL_TIMEOUT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise SSHDError(f"timed out waiting for {STATE_DIR / 'lock'}") from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)


def _write_if_changed(path: Path, text: str, mode: int) -> None:
    try:
        if path.read_text() == text:
            return
    except OSError:
        pass
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.chmod(mode)
    os.replace(tmp, path)


def _setup_root_login() -> tuple[pwd.struct_passwd, str, bool]:
    """Create the test user (once), (re)set its password, install the PAM service.

    Returns the user's passwd entry, its password, and whether the dedicated PAM service exists.
    """
    with _state_lock():
        password_file = STATE_DIR / "password"
        try:
            password = password_file.read_text().strip()
        except OSError:
            password = ""
        if not password:
            password = secrets.token_urlsafe(18)
            _write_if_changed(password_file, password + "\n", 0o600)
        try:
            pwd.getpwnam(TEST_USER)
        except KeyError:
            shell = "/bin/bash" if os.path.exists("/bin/bash") else "/bin/sh"
            _run(["useradd", "--create-home", "--shell", shell, "--comment", "blockssh test suite", TEST_USER])
        _run(["chpasswd"], input=f"{TEST_USER}:{password}\n")
        pam_dir = Path("/etc/pam.d")
        have_pam_service = pam_dir.is_dir()
        if have_pam_service:
            _write_if_changed(pam_dir / PAM_SERVICE, _PAM_SERVICE_TEXT, 0o644)
        return pwd.getpwnam(TEST_USER), password, have_pam_service


# ---------------------------------------------------------------------------------------------
# the shared environment: keys, user, algorithms
# ---------------------------------------------------------------------------------------------


class SSHDEnvironment:
    """Keys, login user and algorithm lists shared by every sshd a test session starts."""

    def __init__(self, directory: Path | None = None) -> None:
        reason = unavailable_reason()
        if reason is not None:
            raise SSHDError(reason)
        self.is_root = os.geteuid() == 0
        self._owns_directory = directory is None
        self.directory = Path(directory or tempfile.mkdtemp(prefix="blockssh-sshd-"))
        # sshd reads AuthorizedKeysFile with the login user's privileges: keep the tree traversable.
        self.directory.chmod(0o755)
        self._instances: list[SSHD] = []
        self._counter = 0
        try:
            self._setup()
        except BaseException:
            self.close()
            raise

    def _setup(self) -> None:
        keygens = self._start_keygens()
        try:
            if self.is_root:
                entry, password, pam = _setup_root_login()
                self.password: str | None = password
                self.user: str = entry.pw_name
                self.home = Path(entry.pw_dir)
                self.uid, self.gid = entry.pw_uid, entry.pw_gid
                self.use_pam = True
                self.pam_service: str | None = PAM_SERVICE if pam else None
                Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation dir
            else:
                self.user = getpass.getuser()
                self.password = None
                self.home = Path.home()
                self.uid, self.gid = os.getuid(), os.getgid()
                self.use_pam = False  # unprivileged sshd cannot check passwords
                self.pam_service = None
        finally:
            self._finish_keygens(keygens)

        self.host_key_paths = {name: self.directory / f"host_{name}" for name in HOST_KEY_SPECS}
        self.client_keys = {name: self.directory / f"id_{name}" for name in CLIENT_KEY_SPECS}
        self.encrypted_key = self.directory / "id_ed25519_encrypted"
        self.authorized_keys = self.directory / "authorized_keys"
        pubs = [p.with_name(p.name + ".pub") for p in [*self.client_keys.values(), self.encrypted_key]]
        self.authorized_keys.write_text("".join(p.read_text() for p in pubs))
        self.authorized_keys.chmod(0o644)

        self.askpass = self.directory / "askpass"
        self.askpass.write_text("#!/bin/sh\nprintf '%s\\n' \"$BLOCKSSH_ASKPASS_SECRET\"\n")
        self.askpass.chmod(0o755)

        self.scratch_dir = self.directory / "scratch"
        self.scratch_dir.mkdir(mode=0o755, exist_ok=True)
        if self.is_root:
            os.chown(self.scratch_dir, self.uid, self.gid)

        self.sshd_executable = self._sshd_executable()
        self.algorithms, self._base_options = self._probe()

    # -- keys ------------------------------------------------------------------------------

    encrypted_key_passphrase = "blockssh test passphrase"

    def _start_keygens(self) -> list[tuple[list[str], subprocess.Popen[bytes]]]:
        jobs: list[list[str]] = []
        for name, spec in HOST_KEY_SPECS.items():
            jobs.append([*spec, "-N", "", "-C", f"blockssh-test-host-{name}", "-f", f"host_{name}"])
        for name, spec in CLIENT_KEY_SPECS.items():
            jobs.append([*spec, "-N", "", "-C", f"blockssh-test-client-{name}", "-f", f"id_{name}"])
        jobs.append(
            [
                "-t",
                "ed25519",
                "-N",
                self.encrypted_key_passphrase,
                "-C",
                "blockssh-test-client-encrypted",
                "-f",
                "id_ed25519_encrypted",
            ]
        )
        started = []
        for args in jobs:
            argv = ["ssh-keygen", "-q", *args]
            proc = subprocess.Popen(
                argv,
                cwd=self.directory,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            started.append((argv, proc))
        return started

    @staticmethod
    def _finish_keygens(started: list[tuple[list[str], subprocess.Popen[bytes]]]) -> None:
        deadline = time.monotonic() + TOOL_TIMEOUT
        errors = []
        for argv, proc in started:
            try:
                out, _ = proc.communicate(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                out, _ = proc.communicate()
                errors.append(f"{' '.join(argv)}: timed out")
                continue
            if proc.returncode != 0:
                errors.append(f"{' '.join(argv)}: exit {proc.returncode}: {out.decode(errors='replace')}")
        if errors:
            raise SSHDError("ssh-keygen failed:\n" + "\n".join(errors))

    # -- sshd binary and configuration ----------------------------------------------------

    def _sshd_executable(self) -> str:
        if self.pam_service is None:
            return SSHD_PATH
        # sshd names its PAM service after its program name (argv[0]'s basename).
        link = self.directory / PAM_SERVICE
        if not link.exists():
            link.symlink_to(SSHD_PATH)
        return str(link)

    def _default_options(self) -> dict[str, list[str]]:
        return {
            "HostKey": [str(p) for p in self.host_key_paths.values()],
            "AuthorizedKeysFile": [str(self.authorized_keys)],
            "StrictModes": ["no"],
            "UsePAM": ["yes" if self.use_pam else "no"],
            "PubkeyAuthentication": ["yes"],
            "PasswordAuthentication": ["yes"],
            "KbdInteractiveAuthentication": ["yes"],
            "PermitEmptyPasswords": ["no"],
            "PermitRootLogin": ["yes"],
            "MaxAuthTries": ["10"],
            "MaxSessions": ["32"],
            "MaxStartups": ["64:30:128"],
            "LoginGraceTime": ["30"],
            "AcceptEnv": ["BLOCKSSH_*"],
            "AllowTcpForwarding": ["yes"],
            "AllowStreamLocalForwarding": ["yes"],
            "AllowAgentForwarding": ["yes"],
            "X11Forwarding": ["no"],
            "PrintMotd": ["no"],
            "PrintLastLog": ["no"],
            "UseDNS": ["no"],
            "LogLevel": ["DEBUG2"],
            "Subsystem": ["sftp internal-sftp"],
        }

    def _render_config(self, options: Mapping[str, Sequence[str]], port: int, directory: Path) -> str:
        lines = [
            "# Generated by tests/interop/sshd_fixture.py",
            f"ListenAddress {HOST}",
            f"Port {port}",
            "AddressFamily inet",
            f"PidFile {directory / 'sshd.pid'}",
        ]
        extra: list[str] = []
        for key, values in options.items():
            if key == "__extra__":
                extra.extend(values)
                continue
            lines.extend(f"{key} {v}" for v in values)
        lines.extend(extra)  # Match blocks must come last
        return "\n".join(lines) + "\n"

    def _sshd_T(self, options: Mapping[str, Sequence[str]]) -> dict[str, str]:
        probe = self.directory / "probe"
        probe.mkdir(exist_ok=True)
        cfg = probe / "sshd_config"
        cfg.write_text(self._render_config(options, 22, probe))
        out = _run([self.sshd_executable, "-T", "-f", str(cfg)])
        result: dict[str, str] = {}
        for line in out.splitlines():
            key, _, value = line.partition(" ")
            result.setdefault(key.lower(), value)
        return result

    def _probe(self) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
        """Open up every algorithm both ssh and sshd know; learn what sshd then reports."""
        options = self._default_options()
        ssh = shutil.which("ssh")
        client: dict[str, list[str]] = {}
        for keyword, (query, _) in _ALGORITHM_OPTIONS.items():
            if ssh is not None:
                names = _run([ssh, "-Q", query]).split()
                if names:
                    client[keyword] = names
                    options[keyword] = [",".join(names)]
        try:
            report = self._sshd_T(options)
        except SSHDError:
            # This sshd rejects a name its ssh client knows: keep the lists it accepts one by one.
            for keyword, names in client.items():
                accepted = []
                for name in names:
                    trial = {**options, keyword: [name]}
                    with contextlib.suppress(SSHDError):
                        self._sshd_T(trial)
                        accepted.append(name)
                options[keyword] = [",".join(accepted)] if accepted else []
            report = self._sshd_T(options)
        # OpenSSH >= 9.8 penalises addresses that fail authentication; tests fail auth on purpose.
        if "persourcepenalties" in report:
            options["PerSourcePenalties"] = ["no"]
            report = self._sshd_T(options)

        def listed(sshd_keyword: str, keyword: str) -> list[str]:
            names = [n for n in report.get(sshd_keyword, "").split(",") if n]
            known = client.get(keyword)
            return [n for n in names if known is None or n in known]

        algorithms = {
            "kex": listed("kexalgorithms", "KexAlgorithms"),
            "cipher": listed("ciphers", "Ciphers"),
            "mac": listed("macs", "MACs"),
            "key": listed("hostkeyalgorithms", "HostKeyAlgorithms"),
            "pubkey": listed("pubkeyacceptedalgorithms", "PubkeyAcceptedAlgorithms"),
            "compression": ["none"] if report.get("compression", "yes") == "no" else ["none", "zlib@openssh.com"],
        }
        usable = {sig for name in HOST_KEY_SPECS for sig in HOST_KEY_SIGNATURES[name]}
        algorithms["hostkey"] = [n for n in algorithms["key"] if n in usable]
        return algorithms, options

    # -- starting servers --------------------------------------------------------------------

    def start(self, extra_config: str | Sequence[str] = (), **overrides: Any) -> SSHD:
        """Start an sshd with the shared keys; overrides replace/add/remove sshd_config keywords."""
        options = {k: list(v) for k, v in self._base_options.items()}
        for key, value in overrides.items():
            if key.lower() in _RESERVED:
                raise ValueError(f"{key} is managed by the fixture")
            existing = next((k for k in options if k.lower() == key.lower()), None)
            if existing is not None:
                del options[existing]
            rendered = _render(value)
            if rendered is not None:
                options[key] = rendered
        if isinstance(extra_config, str):
            extra_config = extra_config.splitlines()
        options["__extra__"] = list(extra_config)
        self._counter += 1
        directory = self.directory / f"sshd-{self._counter}"
        directory.mkdir(mode=0o755)
        server = SSHD(self, directory, options)
        self._instances.append(server)
        server.start()
        return server

    def close(self) -> None:
        """Stop every server started from here and remove the temporary directory."""
        for server in self._instances:
            server.stop()
        self._instances.clear()
        if self._owns_directory and not os.environ.get("BLOCKSSH_KEEP_SSHD_DIR"):
            shutil.rmtree(self.directory, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# one running server
# ---------------------------------------------------------------------------------------------


class SSHD:
    """A running OpenSSH server and everything a client needs to reach it."""

    host = HOST

    def __init__(self, env: SSHDEnvironment, directory: Path, options: dict[str, list[str]]) -> None:
        self.env = env
        self.directory = directory
        self.options = options
        self.user = env.user
        self.password = env.password
        self.home = env.home
        self.scratch_dir = env.scratch_dir
        self.client_keys: dict[str, str] = {name: str(p) for name, p in env.client_keys.items()}
        self.encrypted_key = str(env.encrypted_key)
        self.encrypted_key_passphrase = env.encrypted_key_passphrase
        self.host_key_paths: dict[str, str] = {name: str(p) for name, p in env.host_key_paths.items()}
        self.algorithms: dict[str, list[str]] = {k: list(v) for k, v in env.algorithms.items()}
        self.config_path = str(directory / "sshd_config")
        self.log_path = str(directory / "sshd.log")
        self.known_hosts = str(directory / "known_hosts")
        self.port = 0
        self.pid = 0
        self._proc: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        return f"<SSHD {self.user}@{self.host}:{self.port} pid={self.pid} dir={self.directory}>"

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start sshd on a free port and wait until it answers with an SSH banner."""
        for _attempt in range(5):
            self.port = _free_port()
            Path(self.config_path).write_text(self.env._render_config(self.options, self.port, self.directory))
            with open(self.log_path, "ab") as log:
                self._proc = subprocess.Popen(
                    [self.env.sshd_executable, "-D", "-e", "-f", self.config_path],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    env={"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"},
                )
            self.pid = self._proc.pid
            if self._wait_ready():
                self._write_known_hosts()
                return
            # Lost a race for the port: try another one.
        raise SSHDError(f"sshd could not bind a port after 5 attempts\n{self.log_tail()}")

    def _wait_ready(self) -> bool:
        assert self._proc is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                tail = self.log_tail()
                if "Address already in use" in tail:
                    return False
                raise SSHDError(f"sshd exited with status {self._proc.returncode} at startup\n{tail}")
            try:
                with socket.create_connection((self.host, self.port), timeout=1.0) as sock:
                    banner = sock.recv(256)
                if banner.startswith(b"SSH-") and self._proc.poll() is None:
                    return True
            except OSError:
                pass
            time.sleep(0.02)
        self.stop()
        raise SSHDError(f"sshd did not accept connections within {START_TIMEOUT}s\n{self.log_tail()}")

    def _write_known_hosts(self) -> None:
        lines = []
        for path in self.host_key_paths.values():
            keytype, blob = Path(path + ".pub").read_text().split()[:2]
            lines.append(f"[{self.host}]:{self.port} {keytype} {blob}\n")
        Path(self.known_hosts).write_text("".join(lines))

    def is_running(self) -> bool:
        """True while the listening sshd process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def stop(self) -> None:
        """Terminate sshd, its process group and every per-connection child (bounded time)."""
        proc = self._proc
        if proc is None:
            return
        children = _descendants(proc.pid)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        _signal_all(children, signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=STOP_TIMEOUT)
        survivors = _wait_gone(children, 1.0)
        if survivors:
            _signal_all(survivors, signal.SIGKILL)
            _wait_gone(survivors, STOP_TIMEOUT)
        self._proc = None

    # -- diagnostics -------------------------------------------------------------------------

    def log_tail(self, lines: int = 60) -> str:
        """The last lines of sshd's DEBUG2 log (for failure messages)."""
        return f"--- tail of {self.log_path} ---\n{_tail(Path(self.log_path), lines)}"

    def host_public_key(self, name: str) -> str:
        """One host key's public line (``ssh-ed25519 AAAA... comment``)."""
        return Path(self.host_key_paths[name] + ".pub").read_text().strip()

    # -- the real OpenSSH client ---------------------------------------------------------------

    def _key_path(self, key: str | os.PathLike[str] | None) -> str | None:
        if key is None:
            return None
        key = os.fspath(key)
        if key == "encrypted":
            return self.encrypted_key
        return self.client_keys.get(key, key)

    def ssh_command(
        self,
        *args: str,
        key: str | os.PathLike[str] | None = "ed25519",
        user: str | None = None,
        options: Sequence[str] = (),
        flags: Sequence[str] = (),
        batch: bool | None = None,
    ) -> list[str]:
        """argv for OpenSSH's ``ssh`` against this server, remote command ``args``.

        ``key`` is a name from ``client_keys``, ``"encrypted"``, a path, or None (no public key
        authentication: pair with :meth:`ssh_env` to answer password prompts). ``options`` are
        ``-o`` settings placed first, so they win over the defaults; ``flags`` are other ssh
        options (``("-s",)`` for a subsystem, ``("-N", "-L", "...")``). ``batch`` defaults to
        BatchMode=yes unless a prompt is expected (no key, or the encrypted key).
        """
        path = self._key_path(key)
        if batch is None:
            batch = path is not None and path != self.encrypted_key
        argv = ["ssh", "-F", "/dev/null"]
        for option in options:
            argv += ["-o", option]
        defaults = [
            f"UserKnownHostsFile={self.known_hosts}",
            "GlobalKnownHostsFile=/dev/null",
            "StrictHostKeyChecking=yes",
            "CheckHostIP=no",
            "UpdateHostKeys=no",
            "IdentityAgent=none",
            "IdentitiesOnly=yes",
            "ConnectTimeout=10",
            "ConnectionAttempts=1",
            "ServerAliveInterval=10",
            "ServerAliveCountMax=3",
            "NumberOfPasswordPrompts=1",
            "LogLevel=ERROR",
            f"BatchMode={'yes' if batch else 'no'}",
        ]
        if path is None:
            defaults.append("PubkeyAuthentication=no")
        for option in defaults:
            argv += ["-o", option]
        if path is not None:
            argv += ["-i", path]
        argv += [*flags, "-p", str(self.port), "-l", user or self.user, self.host, *args]
        return argv

    def ssh_env(self, secret: str | None = None) -> dict[str, str]:
        """Environment for ssh: prompts (password, kbd-interactive, passphrase) answered with secret."""
        env = {k: v for k, v in os.environ.items() if k not in ("SSH_AUTH_SOCK", "SSH_AGENT_PID", "DISPLAY")}
        if secret is not None:
            env.update(
                SSH_ASKPASS=str(self.env.askpass),
                SSH_ASKPASS_REQUIRE="force",
                BLOCKSSH_ASKPASS_SECRET=secret,
            )
        else:
            env["SSH_ASKPASS_REQUIRE"] = "never"
        return env

    def run_ssh(
        self,
        *args: str,
        secret: str | None = None,
        input: bytes | None = None,
        timeout: float = SSH_TIMEOUT,
        env: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> subprocess.CompletedProcess[bytes]:
        """Run ``ssh`` (see :meth:`ssh_command` for kwargs) and capture its output; never hangs."""
        full_env = self.ssh_env(secret)
        if env:
            full_env.update(env)
        return subprocess.run(
            self.ssh_command(*args, **kwargs),
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            env=full_env,
            check=False,
        )
