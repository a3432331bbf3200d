"""Events, ticket types and seats: what is on sale and how much of it is left."""

from __future__ import annotations

import datetime
import string
import zoneinfo

from . import db, errors

EVENT_COLUMNS = """
SELECT id, name, venue, starts_at, currency, time_zone, sale_starts_at, max_per_customer, queue_mode, queue_capacity,
       queue_session_seconds, queue_prequeue_seconds, queue_admit_per_minute, queue_challenge_bits,
       EXISTS (SELECT 1 FROM seats s WHERE s.event_id = e.id) AS has_seats
FROM events e"""
SELECT_EVENTS = EVENT_COLUMNS + " ORDER BY starts_at, id"
SELECT_EVENT = EVENT_COLUMNS + " WHERE id = %s"
SELECT_TICKET_TYPES = """
SELECT id, event_id, name, price, total, available, max_per_order, seated
FROM ticket_types WHERE event_id = ANY(%s) ORDER BY id
"""
SELECT_EVENT_EXISTS = "SELECT now() AS now FROM events WHERE id = %s"
SELECT_AVAILABILITY = "SELECT id, available FROM ticket_types WHERE event_id = %s ORDER BY id"
SELECT_SEATS = """
SELECT id, label, section, row, number, ticket_type_id, status
FROM seats WHERE event_id = %s ORDER BY id
"""
SELECT_SEAT_STATUSES = "SELECT id, status FROM seats WHERE event_id = %s AND id = ANY(%s)"
INSERT_EVENT = """
INSERT INTO events (name, venue, starts_at, currency, time_zone, sale_starts_at, max_per_customer, queue_mode,
                    queue_capacity, queue_session_seconds, queue_prequeue_seconds, queue_admit_per_minute,
                    queue_challenge_bits)
VALUES (%(name)s, %(venue)s, %(starts_at)s, %(currency)s, %(time_zone)s, %(sale_starts_at)s, %(max_per_customer)s,
        %(mode)s, %(capacity)s, %(session_seconds)s, %(prequeue_seconds)s, %(admit_per_minute)s,
        %(challenge_bits)s) RETURNING id
"""
INSERT_TICKET_TYPE = """
INSERT INTO ticket_types (event_id, name, price, total, available, max_per_order, seated)
VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id
"""
# One statement per section: every row label times seat numbers 1..seatsPerRow.
INSERT_SECTION_SEATS = """
INSERT INTO seats (event_id, ticket_type_id, section, row, number, label)
SELECT %(event_id)s, %(ticket_type_id)s, %(section)s, r.label, n, %(section)s || ' ' || r.label || n
FROM unnest(%(rows)s::text[]) WITH ORDINALITY AS r(label, ord), generate_series(1, %(per_row)s) AS n
ORDER BY r.ord, n
"""
# PATCH: only the fields given change; each is "column = %(column)s" from this fixed list.
UPDATE_EVENT = "UPDATE events SET {assignments}, updated_at = now() WHERE id = %(id)s RETURNING id"
UPDATABLE = {
    "name": "name", "venue": "venue", "starts_at": "starts_at", "time_zone": "time_zone",
    "sale_starts_at": "sale_starts_at", "max_per_customer": "max_per_customer",
}
UPDATABLE_QUEUE = {
    "mode": "queue_mode", "capacity": "queue_capacity", "session_seconds": "queue_session_seconds",
    "prequeue_seconds": "queue_prequeue_seconds", "admit_per_minute": "queue_admit_per_minute",
    "challenge_bits": "queue_challenge_bits",
}
QUEUE_SETTINGS_COLUMNS = """
SELECT id, queue_mode AS mode, queue_capacity AS capacity, queue_session_seconds AS session_seconds,
       sale_starts_at, queue_prequeue_seconds AS prequeue_seconds,
       queue_admit_per_minute AS admit_per_minute, queue_challenge_bits AS challenge_bits
FROM events"""
SELECT_QUEUE_SETTINGS = QUEUE_SETTINGS_COLUMNS + " WHERE id = %s"
# Events whose waiting room needs its settings in Redis (and any asked for by id).
SELECT_QUEUED_EVENTS = (QUEUE_SETTINGS_COLUMNS
                        + " WHERE queue_mode <> 'off' OR sale_starts_at IS NOT NULL OR id = ANY(%s)")

