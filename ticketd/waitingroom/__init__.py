"""The waiting room: a fair queue per event in Redis, one admission decision per tick
across every instance. ``room`` is the public API; ``settings`` copies settings from
PostgreSQL, ``presence`` keeps instance heartbeats, ``scripts`` holds the Lua (``lua/``)."""

from .keys import event_keys
from .room import WaitingRoom
from .views import wait_estimate

__all__ = ["WaitingRoom", "event_keys", "wait_estimate"]
