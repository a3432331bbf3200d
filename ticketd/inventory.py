"""Reservations: holding, confirming and releasing stock and seats.

Every write that commits tells the change feed what it touched (``StockChanged``; a
confirmation also ``PurchaseConfirmed``).

Overselling is impossible by construction: every hold takes the row locks of the seats
and ticket types it touches, always in the same order (reservation, seats by id, ticket
types by id) so concurrent holds and releases queue behind each other instead of
deadlocking; stock is taken by one conditional UPDATE per ticket type (``available >=
quantity``), and a CHECK on ``ticket_types.available`` backs the arithmetic.

A ticket type's row is the one every buyer of that type waits for, so a hold takes it as
late as it can: everything else (the reservation, its seats) is written first, and from
the stock's UPDATE to the COMMIT there is nothing else to wait for (the item is written by
the same statement, the answer is built here rather than read back).
"""

from __future__ import annotations

import hashlib
import uuid

import orjson
import psycopg2.errors

from . import db, errors, metrics
from .changes import ChangeFeed, PurchaseConfirmed, StockChanged

INSERT_IDEMPOTENCY_KEY = """
INSERT INTO idempotency_keys (user_id, key, request_hash, reservation_id) VALUES (%s, %s, %s, %s)
ON CONFLICT DO NOTHING RETURNING reservation_id
"""
# The event's sale rules, by PostgreSQL's clock.
SELECT_SALE = """
SELECT sale_starts_at, sale_starts_at > now() AS not_started, max_per_customer FROM events WHERE id = %s
"""
# One account's holds for one event queue behind each other (the per-customer limit).
LOCK_CUSTOMER = "SELECT pg_advisory_xact_lock(hashtextextended('customer:' || %s || ':' || %s, 0))"
SELECT_CUSTOMER_TICKETS = """
SELECT COALESCE(sum(i.quantity), 0) AS tickets
FROM reservations r JOIN reservation_items i ON i.reservation_id = r.id
WHERE r.event_id = %s AND r.user_id = %s
  AND (r.status = 'confirmed' OR (r.status = 'pending' AND r.expires_at > now()))
"""
SELECT_IDEMPOTENCY_KEY = "SELECT request_hash, reservation_id FROM idempotency_keys WHERE user_id = %s AND key = %s"
LOCK_SEATS = """
SELECT id, ticket_type_id, status, section, row, number FROM seats
WHERE event_id = %s AND id = ANY(%s) ORDER BY id FOR UPDATE
"""
SELECT_TICKET_TYPES = """
SELECT id, name, available, max_per_order, seated FROM ticket_types
WHERE event_id = %s AND id = ANY(%s) ORDER BY id
"""
# The stock and the item in one statement: the row stays locked from here to the COMMIT.
TAKE_STOCK = """
WITH taken AS (
    UPDATE ticket_types SET available = available - %(quantity)s
    WHERE id = %(type_id)s AND available >= %(quantity)s RETURNING id)
INSERT INTO reservation_items (reservation_id, ticket_type_id, quantity)
SELECT %(reservation_id)s, id, %(quantity)s FROM taken RETURNING ticket_type_id
"""
SELECT_AVAILABLE = "SELECT available FROM ticket_types WHERE id = %s"
RETURN_STOCK = "UPDATE ticket_types SET available = available + %s WHERE id = %s"
INSERT_RESERVATION = """
INSERT INTO reservations (id, user_id, event_id, status, seat_ids, expires_at)
VALUES (%s, %s, %s, 'pending', %s, now() + make_interval(secs => %s))
RETURNING id, event_id, status, seat_ids, expires_at, created_at
"""
HOLD_SEATS = "UPDATE seats SET status = 'held', reservation_id = %s WHERE id = ANY(%s)"
SELL_SEATS = "UPDATE seats SET status = 'sold' WHERE reservation_id = %s"
LOCK_RESERVATION_SEATS = "SELECT id FROM seats WHERE reservation_id = %s ORDER BY id FOR UPDATE"
FREE_SEATS = "UPDATE seats SET status = 'available', reservation_id = NULL WHERE reservation_id = %s"
SELECT_ITEMS = """
SELECT ticket_type_id, quantity FROM reservation_items WHERE reservation_id = %s ORDER BY ticket_type_id
"""
LOCK_OWN_RESERVATION = """
SELECT id, event_id, status, seat_ids, expires_at <= now() AS past_expiry
FROM reservations WHERE id = %s AND user_id = %s FOR UPDATE
"""
SELECT_OWN_STATUS = "SELECT event_id, status FROM reservations WHERE id = %s AND user_id = %s"
SET_STATUS = "UPDATE reservations SET status = %s, updated_at = now() WHERE id = %s"
LOCK_DUE_RESERVATIONS = """
SELECT id, event_id, status, seat_ids FROM reservations
WHERE status = 'pending' AND expires_at <= now()
ORDER BY expires_at LIMIT %s FOR UPDATE SKIP LOCKED
"""
SELECT_RESERVATIONS = """
SELECT r.id, r.event_id, r.status, r.seat_ids, r.expires_at, r.created_at,
       COALESCE((SELECT json_agg(json_build_object('ticketTypeId', i.ticket_type_id::text,
                                                   'quantity', i.quantity) ORDER BY i.ticket_type_id)
                 FROM reservation_items i WHERE i.reservation_id = r.id), '[]') AS items
FROM reservations r
"""
SELECT_OWN_RESERVATION = SELECT_RESERVATIONS + " WHERE r.id = %s AND r.user_id = %s"
SELECT_OWN_RESERVATIONS = SELECT_RESERVATIONS + " WHERE r.user_id = %s ORDER BY r.created_at DESC LIMIT 500"