# The IANA names an event's time zone may have: the tz database's zones and links, less
# "localtime" (the machine's own zone, not a place) and "Factory" (a placeholder); UTC, the
# default, even on a machine without the database.
TIME_ZONES = frozenset((zoneinfo.available_timezones() - {"localtime", "Factory"}) | {"UTC"})
DEFAULT_TIME_ZONE = "UTC"

# The largest stadiums seat about 100,000; more in one request is a mistake or an attack.
MAX_SEATS = 100_000
DEFAULT_QUEUE = {"mode": "off", "capacity": 100, "session_seconds": 600, "prequeue_seconds": 900,
                 "admit_per_minute": None, "challenge_bits": 0}


def row_labels(count: int) -> list[str]:
    """A, B, …, Z, AA, AB, … as venues label rows."""
    labels = []
    for index in range(count):
        label, n = "", index
        while True:
            label = string.ascii_uppercase[n % 26] + label
            n = n // 26 - 1
            if n < 0:
                break
        labels.append(label)
    return labels


def _event_view(row: dict, ticket_types: list[dict], queue_active: bool) -> dict:
    return {
        "id": str(row["id"]),
        "name": row["name"],
        "venue": row["venue"],
        "startsAt": row["starts_at"],
        "currency": row["currency"],
        "timeZone": row["time_zone"],
        "saleStartsAt": row["sale_starts_at"],
        "maxPerCustomer": row["max_per_customer"],
        "ticketTypes": [ticket_type_view(t) for t in ticket_types],
        "hasSeats": row["has_seats"],
        "queue": {
            "mode": row["queue_mode"],
            "capacity": row["queue_capacity"],
            "sessionSeconds": row["queue_session_seconds"],
            "active": queue_active,
            "admitPerMinute": row["queue_admit_per_minute"],
            "prequeueSeconds": row["queue_prequeue_seconds"],
            "challengeBits": row["queue_challenge_bits"],
        },
    }


def ticket_type_view(row: dict) -> dict:
    return {
        "id": str(row["id"]),
        "name": row["name"],
        "price": float(row["price"]),
        "total": row["total"],
        "available": row["available"],
        "maxPerOrder": row["max_per_order"],
        "seated": row["seated"],
    }


async def list_events(pool, queue_active=None) -> list[dict]:
    """Every event; ``await queue_active(event_id, mode)`` tells whether its queue is active
    (without it: only mode `on` counts as active)."""
    rows = await db.fetch_all(pool, SELECT_EVENTS)
    types = await db.fetch_all(pool, SELECT_TICKET_TYPES, ([r["id"] for r in rows],))
    by_event: dict[int, list] = {}
    for t in types:
        by_event.setdefault(t["event_id"], []).append(t)
    return [
        _event_view(r, by_event.get(r["id"], []),
                    await _active(queue_active, r))
        for r in rows
    ]


async def get_event(pool, event_id: int, queue_active=None) -> dict:
    row = await db.fetch_one(pool, SELECT_EVENT, (event_id,))
    if row is None:
        raise errors.NotFound("No such event")
    types = await db.fetch_all(pool, SELECT_TICKET_TYPES, ([event_id],))
    return _event_view(row, types, await _active(queue_active, row))


async def _active(queue_active, row: dict) -> bool:
    if queue_active is None:
        return row["queue_mode"] == "on"
    return await queue_active(row["id"], row["queue_mode"])


async def availability(pool, event_id: int) -> dict[str, int]:
    """``{ticketTypeId: available}`` for every ticket type of the event."""
    rows = await db.fetch_all(pool, SELECT_AVAILABILITY, (event_id,))
    return {str(r["id"]): r["available"] for r in rows}


async def require_event(pool, event_id: int) -> datetime.datetime:
    """The database's time (the clock instances share), or NotFound unless the event exists."""
    row = await db.fetch_one(pool, SELECT_EVENT_EXISTS, (event_id,))
    if row is None:
        raise errors.NotFound("No such event")
    return row["now"]


async def list_seats(pool, event_id: int) -> list[dict]:
    await require_event(pool, event_id)
    rows = await db.fetch_all(pool, SELECT_SEATS, (event_id,))
    return [seat_view(r) for r in rows]


def seat_view(row: dict) -> dict:
    return {
        "id": str(row["id"]), "label": row["label"], "section": row["section"],
        "row": row["row"], "number": row["number"],
        "ticketTypeId": str(row["ticket_type_id"]), "status": row["status"],
    }


