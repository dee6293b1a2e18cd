"""Running a session's shell, command or subsystem as an operating-system process.

:class:`ProcessSession` is an :class:`~blockssh.aio.session.SSHServerSession`
that starts the login shell (``shell``), ``shell -c command`` (``exec``) or
a configured subsystem program, as the user the server runs as. With a
``pty-req`` the process gets a new pseudo-terminal as its controlling
terminal, set to the client's size and terminal modes; window changes are
passed on (the kernel then sends SIGWINCH). Without one, stdin, stdout and
stderr are pipes and stderr travels as extended data. ``signal`` requests
are delivered to the process; when it ends, the channel reports
``exit-status``, or ``exit-signal`` if a signal killed it.

Flow control works both ways: process output is read only while the
channel's write buffer is below its high-water mark, and the channel stops
reading from the client while the process's stdin is backed up.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import logging
import os
import pwd
import signal
import struct
import termios
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..aio.channel import SSHServerChannel
from ..aio.session import SSHServerSession
from ..keys import SSHCertificate
from ..proto.constants import PTY_OPCODES

__all__ = [
    "ProcessOptions",
    "ProcessSession",
    "SubsystemSpec",
    "apply_terminal_modes",
    "DEFAULT_PATH",
    "DEFAULT_KILL_GRACE",
    "SIGNALS",
]

logger = logging.getLogger("blockssh.server")

DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
DEFAULT_KILL_GRACE = 5.0  # seconds between SIGHUP and SIGKILL for a process whose channel went away
READ_SIZE = 64 * 1024
STDIN_HIGH_WATER = 256 * 1024  # stop reading from the client above this much unwritten stdin
STDIN_LOW_WATER = 64 * 1024

#: Signal names a client may send (RFC 4254 section 6.10), without "SIG".
SIGNALS: frozenset[str] = frozenset(
    {"ABRT", "ALRM", "FPE", "HUP", "ILL", "INT", "KILL", "PIPE", "QUIT", "SEGV", "TERM", "USR1", "USR2"}
)

#: A subsystem: a command line (run with ``shell -c``), an argv list, or a factory of in-process sessions.
SubsystemSpec = str | Sequence[str] | Callable[[], SSHServerSession[Any]]

_IUTF8 = getattr(termios, "IUTF8", 0o40000)  # missing from the termios module before Python 3.12
_IFLAGS = ("IGNPAR", "PARMRK", "INPCK", "ISTRIP", "INLCR", "IGNCR", "ICRNL", "IUCLC", "IXON", "IXANY", "IXOFF")
_IFLAGS_EXTRA = ("IMAXBEL", "IUTF8")
_LFLAGS = ("ISIG", "ICANON", "XCASE", "ECHO", "ECHOE", "ECHOK", "ECHONL", "NOFLSH", "TOSTOP", "IEXTEN")
_LFLAGS_EXTRA = ("ECHOCTL", "ECHOKE", "PENDIN")
_OFLAGS = ("OPOST", "OLCUC", "ONLCR", "OCRNL", "ONOCR", "ONLRET")
_CFLAGS = ("PARENB", "PARODD")


@dataclass
class ProcessOptions:
    """How :class:`ProcessSession` starts processes."""

    shell: str | None = None  # None: the server user's login shell, else /bin/sh
    cwd: str | None = None  # None: the server user's home directory
    path: str = DEFAULT_PATH
    env: Mapping[str, str] = field(default_factory=dict)  # fixed extra variables
    subsystems: Mapping[str, SubsystemSpec] = field(default_factory=dict)
    allow_pty: bool = True
    kill_grace: float = DEFAULT_KILL_GRACE

    def account(self) -> tuple[str, str, str]:
        """``(user name, home directory, shell)`` of the user the server runs as."""
        try:
            entry = pwd.getpwuid(os.getuid())
            user, home, shell = entry.pw_name, entry.pw_dir, entry.pw_shell
        except KeyError:
            user, home, shell = str(os.getuid()), "/", ""
        shell = self.shell or shell or "/bin/sh"
        return user, self.cwd or home or "/", shell


def apply_terminal_modes(fd: int, modes: Mapping[int, int]) -> None:
    """Set the terminal modes of a ``pty-req`` (RFC 4254 section 8) on a terminal file descriptor."""
    attrs = termios.tcgetattr(fd)
    iflag, oflag, cflag, lflag, ispeed, ospeed, cc = attrs
    for opcode, value in modes.items():
        name = PTY_OPCODES.get(opcode)
        if name is None:
            continue
        if name.startswith("V"):
            index = getattr(termios, name, None)
            if isinstance(index, int) and index < len(cc):
                cc[index] = bytes([value & 0xFF]) if value != 255 else b"\x00"
        elif name in _IFLAGS or name in _IFLAGS_EXTRA:
            bit = _IUTF8 if name == "IUTF8" else getattr(termios, name, 0)
            iflag = iflag | bit if value else iflag & ~bit
        elif name in _LFLAGS or name in _LFLAGS_EXTRA:
            bit = getattr(termios, name, 0)
            lflag = lflag | bit if value else lflag & ~bit
        elif name in _OFLAGS:
            bit = getattr(termios, name, 0)
            oflag = oflag | bit if value else oflag & ~bit
        elif name in _CFLAGS:
            bit = getattr(termios, name, 0)
            cflag = cflag | bit if value else cflag & ~bit
        elif name in ("CS7", "CS8") and value:
            cflag = (cflag & ~termios.CSIZE) | getattr(termios, name)
        elif name in ("TTY_OP_ISPEED", "TTY_OP_OSPEED"):
            speed = getattr(termios, f"B{value}", None)
            if isinstance(speed, int):
                if name == "TTY_OP_ISPEED":
                    ispeed = speed
                else:
                    ospeed = speed
    termios.tcsetattr(fd, termios.TCSANOW, [iflag, oflag, cflag, lflag, ispeed, ospeed, cc])


def _set_window_size(fd: int, width: int, height: int, pixwidth: int, pixheight: int) -> None:
    clamp = 0xFFFF
    size = struct.pack("HHHH", min(height, clamp), min(width, clamp), min(pixwidth, clamp), min(pixheight, clamp))
    fcntl.ioctl(fd, termios.TIOCSWINSZ, size)


def _make_controlling_tty() -> None:  # runs in the child, after setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class _ExitWatcher(asyncio.SubprocessProtocol):
    def __init__(self, on_exit: Callable[[], None]) -> None:
        self._on_exit = on_exit

    def process_exited(self) -> None:
        self._on_exit()


class ProcessSession(SSHServerSession[bytes]):
    """A session whose shell, command or subsystem runs as an OS process (bytes channel)."""

    def __init__(self, options: ProcessOptions | None = None) -> None:
        self.options = options or ProcessOptions()
        self._chan: SSHServerChannel[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._delegate: SSHServerSession[Any] | None = None
        self._pty_master: int | None = None
        self._pty_slave: int | None = None
        self._term_type = ""
        self._term_size = (80, 24, 0, 0)
        self._term_modes: dict[int, int] = {}
        self._stdin: int | None = None
        self._outputs: dict[int, int | None] = {}  # our read end -> datatype (None stdout, 1 stderr)
        self._reading = False
        self._output_paused = False  # the channel asked us to stop writing
        self._use_pty = False
        self._stdin_buf = bytearray()
        self._stdin_eof = False
        self._stdin_blocked = False
        self._writer_active = False
        self._transport: asyncio.SubprocessTransport | None = None
        self._pid: int | None = None
        self._returncode: int | None = None
        self._finished = False
        self._channel_gone = False
        self._kill_timer: asyncio.TimerHandle | None = None
        self._spawn_task: asyncio.Task[None] | None = None
        self._exited: asyncio.Future[int] | None = None  # resolved when the process has exited
        self.command: str | None = None  # what ran (after any forced command)

    # -- session callbacks ------------------------------------------------------

    def connection_made(self, chan: Any) -> None:
        """Keep the channel."""
        self._chan = chan
        self._loop = asyncio.get_running_loop()

    def _key_restrictions(self) -> tuple[bool, str | None]:
        """(pty allowed, forced command) from the authorized_keys line or certificate that admitted the client."""
        conn = self._chan.get_extra_info("connection") if self._chan is not None else None
        entry = getattr(conn, "authorized_key_entry", None)
        key = getattr(conn, "client_key", None)
        allow_pty = self.options.allow_pty and (entry is None or entry.permit_pty)
        forced = entry.command if entry is not None else None
        if isinstance(key, SSHCertificate):
            forced = key.critical_options.get("force-command") or forced
            if "permit-pty" not in key.extensions:
                allow_pty = False
        return allow_pty, forced

    def pty_requested(self, term_type: str, term_size: tuple[int, int, int, int], term_modes: dict[int, int]) -> bool:
        """Open a pseudo-terminal with the client's size and modes."""
        if not self._key_restrictions()[0] or self._pty_master is not None:
            return False
        try:
            master, slave = os.openpty()
        except OSError as exc:
            logger.warning("cannot allocate a pty: %s", exc)
            return False
        self._pty_master, self._pty_slave = master, slave
        self._term_type = term_type
        self._term_size = term_size
        self._term_modes = dict(term_modes)
        try:
            apply_terminal_modes(slave, term_modes)
        except (OSError, termios.error) as exc:
            logger.debug("could not apply terminal modes: %s", exc)
        try:
            _set_window_size(master, *term_size)
        except OSError as exc:
            logger.debug("could not set the window size: %s", exc)
        return True

    def terminal_size_changed(self, width: int, height: int, pixwidth: int, pixheight: int) -> None:
        """Pass a window change to the pty (the kernel signals SIGWINCH)."""
        if self._delegate is not None:
            self._delegate.terminal_size_changed(width, height, pixwidth, pixheight)
            return
        self._term_size = (width, height, pixwidth, pixheight)
        if self._pty_master is not None:
            try:
                _set_window_size(self._pty_master, width, height, pixwidth, pixheight)
            except OSError as exc:
                logger.debug("could not set the window size: %s", exc)

    def shell_requested(self) -> bool:
        """Start the login shell (or the forced command)."""
        _, forced = self._key_restrictions()
        if forced is not None:
            return self._start_command(forced, None)
        user, home, shell = self.options.account()
        argv0 = "-" + os.path.basename(shell)
        return self._spawn([argv0], executable=shell, original=None, use_pty=self._pty_master is not None)

    def exec_requested(self, command: str) -> bool:
        """Run ``command`` with the shell (or the forced command instead)."""
        _, forced = self._key_restrictions()
        if forced is not None:
            return self._start_command(forced, command)
        return self._start_command(command, None)

    def subsystem_requested(self, subsystem: str) -> bool:
        """Start a configured subsystem: a program, or an in-process session."""
        spec = self.options.subsystems.get(subsystem)
        if spec is None:
            return False
        _, forced = self._key_restrictions()
        if forced is not None:
            return self._start_command(forced, subsystem)
        if callable(spec):
            delegate: object = spec()
            if not isinstance(delegate, SSHServerSession) or self._chan is None:
                return False
            self._release_pty()
            self._delegate = delegate
            self.command = subsystem
            delegate.connection_made(self._chan)
            return True
        self.command = subsystem
        if isinstance(spec, str):
            return self._start_command(spec, None, use_pty=False)
        argv = list(spec)
        return self._spawn(argv, executable=argv[0], original=None, use_pty=False)

    def _start_command(self, command: str, original: str | None, *, use_pty: bool | None = None) -> bool:
        _, _, shell = self.options.account()
        self.command = command
        pty = self._pty_master is not None if use_pty is None else use_pty
        return self._spawn([shell, "-c", command], executable=shell, original=original, use_pty=pty)

    def session_started(self) -> None:
        """Forwarded to an in-process subsystem."""
        if self._delegate is not None:
            self._delegate.session_started()

    def data_received(self, data: bytes, datatype: int | None) -> None:
        """Client input goes to the process's stdin (or the pty)."""
        if self._delegate is not None:
            self._delegate.data_received(data, datatype)
            return
        if datatype is not None or self._stdin_eof or self._finished:
            return
        payload: object = data  # str when the listener was given an encoding
        self._stdin_buf += payload.encode("utf-8") if isinstance(payload, str) else data
        self._write_stdin()

    def eof_received(self) -> bool:
        """Close stdin once it is written (with a pty: type the EOF character)."""
        if self._delegate is not None:
            return self._delegate.eof_received()
        if self._pty_master is not None and self._stdin is not None and not self._stdin_eof:
            self._stdin_buf += self._veof()
            self._write_stdin()
        self._stdin_eof = True
        self._write_stdin()
        return True  # keep our side open: output follows until the process ends

    def _veof(self) -> bytes:
        try:
            assert self._pty_master is not None
            char = termios.tcgetattr(self._pty_master)[6][termios.VEOF]
            return char if isinstance(char, bytes) and char != b"\x00" else b"\x04"
        except (OSError, termios.error):
            return b"\x04"

    def signal_received(self, signal_name: str) -> None:
        """Deliver an RFC 4254 signal to the process."""
        if self._delegate is not None:
            self._delegate.signal_received(signal_name)
            return
        name = signal_name.upper().removeprefix("SIG")
        if name not in SIGNALS or self._pid is None or self._returncode is not None:
            return
        try:
            os.kill(self._pid, getattr(signal, "SIG" + name))
        except ProcessLookupError:
            pass

    def break_received(self, msec: int) -> bool:
        """Send a break on the pty (there is none to send without one)."""
        if self._delegate is not None:
            return self._delegate.break_received(msec)
        if self._pty_master is None:
            return False
        try:
            termios.tcsendbreak(self._pty_master, 0)
        except (OSError, termios.error):
            return False
        return True

    def soft_eof_received(self) -> None:
        """Forwarded to an in-process subsystem."""
        if self._delegate is not None:
            self._delegate.soft_eof_received()

    def pause_writing(self) -> None:
        """The channel is backed up: stop reading the process's output."""
        if self._delegate is not None:
            self._delegate.pause_writing()
            return
        self._output_paused = True
        self._stop_reading()

    def resume_writing(self) -> None:
        """The channel drained: read the process's output again."""
        if self._delegate is not None:
            self._delegate.resume_writing()
            return
        self._output_paused = False
        self._start_reading()

    def connection_lost(self, exc: BaseException | None) -> None:
        """The channel closed: hang up on a process that is still running."""
        self._channel_gone = True
        if self._delegate is not None:
            self._delegate.connection_lost(exc)
        self._stop_reading()
        self._close_stdin()
        self._close_outputs()
        self._release_pty()
        self._hang_up()  # a process still being started is hung up on once it has (see _start_process)

    def _hang_up(self) -> None:
        """SIGHUP the process group now, SIGKILL after ``kill_grace`` seconds if it is still there."""
        if self._pid is not None and self._returncode is None:
            if self._kill_timer is None:
                self._signal_group(signal.SIGHUP)
                assert self._loop is not None
                self._kill_timer = self._loop.call_later(self.options.kill_grace, self._signal_group, signal.SIGKILL)
        elif self._transport is not None:
            self._transport.close()

    # -- starting the process --------------------------------------------------

    def _environment(self, use_pty: bool, original: str | None) -> dict[str, str]:
        user, home, shell = self.options.account()
        chan = self._chan
        assert chan is not None
        env: dict[str, str] = dict(chan.get_environment())
        env.update(self.options.env)
        env.update(HOME=home, USER=user, LOGNAME=user, SHELL=shell)
        env.setdefault("PATH", self.options.path)
        peer = chan.get_extra_info("peername")
        local = chan.get_extra_info("sockname")
        if isinstance(peer, tuple) and isinstance(local, tuple):
            env["SSH_CLIENT"] = f"{peer[0]} {peer[1]} {local[1]}"
            env["SSH_CONNECTION"] = f"{peer[0]} {peer[1]} {local[0]} {local[1]}"
        if use_pty:
            env["TERM"] = self._term_type or "dumb"
            if self._pty_slave is not None:
                try:
                    env["SSH_TTY"] = os.ttyname(self._pty_slave)
                except OSError:
                    pass
        if original is not None:
            env["SSH_ORIGINAL_COMMAND"] = original
        agent_path = chan.get_extra_info("agent_path")  # set when this session asked for agent forwarding
        if agent_path:
            env["SSH_AUTH_SOCK"] = agent_path
        return env

    def _spawn(self, argv: list[str], *, executable: str, original: str | None, use_pty: bool) -> bool:
        if self._pid is not None or self._spawn_task is not None or self._chan is None:
            return False
        if not use_pty:
            self._release_pty()
        self._use_pty = use_pty
        env = self._environment(use_pty, original)
        _, cwd, _ = self.options.account()
        if not os.path.isdir(cwd):
            cwd = "/"
        child_fds: list[int] = []
        try:
            if use_pty:
                assert self._pty_master is not None and self._pty_slave is not None
                stdin = stdout = stderr = self._pty_slave
                # Separate descriptors for reading and writing; the master itself stays for ioctls.
                self._stdin = os.dup(self._pty_master)
                self._outputs = {os.dup(self._pty_master): None}
                child_fds.append(self._pty_slave)
                self._pty_slave = None
            else:
                in_r, in_w = os.pipe()
                out_r, out_w = os.pipe()
                err_r, err_w = os.pipe()
                stdin, stdout, stderr = in_r, out_w, err_w
                child_fds += [in_r, out_w, err_w]
                self._stdin = in_w
                self._outputs = {out_r: None, err_r: 1}
            for fd in [self._stdin, *self._outputs]:
                os.set_blocking(fd, False)
        except OSError as exc:
            for fd in child_fds:
                os.close(fd)
            logger.warning("cannot create process pipes: %s", exc)
            return False
        assert self._loop is not None
        self._exited = self._loop.create_future()
        add_waiter = getattr(self._chan.get_extra_info("connection"), "add_close_waiter", None)
        if add_waiter is not None:
            add_waiter(self._exited)  # the server's wait_closed() covers the process too
        self._spawn_task = asyncio.ensure_future(
            self._start_process(argv, executable, env, cwd, stdin, stdout, stderr, use_pty, child_fds)
        )
        return True

    async def _start_process(
        self,
        argv: list[str],
        executable: str,
        env: dict[str, str],
        cwd: str,
        stdin: int,
        stdout: int,
        stderr: int,
        use_pty: bool,
        child_fds: list[int],
    ) -> None:
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.subprocess_exec(
                lambda: _ExitWatcher(self._process_exited),
                *argv,
                executable=executable,
                stdin=stdin,
                stdout=stdout,
                stderr=stderr,
                env=env,
                cwd=cwd,
                start_new_session=True,
                preexec_fn=_make_controlling_tty if use_pty else None,
                close_fds=True,
            )
        except (OSError, ValueError) as exc:
            logger.warning("cannot start %r: %s", executable, exc)
            self._spawn_failed(f"blockssh: cannot start {executable}: {exc}")
            return
        except BaseException:  # cancelled (the loop is shutting down): asyncio has killed the child
            self._resolve_exited(-1)
            raise
        finally:
            for fd in child_fds:
                os.close(fd)
            self._spawn_task = None
        self._transport = transport
        self._pid = transport.get_pid()
        if self._channel_gone:  # the channel closed while the process was starting
            rc = transport.get_returncode()
            if rc is not None:
                self._process_exited()
            else:
                self._hang_up()
            return
        rc = transport.get_returncode()
        self._start_reading()
        self._write_stdin()
        if rc is not None:
            self._process_exited()

    def _resolve_exited(self, returncode: int) -> None:
        if self._exited is not None and not self._exited.done():
            self._exited.set_result(returncode)

    def _spawn_failed(self, message: str) -> None:
        self._resolve_exited(127)
        self._close_stdin()
        self._close_outputs()
        self._release_pty()
        self._finished = True
        chan = self._chan
        if chan is None or chan.is_closing():
            return
        if self._use_pty:
            chan.write(message.encode() + b"\r\n")
        else:
            chan.write_stderr(message.encode() + b"\n")
        chan.exit(127)

    # -- output: process -> channel --------------------------------------------

    def _start_reading(self) -> None:
        if self._reading or self._output_paused or self._loop is None or self._channel_gone:
            return
        self._reading = True
        for fd in self._outputs:
            self._loop.add_reader(fd, self._read_ready, fd)

    def _stop_reading(self) -> None:
        if not self._reading or self._loop is None:
            return
        self._reading = False
        for fd in self._outputs:
            self._loop.remove_reader(fd)

    def _read_ready(self, fd: int) -> None:
        try:
            data = os.read(fd, READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            if exc.errno != errno.EIO:  # EIO: the pty's other side is closed, i.e. end of output
                logger.debug("read error on process output: %s", exc)
            data = b""
        if data:
            self._forward(data, self._outputs.get(fd))
            return
        self._output_closed(fd)

    def _forward(self, data: bytes, datatype: int | None) -> None:
        chan = self._chan
        if chan is None or chan.is_closing():
            return
        if datatype is None:
            chan.write(data)
        else:
            chan.write_stderr(data)

    def _output_closed(self, fd: int) -> None:
        if fd in self._outputs:
            if self._reading and self._loop is not None:
                self._loop.remove_reader(fd)
            del self._outputs[fd]
            os.close(fd)
        self._maybe_finish()

    def _drain_outputs(self) -> None:
        """After a pty process exits: take what it left in the terminal, without waiting for its children."""
        for fd in list(self._outputs):
            while fd in self._outputs:
                try:
                    data = os.read(fd, READ_SIZE)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    data = b""
                if not data:
                    self._output_closed(fd)
                    break
                self._forward(data, self._outputs.get(fd))

    def _close_outputs(self) -> None:
        self._stop_reading()
        for fd in list(self._outputs):
            os.close(fd)
        self._outputs.clear()

    # -- input: channel -> process -----------------------------------------------

    def _write_stdin(self) -> None:
        fd = self._stdin
        if fd is None:
            return
        while self._stdin_buf:
            try:
                n = os.write(fd, self._stdin_buf)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:  # the process closed its stdin: drop what it will never read
                self._stdin_buf.clear()
                self._close_stdin()
                return
            del self._stdin_buf[:n]
        loop = self._loop
        assert loop is not None
        if self._stdin_buf and not self._writer_active:
            self._writer_active = True
            loop.add_writer(fd, self._write_stdin)
        elif not self._stdin_buf and self._writer_active:
            self._writer_active = False
            loop.remove_writer(fd)
        chan = self._chan
        if chan is not None:
            if len(self._stdin_buf) > STDIN_HIGH_WATER and not self._stdin_blocked:
                self._stdin_blocked = True
                chan.pause_reading()
            elif len(self._stdin_buf) <= STDIN_LOW_WATER and self._stdin_blocked:
                self._stdin_blocked = False
                chan.resume_reading()
        if self._stdin_eof and not self._stdin_buf:
            self._close_stdin()

    def _close_stdin(self) -> None:
        fd = self._stdin
        if fd is None:
            return
        self._stdin = None
        if self._writer_active and self._loop is not None:
            self._loop.remove_writer(fd)
            self._writer_active = False
        os.close(fd)

    # -- the end ------------------------------------------------------------------

    def _process_exited(self) -> None:
        if self._returncode is not None or self._transport is None:
            return
        rc = self._transport.get_returncode()
        self._returncode = rc if rc is not None else -1
        self._resolve_exited(self._returncode)
        if self._kill_timer is not None:
            self._kill_timer.cancel()
            self._kill_timer = None
        if self._channel_gone:
            self._transport.close()
            return
        if self._use_pty:
            self._drain_outputs()
            self._close_outputs()
        self._maybe_finish()

    def _maybe_finish(self) -> None:
        if self._finished or self._returncode is None or self._outputs:
            return
        self._finished = True
        self._close_stdin()
        self._release_pty()
        if self._transport is not None:
            self._transport.close()
        chan = self._chan
        if chan is None or chan.is_closing():
            return
        rc = self._returncode
        if rc >= 0:
            chan.exit(rc)
            return
        try:
            name = signal.Signals(-rc).name.removeprefix("SIG")
        except ValueError:
            name = str(-rc)
        chan.exit_with_signal(name)

    def _signal_group(self, sig: int) -> None:
        self._kill_timer = None
        if self._pid is None or self._returncode is not None:
            return
        try:
            os.killpg(self._pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def _release_pty(self) -> None:
        for fd in (self._pty_master, self._pty_slave):
            if fd is not None:
                os.close(fd)
        self._pty_master = self._pty_slave = None
