"""Reservations: holding, confirming and releasing stock and seats.

Overselling is impossible by construction: every hold takes the row locks of the seats
and ticket types it touches, always in the same order (reservation, seats by id, ticket
types by id) so concurrent holds and releases queue behind each other instead of
deadlocking, and a CHECK on ``ticket_types.available`` backs the arithmetic.
"""

from __future__ import annotations

import dataclasses
import hashlib
import uuid

import orjson

from . import db, errors, events

INSERT_IDEMPOTENCY_KEY = """
INSERT INTO idempotency_keys (user_id, key, request_hash, reservation_id) VALUES (%s, %s, %s, %s)
ON CONFLICT DO NOTHING RETURNING reservation_id
"""
SELECT_IDEMPOTENCY_KEY = "SELECT request_hash, reservation_id FROM idempotency_keys WHERE user_id = %s AND key = %s"
LOCK_SEATS = """
SELECT id, ticket_type_id, status FROM seats
WHERE event_id = %s AND id = ANY(%s) ORDER BY id FOR UPDATE
"""
LOCK_TICKET_TYPES = """
SELECT id, name, available, max_per_order, seated FROM ticket_types
WHERE event_id = %s AND id = ANY(%s) ORDER BY id FOR UPDATE
"""
TAKE_STOCK = "UPDATE ticket_types SET available = available - %s WHERE id = %s"
RETURN_STOCK = "UPDATE ticket_types SET available = available + %s WHERE id = %s"
INSERT_RESERVATION = """
INSERT INTO reservations (id, user_id, event_id, status, seat_ids, expires_at)
VALUES (%s, %s, %s, 'pending', %s, now() + make_interval(secs => %s))
"""
INSERT_ITEM = "INSERT INTO reservation_items (reservation_id, ticket_type_id, quantity) VALUES (%s, %s, %s)"
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


@dataclasses.dataclass
class InventoryChange:
    """What a write touched, so the real-time layer can push fresh counts."""
    event_id: str
    seat_ids: list[str] = dataclasses.field(default_factory=list)


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


def _parse_reservation_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        raise errors.NotFound("No such reservation") from None


async def get_reservation(pool, user_id: str, reservation_id: str) -> dict:
    row = await db.fetch_one(pool, SELECT_OWN_RESERVATION,
                             (str(_parse_reservation_id(reservation_id)), int(user_id)))
    if row is None:
        raise errors.NotFound("No such reservation")
    return reservation_view(row)


async def list_reservations(pool, user_id: str) -> list[dict]:
    return [reservation_view(r) for r in await db.fetch_all(pool, SELECT_OWN_RESERVATIONS, (int(user_id),))]


async def create_reservation(pool, user_id: str, event_id: int, items: list[dict], seat_ids: list[int],
                             hold_seconds: int, idempotency_key: str | None = None,
                             ) -> tuple[dict, bool, InventoryChange | None]:
    """Hold the requested stock and seats; returns (reservation, created, change).

    With an idempotency key, a repeat of the same request returns the first reservation
    (created False); two racing requests with one key serialise on its primary key.
    """
    uid = int(user_id)
    reservation_id = uuid.uuid4()
    wanted: dict[int, int] = {}
    for item in items:
        wanted[item["ticket_type_id"]] = wanted.get(item["ticket_type_id"], 0) + item["quantity"]

    async with db.transaction(pool) as cur:
        if idempotency_key is not None:
            fingerprint = request_fingerprint(event_id, items, seat_ids)
            await cur.execute(INSERT_IDEMPOTENCY_KEY, (uid, idempotency_key, fingerprint, str(reservation_id)))
            if await cur.fetchone() is None:
                await cur.execute(SELECT_IDEMPOTENCY_KEY, (uid, idempotency_key))
                earlier = await cur.fetchone()
                if earlier["request_hash"] != fingerprint:
                    raise errors.IdempotencyMismatch()
                await cur.execute(SELECT_OWN_RESERVATION, (str(earlier["reservation_id"]), uid))
                return reservation_view(await cur.fetchone()), False, None

        await cur.execute(events.SELECT_EVENT_EXISTS, (event_id,))
        if await cur.fetchone() is None:
            raise errors.NotFound("No such event")

        seated_counts: dict[int, int] = {}
        if seat_ids:
            await cur.execute(LOCK_SEATS, (event_id, seat_ids))
            seats = await cur.fetchall()
            unknown = set(seat_ids) - {s["id"] for s in seats}
            if unknown:
                raise errors.ValidationFailed(details={"seatIds": [
                    f"Unknown seat for this event: {', '.join(str(s) for s in sorted(unknown))}"]})
            taken = [str(s["id"]) for s in seats if s["status"] != "available"]
            if taken:
                raise errors.SeatUnavailable(details={"seatIds": taken})
            for seat in seats:
                seated_counts[seat["ticket_type_id"]] = seated_counts.get(seat["ticket_type_id"], 0) + 1

        type_ids = sorted(set(wanted) | set(seated_counts))
        await cur.execute(LOCK_TICKET_TYPES, (event_id, type_ids))
        types = {t["id"]: t for t in await cur.fetchall()}
        unknown = [t for t in wanted if t not in types]
        if unknown:
            raise errors.ValidationFailed(details={"items": [
                f"Unknown ticket type for this event: {', '.join(str(t) for t in unknown)}"]})
        for type_id in type_ids:
            ticket_type = types[type_id]
            if type_id in wanted and ticket_type["seated"]:
                raise errors.ValidationFailed(details={"items": [
                    f"{ticket_type['name']} is seated: choose seats with seatIds"]})
            quantity = wanted.get(type_id, 0) + seated_counts.get(type_id, 0)
            if quantity > ticket_type["max_per_order"]:
                raise errors.LimitExceeded(
                    f"At most {ticket_type['max_per_order']} {ticket_type['name']} tickets per order",
                    {"ticketTypeId": str(type_id), "maxPerOrder": ticket_type["max_per_order"]})
            if quantity > ticket_type["available"]:
                raise errors.SoldOut(details={"ticketTypeId": str(type_id),
                                              "available": ticket_type["available"]})

        await cur.execute(INSERT_RESERVATION, (str(reservation_id), uid, event_id, seat_ids, hold_seconds))
        for type_id in type_ids:
            quantity = wanted.get(type_id, 0) + seated_counts.get(type_id, 0)
            await cur.execute(TAKE_STOCK, (quantity, type_id))
            await cur.execute(INSERT_ITEM, (str(reservation_id), type_id, quantity))
        if seat_ids:
            await cur.execute(HOLD_SEATS, (str(reservation_id), seat_ids))
        await cur.execute(SELECT_OWN_RESERVATION, (str(reservation_id), uid))
        reservation = reservation_view(await cur.fetchone())
    change = InventoryChange(str(event_id), [str(s) for s in seat_ids])
    return reservation, True, change


