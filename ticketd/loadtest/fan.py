"""One fan, as the browser client behaves: queue socket and check, wait for admission
(socket first, status polls as the fallback), think, hold, pay, confirm, leave."""

from __future__ import annotations

import asyncio
import datetime
import random
import time
import uuid

import aiohttp
import orjson

from .client import retry_delay
from .state import DONE, SHOPPING, WAITING, Fan

SOLD_OUT = {"status": "sold_out"}   # next_status(): the event sold out while this fan waited
FAST_POLL = 3.0                     # seconds between status polls while the socket is down (the page's)
JOIN_TIMEOUT = 15.0                 # a join with no reply by then counts as a failed socket
SOLD_OUT_SPREAD = 2.0              # seconds over which waiting fans leave once it is sold out
MAX_ATTEMPTS = 6                    # tries of one request on no answer, 429 or 5xx
_WS_END = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED,
           aiohttp.WSMsgType.ERROR)


def _epoch(text) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _loop_time_at(epoch: float) -> float:
    loop = asyncio.get_running_loop()
    return loop.time() + (epoch - time.time())


async def run_fan(c, fan: Fan) -> None:
    loop = asyncio.get_running_loop()
    delay = fan.arrive_at - loop.time()
    if delay > 0:
        await asyncio.sleep(delay)
    c.on_arrive(fan)
    try:
        if await queue_up(c, fan):
            await shop(c, fan)
    except asyncio.CancelledError:
        raise
    except Exception:
        c.tool_error()
        c.give_up(fan, "tool_error")
    finally:
        await close_socket(fan)


# ---- the waiting room -------------------------------------------------------------------

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
        if kind == "admitted":
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
            at = _epoch(status.get("opensAt") if kind == "closed" else None) or _epoch(status.get("saleStartsAt"))
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
    challenges = 0
    for attempt in range(MAX_ATTEMPTS):
        r = await c.api.call("POST", f"/api/queue/check/{c.event_id}", fan.token, body=body)
        if r.ok and isinstance(r.data, dict):
            if r.data.get("status") in ("queued", "prequeue", "admitted"):
                fan.entered = True
            return r.data
        if r.code == "challenge_required" and challenges < 3:
            challenges += 1
            body = await solve_challenge(c, fan, r.details.get("bits"))
            if body is None:
                return None
            continue
        fan.why = r.code
        if not r.transient:
            return None
        await asyncio.sleep(retry_delay(r, attempt))
    return None


async def solve_challenge(c, fan: Fan, bits):
    for attempt in range(MAX_ATTEMPTS):
        r = await c.api.call("GET", f"/api/queue/challenge/{c.event_id}", fan.token)
        if r.ok and isinstance(r.data, dict) and isinstance(r.data.get("challenge"), str):
            nonce = await c.solve(r.data["challenge"], int(r.data.get("bits", bits or 0)))
            return {"challenge": r.data["challenge"], "nonce": nonce}
        fan.why = r.code or "challenge_failed"
        if not r.transient:
            return None
        await asyncio.sleep(retry_delay(r, attempt))
    return None


async def open_socket(c, fan: Fan):
    """Connect, start the socket's reader and join ``queue:{eventId}``; the join's snapshot
    (own status) or None when the socket could not be had."""
    loop = asyncio.get_running_loop()
    ws = await c.api.ws_connect(fan.token)
    if ws is None:
        _socket_down(c, fan, loop.time())
        return None
    fan.ws = ws
    fan.news = None
    fan.joined = False
    fan.reader = asyncio.ensure_future(_read(c, fan, ws))
    if not await _send_join(c, fan, ws):
        return None
    deadline = loop.time() + JOIN_TIMEOUT
    while fan.ws is ws and not fan.joined and loop.time() < deadline:
        await _sleep_until(c, fan, deadline)
    if fan.ws is not ws or not fan.joined:
        if fan.ws is ws:
            c.api.errors["ws_join_timeout"] += 1
            await close_socket(fan)
            _socket_down(c, fan, loop.time())
        return None
    fan.backoff = 0.5
    fan.poll_at = loop.time() + c.poll_seconds * random.uniform(0.8, 1.2)
    status, fan.news = fan.news, None
    return status