def reservation_view(row: dict) -> dict:
    return {
        "id": str(row["id"]),
        "eventId": str(row["event_id"]),
        "status": row["status"],
        "items": row["items"],
        "seatIds": [str(s) for s in row["seat_ids"]],
        "expiresAt": row["expires_at"],
        "createdAt": row["created_at"],
    }


def request_fingerprint(event_id: int, items: list[dict], seat_ids: list[int]) -> str:
    canonical = orjson.dumps({"eventId": event_id,
                              "items": sorted((i["ticket_type_id"], i["quantity"]) for i in items),
                              "seatIds": sorted(seat_ids)})
    return hashlib.sha256(canonical).hexdigest()


class Inventory:
    def __init__(self, pool, feed: ChangeFeed, hold_seconds: int):
        self._pool = pool
        self._feed = feed
        self.hold_seconds = hold_seconds

    async def get(self, user_id: int, reservation_id: uuid.UUID) -> dict:
        row = await db.fetch_one(self._pool, SELECT_OWN_RESERVATION, (str(reservation_id), user_id))
        if row is None:
            raise errors.NotFound("No such reservation")
        return reservation_view(row)

    async def status_of(self, user_id: int, reservation_id: uuid.UUID) -> tuple[int, str]:
        """The event and status of one of the caller's reservations."""
        row = await db.fetch_one(self._pool, SELECT_OWN_STATUS, (str(reservation_id), user_id))
        if row is None:
            raise errors.NotFound("No such reservation")
        return row["event_id"], row["status"]

    async def list(self, user_id: int) -> list[dict]:
        return [reservation_view(r) for r in await db.fetch_all(self._pool, SELECT_OWN_RESERVATIONS, (user_id,))]

    async def hold(self, user_id: int, event_id: int, items: list[dict], seat_ids: list[int],
                   idempotency_key: str | None = None) -> tuple[dict, bool]:
        """Hold the requested stock and seats; returns (reservation, created).

        With an idempotency key, a repeat of the same request returns the first reservation
        (created False); two racing requests with one key serialise on its primary key.
        """
        reservation_id = uuid.uuid4()
        wanted: dict[int, int] = {}
        for item in items:
            wanted[item["ticket_type_id"]] = wanted.get(item["ticket_type_id"], 0) + item["quantity"]

        try:
            return await self._hold(user_id, event_id, wanted, items, seat_ids, idempotency_key,
                                    reservation_id)
        except psycopg2.errors.ForeignKeyViolation:
            # A signed token whose account is gone.
            raise errors.Unauthorized("Unknown user") from None

    async def _hold(self, user_id, event_id, wanted, items, seat_ids, idempotency_key, reservation_id):
        async with db.transaction(self._pool) as cur:
            if idempotency_key is not None:
                fingerprint = request_fingerprint(event_id, items, seat_ids)
                await cur.execute(INSERT_IDEMPOTENCY_KEY, (user_id, idempotency_key, fingerprint,
                                                           str(reservation_id)))
                if await cur.fetchone() is None:
                    await cur.execute(SELECT_IDEMPOTENCY_KEY, (user_id, idempotency_key))
                    earlier = await cur.fetchone()
                    if earlier["request_hash"] != fingerprint:
                        raise errors.IdempotencyMismatch()
                    await cur.execute(SELECT_OWN_RESERVATION, (str(earlier["reservation_id"]), user_id))
                    return reservation_view(await cur.fetchone()), False

            await _check_sale(cur, event_id, user_id, sum(wanted.values()) + len(seat_ids))
            seated_counts = await _lock_seats(cur, event_id, seat_ids)
            type_ids = sorted(set(wanted) | set(seated_counts))
            quantities = {t: wanted.get(t, 0) + seated_counts.get(t, 0) for t in type_ids}
            types = await _ticket_types(cur, event_id, wanted, quantities)

            await cur.execute(INSERT_RESERVATION, (str(reservation_id), user_id, event_id, seat_ids,
                                                   self.hold_seconds))
            created = await cur.fetchone()
            if seat_ids:
                await cur.execute(HOLD_SEATS, (str(reservation_id), seat_ids))
            for type_id, quantity in quantities.items():     # by id: the order every hold locks in
                await cur.execute(TAKE_STOCK, {"quantity": quantity, "type_id": type_id,
                                               "reservation_id": str(reservation_id)})
                if await cur.fetchone() is None:     # taken meanwhile: what is left now
                    await cur.execute(SELECT_AVAILABLE, (type_id,))
                    raise _sold_out(types[type_id], (await cur.fetchone())["available"])
            reservation = reservation_view({**created, "items": [{"ticketTypeId": str(t), "quantity": q}
                                                             for t, q in quantities.items()]})
        metrics.RESERVATIONS.labels(outcome="held").inc()
        await self._feed.emit(StockChanged(event_id, tuple(seat_ids)))
        return reservation, True

    async def confirm(self, user_id: int, reservation_id: uuid.UUID) -> dict:
        """Confirm a pending reservation. One past its hold is released now (rather than by
        the sweeper) and answered 409 reservation_expired."""
        rid = str(reservation_id)
        changes = []
        async with db.transaction(self._pool) as cur:
            row = await _lock_own(cur, rid, user_id)
            if row["status"] == "pending" and row["past_expiry"]:
                changes.append(await _release(cur, row, "expired"))
            elif row["status"] == "pending":
                await cur.execute(SELL_SEATS, (rid,))
                await cur.execute(SET_STATUS, ("confirmed", rid))
                changes += [StockChanged(row["event_id"], tuple(row["seat_ids"])),
                            PurchaseConfirmed(row["event_id"], str(user_id))]
            await cur.execute(SELECT_OWN_RESERVATION, (rid, user_id))
            reservation = reservation_view(await cur.fetchone())
        for change in changes:
            await self._feed.emit(change)
        if reservation["status"] == "expired":
            raise errors.ReservationExpired()
        if reservation["status"] == "cancelled":
            raise errors.InvalidState("The reservation was cancelled")
        if changes:
            metrics.RESERVATIONS.labels(outcome="confirmed").inc()
        return reservation

    async def cancel(self, user_id: int, reservation_id: uuid.UUID) -> dict:
        rid = str(reservation_id)
        change = None
        async with db.transaction(self._pool) as cur:
            row = await _lock_own(cur, rid, user_id)
            if row["status"] in ("pending", "confirmed"):
                change = await _release(cur, row, "cancelled")
            await cur.execute(SELECT_OWN_RESERVATION, (rid, user_id))
            reservation = reservation_view(await cur.fetchone())
        if change:
            metrics.RESERVATIONS.labels(outcome="cancelled").inc()
            await self._feed.emit(change)
        if reservation["status"] == "expired":
            raise errors.ReservationExpired("The reservation had already expired; its tickets were released")
        return reservation

    async def expire_due(self, batch: int) -> int:
        """Release pending reservations past their hold; returns how many. Safe to run in
        every instance at once: SKIP LOCKED gives each due reservation to exactly one."""
        async with db.transaction(self._pool) as cur:
            await cur.execute(LOCK_DUE_RESERVATIONS, (batch,))
            released = [await _release(cur, row, "expired") for row in await cur.fetchall()]
        if released:
            metrics.RESERVATIONS.labels(outcome="expired").inc(len(released))
        for change in released:
            await self._feed.emit(change)
        return len(released)


