"""A fan in the waiting room, as the browser client is: check in (paying the toll when the
event asks), wait out ``closed`` and ``prequeue``, and wait for admission, on the socket
first and with status polls as the fallback."""

from __future__ import annotations

import asyncio
import datetime
import random
import time

from .queuesocket import FAST_POLL, close_socket, open_socket, sleep_until
from .state import WAITING, Fan

SOLD_OUT = {"status": "sold_out"}   # next_status(): the event sold out while this fan waited
SOLD_OUT_SPREAD = 2.0              # seconds over which waiting fans leave once it is sold out


def epoch(text) -> float | None:
    """An ISO time from the server as a Unix time, or None."""
    if not isinstance(text, str):
        return None
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _loop_time_at(when: float) -> float:
    loop = asyncio.get_running_loop()
    return loop.time() + (when - time.time())


async def queue_up(c, fan: Fan) -> bool:
    """Into the waiting room until admitted (True) or given up (False)."""
    c.set_state(fan, WAITING)
    fan.queue_attempts += 1
    if fan.ws is None:
        await open_socket(c, fan)
    status = await check(c, fan)
    _drop_stale_none(fan)
    loop = asyncio.get_running_loop()
    while True:
        if status is None:
            c.give_up(fan, fan.why or "check_failed")
            return False
        kind = fan.kind = status.get("status")
        c.on_status(fan, kind)
        if kind == "admitted":
            fan.admission_token = status.get("admissionToken")
            await close_socket(fan)
            c.on_admitted(fan)
            return True
        if status is SOLD_OUT:
            # Fans see "sold out" and close the page over a moment, not all in one
            # instant (thousands of leaves in one loop pass stall the tool itself).
            await asyncio.sleep(random.uniform(0, SOLD_OUT_SPREAD))
            await leave(c, fan)
            c.give_up(fan, "sold_out")
            return False
        if kind == "none":
            status = await check(c, fan)
            _drop_stale_none(fan)
        elif kind in ("closed", "prequeue"):
            # closed: nothing stored until the pre-queue opens; prequeue: kept, no position
            # until the start. Wait for that moment (socket and polls still watched), then
            # check again, as the page does.
            at = epoch(status.get("opensAt") if kind == "closed" else None) or epoch(status.get("saleStartsAt"))
            wake_at = _loop_time_at(at) + random.uniform(0, 0.25) if at else loop.time() + FAST_POLL
            wake_at = max(wake_at, loop.time() + 0.2)
            update = await next_status(c, fan, wake_at=wake_at)
            if update is None:
                status = await check(c, fan)
                _drop_stale_none(fan)
            else:
                status = update
        else:  # queued (or a state this tool does not know: keep waiting for news)
            status = await next_status(c, fan)


def _drop_stale_none(fan: Fan) -> None:
    """A "none" that the socket delivered while the check was out predates the check."""
    if fan.news is not None and fan.news.get("status") == "none":
        fan.news = None


async def check(c, fan: Fan):
    """POST /api/queue/check, solving the proof of work when the event asks for one."""
    if fan.first_check is None:
        fan.first_check = time.monotonic()
    body = None
    if c.challenge_bits > 0 and not fan.entered:
        body = await solve_challenge(c, fan, c.challenge_bits)
        if body is None:
            return None
    for challenges in range(4):
        r = await c.api.call_retried("POST", f"/api/queue/check/{c.event_id}", fan.token, body=body)
        if r.ok and isinstance(r.data, dict):
            if r.data.get("status") in ("queued", "prequeue", "admitted"):
                fan.entered = True
            return r.data
        if r.code != "challenge_required" or challenges == 3:
            break
        body = await solve_challenge(c, fan, r.details.get("bits"))
        if body is None:
            return None
    fan.why = r.code
    return None


async def solve_challenge(c, fan: Fan, bits):
    r = await c.api.call_retried("GET", f"/api/queue/challenge/{c.event_id}", fan.token)
    if r.ok and isinstance(r.data, dict) and isinstance(r.data.get("challenge"), str):
        nonce = await c.solve(r.data["challenge"], int(r.data.get("bits", bits or 0)))
        return {"challenge": r.data["challenge"], "nonce": nonce}
    fan.why = r.code or "challenge_failed"
    return None


async def next_status(c, fan: Fan, wake_at: float | None = None):
    """The next news about this fan's place: a push or a rejoin's snapshot from the
    socket, or a status poll (every 3 s while the socket is down, every --poll-seconds
    while it is up). None once ``wake_at`` passes; SOLD_OUT when the event sold out
    (unless ``--stay``)."""
    loop = asyncio.get_running_loop()
    while True:
        if c.sold_out and not c.stay:
            return SOLD_OUT
        if fan.news is not None:
            status, fan.news = fan.news, None
            return status
        now = loop.time()
        if wake_at is not None and now >= wake_at:
            return None
        if fan.ws is None and now >= fan.reconnect_at:
            c.reconnects += 1
            status = await open_socket(c, fan)
            if status is not None:
                return status
            continue
        if now >= fan.poll_at:
            fan.poll_at = now + (c.poll_seconds * random.uniform(0.8, 1.2) if fan.ws is not None else FAST_POLL)
            r = await c.api.call("GET", f"/api/queue/status/{c.event_id}", fan.token)
            if r.ok and isinstance(r.data, dict):
                return r.data
            continue
        deadline = fan.poll_at
        if fan.ws is None:
            deadline = min(deadline, fan.reconnect_at)
        if wake_at is not None:
            deadline = min(deadline, wake_at)
        await sleep_until(c, fan, deadline)


async def leave(c, fan: Fan) -> None:
    await c.api.call("POST", f"/api/queue/leave/{c.event_id}", fan.token)
