"""paramiko-compatible module path: ``from blockssh.auth_strategy import AuthStrategy, Password, ...``."""

from __future__ import annotations

from .sync.auth_strategy import (
    AuthFailure,
    AuthResult,
    AuthSource,
    AuthStrategy,
    InMemoryPrivateKey,
    NoneAuth,
    OnDiskPrivateKey,
    Password,
    PrivateKey,
    SourceResult,
)

__all__ = [
    "AuthFailure",
    "AuthResult",
    "AuthSource",
    "AuthStrategy",
    "InMemoryPrivateKey",
    "NoneAuth",
    "OnDiskPrivateKey",
    "Password",
    "PrivateKey",
    "SourceResult",
]