async def _check_sale(cur, event_id: int, user_id: int, tickets: int) -> None:
    """NotFound, SaleNotStarted, or LimitExceeded past the event's per-customer limit
    (counted under a lock per account and event, so racing holds cannot pass it)."""
    await cur.execute(SELECT_SALE, (event_id,))
    sale = await cur.fetchone()
    if sale is None:
        raise errors.NotFound("No such event")
    if sale["not_started"]:
        raise errors.SaleNotStarted(details={"saleStartsAt": sale["sale_starts_at"]})
    limit = sale["max_per_customer"]
    if limit is None:
        return
    await cur.execute(LOCK_CUSTOMER, (event_id, user_id))
    await cur.execute(SELECT_CUSTOMER_TICKETS, (event_id, user_id))
    held = (await cur.fetchone())["tickets"]
    if held + tickets > limit:
        left = max(0, limit - held)
        raise errors.LimitExceeded(
            f"At most {limit} tickets per customer for this event; you can add {left} more",
            {"maxPerCustomer": limit, "held": held})


async def _lock_seats(cur, event_id: int, seat_ids: list[int]) -> dict[int, int]:
    """Lock the requested seats; returns how many of each ticket type they are."""
    counts: dict[int, int] = {}
    if not seat_ids:
        return counts
    await cur.execute(LOCK_SEATS, (event_id, seat_ids))
    seats = await cur.fetchall()
    unknown = set(seat_ids) - {s["id"] for s in seats}
    if unknown:
        names = ", ".join(str(s) for s in sorted(unknown))
        raise errors.ValidationFailed(f"Seat {names} is not part of this event",
                                      {"seatIds": [f"Seat {names} is not part of this event"]})
    taken = [s for s in seats if s["status"] != "available"]
    if taken:
        names = ", ".join(f"Section {s['section']} · Row {s['row']} · Seat {s['number']}" for s in taken)
        raise errors.SeatUnavailable(f"Just taken, choose another: {names}",
                                     {"seatIds": [str(s["id"]) for s in taken]})
    for seat in seats:
        counts[seat["ticket_type_id"]] = counts.get(seat["ticket_type_id"], 0) + 1
    return counts


