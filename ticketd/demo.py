"""Demo data for a first start: an admin and two events with a seated section each, one in
Berlin in euros and one in Seoul in won, each at its own local evening time."""

from __future__ import annotations

import datetime
import secrets
import zoneinfo

from . import auth, db, events

DEMO_ADMIN_EMAIL = "admin@ticketd.local"


async def needs_demo(pool) -> bool:
    return await db.fetch_one(pool, "SELECT 1 AS one FROM users LIMIT 1") is None


async def create_demo(pool) -> dict:
    """Create the demo admin and event; returns the admin's credentials."""
    password = secrets.token_urlsafe(12)
    await auth.create_admin(pool, DEMO_ADMIN_EMAIL, password, "Demo admin")
    today = datetime.date.today()
    await events.create_event(pool, {
        "name": "The Demo Tour — Opening Night",
        "venue": "Example Arena",
        "starts_at": _evening(today + datetime.timedelta(days=30), datetime.time(19, 30), "Europe/Berlin"),
        "currency": "EUR",
        "time_zone": "Europe/Berlin",
        "ticket_types": [
            {"name": "General Admission", "price": 45, "quantity": 2000, "max_per_order": 6},
            {"name": "Reserved Seating", "price": 89, "max_per_order": 6},
        ],
        "seating": {"sections": [
            {"name": "A", "rows": 5, "seats_per_row": 10, "ticket_type": "Reserved Seating"},
        ]},
        "queue": {"mode": "auto", "capacity": 200, "session_seconds": 600},
    })
    await events.create_event(pool, {
        "name": "별빛 밴드 전국투어 — 서울",
        "venue": "올림픽공원 KSPO DOME",
        "starts_at": _evening(today + datetime.timedelta(days=37), datetime.time(19, 0), "Asia/Seoul"),
        "currency": "KRW",
        "time_zone": "Asia/Seoul",
        "ticket_types": [
            {"name": "스탠딩", "price": 132000, "quantity": 3000, "max_per_order": 4},
            {"name": "VIP석", "price": 154000, "max_per_order": 4},
        ],
        "seating": {"sections": [
            {"name": "A", "rows": 8, "seats_per_row": 12, "ticket_type": "VIP석"},
        ]},
        "queue": {"mode": "auto", "capacity": 200, "session_seconds": 600},
    })
    return {"email": DEMO_ADMIN_EMAIL, "password": password}


def _evening(day: datetime.date, at: datetime.time, zone: str) -> datetime.datetime:
    """That wall-clock time on that day where the event is, as a UTC moment."""
    local = datetime.datetime.combine(day, at, tzinfo=zoneinfo.ZoneInfo(zone))
    return local.astimezone(datetime.timezone.utc)
