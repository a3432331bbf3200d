"""Shared state of one run: fans, the tool's own reservations and its view of the stock.
Everything here runs on the one event loop: no locks."""

from __future__ import annotations

import random

WAITING, SHOPPING, DONE, GAVE_UP, NOT_ARRIVED = "waiting", "shopping", "done", "gave_up", "not_arrived"


class Fan:
    """One fan: a few dozen bytes of state, one task, at most one socket and one request."""

    __slots__ = ("index", "token", "state", "arrive_at", "first_check",
                 "admitted_at", "ws", "reader", "seq", "joins", "join_ref", "joined", "news", "waiter", "kind",
                 "backoff", "reconnect_at", "poll_at", "entered", "uncertain", "why", "queue_attempts", "waited_in",
                 "admission_token")

    def __init__(self, index: int, token: str):
        self.index = index
        self.token = token
        self.state = NOT_ARRIVED
        self.arrive_at = 0.0
        self.first_check: float | None = None
        self.admitted_at: float | None = None
        self.ws = None
        self.reader = None          # the task draining the queue socket
        self.seq: int | None = None
        self.joins = 0
        self.join_ref: str | None = None
        self.joined = False
        self.news: dict | None = None    # latest status from the socket, not yet acted on
        self.waiter = None               # the future the fan sleeps on
        self.kind: str | None = None     # the status it is waiting in (queued, prequeue, …)
        self.backoff = 0.5
        self.reconnect_at = 0.0
        self.poll_at = 0.0
        self.entered = False        # holds a place (queued, pre-queued or admitted) at least once
        self.uncertain = False      # a hold got no answer: it may exist on the server
        self.why: str | None = None
        self.queue_attempts = 0
        self.waited_in: set[str] = set()     # closed, prequeue, queued: each state it was told
        self.admission_token: str | None = None


class Held:
    """One of the tool's reservations, as the server answered it."""

    __slots__ = ("id", "fan", "items", "seat_ids", "status")

    def __init__(self, rid: str, fan: int, items: dict[str, int], seat_ids: list[str], status: str):
        self.id = rid
        self.fan = fan
        self.items = items
        self.seat_ids = seat_ids
        self.status = status

    @classmethod
    def from_reservation(cls, fan: int, reservation: dict, seat_types: dict[str, str]) -> "Held":
        items: dict[str, int] = {}
        for item in reservation.get("items") or []:
            tid = str(item.get("ticketTypeId"))
            items[tid] = items.get(tid, 0) + int(item.get("quantity") or 0)
        seat_ids = [str(s) for s in reservation.get("seatIds") or []]
        # Seats count towards their type whether or not the server lists them as items.
        if seat_ids and not any(seat_types.get(s) in items for s in seat_ids):
            for s in seat_ids:
                tid = seat_types.get(s)
                if tid is not None:
                    items[tid] = items.get(tid, 0) + 1
        return cls(str(reservation["id"]), fan, items, seat_ids, str(reservation.get("status")))

    @property
    def tickets(self) -> int:
        return sum(self.items.values())


class Inventory:
    """What the crowd knows of the stock: absolute counts from the event room's pushes and
    snapshots, seat statuses from the seat room, and seats our own fans are trying for."""

    def __init__(self, event: dict, seats: list[dict] | None):
        self.types: dict[str, dict] = {str(t["id"]): t for t in event.get("ticketTypes") or []}
        self.available: dict[str, int] = {tid: int(t.get("available") or 0) for tid, t in self.types.items()}
        self.seat_type: dict[str, str] = {}
        self.free: dict[str, set[str]] = {}
        self.claimed: set[str] = set()
        for seat in seats or []:
            sid, tid = str(seat["id"]), str(seat.get("ticketTypeId"))
            self.seat_type[sid] = tid
            bucket = self.free.setdefault(tid, set())
            if seat.get("status") == "available":
                bucket.add(sid)
        self.seated = set(self.free)
        self.rng = random.Random()

    @property
    def total_available(self) -> int:
        return sum(max(0, n) for n in self.available.values())

    def update_counts(self, counts: dict) -> None:
        for tid, n in counts.items():
            tid = str(tid)
            if tid in self.available and isinstance(n, int):
                self.available[tid] = n

    def update_seats(self, statuses: dict) -> None:
        for sid, status in statuses.items():
            sid = str(sid)
            tid = self.seat_type.get(sid)
            if tid is None:
                continue
            if status == "available":
                self.free[tid].add(sid)
            else:
                self.free[tid].discard(sid)

    def taken(self, seat_ids) -> None:
        """Seats the server said are gone (seat_unavailable)."""
        for sid in seat_ids:
            tid = self.seat_type.get(str(sid))
            if tid is not None:
                self.free[tid].discard(str(sid))

    def choose(self, wanted: int, only_type: str | None = None):
        """(ticketTypeId, quantity, seatIds) for a fan who wants ``wanted`` tickets, or None
        when nothing is left that the fan could get."""
        candidates = []
        for tid, n in self.available.items():
            if only_type is not None and tid != only_type:
                continue
            if tid in self.seated:
                n = min(n, len(self.free[tid]))
            if n > 0:
                candidates.append((tid, n))
        if not candidates:
            return None
        tid = self.rng.choices([c[0] for c in candidates], weights=[c[1] for c in candidates])[0]
        limit = self.types[tid].get("maxPerOrder") or wanted
        quantity = max(1, min(wanted, int(limit)))
        if tid not in self.seated:
            return tid, quantity, []
        pool = [s for s in self.free[tid] if s not in self.claimed]
        if not pool:
            return None
        seats = self.rng.sample(pool, min(quantity, len(pool)))
        return tid, len(seats), seats

