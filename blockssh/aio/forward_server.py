"""Forwarding on the server side: the ``SSHServer`` forwarding callbacks, their defaults, and what they start.

What a client may ask for, and who decides:

* ``direct-tcpip`` channels (``ssh -L``, ``-D``): ``connection_requested(host, port, orig_host, orig_port)``;
  policy ``allow_tcp_forwarding`` ("local") and ``permit_open``.
* ``tcpip-forward`` (``ssh -R``): ``server_requested(host, port)``; policy ``allow_tcp_forwarding``
  ("remote"), ``permit_listen`` and ``gateway_ports``.
* ``direct-streamlocal@openssh.com`` channels: ``unix_connection_requested(path)``; policy
  ``allow_streamlocal_forwarding`` ("local").
* ``streamlocal-forward@openssh.com``: ``unix_server_requested(path)``; policy
  ``allow_streamlocal_forwarding`` ("remote").
* ``tun@openssh.com`` channels: ``tun_requested(unit)`` (layer 3) or ``tap_requested(unit)`` (layer 2);
  policy ``permit_tunnel``.

A callback returns True (the server does it: connects, listens, opens the
tun device), False (refused), a session object (the server answers the
channel with it instead of connecting anywhere), a listener object
(``server_requested``: one the callback set up itself), or None (the
default): the :class:`ForwardingPolicy` given to ``listen(forwarding=...)``
decides. Everything is refused by default. Before any callback, the
restrictions of the authorized_keys line that admitted the client are
applied (``no-port-forwarding``/``restrict``, ``permitopen=``,
``permitlisten=``, ``tunnel=``), and a certificate without
``permit-port-forwarding`` gets no TCP or streamlocal forwarding.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..exceptions import ConfigurationError, PacketDecodeError, SSHException
from ..keys import SSHCertificate
from ..proto import events as ev
from ..proto.constants import ChannelOpenFailure
from ..proto.wire import Reader, string, uint32
from .channel import SSHChannel, SSHTCPChannel, SSHTunTapChannel, SSHUNIXChannel
from .connection import GlobalReply, SSHConnection
from .forward import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_LISTENERS,
    ForwardingError,
    SocketHalf,
    SSHListener,
    SSHLocalListener,
    accept_by_connecting,
    accept_channel_with_session,
    local_opener,
    logger,
    peer_address,
    refuse_channel,
    spawn,
    tcp_connect,
    unix_connect,
)
from .session import SSHSession, SSHTunTapSession
from .tuntap import LAYER3, TunTapDeviceSession, TunTapError, decode_tun_open, open_tun_device

__all__ = ["ForwardingPolicy", "SSHServerForwarding"]

_TCP_MODES = ("yes", "all", "local", "remote", "no")
_TUN_MODES = ("yes", "point-to-point", "ethernet", "no")
_GATEWAY_MODES = ("no", "yes", "clientspecified")


def _check_permit(entries: Sequence[str], what: str, *, host_required: bool) -> tuple[str, ...]:
    out = []
    for entry in entries:
        text = entry.strip()
        if text in ("any", "none"):
            out.append(text)
            continue
        host, sep, port = text.rpartition(":")
        if not sep:
            host, port = "", text
        if host_required and not host:
            raise ConfigurationError(f"{what} entry {entry!r} must be host:port")
        if port != "*" and not (port.isdigit() and 0 <= int(port) <= 65535):
            raise ConfigurationError(f"{what} entry {entry!r} has an invalid port")
        out.append(text)
    return tuple(out)


def _entries(value: object) -> list[str]:
    if isinstance(value, str):
        return [v for v in value.replace(",", " ").split() if v]
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ConfigurationError(f"expected a list of host:port strings, not {value!r}")


def _split(entry: str) -> tuple[str | None, str]:
    host, sep, port = entry.rpartition(":")
    if not sep:
        return None, entry
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, port


def permit_match(entries: Sequence[str], host: str, port: int) -> bool:
    """Whether ``host``:``port`` matches an OpenSSH PermitOpen/PermitListen-style list (``*`` wildcards)."""
    for entry in entries:
        if entry == "any":
            return True
        if entry == "none":
            continue
        want_host, want_port = _split(entry)
        if want_port != "*" and int(want_port) != port:
            continue
        if want_host is None or want_host == "*" or want_host.lower() == host.lower():
            return True
    return False


@dataclass
class ForwardingPolicy:
    """What a server allows when its ``SSHServer`` callbacks return None (the default), like sshd_config.

    ``allow_tcp_forwarding`` (AllowTcpForwarding): "yes"/"all", "local" (``-L``,
    ``-D``), "remote" (``-R``) or "no" (the default here; OpenSSH's is "yes").
    ``allow_streamlocal_forwarding`` likewise for UNIX sockets.
    ``permit_open``/``permit_listen`` (PermitOpen/PermitListen): "host:port"
    entries (``*`` for any host or port; PermitListen also takes a bare port),
    "any" or "none". ``gateway_ports`` (GatewayPorts): "no" binds remote
    forwards to loopback, "yes" to every address, "clientspecified" where the
    client asks. ``permit_tunnel`` (PermitTunnel): "yes", "point-to-point",
    "ethernet" or "no". ``streamlocal_bind_unlink`` removes an existing
    socket file first; ``streamlocal_bind_mask`` is the umask of new ones.
    ``max_listeners`` bounds the remote forwards of one connection;
    ``connect_timeout`` the outbound connects.
    """

    allow_tcp_forwarding: str = "no"
    allow_streamlocal_forwarding: str = "no"
    permit_open: tuple[str, ...] = ("any",)
    permit_listen: tuple[str, ...] = ("any",)
    gateway_ports: str = "no"
    permit_tunnel: str = "no"
    streamlocal_bind_unlink: bool = False
    streamlocal_bind_mask: int = 0o177
    max_listeners: int = DEFAULT_MAX_LISTENERS
    connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT
    _checked: bool = field(default=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name, allowed in (
            ("allow_tcp_forwarding", _TCP_MODES),
            ("allow_streamlocal_forwarding", _TCP_MODES),
            ("permit_tunnel", _TUN_MODES),
            ("gateway_ports", _GATEWAY_MODES),
        ):
            value: object = getattr(self, name)
            if isinstance(value, bool):
                value = "yes" if value else "no"
                setattr(self, name, value)
            if value not in allowed:
                raise ConfigurationError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
        permit_open: object = self.permit_open
        permit_listen: object = self.permit_listen
        self.permit_open = _check_permit(_entries(permit_open), "permit_open", host_required=True)
        self.permit_listen = _check_permit(_entries(permit_listen), "permit_listen", host_required=False)
        if self.max_listeners < 0:
            raise ConfigurationError("max_listeners must be >= 0")
        if not 0 <= self.streamlocal_bind_mask <= 0o777:
            raise ConfigurationError("streamlocal_bind_mask must be a file mode mask (0 to 0o777)")

    @classmethod
    def from_options(cls, **options: Any) -> ForwardingPolicy:
        """Build from sshd_config-like values: booleans for yes/no, comma- or space-separated permit lists."""
        return cls(**options)

    @classmethod
    def allow_all(cls) -> ForwardingPolicy:
        """Everything allowed, remote forwards on loopback: OpenSSH's defaults plus streamlocal and tunnels."""
        return cls("yes", "yes", permit_tunnel="yes")

    def tcp(self, direction: str) -> bool:
        """TCP forwarding in ``direction`` ("local" or "remote") is on."""
        return self.allow_tcp_forwarding in ("yes", "all", direction)

    def streamlocal(self, direction: str) -> bool:
        """UNIX socket forwarding in ``direction`` is on."""
        return self.allow_streamlocal_forwarding in ("yes", "all", direction)

    def tunnel(self, layer: int) -> bool:
        """Tunnels of this layer are allowed."""
        wanted = "point-to-point" if layer == LAYER3 else "ethernet"
        return self.permit_tunnel in ("yes", wanted)

    def bind_host(self, requested: str) -> str:
        """Where to bind a remote forward the client asked for on ``requested`` ("" is every address, IPv4 and IPv6)."""
        loopback = "127.0.0.1"
        if self.gateway_ports == "yes":
            return ""  # GatewayPorts yes means every address
        if self.gateway_ports == "clientspecified":
            if requested in ("", "*"):
                return ""
            return loopback if requested == "localhost" else requested
        try:
            if ipaddress.ip_address(requested).is_loopback:
                return requested
        except ValueError:
            pass
        return loopback


async def _maybe(value: Any) -> Any:
    if asyncio.iscoroutine(value) or isinstance(value, asyncio.Future):
        return await value
    return value


class SSHServerForwarding(SSHConnection):
    """Forwarding for server connections: dispatch of the requests in the module table."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._fwd_listeners: dict[tuple[str, int], SSHListener] = {}
        self._fwd_paths: dict[str, SSHListener] = {}
        self._listeners: set[SSHListener] = set()
        self._fwd_tasks: set[asyncio.Task[Any]] = set()
        self._channel_openers.update(
            {
                "direct-tcpip": self._on_direct_tcpip,
                "direct-streamlocal@openssh.com": self._on_direct_streamlocal,
                "tun@openssh.com": self._on_tun_open,
            }
        )
        self._global_handlers.update(
            {
                "tcpip-forward": self._on_tcpip_forward,
                "cancel-tcpip-forward": self._on_cancel_tcpip_forward,
                "streamlocal-forward@openssh.com": self._on_streamlocal_forward,
                "cancel-streamlocal-forward@openssh.com": self._on_cancel_streamlocal_forward,
            }
        )

    # -- what subclasses provide ------------------------------------------------------------

    @property
    def _fwd_policy(self) -> ForwardingPolicy:
        policy = getattr(getattr(self, "options", None), "forwarding", None)
        return policy if isinstance(policy, ForwardingPolicy) else _DENY_ALL

    @property
    def _fwd_callbacks(self) -> Any:
        return getattr(self, "_server", None)

    def _fwd_key_limits(self) -> tuple[bool, tuple[str, ...], tuple[str, ...], int | None]:
        """``(port forwarding allowed, permitopen, permitlisten, tunnel unit)`` from the client's key."""
        allowed = True
        entry = getattr(self, "authorized_key_entry", None)
        permitopen: tuple[str, ...] = ()
        permitlisten: tuple[str, ...] = ()
        tunnel: int | None = None
        if entry is not None:
            allowed = bool(entry.permit_port_forwarding)
            permitopen, permitlisten, tunnel = tuple(entry.permitopen), tuple(entry.permitlisten), entry.tunnel
        key = getattr(self, "client_key", None)
        if isinstance(key, SSHCertificate) and "permit-port-forwarding" not in (key.extensions or {}):
            allowed = False
        return allowed, permitopen, permitlisten, tunnel

    def _add_listener(self, listener: SSHListener) -> None:
        self._listeners.add(listener)
        listener._add_close_callback(self._listeners.discard)  # noqa: SLF001

    def _finish(self, exc: BaseException | None) -> None:
        super()._finish(exc)
        for listener in [*self._listeners, *self._fwd_listeners.values(), *self._fwd_paths.values()]:
            try:
                listener.close()
            except Exception:  # noqa: BLE001 - a callback's own listener object
                logger.exception("closing a forwarding listener failed")
        self._fwd_listeners.clear()
        self._fwd_paths.clear()
        for task in list(self._fwd_tasks):
            task.cancel()

    def _ask(self, name: str, *args: Any) -> Any:
        callbacks = self._fwd_callbacks
        method = getattr(callbacks, name, None)
        if method is None:
            return None
        return method(*args)

    # -- direct-tcpip -------------------------------------------------------------------------

    def _malformed(self, event: ev.ChannelOpenRequest, exc: Exception) -> None:
        logger.info("malformed %s channel open refused: %s", event.kind, exc)
        refuse_channel(self, event.channel, ChannelOpenFailure.ADMINISTRATIVELY_PROHIBITED, f"malformed {event.kind}")

    def _on_direct_tcpip(self, event: ev.ChannelOpenRequest) -> None:
        try:
            r = Reader(event.data)
            host, port, orig_host, orig_port = r.get_text(), r.get_uint32(), r.get_text(), r.get_uint32()
        except PacketDecodeError as exc:
            self._malformed(event, exc)
            return
        allowed, permitopen, _, _ = self._fwd_key_limits()
        if not allowed or (permitopen and not permit_match(permitopen, host, port)):
            logger.info("direct-tcpip to %s:%d refused by the client key's options", host, port)
            refuse_channel(self, event.channel, ChannelOpenFailure.ADMINISTRATIVELY_PROHIBITED, "forwarding refused")
            return
        spawn(self._fwd_tasks, self._direct_tcpip(event.channel, host, port, orig_host, orig_port))

    async def _direct_tcpip(self, chan_id: int, host: str, port: int, orig_host: str, orig_port: int) -> None:
        try:
            result = await _maybe(self._ask("connection_requested", host, port, orig_host, orig_port))
        except Exception:  # noqa: BLE001
            logger.exception("SSHServer.connection_requested failed")
            result = False
        policy = self._fwd_policy
        if result is None:
            result = policy.tcp("local") and permit_match(policy.permit_open, host, port)

        def make(cid: int) -> SSHTCPChannel[Any]:
            chan: SSHTCPChannel[Any] = SSHTCPChannel(self, cid, "direct-tcpip")
            chan._extra.update(local_peername=(host, port), remote_peername=(orig_host, orig_port))  # noqa: SLF001
            return chan

        if result is True:
            await accept_by_connecting(
                self,
                chan_id,
                make,
                lambda f: tcp_connect(host, port, f),
                what=f"{host}:{port}",
                timeout=policy.connect_timeout,
            )
        elif isinstance(result, SSHSession):
            accept_channel_with_session(self, chan_id, make, result)
        else:
            logger.info("direct-tcpip to %s:%d refused", host, port)
            refuse_channel(self, chan_id, ChannelOpenFailure.ADMINISTRATIVELY_PROHIBITED, "forwarding refused")

    # -- tcpip-forward ---------------------------------------------------------------------------

    def _listener_room(self) -> bool:
        return len(self._fwd_listeners) + len(self._fwd_paths) < self._fwd_policy.max_listeners

    async def _on_tcpip_forward(self, event: ev.GlobalRequest) -> GlobalReply:
        try:
            r = Reader(event.data)
            host, port = r.get_text(), r.get_uint32()
        except PacketDecodeError:
            return False
        if port > 65535:
            return False
        allowed, _, permitlisten, _ = self._fwd_key_limits()
        if not allowed or (permitlisten and not permit_match(permitlisten, host, port)):
            logger.info("tcpip-forward on %s:%d refused by the client key's options", host, port)
            return False
        if not self._listener_room() or (host, port) in self._fwd_listeners:
            return False
        result = await _maybe(self._ask("server_requested", host, port))
        policy = self._fwd_policy
        if result is None:
            result = policy.tcp("remote") and permit_match(policy.permit_listen, host, port)
        listener: Any
        if result is True:
            try:
                listener = await self._listen_tcp(host, port, policy)
            except ForwardingError as exc:
                logger.info("tcpip-forward: %s", exc)
                return False
        elif hasattr(result, "get_port") and hasattr(result, "close") and result is not False:
            listener = result
        else:
            logger.info("tcpip-forward on %s:%d refused", host, port)
            return False
        if self.is_closed():
            listener.close()
            return False
        bound = int(listener.get_port()) or port
        self._fwd_listeners[(host, bound)] = listener
        if isinstance(listener, SSHListener):
            self._add_listener(listener)
        return (True, uint32(bound)) if port == 0 else True

    async def _listen_tcp(self, host: str, port: int, policy: ForwardingPolicy) -> SSHLocalListener:
        holder: list[int] = []

        def extra_for(sock: SocketHalf) -> bytes:
            orig_host, orig_port = peer_address(sock)
            return string(host) + uint32(holder[0]) + string(orig_host) + uint32(orig_port)

        def make(cid: int) -> SSHChannel[Any]:
            return SSHTCPChannel(self, cid, "forwarded-tcpip")

        listener = SSHLocalListener(local_opener(self, "forwarded-tcpip", extra_for, make), what="forwarded-tcpip")
        await listener.listen_tcp(policy.bind_host(host), port)
        holder.append(listener.get_port())
        return listener

    def _on_cancel_tcpip_forward(self, event: ev.GlobalRequest) -> GlobalReply:
        try:
            r = Reader(event.data)
            key = (r.get_text(), r.get_uint32())
        except PacketDecodeError:
            return False
        listener = self._fwd_listeners.pop(key, None)
        if listener is None:
            return False
        listener.close()
        return True

    # -- UNIX sockets ----------------------------------------------------------------------------

    def _on_direct_streamlocal(self, event: ev.ChannelOpenRequest) -> None:
        try:
            path = Reader(event.data).get_string().decode("utf-8", "surrogateescape")
        except PacketDecodeError as exc:
            self._malformed(event, exc)
            return
        allowed = self._fwd_key_limits()[0]
        if not allowed or not path or "\0" in path:
            refuse_channel(self, event.channel, ChannelOpenFailure.ADMINISTRATIVELY_PROHIBITED, "forwarding refused")
            return
        spawn(self._fwd_tasks, self._direct_streamlocal(event.channel, path))

    async def _direct_streamlocal(self, chan_id: int, path: str) -> None:
        try:
            result = await _maybe(self._ask("unix_connection_requested", path))
        except Exception:  # noqa: BLE001
            logger.exception("SSHServer.unix_connection_requested failed")
            result = False
        policy = self._fwd_policy
        if result is None:
            result = policy.streamlocal("local")

        def make(cid: int) -> SSHUNIXChannel[Any]:
            chan: SSHUNIXChannel[Any] = SSHUNIXChannel(self, cid, "direct-streamlocal@openssh.com")
            chan._extra["path"] = path  # noqa: SLF001
            return chan

        if result is True:
            await accept_by_connecting(
                self, chan_id, make, lambda f: unix_connect(path, f), what=path, timeout=policy.connect_timeout
            )
        elif isinstance(result, SSHSession):
            accept_channel_with_session(self, chan_id, make, result)
        else:
            refuse_channel(self, chan_id, ChannelOpenFailure.ADMINISTRATIVELY_PROHIBITED, "forwarding refused")

    async def _on_streamlocal_forward(self, event: ev.GlobalRequest) -> GlobalReply:
        try:
            path = Reader(event.data).get_string().decode("utf-8", "surrogateescape")
        except PacketDecodeError:
            return False
        if not path or "\0" in path or not self._fwd_key_limits()[0]:
            return False
        if not self._listener_room() or path in self._fwd_paths:
            return False
        result = await _maybe(self._ask("unix_server_requested", path))
        policy = self._fwd_policy
        if result is None:
            result = policy.streamlocal("remote")
        listener: Any
        if result is True:
            try:
                listener = await self._listen_unix(path, policy)
            except (ForwardingError, OSError) as exc:
                logger.info("streamlocal-forward: %s", exc)
                return False
        elif hasattr(result, "close") and result is not False:
            listener = result
        else:
            return False
        if self.is_closed():
            listener.close()
            return False
        self._fwd_paths[path] = listener
        if isinstance(listener, SSHListener):
            self._add_listener(listener)
        return True

    async def _listen_unix(self, path: str, policy: ForwardingPolicy) -> SSHLocalListener:
        def make(cid: int) -> SSHChannel[Any]:
            chan = SSHUNIXChannel(self, cid, "forwarded-streamlocal@openssh.com")
            chan._extra["path"] = path  # noqa: SLF001
            return chan

        listener = SSHLocalListener(
            local_opener(self, "forwarded-streamlocal@openssh.com", lambda _: string(path) + string(""), make),
            what="forwarded-streamlocal",
        )
        await listener.listen_unix(path, unlink=policy.streamlocal_bind_unlink)
        # Not umask() around bind: it is process-wide and other threads may be creating files.
        # A new socket is at most 0o777 & ~umask, so it only gains no permission it lacked.
        try:
            os.chmod(path, 0o666 & ~policy.streamlocal_bind_mask)
        except OSError as exc:
            listener.close()
            raise ForwardingError(f"cannot set the mode of {path}: {exc.strerror}") from exc
        return listener

    def _on_cancel_streamlocal_forward(self, event: ev.GlobalRequest) -> GlobalReply:
        try:
            path = Reader(event.data).get_string().decode("utf-8", "surrogateescape")
        except PacketDecodeError:
            return False
        listener = self._fwd_paths.pop(path, None)
        if listener is None:
            return False
        listener.close()
        return True

    # -- tunnels ---------------------------------------------------------------------------------

    def _on_tun_open(self, event: ev.ChannelOpenRequest) -> None:
        try:
            layer, unit = decode_tun_open(event.data)
        except TunTapError as exc:
            refuse_channel(self, event.channel, ChannelOpenFailure.CONNECT_FAILED, str(exc))
            return
        forced = self._fwd_key_limits()[3]
        if forced is not None:
            if unit is not None and unit != forced:
                refuse_channel(self, event.channel, ChannelOpenFailure.ADMINISTRATIVELY_PROHIBITED, "tunnel refused")
                return
            unit = forced
        spawn(self._fwd_tasks, self._tun_open(event.channel, layer, unit))

    async def _tun_open(self, chan_id: int, layer: int, unit: int | None) -> None:
        callback = "tun_requested" if layer == LAYER3 else "tap_requested"
        try:
            result = await _maybe(self._ask(callback, unit))
        except Exception:  # noqa: BLE001
            logger.exception("SSHServer.%s failed", callback)
            result = False
        if result is None:
            result = self._fwd_policy.tunnel(layer)

        def make(cid: int) -> SSHTunTapChannel:
            chan = SSHTunTapChannel(self, cid, "tun@openssh.com", layer=layer)
            chan._extra["unit"] = unit  # noqa: SLF001
            return chan

        session: SSHSession[Any]
        if result is True:
            try:
                fd, ifname = open_tun_device(unit, layer)
            except (SSHException, ConfigurationError) as exc:
                logger.info("tunnel refused: %s", exc)
                refuse_channel(self, chan_id, ChannelOpenFailure.CONNECT_FAILED, str(exc))
                return
            session = TunTapDeviceSession(fd, ifname)
        elif isinstance(result, SSHTunTapSession):
            session = result
        else:
            refuse_channel(self, chan_id, ChannelOpenFailure.ADMINISTRATIVELY_PROHIBITED, "tunnel refused")
            return
        accept_channel_with_session(self, chan_id, make, session)

    # -- opening channels to the client ----------------------------------------------------------------

    async def create_x11_listener(
        self, auth_protocol: str, auth_cookie: str, screen: int = 0, *, single_connection: bool = False
    ) -> Any:
        """Listen on a free X11 display and forward its clients to this client (see :mod:`blockssh.aio.x11`)."""
        from .x11 import start_x11_listener

        listener = await start_x11_listener(
            self, auth_protocol, auth_cookie, screen, single_connection=single_connection
        )
        self._add_listener(listener)
        return listener


_DENY_ALL = ForwardingPolicy()
