"""The oversell check: the server's final books against the tool's own reservations."""

from __future__ import annotations

import asyncio

from .state import Held


async def _bounded(coros, limit: int = 32):
    sem = asyncio.Semaphore(limit)

    async def one(coro):
        async with sem:
            return await coro
    return await asyncio.gather(*(one(c) for c in coros))


async def _settle(c, longest: float = 10.0) -> None:
    """After fans were stopped mid-request, the server may still be finishing holds they
    sent: wait until the event's availability reads the same twice half a second apart."""
    previous = None
    deadline = asyncio.get_running_loop().time() + longest
    while asyncio.get_running_loop().time() < deadline:
        r = await c.api.call("GET", f"/api/events/{c.event_id}")
        counts = ({str(t["id"]): t.get("available") for t in r.data["event"].get("ticketTypes") or []}
                  if r.ok and isinstance((r.data or {}).get("event"), dict) else None)
        if counts is not None and counts == previous:
            return
        previous = counts
        await asyncio.sleep(0.5)


async def check(c) -> dict:
    """Reconcile the tool's ledger with the server, then compare with the event's final
    availability. ``oversold`` counts tickets or seats the server gave out beyond what
    exists (or beyond what it thinks it sold); None when the books could not be read."""
    api = c.api
    event_id = c.event_id
    if c.interrupted or c.timed_out:
        await _settle(c)
    # Holds still pending (or whose confirm got no clear answer): ask the server.
    async def refresh(held):
        fan = c.fans[held.fan]
        r = await api.call("GET", f"/api/reservations/{held.id}", fan.token)
        if r.ok and isinstance((r.data or {}).get("reservation"), dict):
            held.status = str(r.data["reservation"].get("status"))
    await _bounded([refresh(h) for h in c.ledger.values() if h.status == "pending"])

    # Fans whose hold got no answer may own a reservation the tool never saw.
    async def adopt(fan):
        r = await api.call("GET", "/api/reservations", fan.token)
        for res in (r.data or {}).get("reservations") or [] if r.ok else []:
            if str(res.get("eventId")) == str(event_id) and str(res.get("id")) not in c.ledger:
                held = Held.from_reservation(fan.index, res, c.inventory.seat_type)
                c.ledger[held.id] = held
    await _bounded([adopt(f) for f in c.fans if f.uncertain])

    r = await api.call("GET", f"/api/events/{event_id}")
    if not r.ok or not isinstance((r.data or {}).get("event"), dict):
        return {"oversold": None, "ok": False,
                "problems": [f"could not read the final availability: {r.status or 'no answer'} {r.code or ''}"]}
    event = r.data["event"]
    live = [h for h in c.ledger.values() if h.status in ("pending", "confirmed")]
    ours: dict[str, int] = {}
    for held in live:
        for tid, n in held.items.items():
            ours[tid] = ours.get(tid, 0) + n

    problems: list[str] = []
    oversold = 0
    types = []
    for t in event.get("ticketTypes") or []:
        tid, total, available = str(t["id"]), int(t["total"]), int(t["available"])
        before = c.baseline_taken.get(tid, 0)
        taken = total - available
        during = taken - before
        mine = ours.get(tid, 0)
        row = {"id": tid, "name": t.get("name"), "total": total, "available": available,
               "soldBefore": before, "soldDuringRun": during, "heldByTool": mine}
        types.append(row)
        if available < 0 or taken > total:
            oversold += max(-available, taken - total)
            problems.append(f"{t.get('name')}: {taken} of {total} gone (available {available})")
        if mine > during:
            oversold += mine - during
            problems.append(f"{t.get('name')}: the tool holds {mine} but the server counts {during} "
                            "taken during the run")
        elif mine < during:
            row["unaccounted"] = during - mine
            problems.append(f"{t.get('name')}: {during - mine} taken during the run are not in the tool's "
                            "reservations (another buyer, or a hold the tool lost track of)")

    seat_owner: dict[str, str] = {}
    duplicates = 0
    for held in live:
        for sid in held.seat_ids:
            if sid in seat_owner and seat_owner[sid] != held.id:
                duplicates += 1
                problems.append(f"seat {sid} is in reservations {seat_owner[sid]} and {held.id}")
            seat_owner[sid] = held.id
    oversold += duplicates
    freed = 0
    if seat_owner and event.get("hasSeats"):
        r = await api.call("GET", f"/api/events/{event_id}/seats")
        if r.ok:
            status = {str(s["id"]): s.get("status") for s in (r.data or {}).get("seats") or []}
            for sid in seat_owner:
                if status.get(sid) == "available":
                    freed += 1
            if freed:
                oversold += freed
                problems.append(f"{freed} seats in the tool's live reservations show as available")
    unaccounted = sum(t.get("unaccounted", 0) for t in types)
    return {"oversold": oversold, "unaccounted": unaccounted, "ok": oversold == 0 and unaccounted == 0,
            "types": types, "duplicateSeats": duplicates, "reservations": len(live), "problems": problems}
