"""paramiko's SFTPClient and blockssh's, side by side against OpenSSH's sftp server.

Each scenario is written once against paramiko's API and run with both clients, each in its own
directory; what a script can observe (values with their types, exception categories and errno)
must agree: stat fields, listdir_attr, error classes, open modes r/w/a/+/x, seek/tell, readline.
"""

from __future__ import annotations

import io
import os
import stat
import uuid
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import blockssh
from blockssh.sync import sftp as blockssh_sftp

paramiko = pytest.importorskip("paramiko")

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]

SFTPClientClass = getattr(blockssh, "SFTPClient", blockssh_sftp.SFTPClient)


def category(exc: BaseException) -> tuple[str, Any]:
    """How a script tells errors apart: the builtin category and errno."""
    for name, cls in (
        ("FileNotFoundError", FileNotFoundError),
        ("PermissionError", PermissionError),
        ("EOFError", EOFError),
        ("SFTPError", (paramiko.SFTPError, blockssh.SFTPError)),
        ("SSHException", (paramiko.SSHException, blockssh.SSHException)),
        ("ValueError", ValueError),
        ("OSError", OSError),
    ):
        if isinstance(exc, cls):  # type: ignore[arg-type]
            return name, getattr(exc, "errno", None)
    return type(exc).__name__, None


def attempt(fn: Callable[[], Any]) -> Any:
    try:
        value = fn()
    except Exception as exc:  # noqa: BLE001 - the category is the observation
        return ("raises",) + category(exc)
    return normal(value)


def normal(value: Any) -> Any:
    if isinstance(value, (bytes, str, int, float, type(None), bool)):
        return (type(value).__name__, value)
    if isinstance(value, (list, tuple)):
        return [normal(v) for v in value]
    if type(value).__name__ == "SFTPAttributes":
        return ("SFTPAttributes",) + attrs_fields(value)
    return type(value).__name__


def attrs_fields(a: Any) -> tuple[Any, ...]:
    return tuple(
        (name, type(getattr(a, name)).__name__, getattr(a, name))
        for name in ("st_size", "st_uid", "st_gid", "st_mode", "st_atime", "st_mtime", "attr")
    ) + (getattr(a, "filename", None),)


@pytest.fixture
def clients(sshd: Any) -> Iterator[dict[str, tuple[Any, str]]]:
    """{"paramiko": (sftp, workdir), "blockssh": (sftp, workdir)} on the same server."""
    base = f"{sshd.scratch_dir}/compat-{uuid.uuid4().hex[:8]}"
    made: list[Any] = []
    out: dict[str, tuple[Any, str]] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, module in (("paramiko", paramiko), ("blockssh", blockssh)):
            c = module.SSHClient()
            c.load_host_keys(str(sshd.known_hosts))
            c.connect(
                sshd.host,
                sshd.port,
                username=sshd.user,
                key_filename=str(sshd.client_keys["ed25519"]),
                look_for_keys=False,
                allow_agent=False,
            )
            made.append(c)
            cls = paramiko.SFTPClient if module is paramiko else SFTPClientClass
            sftp = cls.from_transport(c.get_transport())
            if not made[1:]:
                sftp.mkdir(base)
            work = f"{base}/{name}"
            sftp.mkdir(work)
            out[name] = (sftp, work)
    yield out
    for sftp, _ in out.values():
        sftp.close()
    for c in made:
        c.close()


def compare(clients: dict[str, tuple[Any, str]], scenario: Callable[[Any, str], list[Any]]) -> list[Any]:
    results = {name: scenario(sftp, work) for name, (sftp, work) in clients.items()}
    assert results["blockssh"] == results["paramiko"]
    return results["paramiko"]


def test_stat_fields(clients: dict[str, tuple[Any, str]]) -> None:
    def scenario(sftp: Any, work: str) -> list[Any]:
        sftp.putfo(io.BytesIO(b"x" * 1234), f"{work}/f")
        sftp.chmod(f"{work}/f", 0o640)
        sftp.utime(f"{work}/f", (1_500_000_000, 1_600_000_000))
        sftp.mkdir(f"{work}/d", 0o750)
        sftp.symlink("f", f"{work}/l")
        f_attrs = sftp.stat(f"{work}/f")
        l_attrs = sftp.lstat(f"{work}/l")
        return [
            normal(f_attrs),
            oct(f_attrs.st_mode),
            stat.S_ISDIR(sftp.stat(f"{work}/d").st_mode),
            oct(stat.S_IMODE(sftp.stat(f"{work}/d").st_mode)),
            stat.S_ISLNK(l_attrs.st_mode),
            normal(sftp.stat(f"{work}/l")),
            sftp.readlink(f"{work}/l"),
            normal(sftp.put.__name__),
        ]

    compare(clients, scenario)


def test_listdir_and_listdir_attr(clients: dict[str, tuple[Any, str]]) -> None:
    def scenario(sftp: Any, work: str) -> list[Any]:
        for name, size in (("b.txt", 3), ("a.txt", 10), (".hidden", 1)):
            sftp.putfo(io.BytesIO(b"y" * size), f"{work}/{name}")
        sftp.mkdir(f"{work}/sub")
        entries = sorted(sftp.listdir_attr(work), key=lambda a: a.filename)
        return [
            sorted(sftp.listdir(work)),
            [normal(e) for e in entries],
            [e.longname.split()[-1] for e in entries],
            [e.longname.split()[0] for e in entries],
            [type(e.longname).__name__ for e in entries],
            sorted(a.filename for a in sftp.listdir_iter(work)),
        ]

    compare(clients, scenario)


