"""A fan's ``queue:{eventId}`` socket: connect and join, a reader that turns replies and
pushes into the fan's news, and the one future a waiting fan sleeps on."""

from __future__ import annotations

import asyncio
import random

import aiohttp
import orjson

from .state import Fan

FAST_POLL = 3.0                     # seconds between status polls while the socket is down (the page's)
JOIN_TIMEOUT = 15.0                 # a join with no reply by then counts as a failed socket


async def open_socket(c, fan: Fan):
    """Connect, start the socket's reader and join ``queue:{eventId}``; the join's snapshot
    (own status) or None when the socket could not be had."""
    loop = asyncio.get_running_loop()
    ws = await c.api.ws_connect(fan.token)
    if ws is None:
        socket_down(c, fan, loop.time())
        return None
    fan.ws = ws
    fan.news = None
    fan.joined = False
    fan.reader = asyncio.ensure_future(_read(c, fan, ws))
    if not await _send_join(c, fan, ws):
        return None
    deadline = loop.time() + JOIN_TIMEOUT
    while fan.ws is ws and not fan.joined and loop.time() < deadline:
        await sleep_until(c, fan, deadline)
    if fan.ws is not ws or not fan.joined:
        if fan.ws is ws:
            c.api.errors["ws_join_timeout"] += 1
            await close_socket(fan)
            socket_down(c, fan, loop.time())
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
        socket_down(c, fan, asyncio.get_running_loop().time())
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
        await _close_quietly(ws)
        socket_down(c, fan, asyncio.get_running_loop().time())
        wake(fan)


def _deliver(fan: Fan, status: dict) -> None:
    fan.news = status
    wake(fan)


def wake(fan: Fan) -> None:
    waiter = fan.waiter
    if waiter is not None and not waiter.done():
        waiter.set_result(None)


async def sleep_until(c, fan: Fan, deadline: float) -> None:
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


def socket_down(c, fan: Fan, now: float) -> None:
    fan.ws = None
    fan.reconnect_at = now + fan.backoff * random.uniform(0.5, 1.5)
    fan.backoff = min(fan.backoff * 2, 10.0)
    fan.poll_at = min(fan.poll_at, now + FAST_POLL) if fan.poll_at else now + FAST_POLL


async def close_socket(fan: Fan) -> None:
    ws, fan.ws = fan.ws, None
    reader, fan.reader = fan.reader, None
    if ws is not None:
        await _close_quietly(ws)
    if reader is not None and not reader.done():
        reader.cancel()


async def _close_quietly(ws) -> None:
    if not ws.closed:
        try:
            await ws.close()
        except Exception:
            pass
