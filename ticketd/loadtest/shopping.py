"""An admitted fan buys: think, hold K tickets (seats from the seat map, or quantities)
with an Idempotency-Key, pay, confirm, leave; or give up when it is sold out."""

from __future__ import annotations

import asyncio
import random
import time
import uuid

from .client import MAX_ATTEMPTS, retry_delay
from .queueing import epoch, leave, queue_up
from .state import DONE, SHOPPING, Fan


async def shop(c, fan: Fan) -> None:
    c.set_state(fan, SHOPPING)
    await asyncio.sleep(c.think())
    wanted = c.wanted_tickets()
    seat_tries = 0
    shrunk = False
    waited_for_start = 0
    while True:
        choice = c.inventory.choose(wanted, c.only_type)
        if choice is None:
            await leave(c, fan)
            c.give_up(fan, "sold_out")
            return
        tid, quantity, seat_ids = choice
        body = {"eventId": c.event_id}
        if seat_ids:
            body["seatIds"] = seat_ids
            c.inventory.claimed.update(seat_ids)
        else:
            body["items"] = [{"ticketTypeId": tid, "quantity": quantity}]
        try:
            r = await _send(c, fan, "/api/reservations", body, {"Idempotency-Key": uuid.uuid4().hex}, hold=True)
        finally:
            c.inventory.claimed.difference_update(seat_ids)
        if r.ok and isinstance(r.data, dict) and isinstance(r.data.get("reservation"), dict):
            break
        code = r.code
        if code == "seat_unavailable":
            c.inventory.taken(r.details.get("seatIds") or seat_ids)
            seat_tries += 1
            if seat_tries <= c.seat_retries:
                continue
        elif code == "sold_out":
            left = r.details.get("available")
            if isinstance(left, int):
                c.inventory.update_counts({r.details.get("ticketTypeId", tid): left})
            if isinstance(left, int) and 0 < left < quantity and not shrunk:
                shrunk, wanted = True, left
                continue
            if c.inventory.choose(1, c.only_type) is not None and not shrunk:
                shrunk = True      # another ticket type may still have some
                continue
        elif code == "limit_exceeded" and not shrunk:
            limit = r.details.get("maxPerCustomer") or r.details.get("maxPerOrder")
            if isinstance(limit, int) and 0 < limit < quantity:
                shrunk, wanted = True, limit
                continue
        elif code == "sale_not_started" and waited_for_start < 3:
            waited_for_start += 1
            at = epoch(r.details.get("saleStartsAt"))
            pause = max(0.2, (at - time.time()) if at else 1.0) + random.uniform(0, 0.25)
            await asyncio.sleep(pause)
            continue
        elif code == "queue_required" and fan.queue_attempts < 3:
            # The admission ended (session over, or never seen by this instance): queue again.
            if not await queue_up(c, fan):
                return
            c.set_state(fan, SHOPPING)
            continue
        await leave(c, fan)
        c.give_up(fan, code or "hold_failed")
        return
    hold_seconds = r.elapsed
    held = c.record_hold(fan, r.data["reservation"], tid, quantity)
    await asyncio.sleep(c.pay())
    r = await _send(c, fan, f"/api/reservations/{held.id}/confirm", None, None)
    if r.ok and isinstance(r.data, dict):
        c.record_purchase(fan, held, r.data.get("reservation") or {}, hold_seconds + r.elapsed)
        await leave(c, fan)
        c.set_state(fan, DONE)
        return
    if r.code == "reservation_expired":
        c.record_release(held, "expired")
    await leave(c, fan)
    c.give_up(fan, f"confirm_{r.code}" if r.code else "confirm_failed")


async def _send(c, fan: Fan, path: str, body, headers, hold: bool = False):
    """A POST retried on no answer, 429 and 5xx (with the same Idempotency-Key for a hold:
    a retry can never make a second reservation). A hold that never got a clear answer
    after no answer or a 5xx may still exist: the final check asks the server."""
    maybe = False
    for attempt in range(MAX_ATTEMPTS):
        try:
            r = await c.api.call("POST", path, fan.token, body=body, headers=headers)
        except asyncio.CancelledError:
            # Stopped mid-request (--timeout, Ctrl-C): the hold may have been made.
            if hold:
                fan.uncertain = True
            raise
        if r.status == 0 or r.status >= 500:
            maybe = True
        if r.ok or not r.transient or attempt == MAX_ATTEMPTS - 1:
            break
        await asyncio.sleep(retry_delay(r, attempt))
    if hold and maybe and not r.ok:
        fan.uncertain = True
    return r
