"""blockssh.keys imports only the exception tree, proto.wire, the stdlib and its three crypto dependencies."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import blockssh.keys

KEYS_DIR = Path(blockssh.keys.__file__).parent
ALLOWED_THIRD_PARTY = {"cryptography", "bcrypt", "nacl"}
FORBIDDEN_STDLIB = {"asyncio", "socket", "threading", "select", "selectors", "subprocess", "multiprocessing"}
ALLOWED_PARENT_MODULES = {"exceptions", "proto.wire"}


def _imports(path: Path) -> list[tuple[int, str]]:
    """(level, dotted name) of every import in a module; level 0 is absolute."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(0, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.level, node.module or ""))
    return found


def test_keys_modules_import_only_allowed_layers() -> None:
    modules = sorted(KEYS_DIR.glob("*.py"))
    assert len(modules) >= 10
    for path in modules:
        for level, name in _imports(path):
            top = name.split(".")[0]
            where = f"{path.name}: {'.' * level}{name}"
            if level == 0:
                assert top != "blockssh", where  # use relative imports inside the package
                assert top in ALLOWED_THIRD_PARTY or top in sys.stdlib_module_names or top == "__future__", where
                assert top not in FORBIDDEN_STDLIB, where
            elif level == 2:
                assert name in ALLOWED_PARENT_MODULES, where
            else:
                assert level == 1, where
