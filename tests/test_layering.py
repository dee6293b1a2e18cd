"""The import rules of DESIGN.md, checked on every module under blockssh/ with ``ast``.

Layers, lowest first: exceptions, keys (with the leaf proto.wire), proto, config, aio and sftp,
sync, and the top-level facade ``blockssh``.

* ``blockssh.exceptions`` imports nothing from blockssh.
* ``blockssh.keys`` imports only keys, exceptions and the leaf ``blockssh.proto.wire``.
* ``blockssh.proto`` imports only proto, keys, exceptions, and never the I/O, clock or thread parts
  of the standard library (it is sans-I/O: time and randomness are passed in).
* ``blockssh.config`` imports only config, exceptions, keys, proto.
* ``blockssh.aio`` and ``blockssh.sftp`` import aio, sftp, proto, keys, exceptions, config; never
  ``blockssh.sync`` nor the top-level facade. ``blockssh.sftp.codec`` is sans-I/O too.
* ``blockssh.server`` (the ready server) imports server, aio, sftp, proto, keys, exceptions, config.
* ``blockssh.sync`` may import anything except the top-level ``blockssh`` package itself and the
  top-level facade modules (paramiko's module paths: ``blockssh/client.py``, ``blockssh/util.py``...,
  thin re-exports of sync, keys and config; every top-level ``.py`` file but ``exceptions`` and
  ``_version`` is one).
* Nobody imports ``blockssh.__main__``.

Imports are collected everywhere in a module (function bodies and ``if TYPE_CHECKING:`` blocks
included), relative imports are resolved, ``from pkg import name`` counts as importing the
submodule ``pkg.name`` when that module exists and ``pkg`` otherwise, and constant-string
``importlib.import_module``/``__import__`` calls are included. New modules are covered
automatically; a new top-level module must be added to a rule before lower layers may use it.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "blockssh"
MAX_MODULE_LINES = 1500

# source layer -> prefixes its imports of blockssh modules must start with
ALLOWED: dict[str, tuple[str, ...]] = {
    "blockssh.exceptions": ("blockssh.exceptions",),
    "blockssh.keys": ("blockssh.keys", "blockssh.exceptions", "blockssh.proto.wire"),
    "blockssh.proto": ("blockssh.proto", "blockssh.keys", "blockssh.exceptions"),
    "blockssh.config": ("blockssh.config", "blockssh.exceptions", "blockssh.keys", "blockssh.proto"),
    "blockssh.aio": (
        "blockssh.aio",
        "blockssh.sftp",
        "blockssh.proto",
        "blockssh.keys",
        "blockssh.exceptions",
        "blockssh.config",
        "blockssh._version",
    ),
    "blockssh.sftp": (
        "blockssh.sftp",
        "blockssh.aio",
        "blockssh.proto",
        "blockssh.keys",
        "blockssh.exceptions",
        "blockssh.config",
        "blockssh._version",
    ),
    # the ready server (sessions as OS processes) sits on aio, beside sftp
    "blockssh.server": (
        "blockssh.server",
        "blockssh.aio",
        "blockssh.sftp",
        "blockssh.proto",
        "blockssh.keys",
        "blockssh.exceptions",
        "blockssh.config",
        "blockssh._version",
    ),
}
# source layer -> prefixes it must not import even when ALLOWED would let it
FORBIDDEN_PREFIXES: dict[str, tuple[str, ...]] = {
    "blockssh.aio": ("blockssh.sftp.sync", "blockssh.sftp.blocking"),
    "blockssh.sftp": ("blockssh.sftp.sync", "blockssh.sftp.blocking"),
}
# source layer -> exact blockssh modules it must not import
FORBIDDEN_EXACT: dict[str, tuple[str, ...]] = {
    "blockssh.sync": ("blockssh",),
}
NOBODY_IMPORTS = ("blockssh.__main__",)
# Top-level single-file modules that lower layers may use; every other top-level .py file is part of
# the facade (paramiko-compatible module paths re-exporting sync), which sync must not import.
CORE_TOP_LEVEL = ("blockssh.exceptions", "blockssh._version", "blockssh.__main__")

_IO_STDLIB = ("socket", "asyncio", "threading", "select", "selectors", "subprocess", "_thread", "multiprocessing")
# layer -> standard-library top-level modules it must not import
BANNED_STDLIB: dict[str, tuple[str, ...]] = {
    "blockssh.proto": (*_IO_STDLIB, "time", "concurrent"),
    "blockssh.sftp.codec": (*_IO_STDLIB, "concurrent"),
}


@dataclasses.dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # what it imports (absolute dotted name)
    lineno: int
    relative: bool

    def where(self) -> str:
        return f"{self.module}:{self.lineno}"


# ---------------------------------------------------------------------------------------------
# the checker
# ---------------------------------------------------------------------------------------------


def discover(package_dir: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every .py under package_dir (a package named by its dir)."""
    modules: dict[str, Path] = {}
    base = package_dir.parent
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(base).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def collect_imports(modules: dict[str, Path]) -> tuple[list[Import], list[str]]:
    """All imports of the given modules, and errors (unparsable files, relative imports too deep)."""
    found: list[Import] = []
    errors: list[str] = []
    for name, path in modules.items():
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except SyntaxError as exc:
            errors.append(f"{name}: cannot parse: {exc}")
            continue
        package = name if _is_package(path) else name.rpartition(".")[0]
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    found.append(Import(name, alias.name, node.lineno, False))
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    parts = package.split(".")
                    if node.level - 1 >= len(parts):
                        errors.append(f"{name}:{node.lineno}: relative import beyond the top-level package")
                        continue
                    base = ".".join(parts[: len(parts) - (node.level - 1)])
                    source = f"{base}.{node.module}" if node.module else base
                else:
                    source = node.module or ""
                for alias in node.names:
                    candidate = f"{source}.{alias.name}"
                    target = candidate if alias.name != "*" and candidate in modules else source
                    found.append(Import(name, target, node.lineno, bool(node.level)))
            elif isinstance(node, ast.Call):
                dynamic = _dynamic_import_name(node)
                if dynamic is not None:
                    found.append(Import(name, dynamic, node.lineno, False))
    return found, errors


