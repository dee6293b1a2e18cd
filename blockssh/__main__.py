"""The ``python -m blockssh`` command line.

Subcommands:

``demo``
    Start the embedded server on a free 127.0.0.1 port with fresh keys and
    drive it with the blocking client; print what happened.

``serve``
    Run the ready server (:mod:`blockssh.server`) until interrupted: logins
    from an authorized_keys file and/or a password file, sessions as OS
    processes of the user running it.

Each subcommand is one ``_add_<name>`` function that registers its parser
and sets ``func``, the coroutine or function that runs it.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any

from ._version import __version__
from .exceptions import ConfigurationError, SSHException

__all__ = ["main", "build_parser"]

DEFAULT_SERVE_HOST = "127.0.0.1"
DEFAULT_SERVE_PORT = 2222


# ---------------------------------------------------------------------------------------------
# serve
# ---------------------------------------------------------------------------------------------


def _add_serve(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "serve",
        help="run an SSH server whose sessions are processes of the current user",
        description=(
            "Run the ready SSH server. Clients log in with a key listed in --authorized-keys "
            "(default ~/.ssh/authorized_keys) and/or a password from --password-file; commands and "
            "shells run as the user running this server. Without --host-key a fresh Ed25519 key is "
            "used for this run only; a --host-key file that does not exist is created."
        ),
    )
    p.add_argument("--host", default=DEFAULT_SERVE_HOST, help=f"address to listen on (default {DEFAULT_SERVE_HOST})")
    p.add_argument(
        "--port", type=int, default=DEFAULT_SERVE_PORT, help=f"port (default {DEFAULT_SERVE_PORT}; 0 picks a free one)"
    )
    p.add_argument(
        "--host-key", action="append", default=[], metavar="FILE", help="host private key (repeatable; made if missing)"
    )
    p.add_argument("--authorized-keys", metavar="FILE", help="authorized_keys file (default ~/.ssh/authorized_keys)")
    p.add_argument("--password-file", metavar="FILE", help="user:password lines (bcrypt hashes or plain text)")
    p.add_argument(
        "--user",
        action="append",
        default=[],
        metavar="NAME",
        help="user name clients may log in as (repeatable; default: the current user)",
    )
    p.add_argument("--any-user", action="store_true", help="accept any user name")
    p.add_argument(
        "--pq-only",
        action="store_true",
        help="post-quantum-only policy: mlkem768x25519-sha256 key exchange, 256-bit ciphers (needs OpenSSH >= 9.9)",
    )
    p.add_argument("--login-timeout", type=float, default=None, metavar="SECONDS", help="login grace time (120)")
    p.add_argument("--max-auth-tries", type=int, default=None, metavar="N", help="failed attempts allowed (6)")
    p.add_argument("--accept-env", action="append", default=None, metavar="PATTERN", help="env names admitted")
    p.add_argument(
        "--subsystem",
        action="append",
        default=[],
        metavar="NAME=COMMAND",
        help="run COMMAND for subsystem NAME, e.g. sftp=/usr/lib/openssh/sftp-server",
    )
    fwd = p.add_argument_group("forwarding (all off by default; sshd_config's names)")
    fwd.add_argument(
        "--allow-tcp-forwarding",
        choices=("yes", "local", "remote", "no"),
        default="no",
        help="TCP forwarding: local is ssh -L/-D, remote is ssh -R (default no)",
    )
    fwd.add_argument(
        "--allow-streamlocal-forwarding",
        choices=("yes", "local", "remote", "no"),
        default="no",
        help="UNIX-domain socket forwarding (default no)",
    )
    fwd.add_argument(
        "--permit-open", action="append", default=None, metavar="HOST:PORT", help="allowed -L destinations (any)"
    )
    fwd.add_argument(
        "--permit-listen", action="append", default=None, metavar="[HOST:]PORT", help="allowed -R listeners (any)"
    )
    fwd.add_argument(
        "--gateway-ports",
        choices=("no", "yes", "clientspecified"),
        default="no",
        help="where -R listeners bind: loopback (no), every address (yes), or as asked",
    )
    fwd.add_argument(
        "--permit-tunnel",
        choices=("yes", "point-to-point", "ethernet", "no"),
        default="no",
        help="tun@openssh.com tunnels (ssh -w; the server needs CAP_NET_ADMIN)",
    )
    certs = p.add_argument_group("certificates and agent forwarding (sshd_config's names)")
    certs.add_argument("--trusted-user-ca-keys", metavar="FILE", help="CA keys whose user certificates may log in")
    certs.add_argument(
        "--authorized-principals-file",
        metavar="PATTERN",
        help="principals a user's certificate must name, one per line (%%u is the user; default: the user name)",
    )
    certs.add_argument(
        "--revoked-keys", metavar="FILE", help="public keys refused (one per line; unreadable: refuse all)"
    )
    certs.add_argument(
        "--allow-agent-forwarding",
        action="store_true",
        help="let sessions use the client's forwarded agent (SSH_AUTH_SOCK); off by default",
    )
    p.add_argument("-v", "--verbose", action="count", default=0, help="log more (repeatable)")
    p.set_defaults(func=_serve)


def _serve_options(args: argparse.Namespace) -> dict[str, Any]:
    from .keys import generate_private_key
    from .server import PasswordTable, load_or_create_host_key

    host_keys = [load_or_create_host_key(path) for path in args.host_key] or [generate_private_key("ssh-ed25519")]
    authorized_keys = args.authorized_keys
    if authorized_keys is None:
        default = os.path.expanduser("~/.ssh/authorized_keys")
        authorized_keys = default if os.path.exists(default) else None
    checker = PasswordTable.from_file(args.password_file) if args.password_file else None
    if authorized_keys is None and checker is None and not args.trusted_user_ca_keys:
        raise ConfigurationError("no way to log in: give --authorized-keys, --password-file or --trusted-user-ca-keys")
    subsystems: dict[str, str] = {}
    for spec in args.subsystem:
        name, sep, command = spec.partition("=")
        if not sep or not name or not command:
            raise ConfigurationError(f"--subsystem wants NAME=COMMAND, not {spec!r}")
        subsystems[name] = command
    options: dict[str, Any] = {
        "server_host_keys": host_keys,
        "authorized_keys": authorized_keys,
        "password_checker": checker,
        "allowed_users": None if args.any_user else (args.user or [getpass.getuser()]),
        "subsystems": subsystems,
        "pq_only": args.pq_only,
    }
    if args.login_timeout is not None:
        options["login_timeout"] = args.login_timeout
    if args.max_auth_tries is not None:
        options["max_auth_tries"] = args.max_auth_tries
    if args.accept_env is not None:
        options["accept_env"] = args.accept_env
    for name in ("trusted_user_ca_keys", "revoked_keys"):
        path = getattr(args, name)
        if path is not None:
            if not os.path.isfile(os.path.expanduser(path)):
                raise ConfigurationError(f"--{name.replace('_', '-')}: no such file {path!r}")
            options[name] = path
    if args.authorized_principals_file is not None:
        options["authorized_principals"] = args.authorized_principals_file
    if args.allow_agent_forwarding:
        options["agent_forwarding"] = True
    options.update(
        allow_tcp_forwarding=args.allow_tcp_forwarding,
        allow_streamlocal_forwarding=args.allow_streamlocal_forwarding,
        permit_open=args.permit_open or ("any",),
        permit_listen=args.permit_listen or ("any",),
        gateway_ports=args.gateway_ports,
        permit_tunnel=args.permit_tunnel,
    )
    return options


async def _serve(args: argparse.Namespace) -> int:
    from .server import start_server

    options = _serve_options(args)
    acceptor = await start_server(args.host, args.port, **options)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        port = acceptor.get_port()
        print(f"blockssh {__version__} listening on {args.host} port {port}", flush=True)
        for key in options["server_host_keys"]:
            label = args.host if port == 22 else f"[{args.host}]:{port}"
            print(f"host key {key.fingerprint_sha256()}  (known_hosts: {label} {key.export_public('')})", flush=True)
        if args.pq_only:
            print("policy: post-quantum only (mlkem768x25519-sha256)", flush=True)
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        acceptor.close()
        await acceptor.wait_closed()
    print("server stopped", flush=True)
    return 0


# ---------------------------------------------------------------------------------------------
# demo
# ---------------------------------------------------------------------------------------------


def _add_demo(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "demo",
        help="run the embedded server and drive it with the blocking client",
        description=(
            "Start blockssh's server on a free 127.0.0.1 port with fresh keys, then use the blocking client "
            "against it: a command with its exit status, stderr, a pty shell, SFTP and a port forward."
        ),
    )
    p.set_defaults(func=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo()


# ---------------------------------------------------------------------------------------------
# the entry point
# ---------------------------------------------------------------------------------------------

_SUBCOMMANDS: tuple[Callable[[Any], None], ...] = (_add_demo, _add_serve)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(prog="python -m blockssh", description="blockssh: SSH client and server tools")
    parser.add_argument("--version", action="version", version=f"blockssh {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for add in _SUBCOMMANDS:
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    verbosity = getattr(args, "verbose", 0)
    logging.basicConfig(
        level=logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    func = args.func
    try:
        result = asyncio.run(func(args)) if asyncio.iscoroutinefunction(func) else func(args)
    except (ConfigurationError, SSHException, OSError) as exc:
        print(f"blockssh {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
