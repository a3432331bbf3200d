"""The four room kinds, each ``kind:{eventId}``: who may join, what the join snapshot
holds, and how the queue room's pushes are made personal."""

from __future__ import annotations

from .. import errors, events
from ..failures import REDIS_DOWN
from ..waitingroom import WaitingRoom, views
from .hub import RoomKind


def room_kinds(pool, waiting_room: WaitingRoom) -> list[RoomKind]:
    async def anyone(identity, event_id: int) -> None:
        pass

    async def admins(identity, event_id: int) -> None:
        if identity is None:
            raise errors.Unauthorized()
        if not identity.is_admin:
            raise errors.Forbidden("Administrators only")
        await events.require_event(pool, event_id)

    async def event_snapshot(identity, event_id: int) -> dict:
        event = await events.get_event(pool, event_id, waiting_room.is_active)
        return {"availability": {t["id"]: t["available"] for t in event["ticketTypes"]},
                "event": event}

    async def seats_snapshot(identity, event_id: int) -> dict:
        seats = await events.list_seats(pool, event_id)
        return {"seats": {s["id"]: s["status"] for s in seats}}

    async def stats_snapshot(identity, event_id: int) -> dict:
        return await waiting_room.stats(event_id)

    queue = QueueRoom(pool, waiting_room)
    return [RoomKind("event", anyone, event_snapshot, shared=True),
            RoomKind("seats", anyone, seats_snapshot, shared=True),
            RoomKind("queue", queue.authorize, queue.snapshot, queue.personalize),
            RoomKind("admin", admins, stats_snapshot)]


class QueueRoom:
    """``queue:{eventId}``: each shopper follows their own place. The admission tick
    publishes one ``tick`` message per event; every instance turns it into each local
    member's own ``queue-admitted`` (the first push after its admission) or ``queue-update``.

    The tick publishes only when the waiting room changed (or, rarely, to keep open sockets
    counted as present), and then every member gets its own status: skipping the unchanged
    ones would leave gaps in the room's seq, which clients must treat as missed pushes."""

    def __init__(self, pool, waiting_room: WaitingRoom):
        self._pool = pool
        self._room = waiting_room
        self._told_admitted: dict[int, set[str]] = {}

    async def authorize(self, identity, event_id: int) -> None:
        if identity is None:
            raise errors.Unauthorized("Sign in to follow your place in the queue")
        await events.require_event(self._pool, event_id)

    async def snapshot(self, identity, event_id: int) -> dict:
        status = await self._room.status(event_id, identity.shopper)
        if status["status"] == "admitted":
            self._told_admitted.setdefault(event_id, set()).add(identity.shopper)
        return status

    async def personalize(self, event_id: int, event: str, data: dict, identities: list) -> list:
        if event != "tick":
            return [(event, data)] * len(identities)
        shoppers = sorted({i.shopper for i in identities if i is not None})
        if not shoppers:
            return [None] * len(identities)
        try:
            reply = await self._room.positions(event_id, shoppers)
        except REDIS_DOWN:
            return [None] * len(identities)
        admitted_now = set(data.get("admitted") or ())
        told = self._told_admitted.get(event_id, set())
        still_admitted: set[str] = set()
        rendered: dict[str, tuple] = {}
        for shopper, raw in zip(shoppers, reply.statuses):
            if raw.startswith("a"):
                status = views.admitted(int(raw[1:]))
                still_admitted.add(shopper)
                if shopper in admitted_now or shopper not in told:
                    rendered[shopper] = ("queue-admitted", {"expiresAt": status["expiresAt"]})
                else:
                    rendered[shopper] = ("queue-update", status)
            elif raw.startswith("q"):
                rendered[shopper] = ("queue-update", views.queued(
                    int(raw[1:]), reply.queue_length, reply.admitted_last_minute, reply.capacity,
                    reply.session_seconds))
            else:
                rendered[shopper] = ("queue-update", views.NONE)
        self._told_admitted[event_id] = still_admitted
        return [rendered.get(i.shopper) if i is not None else None for i in identities]