def _dynamic_import_name(node: ast.Call) -> str | None:
    func = node.func
    is_import = (isinstance(func, ast.Name) and func.id in ("__import__", "import_module")) or (
        isinstance(func, ast.Attribute) and func.attr == "import_module"
    )
    if not is_import or not node.args:
        return None
    arg = node.args[0]
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and not arg.value.startswith("."):
        return arg.value
    return None


def _matches(name: str, prefixes: Iterable[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _layer(module: str, table: Iterable[str]) -> str | None:
    best = None
    for key in table:
        if _matches(module, (key,)) and (best is None or len(key) > len(best)):
            best = key
    return best


def _is_facade_module(target: str, modules: dict[str, Path], package: str) -> bool:
    """A top-level single-file module (``blockssh/client.py``) other than the core ones."""
    parts = target.split(".")
    if len(parts) < 2 or parts[0] != package:
        return False
    top = f"{package}.{parts[1]}"
    path = modules.get(top)
    core = {name.replace(PACKAGE, package, 1) for name in CORE_TOP_LEVEL}
    return path is not None and not _is_package(path) and top not in core


def check(package_dir: Path, package: str = PACKAGE) -> list[str]:
    """Every violation of the rules above, as readable lines (empty when the package complies)."""
    modules = discover(package_dir)
    imports, problems = collect_imports(modules)
    for imp in imports:
        top = imp.target.split(".")[0]
        if top != package:
            banned_layer = _layer(imp.module, BANNED_STDLIB)
            if not imp.relative and banned_layer and top in BANNED_STDLIB[banned_layer]:
                problems.append(f"{imp.where()}: {banned_layer} is sans-I/O and must not import {imp.target}")
            continue
        if imp.target in NOBODY_IMPORTS:
            problems.append(f"{imp.where()}: imports {imp.target}")
        layer = _layer(imp.module, ALLOWED)
        if layer is not None and not _matches(imp.target, ALLOWED[layer]):
            allowed = ", ".join(ALLOWED[layer])
            problems.append(f"{imp.where()}: {layer} must not import {imp.target} (allowed: {allowed})")
        forbidden_layer = _layer(imp.module, FORBIDDEN_PREFIXES)
        if forbidden_layer is not None and _matches(imp.target, FORBIDDEN_PREFIXES[forbidden_layer]):
            problems.append(f"{imp.where()}: {forbidden_layer} must not import {imp.target}")
        if _layer(imp.module, ("blockssh.sync",)) and _is_facade_module(imp.target, modules, package):
            problems.append(f"{imp.where()}: blockssh.sync must not import the facade module {imp.target}")
        exact_layer = _layer(imp.module, FORBIDDEN_EXACT)
        if exact_layer is not None and imp.target in FORBIDDEN_EXACT[exact_layer]:
            problems.append(f"{imp.where()}: {exact_layer} must not import the top-level {imp.target} package")
    return problems


# ---------------------------------------------------------------------------------------------
# the real package
# ---------------------------------------------------------------------------------------------


def test_package_is_scanned() -> None:
    modules = discover(ROOT / PACKAGE)
    assert PACKAGE in modules and f"{PACKAGE}.exceptions" in modules


def test_import_layering() -> None:
    problems = check(ROOT / PACKAGE)
    assert not problems, "layering violations (see DESIGN.md, Layers):\n" + "\n".join(problems)


@pytest.mark.parametrize("name", sorted(discover(ROOT / PACKAGE)))
def test_module_size(name: str) -> None:
    path = discover(ROOT / PACKAGE)[name]
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_MODULE_LINES, f"{path.relative_to(ROOT)} has {lines} lines; split it (limit {MAX_MODULE_LINES})"


# ---------------------------------------------------------------------------------------------
# the checker itself, on a synthetic package
# ---------------------------------------------------------------------------------------------


def _write_tree(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_checker_detects_violations(tmp_path: Path) -> None:
    _write_tree(
        tmp_path,
        {
            "blockssh/__init__.py": "from .sync.client import SSHClient\n",
            "blockssh/__main__.py": "import blockssh\n",
            "blockssh/exceptions.py": "import os\nfrom .keys import loader\n",
            "blockssh/config.py": "from .exceptions import SSHException\n",
            "blockssh/keys/__init__.py": "",
            "blockssh/keys/loader.py": (
                "from ..proto import wire\n"  # allowed: the leaf
                "from ..proto.wire import Reader\n"  # allowed
                "from ..proto import transport\n"  # violation
                "from .. import exceptions\n"  # allowed: resolves to the submodule
            ),
            "blockssh/proto/__init__.py": "",
            "blockssh/proto/wire.py": "import struct\nfrom ..exceptions import PacketDecodeError\n",
            "blockssh/proto/transport.py": (
                "import time\n"  # violation: clock
                "from asyncio import Queue\n"  # violation: I/O
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n"
                "    from ..aio.connection import Conn\n"  # violation, even for typing only
                "def later():\n"
                "    import importlib\n"
                "    importlib.import_module('blockssh.sync')\n"  # violation: dynamic
                "    from . import wire\n"  # allowed
                "    from ..keys.loader import load\n"  # allowed
            ),
            "blockssh/aio/__init__.py": "from .connection import Conn\n",
            "blockssh/aio/connection.py": (
                "import asyncio\n"
                "from ..proto.transport import Transport\n"
                "from ..sftp.codec import encode\n"
                "from ..config import SSHConfig\n"
                "from ..sync import portal\n"  # violation
                "from .. import SSHClient\n"  # violation: the facade
                "import blockssh.__main__\n"  # violation: nobody imports __main__
            ),
            "blockssh/sftp/__init__.py": "",
            "blockssh/sftp/codec.py": "import socket\nimport time\n",  # socket: violation; time is fine here
            "blockssh/sync/__init__.py": "",
            "blockssh/sync/portal.py": (
                "import threading\n"
                "from ..aio.connection import Conn\n"
                "from ..proto import wire\n"
                "from .. import exceptions\n"  # allowed: a submodule
                "from .. import SSHClient\n"  # violation: the top-level package
            ),
            "blockssh/sync/client.py": "import blockssh\n",  # violation
        },
    )
    problems = check(tmp_path / "blockssh")
    expected = [
        "blockssh.exceptions:2: blockssh.exceptions must not import blockssh.keys.loader",
        "blockssh.keys.loader:3: blockssh.keys must not import blockssh.proto.transport",
        "blockssh.proto.transport:1: blockssh.proto is sans-I/O and must not import time",
        "blockssh.proto.transport:2: blockssh.proto is sans-I/O and must not import asyncio",
        "blockssh.proto.transport:5: blockssh.proto must not import blockssh.aio.connection",
        "blockssh.proto.transport:8: blockssh.proto must not import blockssh.sync",
        "blockssh.aio.connection:5: blockssh.aio must not import blockssh.sync.portal",
        "blockssh.aio.connection:6: blockssh.aio must not import blockssh",
        "blockssh.aio.connection:7: imports blockssh.__main__",
        "blockssh.aio.connection:7: blockssh.aio must not import blockssh.__main__",
        "blockssh.sftp.codec:1: blockssh.sftp.codec is sans-I/O and must not import socket",
        "blockssh.sync.portal:5: blockssh.sync must not import the top-level blockssh package",
        "blockssh.sync.client:1: blockssh.sync must not import the top-level blockssh package",
    ]
    got = sorted(p.split(" (allowed")[0] for p in problems)
    assert got == sorted(expected)


def test_checker_keeps_sync_below_the_facade_modules(tmp_path: Path) -> None:
    _write_tree(
        tmp_path,
        {
            "blockssh/__init__.py": "from . import client\n",
            "blockssh/client.py": "from .sync.client import SSHClient\n",  # a paramiko module path: fine
            "blockssh/exceptions.py": "",
            "blockssh/util.py": "from .sync import x\n",
            "blockssh/config/__init__.py": "",
            "blockssh/sync/__init__.py": "",
            "blockssh/sync/client.py": (
                "from ..exceptions import X\n"  # allowed: core top-level module
                "from ..config import Y\n"  # allowed: a package
                "from ..util import log_to_file\n"  # violation: facade module
                "from .. import client\n"  # violation: facade module
            ),
        },
    )
    got = sorted(check(tmp_path / "blockssh"))
    assert got == [
        "blockssh.sync.client:3: blockssh.sync must not import the facade module blockssh.util",
        "blockssh.sync.client:4: blockssh.sync must not import the facade module blockssh.client",
    ]


def test_checker_passes_a_clean_package(tmp_path: Path) -> None:
    _write_tree(
        tmp_path,
        {
            "blockssh/__init__.py": "from .sync.client import SSHClient\n__version__ = '0'\n",
            "blockssh/exceptions.py": "class SSHException(Exception):\n    pass\n",
            "blockssh/proto/__init__.py": "from .wire import Reader\n",
            "blockssh/proto/wire.py": "import struct\nfrom ..exceptions import SSHException\n",
            "blockssh/keys/__init__.py": "from ..proto.wire import Reader\n",
            "blockssh/aio/__init__.py": "import asyncio\nfrom ..proto import wire\nfrom ..keys import Reader\n",
            "blockssh/sync/__init__.py": "",
            "blockssh/sync/client.py": "import threading\nfrom ..aio import wire\nfrom ..exceptions import X\n",
        },
    )
    assert check(tmp_path / "blockssh") == []


def test_checker_reports_bad_relative_import(tmp_path: Path) -> None:
    _write_tree(tmp_path, {"blockssh/__init__.py": "", "blockssh/exceptions.py": "from ... import x\n"})
    assert check(tmp_path / "blockssh") == ["blockssh.exceptions:1: relative import beyond the top-level package"]
