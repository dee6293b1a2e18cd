"""OpenSSH client configuration (ssh_config(5)): parsing, ``Match``/``Include``, lookup and resolution.

Two views of the same resolution:

- :meth:`SSHConfig.lookup` returns a paramiko-compatible :class:`SSHConfigDict`
  (strings as written, only the keys the config sets, plus ``hostname``);
- :meth:`SSHConfig.resolve` returns a :class:`ResolvedConfig` with typed,
  expanded values and the defaults ``ssh -G`` shows.

The module imports only the standard library; DNS lookups (canonicalization)
and ``Match exec`` commands happen only during lookups and are injectable.

Semantics follow OpenSSH (9.x, with 10.x additions: ``Match tagged``, ``%j``,
``${VAR}`` in Include). Where paramiko departs from ssh, blockssh follows ssh:
LocalForward/RemoteForward/CertificateFile/SendEnv accumulate across blocks
(``certificatefile``, ``dynamicforward``, ``sendenv`` and ``setenv`` are lists);
trailing ``# comments`` are stripped; HostName is lowercased; of ProxyCommand
and ProxyJump the first obtained masks the other; the canonical/final pass
re-matches ``Host`` lines against the new name and treats ``canonical`` as true;
``%C``/``%l`` are computed as ssh does. ``Match exec`` runs under ``$SHELL -c``
(``/bin/sh`` if unset), like ssh.
"""

from ._eval import ExecRunner, LocalInfo, Resolver, run_shell, system_resolver
from ._keywords import KEYWORDS, Forward, JumpHost, parse_forward, parse_jump
from ._lex import match_hostname, match_pattern, match_pattern_list
from ._parse import MAX_INCLUDE_DEPTH
from ._resolved import ALGORITHM_KEYS, OPENSSH_CLIENT_DEFAULTS, ResolvedConfig, apply_algorithm_spec
from ._sshconfig import SSHConfig, SSHConfigDict, load_user_config

__all__ = [
    "ALGORITHM_KEYS",
    "KEYWORDS",
    "MAX_INCLUDE_DEPTH",
    "OPENSSH_CLIENT_DEFAULTS",
    "ExecRunner",
    "Forward",
    "JumpHost",
    "LocalInfo",
    "ResolvedConfig",
    "Resolver",
    "SSHConfig",
    "SSHConfigDict",
    "apply_algorithm_spec",
    "load_user_config",
    "match_hostname",
    "match_pattern",
    "match_pattern_list",
    "parse_forward",
    "parse_jump",
    "run_shell",
    "system_resolver",
]
