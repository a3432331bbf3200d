"""Which instances are alive, and how many WebSocket connections each holds per event:
each instance's heartbeat, written every admission tick."""

from __future__ import annotations

import os
import socket

from .keys import HEARTBEATS_KEY, event_keys
from .scripts import Scripts


def default_instance_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class Presence:
    def __init__(self, scripts: Scripts, instance_id: str, ttl_ms: int):
        self._scripts = scripts
        self.instance_id = instance_id
        # An instance not heard from for this long no longer counts.
        self.ttl_ms = ttl_ms
        self._reported: set[int] = set()

    async def beat(self, connections: dict[int, int]) -> None:
        """This instance is alive with ``connections`` (event id → local sockets); events it
        reported before and has no sockets on any more are reported as 0."""
        counts = dict(connections)
        for gone in self._reported - counts.keys():
            counts[gone] = 0
        ids = sorted(counts)
        await self._scripts.heartbeat([HEARTBEATS_KEY, *(event_keys(e).conns for e in ids)],
                                      [self.instance_id, self.ttl_ms, *(counts[e] for e in ids)])
        self._reported = {e for e, n in counts.items() if n}
