"""The four room kinds, each ``kind:{eventId}``: who may join, what the join snapshot
holds, and how the queue room's pushes are made personal."""

from __future__ import annotations

from .. import errors, events
from ..failures import REDIS_DOWN
from ..waitingroom import WaitingRoom, views
from .hub import RoomKind


def room_kinds(pool, waiting_room: WaitingRoom, admission_interval: float) -> list[RoomKind]:
    known = KnownEvents(pool)

    async def anyone(identity, event_id: int) -> None:
        pass

    async def admins(identity, event_id: int) -> None:
        if identity is None:
            raise errors.Unauthorized()
        if not identity.is_admin:
            raise errors.Forbidden("Administrators only")
        await known.require(event_id)

    async def event_snapshot(identity, event_id: int) -> dict:
        event = await events.get_event(pool, event_id, waiting_room.is_active)
        return {"availability": {t["id"]: t["available"] for t in event["ticketTypes"]},
                "event": event}

    async def seats_snapshot(identity, event_id: int) -> dict:
        seats = await events.list_seats(pool, event_id)
        return {"seats": {s["id"]: s["status"] for s in seats}}

    async def stats_snapshot(identity, event_id: int) -> dict:
        return await waiting_room.stats(event_id)

    queue = QueueRoom(known, waiting_room, admission_interval)
    return [RoomKind("event", anyone, event_snapshot, shared=True),
            RoomKind("seats", anyone, seats_snapshot, shared=True),
            RoomKind("queue", queue.authorize, queue.snapshot, queue.personalize),
            RoomKind("admin", admins, stats_snapshot)]


class KnownEvents:
    """Which events exist, asked of PostgreSQL once per event: a crowd joining a queue room
    at the start of a sale should not cost a query each (events are never deleted)."""

    def __init__(self, pool):
        self._pool = pool
        self._known: set[int] = set()

    async def require(self, event_id: int) -> None:
        if event_id not in self._known:
            await events.require_event(self._pool, event_id)
            self._known.add(event_id)


class QueueRoom:
    """``queue:{eventId}``: each shopper follows their own place. The admission tick publishes
    one ``tick`` message per event; every instance turns it into its local members' own
    ``queue-update`` (or ``queue-admitted``, the moment they are let in).

    Cheap at scale: a tick refreshes the front of the queue (the people about to be let in;
    a pre-queue no longer than the front counts as front), whoever was just admitted, and a
    rotating slice of the rest (each of them every REFRESH_SECONDS); after the draw,
    everyone. A member is sent only what changed for them.
    Each member's pushes carry their own seq (see the hub), so a member not sent anything
    sees no gap."""

    REFRESH_SECONDS = 5.0
    MIN_FRONT = 100
    MAX_FRONT = 2000

    def __init__(self, known: KnownEvents, waiting_room: WaitingRoom, admission_interval: float):
        self._known = known
        self._room = waiting_room
        self._rotation = max(1, round(self.REFRESH_SECONDS / admission_interval))
        self._turn = 0
        # Per event: what each local member was last told (their status view) and their rank.
        self._shown: dict[int, dict[str, dict]] = {}
        self._ranks: dict[int, dict[str, int]] = {}
        self._front: dict[int, int] = {}

    async def authorize(self, identity, event_id: int) -> None:
        if identity is None:
            raise errors.Unauthorized("Sign in to follow your place in the queue")
        await self._known.require(event_id)

    async def snapshot(self, identity, event_id: int) -> dict:
        status = await self._room.status(event_id, identity.shopper)
        self._shown.setdefault(event_id, {})[identity.shopper] = _without_token(status)
        return status

    async def personalize(self, event_id: int, event: str, data: dict, identities: list) -> list:
        if event != "tick":
            return [(event, data)] * len(identities)
        shoppers = {i.shopper for i in identities if i is not None}
        shown = self._shown.setdefault(event_id, {})
        ranks = self._ranks.setdefault(event_id, {})
        self._turn += 1
        if self._turn % self._rotation == 0:  # forget members who left
            self._shown[event_id] = shown = {s: v for s, v in shown.items() if s in shoppers}
            self._ranks[event_id] = ranks = {s: r for s, r in ranks.items() if s in shoppers}
        everyone = bool(data.get("everyone"))
        admitted_now = set(data.get("admitted") or ())
        front, turn, rotation = self._front.get(event_id, self.MIN_FRONT), self._turn % self._rotation, self._rotation
        chosen = sorted(s for s in shoppers if everyone or s in admitted_now or ranks.get(s, -1) < front
                        or hash(s) % rotation == turn)
        if not chosen:
            return [None] * len(identities)
        try:
            reply = await self._room.positions(event_id, chosen)
        except REDIS_DOWN:
            return [None] * len(identities)
        front = self._front[event_id] = min(self.MAX_FRONT, max(self.MIN_FRONT, 2 * reply.capacity))
        # A pre-queue no longer than the front is all front: its length is news to each of them.
        prequeue_rank = -1 if reply.prequeue_length <= front else self.MAX_FRONT
        pushes: dict[str, tuple] = {}
        for shopper, raw in zip(chosen, reply.statuses):
            status = self._status(raw, reply)
            ranks[shopper] = int(raw[1:]) if raw.startswith("q") else prequeue_rank if raw == "p" else self.MAX_FRONT
            before = shown.get(shopper)
            if status == before:
                continue
            shown[shopper] = status
            if status["status"] == "admitted":
                token = self._room.tokens.issue(event_id, shopper, int(raw[1:]), reply.session_seconds)
                if (before or {}).get("status") != "admitted":
                    pushes[shopper] = ("queue-admitted", {"expiresAt": status["expiresAt"], "admissionToken": token})
                else:
                    pushes[shopper] = ("queue-update", {**status, "admissionToken": token})
            else:
                pushes[shopper] = ("queue-update", status)
        return [pushes.get(i.shopper) if i is not None else None for i in identities]

    @staticmethod
    def _status(raw: str, reply) -> dict:
        if raw.startswith("q"):
            return views.queued(int(raw[1:]), reply.queue_length, reply.admitted_last_minute, reply.capacity,
                                reply.session_seconds, reply.admit_per_minute)
        if raw.startswith("a"):
            return views.admitted(int(raw[1:]))
        if raw == "p":
            return views.prequeue(reply.starts_ms, reply.prequeue_length)
        if raw == "c":
            return views.closed(reply.opens_ms, reply.starts_ms)
        return views.NONE


def _without_token(status: dict) -> dict:
    return {k: v for k, v in status.items() if k != "admissionToken"}
