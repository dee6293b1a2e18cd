"""paramiko's ``util`` helpers that scripts use: logging setup and small conversions.

``log_to_file(path)`` sends blockssh's log records (logger ``"blockssh"`` and its
children) to a file, the way ``paramiko.util.log_to_file`` is used in bug reports.
"""

from __future__ import annotations

import hmac
import logging
import threading
from typing import IO, Any

from .config import SSHConfig, SSHConfigDict
from .keys import HostKeys

__all__ = [
    "ClosingContextManager",
    "asbytes",
    "b",
    "clamp_value",
    "constant_time_bytes_eq",
    "deflate_long",
    "get_logger",
    "get_thread_id",
    "inflate_long",
    "load_host_keys",
    "log_to_file",
    "lookup_ssh_host_config",
    "parse_ssh_config",
    "u",
]

ROOT_LOGGER = "blockssh"
_FORMAT = "%(levelname)-.3s [%(asctime)s.%(msecs)03d] thr=%(threadName)s %(name)s: %(message)s"


def log_to_file(filename: str, level: int = logging.DEBUG) -> None:
    """Append blockssh's log records at ``level`` and above to ``filename`` (once: a no-op if handlers exist)."""
    logger = logging.getLogger(ROOT_LOGGER)
    if logger.handlers:
        return
    logger.setLevel(level)
    handler = logging.FileHandler(filename, "a", encoding="utf-8")
    handler.setFormatter(logging.Formatter(_FORMAT, "%Y%m%d-%H:%M:%S"))
    logger.addHandler(handler)


def get_logger(name: str) -> logging.Logger:
    """The logger ``name`` (``paramiko.*`` names are mapped to ``blockssh.*``)."""
    if name == "paramiko" or name.startswith("paramiko."):
        name = ROOT_LOGGER + name[len("paramiko") :]
    return logging.getLogger(name)


def get_thread_id() -> int:
    """An identifier of the calling thread."""
    return threading.get_ident()


def u(s: str | bytes, encoding: str = "utf8") -> str:
    """``s`` as str (bytes are decoded)."""
    if isinstance(s, bytes):
        return s.decode(encoding)
    if isinstance(s, str):
        return s
    raise TypeError(f"Expected unicode or bytes, got {type(s)!r}")


def b(s: str | bytes, encoding: str = "utf8") -> bytes:
    """``s`` as bytes (str is encoded)."""
    if isinstance(s, bytes):
        return s
    if isinstance(s, str):
        return s.encode(encoding)
    raise TypeError(f"Expected unicode or bytes, got {type(s)!r}")


def asbytes(s: Any) -> bytes:
    """Bytes of ``s``: bytes as is, str encoded, objects through their ``asbytes()``."""
    if isinstance(s, bytes):
        return s
    if isinstance(s, str):
        return s.encode("utf-8")
    as_bytes = getattr(s, "asbytes", None)
    if as_bytes is None:
        raise TypeError(f"cannot convert {type(s).__name__} to bytes")
    result: bytes = as_bytes()
    return result


def constant_time_bytes_eq(a: bytes, b: bytes) -> bool:
    """Compare without leaking where the first difference is."""
    return hmac.compare_digest(a, b)


def clamp_value(minimum: int, val: int, maximum: int) -> int:
    """``val`` limited to ``[minimum, maximum]``."""
    return max(minimum, min(val, maximum))


def inflate_long(s: bytes, always_positive: bool = False) -> int:
    """A big-endian two's-complement byte string as an int."""
    return int.from_bytes(s, "big", signed=not always_positive)


def deflate_long(n: int, add_sign_padding: bool = True) -> bytes:
    """An int as the shortest big-endian two's-complement byte string (as SSH mpints)."""
    if n < 0:
        return n.to_bytes(((~n).bit_length() + 8) // 8, "big", signed=True)
    if add_sign_padding:
        return n.to_bytes((n.bit_length() + 8) // 8, "big")
    return n.to_bytes(max(1, (n.bit_length() + 7) // 8), "big")


def load_host_keys(filename: str) -> HostKeys:
    """Read a known_hosts file."""
    return HostKeys(filename)


def parse_ssh_config(file_obj: IO[str]) -> SSHConfig:
    """Parse an ssh_config file object."""
    config = SSHConfig()
    config.parse(file_obj)
    return config


def lookup_ssh_host_config(hostname: str, config: SSHConfig) -> SSHConfigDict:
    """``config.lookup(hostname)``."""
    return config.lookup(hostname)


class ClosingContextManager:
    """A context manager that calls ``self.close()`` on exit."""

    def close(self) -> None:
        """Release resources (subclasses override)."""

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
