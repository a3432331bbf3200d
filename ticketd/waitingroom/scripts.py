"""The waiting room's Lua scripts (``lua/*.lua``) and their replies as named tuples."""

from __future__ import annotations

from typing import NamedTuple

from ..luascripts import Script


class CheckReply(NamedTuple):
    kind: str                    # 'admitted', 'queued' or 'none'
    expires_ms: int
    rank: int                    # 0-based
    queue_length: int
    admitted_last_minute: int
    capacity: int
    session_seconds: int
    switched: bool               # this call turned the auto-mode queue on


class LeaveReply(NamedTuple):
    left_queue: bool
    ended_admission: bool


class RequireReply(NamedTuple):
    queue_active: bool
    admitted: bool


class SettingsReply(NamedTuple):
    active: bool


class TickReply(NamedTuple):
    decided: bool                # False: another call decided this tick; only the next three are set
    queue_length: int
    active: int
    queue_active: bool
    switched: bool
    admitted_last_minute: int
    stats_due: bool
    expires_ms: int
    dropped: int
    publish: bool                # the waiting room changed, or its last push is getting old
    admitted: tuple[str, ...]    # shoppers admitted by this decision


class PositionsReply(NamedTuple):
    queue_length: int
    admitted_last_minute: int
    capacity: int
    session_seconds: int
    mode: str
    statuses: tuple[str, ...]    # per shopper asked: 'q<rank>', 'a<expiresMs>' or 'n'


class HeartbeatReply(NamedTuple):
    now_ms: int


class StatsReply(NamedTuple):
    mode: str
    capacity: int
    queue_active: bool
    admitted_last_minute: int
    queue_length: int
    active_users: int
    instances: int
    connections: int


class Scripts:
    """Every script, registered with one Redis client when the waiting room starts."""

    def __init__(self, client):
        def load(name: str, reply: type) -> Script:
            return Script(client, __package__, name, reply)
        self.check = load("check", CheckReply)
        self.leave = load("leave", LeaveReply)
        self.require = load("require", RequireReply)
        self.settings = load("settings", SettingsReply)
        self.tick = load("tick", TickReply)
        self.positions = load("positions", PositionsReply)
        self.heartbeat = load("heartbeat", HeartbeatReply)
        self.stats = load("stats", StatsReply)