async def _release(cur, reservation: dict, status: str) -> InventoryChange:
    """Return a locked reservation's stock and seats and give it its final status."""
    await cur.execute(LOCK_RESERVATION_SEATS, (reservation["id"],))
    await cur.fetchall()
    await cur.execute(FREE_SEATS, (reservation["id"],))
    await cur.execute(SELECT_ITEMS, (reservation["id"],))
    for item in await cur.fetchall():
        await cur.execute(RETURN_STOCK, (item["quantity"], item["ticket_type_id"]))
    await cur.execute(SET_STATUS, (status, reservation["id"]))
    return InventoryChange(str(reservation["event_id"]), [str(s) for s in reservation["seat_ids"]])


async def _lock_own(cur, reservation_id: str, user_id: str) -> dict:
    """Lock the caller's reservation; anyone else's is NotFound, as if it did not exist."""
    await cur.execute(LOCK_OWN_RESERVATION, (reservation_id, int(user_id)))
    row = await cur.fetchone()
    if row is None:
        raise errors.NotFound("No such reservation")
    return row


async def confirm_reservation(pool, user_id: str, reservation_id: str) -> tuple[dict, InventoryChange | None]:
    rid = str(_parse_reservation_id(reservation_id))
    change = None
    async with db.transaction(pool) as cur:
        row = await _lock_own(cur, rid, user_id)
        if row["status"] == "pending" and row["past_expiry"]:
            # Past its hold: release it now rather than wait for the sweeper.
            change = await _release(cur, row, "expired")
        elif row["status"] == "pending":
            await cur.execute(SELL_SEATS, (rid,))
            await cur.execute(SET_STATUS, ("confirmed", rid))
            change = InventoryChange(str(row["event_id"]), [str(s) for s in row["seat_ids"]])
        await cur.execute(SELECT_OWN_RESERVATION, (rid, int(user_id)))
        reservation = reservation_view(await cur.fetchone())
    if reservation["status"] == "expired":
        raise ExpiredOnConfirm(change)
    if reservation["status"] == "cancelled":
        raise errors.InvalidState("The reservation was cancelled")
    return reservation, change


class ExpiredOnConfirm(errors.ReservationExpired):
    """409 reservation_expired, carrying the release it caused (if any) for the pushes."""

    def __init__(self, change: InventoryChange | None):
        super().__init__()
        self.change = change


async def cancel_reservation(pool, user_id: str, reservation_id: str) -> tuple[dict, InventoryChange | None]:
    rid = str(_parse_reservation_id(reservation_id))
    change = None
    async with db.transaction(pool) as cur:
        row = await _lock_own(cur, rid, user_id)
        if row["status"] in ("pending", "confirmed"):
            change = await _release(cur, row, "cancelled")
        await cur.execute(SELECT_OWN_RESERVATION, (rid, int(user_id)))
        reservation = reservation_view(await cur.fetchone())
    if reservation["status"] == "expired":
        raise errors.ReservationExpired("The reservation had already expired; its tickets were released")
    return reservation, change


async def expire_due(pool, batch: int) -> list[InventoryChange]:
    """Release pending reservations past their hold. Safe to run in every instance at
    once: SKIP LOCKED gives each due reservation to exactly one of them."""
    async with db.transaction(pool) as cur:
        await cur.execute(LOCK_DUE_RESERVATIONS, (batch,))
        due = await cur.fetchall()
        return [await _release(cur, row, "expired") for row in due]