async def _send_join(c, fan: Fan, ws) -> bool:
    fan.joins += 1
    fan.join_ref = f"q{fan.joins}"
    try:
        await ws.send_str(f'{{"op":"join","room":"queue:{c.event_id}","ref":"{fan.join_ref}"}}')
        return True
    except (aiohttp.ClientError, OSError, RuntimeError):
        c.api.errors["ws_join_failed"] += 1
        await close_socket(fan)
        _socket_down(c, fan, asyncio.get_running_loop().time())
        return False


async def _read(c, fan: Fan, ws) -> None:
    """Drain the queue socket for as long as it is open, whatever the fan is doing (so the
    server's heartbeat pings are answered even while a check is slow): replies and pushes
    become the fan's news, and a seq gap sends a fresh join."""
    try:
        async for msg in ws:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                if msg.type is aiohttp.WSMsgType.ERROR:
                    break
                continue
            try:
                frame = orjson.loads(msg.data)
            except orjson.JSONDecodeError:
                continue
            op = frame.get("op")
            if op == "event":
                seq = frame.get("seq")
                if isinstance(seq, int) and isinstance(fan.seq, int):
                    if seq <= fan.seq:
                        continue
                    if seq != fan.seq + 1:
                        # Missed a push: join again for a fresh snapshot.
                        c.seq_gaps += 1
                        fan.seq = None
                        if not await _send_join(c, fan, ws):
                            return
                        continue
                if fan.seq is not None:
                    fan.seq = seq
                name, data = frame.get("event"), frame.get("data") or {}
                if name == "queue-admitted":
                    _deliver(fan, {**data, "status": "admitted"})
                elif name == "queue-update" and isinstance(data, dict):
                    # A new position in the same line is no news to act on: the fan
                    # sleeps on (a wake-up per tick per fan is most of a crowd's CPU).
                    if data.get("status") != fan.kind or fan.kind not in ("queued", "prequeue"):
                        _deliver(fan, data)
            elif op == "reply" and frame.get("ref") == fan.join_ref:
                if not frame.get("ok"):
                    c.api.errors["ws_" + str((frame.get("error") or {}).get("code") or "join_failed")] += 1
                    break
                data = frame.get("data") or {}
                fan.seq = data.get("seq") if isinstance(data.get("seq"), int) else None
                fan.joined = True
                _deliver(fan, data)
    except (aiohttp.ClientError, OSError, RuntimeError, asyncio.TimeoutError):
        pass
    if fan.ws is ws:                      # ended by the server or the network, not by us
        fan.ws = None
        if not ws.closed:
            try:
                await ws.close()
            except Exception:
                pass
        _socket_down(c, fan, asyncio.get_running_loop().time())
        wake(fan)


def _deliver(fan: Fan, status: dict) -> None:
    fan.news = status
    wake(fan)


def wake(fan: Fan) -> None:
    waiter = fan.waiter
    if waiter is not None and not waiter.done():
        waiter.set_result(None)


async def _sleep_until(c, fan: Fan, deadline: float) -> None:
    """Until ``deadline`` (loop time), news on the socket, the socket going down, or the
    event selling out: one future and one timer, no task."""
    loop = asyncio.get_running_loop()
    waiter = fan.waiter = loop.create_future()
    timer = loop.call_at(deadline, wake, fan)
    c.sleepers.add(fan)
    try:
        await waiter
    finally:
        timer.cancel()
        fan.waiter = None
        c.sleepers.discard(fan)


def _socket_down(c, fan: Fan, now: float) -> None:
    fan.ws = None
    fan.reconnect_at = now + fan.backoff * random.uniform(0.5, 1.5)
    fan.backoff = min(fan.backoff * 2, 10.0)
    fan.poll_at = min(fan.poll_at, now + FAST_POLL) if fan.poll_at else now + FAST_POLL


async def close_socket(fan: Fan) -> None:
    ws, fan.ws = fan.ws, None
    reader, fan.reader = fan.reader, None
    if ws is not None and not ws.closed:
        try:
            await ws.close()
        except Exception:
            pass
    if reader is not None and not reader.done():
        reader.cancel()


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
        await _sleep_until(c, fan, deadline)


async def leave(c, fan: Fan) -> None:
    await c.api.call("POST", f"/api/queue/leave/{c.event_id}", fan.token)


# ---- buying -----------------------------------------------------------------------------

async def shop(c, fan: Fan) -> None:
    """Admitted: think, hold K tickets, pay, confirm; or give up when it is sold out."""
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
            at = _epoch(r.details.get("saleStartsAt"))
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