async def seat_statuses(pool, event_id: int, seat_ids: list[int]) -> dict[str, str]:
    rows = await db.fetch_all(pool, SELECT_SEAT_STATUSES, (event_id, seat_ids))
    return {str(r["id"]): r["status"] for r in rows}


async def queue_settings(pool, event_id: int) -> dict | None:
    """What the waiting room needs of an event (None: no such event)."""
    return await db.fetch_one(pool, SELECT_QUEUE_SETTINGS, (event_id,))


async def queued_events(pool, also: list[int]) -> list[dict]:
    """The waiting-room settings of every event that has a queue or a schedule, and of ``also``."""
    return await db.fetch_all(pool, SELECT_QUEUED_EVENTS, (also,))


async def create_event(pool, data: dict) -> int:
    """Create an event from a validated body; returns its id.

    A seated ticket type's quantity is the number of seats its sections add up to.
    """
    queue = {**DEFAULT_QUEUE, **(data.get("queue") or {})}
    sections = (data.get("seating") or {}).get("sections", [])
    type_names = [t["name"] for t in data["ticket_types"]]
    if len(set(type_names)) != len(type_names):
        raise errors.ValidationFailed(details={"ticketTypes": ["Ticket type names must be unique"]})
    seats_per_type: dict[str, int] = {}
    for index, section in enumerate(sections):
        if section["ticket_type"] not in type_names:
            raise errors.ValidationFailed(details={"seating": {"sections": {str(index): {
                "ticketType": [f"No ticket type named {section['ticket_type']!r}"]}}}})
        seats_per_type[section["ticket_type"]] = (
            seats_per_type.get(section["ticket_type"], 0) + section["rows"] * section["seats_per_row"])
    if sum(seats_per_type.values()) > MAX_SEATS:
        raise errors.ValidationFailed(f"At most {MAX_SEATS:,} seats per event",
                                      {"seating": [f"At most {MAX_SEATS:,} seats per event"]})
    section_names = [s["name"] for s in sections]
    if len(set(section_names)) != len(section_names):
        raise errors.ValidationFailed(details={"seating": ["Section names must be unique"]})

    async with db.transaction(pool) as cur:
        await cur.execute(INSERT_EVENT, {
            "name": data["name"], "venue": data["venue"], "starts_at": data["starts_at"],
            "currency": data.get("currency", "EUR"), "time_zone": data.get("time_zone", DEFAULT_TIME_ZONE),
            "sale_starts_at": data.get("sale_starts_at"), "max_per_customer": data.get("max_per_customer"),
            **{key: DEFAULT_QUEUE[key] if queue[key] is None else queue[key] for key in DEFAULT_QUEUE}})
        event_id = (await cur.fetchone())["id"]
        type_ids = {}
        for t in data["ticket_types"]:
            seated = t["name"] in seats_per_type
            quantity = seats_per_type[t["name"]] if seated else t.get("quantity")
            if quantity is None:
                raise errors.ValidationFailed(details={"ticketTypes": [
                    f"Ticket type {t['name']!r} needs a quantity (or seats)"]})
            await cur.execute(INSERT_TICKET_TYPE, (event_id, t["name"], t["price"], quantity, quantity,
                                                   t.get("max_per_order", 10), seated))
            type_ids[t["name"]] = (await cur.fetchone())["id"]
        for section in sections:
            await cur.execute(INSERT_SECTION_SEATS, {
                "event_id": event_id, "ticket_type_id": type_ids[section["ticket_type"]],
                "section": section["name"], "rows": row_labels(section["rows"]),
                "per_row": section["seats_per_row"]})
    return event_id


async def update_event(pool, event_id: int, data: dict) -> None:
    """Change the fields given; ``None`` clears an optional one (or restores its default)."""
    queue = data.get("queue") or {}
    params = {"id": event_id}
    for source, columns in ((data, UPDATABLE), (queue, UPDATABLE_QUEUE)):
        for key, column in columns.items():
            if key in source:
                value = source[key]
                params[column] = DEFAULT_QUEUE.get(key) if value is None and source is queue else value
    assignments = ", ".join(f"{column} = %({column})s" for column in params if column != "id")
    if not assignments:
        await require_event(pool, event_id)
        return
    if await db.fetch_one(pool, UPDATE_EVENT.format(assignments=assignments), params) is None:
        raise errors.NotFound("No such event")