def test_error_classes(clients: dict[str, tuple[Any, str]]) -> None:
    def scenario(sftp: Any, work: str) -> list[Any]:
        sftp.mkdir(f"{work}/full")
        sftp.putfo(io.BytesIO(b"1"), f"{work}/full/x")
        return [
            attempt(lambda: sftp.stat(f"{work}/missing")),
            attempt(lambda: sftp.lstat(f"{work}/missing")),
            attempt(lambda: sftp.open(f"{work}/missing")),
            attempt(lambda: sftp.remove(f"{work}/missing")),
            attempt(lambda: sftp.listdir(f"{work}/missing")),
            attempt(lambda: sftp.rmdir(f"{work}/full")),
            attempt(lambda: sftp.mkdir(f"{work}/full")),
            attempt(lambda: sftp.rename(f"{work}/missing", f"{work}/other")),
            attempt(lambda: sftp.open("/root/.ssh/nope", "w")),
            attempt(lambda: sftp.chdir(f"{work}/full/x")),
            attempt(lambda: sftp.get(f"{work}/missing", os.devnull)),
        ]

    result = compare(clients, scenario)
    assert result[0] == ("raises", "FileNotFoundError", 2)


MODES = ["r", "rb", "w", "wb", "a", "ab", "r+", "r+b", "w+", "a+", "x", "xb"]


@pytest.mark.parametrize("mode", MODES)
def test_open_modes(clients: dict[str, tuple[Any, str]], mode: str) -> None:
    """Same observations in every mode, except that paramiko's files opened with "x" refuse writes.

    paramiko opens "x" files with WRITE|CREAT|EXCL but its file object does not mark them
    writable (a bug); blockssh's write like Python's "x" files do.
    """

    def scenario(sftp: Any, work: str) -> list[Any]:
        path = f"{work}/m"
        sftp.putfo(io.BytesIO(b"0123456789"), path)
        out: list[Any] = []
        try:
            f = sftp.open(path, mode)
        except Exception as exc:  # noqa: BLE001
            out.append(("open raises",) + category(exc))
            sftp.remove(path)
            f = sftp.open(path, mode)  # "x" works once the file is gone
        with f:
            out.append(("tell", f.tell()))
            out.append(("write", attempt(lambda: f.write(b"AB"))))
            out.append(("tell", f.tell()))
            f.seek(0)
            out.append(("read", attempt(lambda: f.read(4))))
            out.append(("tell", f.tell()))
            out.append(("readline", attempt(lambda: f.readline())))
        out.append(("content", sftp.open(path, "rb").read()))
        return out

    if "x" not in mode:
        compare(clients, scenario)
        return
    results = {name: scenario(sftp, work) for name, (sftp, work) in clients.items()}
    assert results["paramiko"][2] == ("write", ("raises", "OSError", None))
    assert results["blockssh"][2] == ("write", ("NoneType", None))
    assert results["blockssh"][-1] == ("content", b"AB")
    assert results["blockssh"][0] == results["paramiko"][0] == ("open raises", "OSError", None)


def test_seek_and_tell(clients: dict[str, tuple[Any, str]]) -> None:
    def scenario(sftp: Any, work: str) -> list[Any]:
        data = bytes(range(256)) * 2000
        sftp.putfo(io.BytesIO(data), f"{work}/s")
        out: list[Any] = []
        with sftp.open(f"{work}/s", "rb") as f:
            f.seek(100)
            out.append(normal(f.read(10)))
            out.append(f.tell())
            f.seek(-20, os.SEEK_CUR)
            out.append(normal(f.read(3)))
            f.seek(-5, os.SEEK_END)
            out.append(normal(f.read()))
            out.append(f.tell())
            f.seek(len(data) + 100)
            out.append(normal(f.read(10)))
            out.append(f.tell())
        with sftp.open(f"{work}/t", "w") as f:
            f.write(b"hello")
            out.append(f.tell())
            f.seek(1)
            f.write(b"EL")
            out.append(f.tell())
        out.append(normal(sftp.open(f"{work}/t").read()))
        return out

    compare(clients, scenario)


def test_seek_returns_the_position_where_paramiko_returns_none(clients: dict[str, tuple[Any, str]]) -> None:
    """Deliberate differences: ``seek`` returns the new position and refuses a bad whence, like Python's files."""
    for name, (sftp, work) in clients.items():
        sftp.putfo(io.BytesIO(b"abc"), f"{work}/q")
        with sftp.open(f"{work}/q") as f:
            assert f.seek(2) == (None if name == "paramiko" else 2)
            if name == "blockssh":  # paramiko treats any unknown whence as SEEK_END
                with pytest.raises(ValueError):
                    f.seek(0, 7)


def test_lines_iteration_and_file_objects(clients: dict[str, tuple[Any, str]]) -> None:
    def scenario(sftp: Any, work: str) -> list[Any]:
        sftp.putfo(io.BytesIO(b"one\ntwo\nthree"), f"{work}/l")
        out: list[Any] = []
        with sftp.open(f"{work}/l") as f:
            out.append(normal(f.readline()))
            out.append(normal(list(f)))
        with sftp.open(f"{work}/l", "rb") as f:
            out.append(normal(f.readlines()))
        with sftp.open(f"{work}/l") as f:
            out.append(normal(f.read()))
        buf = io.BytesIO()
        out.append(normal(sftp.getfo(f"{work}/l", buf)))
        out.append(normal(buf.getvalue()))
        seen: list[tuple[int, int]] = []
        sftp.getfo(f"{work}/l", io.BytesIO(), callback=lambda a, b: seen.append((a, b)))
        out.append(seen[-1])
        out.append(normal(sftp.putfo(io.BytesIO(b"abc"), f"{work}/p", confirm=False)))
        out.append(normal(sftp.normalize(f"{work}/.") == work))
        out.append(sftp.getcwd())
        return out

    compare(clients, scenario)
