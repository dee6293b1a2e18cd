"""Two protocol cores wired back to back in memory, for deterministic tests.

``CorePair`` moves bytes between a client and a server core until neither
has anything left to send, collecting each side's events. No sockets, no
threads, no clock.
"""

from __future__ import annotations

from collections.abc import Callable

from ..proto.connection import CoreOptions, SSHConnectionCore
from ..proto.events import Event

__all__ = ["CorePair"]


class CorePair:
    """A client core and a server core connected by an in-memory pipe."""

    def __init__(
        self,
        client_options: CoreOptions | None = None,
        server_options: CoreOptions | None = None,
        *,
        client_rng: Callable[[int], bytes] | None = None,
        server_rng: Callable[[int], bytes] | None = None,
    ) -> None:
        kwargs_c = {"rng": client_rng} if client_rng else {}
        kwargs_s = {"rng": server_rng} if server_rng else {}
        self.client = SSHConnectionCore(is_server=False, options=client_options, **kwargs_c)
        self.server = SSHConnectionCore(is_server=True, options=server_options, **kwargs_s)
        self.client_events: list[Event] = []
        self.server_events: list[Event] = []
        self.wire_c2s: list[bytes] = []  # everything the client sent, in order
        self.wire_s2c: list[bytes] = []

    def start(self) -> None:
        """Queue both identification lines and first KEXINITs."""
        self.client.start()
        self.server.start()

    def pump(self, max_rounds: int = 1000) -> None:
        """Exchange bytes until both sides are quiet."""
        for _ in range(max_rounds):
            c2s = self.client.data_to_send()
            s2c = self.server.data_to_send()
            if not c2s and not s2c:
                self.client_events += self.client.events_received()
                self.server_events += self.server.events_received()
                return
            if c2s:
                self.wire_c2s.append(c2s)
                self.server.receive_data(c2s)
            if s2c:
                self.wire_s2c.append(s2c)
                self.client.receive_data(s2c)
            self.client_events += self.client.events_received()
            self.server_events += self.server.events_received()
        raise RuntimeError("cores kept talking for too long")

    def take(self, side: str, kind: type) -> list[Event]:
        """Remove and return the collected events of one type from one side."""
        events = self.client_events if side == "client" else self.server_events
        found = [e for e in events if isinstance(e, kind)]
        events[:] = [e for e in events if not isinstance(e, kind)]
        return found
