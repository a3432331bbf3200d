"""The waiting room's Lua scripts (``lua/*.lua``) and their replies as named tuples."""

from __future__ import annotations

from typing import NamedTuple

from ..luascripts import Script


class CheckReply(NamedTuple):
    kind: str                    # admitted, queued, prequeue, closed, challenge or none
    expires_ms: int
    rank: int                    # 0-based
    queue_length: int
    admitted_last_minute: int
    capacity: int
    session_seconds: int
    switched: bool               # this call turned the auto-mode queue on
    starts_ms: int               # the sale's start, 0 when unscheduled
    opens_ms: int                # when the pre-queue opens
    prequeue_length: int
    bits: int                    # the toll
    admit_per_minute: int        # 0: no pacing


class LeaveReply(NamedTuple):
    left_queue: bool
    ended_admission: bool


class RequireReply(NamedTuple):
    sale_started: bool
    queue_active: bool
    admitted: bool
    starts_ms: int


class ChallengeReply(NamedTuple):
    now_ms: int
    bits: int


class SettingsReply(NamedTuple):
    active: bool


class TickReply(NamedTuple):
    decided: bool                # False: another call decided this tick; only the next four are set
    queue_length: int
    active: int
    queue_active: bool
    prequeue_length: int
    switched: bool
    admitted_last_minute: int
    stats_due: bool
    expires_ms: int
    dropped: int
    publish: bool                # someone waits, or the waiting room changed
    draw_claim: int              # nonzero: this call claimed the draw and must run it
    admitted: tuple[str, ...]    # shoppers admitted by this decision


class DrawReply(NamedTuple):
    claimed: bool
    moved: int
    remaining: int


class PositionsReply(NamedTuple):
    queue_length: int
    admitted_last_minute: int
    capacity: int
    session_seconds: int
    mode: str
    starts_ms: int
    prequeue_length: int
    admit_per_minute: int
    opens_ms: int
    statuses: tuple[str, ...]    # per shopper asked: 'q<rank>', 'a<expiresMs>', 'p', 'c' or 'n'


class AdmissionReply(NamedTuple):
    now_ms: int
    expires_ms: int              # -1: no admission


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
    prequeue_length: int


class Scripts:
    """Every script, registered with one Redis client when the waiting room starts."""

    def __init__(self, client):
        def load(name: str, reply: type) -> Script:
            return Script(client, __package__, name, reply)
        self.check = load("check", CheckReply)
        self.challenge = load("challenge", ChallengeReply)
        self.leave = load("leave", LeaveReply)
        self.require = load("require", RequireReply)
        self.settings = load("settings", SettingsReply)
        self.tick = load("tick", TickReply)
        self.draw = load("draw", DrawReply)
        self.positions = load("positions", PositionsReply)
        self.heartbeat = load("heartbeat", HeartbeatReply)
        self.admission = load("admission", AdmissionReply)
        self.stats = load("stats", StatsReply)