async def _ticket_types(cur, event_id: int, wanted: dict[int, int], quantities: dict[int, int]) -> dict[int, dict]:
    """The ticket types, each checked against its per-order limit and (without a lock: the
    stock's UPDATE decides) its stock, so that a sold-out type fails before anything is
    written."""
    await cur.execute(SELECT_TICKET_TYPES, (event_id, list(quantities)))
    types = {t["id"]: t for t in await cur.fetchall()}
    unknown = [t for t in wanted if t not in types]
    if unknown:
        names = ", ".join(str(t) for t in unknown)
        raise errors.ValidationFailed(f"Ticket type {names} is not on sale for this event",
                                      {"items": [f"Ticket type {names} is not on sale for this event"]})
    for type_id, quantity in quantities.items():
        ticket_type = types[type_id]
        if type_id in wanted and ticket_type["seated"]:
            message = f"{ticket_type['name']} tickets are seated: choose seats instead"
            raise errors.ValidationFailed(message, {"items": [message]})
        if quantity > ticket_type["max_per_order"]:
            raise errors.LimitExceeded(
                f"At most {ticket_type['max_per_order']} {ticket_type['name']} tickets per order",
                {"ticketTypeId": str(type_id), "maxPerOrder": ticket_type["max_per_order"]})
        if quantity > ticket_type["available"]:
            raise _sold_out(ticket_type, ticket_type["available"])
    return types


def _sold_out(ticket_type: dict, left: int) -> errors.SoldOut:
    return errors.SoldOut(_left(ticket_type["name"], left), {"ticketTypeId": str(ticket_type["id"]), "available": left})


def _left(name: str, left: int) -> str:
    if not left:
        return f"Sold out: no {name} tickets left"
    return f"Only {left} {name} ticket{'s' if left != 1 else ''} left"


async def _release(cur, reservation: dict, status: str) -> StockChanged:
    """Return a locked reservation's stock and seats and give it its final status."""
    await cur.execute(LOCK_RESERVATION_SEATS, (reservation["id"],))
    await cur.fetchall()
    await cur.execute(FREE_SEATS, (reservation["id"],))
    await cur.execute(SELECT_ITEMS, (reservation["id"],))
    for item in await cur.fetchall():
        await cur.execute(RETURN_STOCK, (item["quantity"], item["ticket_type_id"]))
    await cur.execute(SET_STATUS, (status, reservation["id"]))
    return StockChanged(reservation["event_id"], tuple(reservation["seat_ids"]))


async def _lock_own(cur, reservation_id: str, user_id: int) -> dict:
    """Lock the caller's reservation; anyone else's is NotFound, as if it did not exist."""
    await cur.execute(LOCK_OWN_RESERVATION, (reservation_id, user_id))
    row = await cur.fetchone()
    if row is None:
        raise errors.NotFound("No such reservation")
    return row
