"""Where the waiting room keeps its state in Redis.

Per event, every key shares the hash tag ``{eventId}`` (one Redis Cluster slot), in the
order the Lua scripts expect them in KEYS (see ``lua/prelude.lua``).
"""

from __future__ import annotations

from typing import NamedTuple

EVENTS_KEY = "wr:events"            # set: event ids the admission task looks after
HEARTBEATS_KEY = "wr:instances"     # zset: instance id -> last heartbeat (Redis time, ms)


class EventKeys(NamedTuple):
    settings: str
    state: str
    queue: str
    admitted: str
    seen: str
    seq: str
    admsec: str
    conns: str
    pre: str


def event_keys(event_id: int) -> EventKeys:
    return EventKeys(*(f"wr:{{{event_id}}}:{name}" for name in EventKeys._fields))


def toll_key(event_id: int, challenge_id: str) -> str:
    """A solved challenge, once used (kept until it would have expired anyway)."""
    return f"wr:{{{event_id}}}:toll:{challenge_id}"
