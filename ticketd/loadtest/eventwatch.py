"""The sampled ``event:`` sockets: the crowd's view of the stock, sold-out detection, and
push latency (a hold's HTTP response to the ``tickets-batch-updated`` push carrying it)."""

from __future__ import annotations

import asyncio
import random
import time
from array import array

import aiohttp
import orjson


class PushTracker:
    """Push latency, matched on counts: every hold whose response arrived is a record
    (cumulative units the tool has taken of that type, arrival time). A push's absolute
    count says how many units are gone since the baseline; each sampled socket takes the
    records that count covers and samples ``push arrival − response arrival``."""

    def __init__(self, baseline: dict[str, int]):
        self.base = dict(baseline)
        self.cum: dict[str, int] = {tid: 0 for tid in baseline}
        self.units: dict[str, array] = {tid: array("q") for tid in baseline}
        self.times: dict[str, array] = {tid: array("d") for tid in baseline}

    def hold_arrived(self, tid: str, quantity: int, t: float) -> None:
        if tid not in self.cum:
            return
        self.cum[tid] += quantity
        self.units[tid].append(self.cum[tid])
        self.times[tid].append(t)

    def released(self, tid: str, quantity: int) -> None:
        """A hold of ours ended without a sale (expired on confirm): its units come back."""
        if tid in self.base:
            self.base[tid] += quantity

    def new_cursor(self) -> dict[str, int]:
        return {tid: 0 for tid in self.base}

    def match(self, cursor: dict[str, int], counts: dict, t: float, sample) -> None:
        """Advance one socket's cursor over a push; ``sample(seconds)`` per matched hold.
        ``sample=None`` (a snapshot after a reconnect) skips without sampling."""
        for tid, available in counts.items():
            tid = str(tid)
            units = self.units.get(tid)
            if units is None or not isinstance(available, int):
                continue
            gone = self.base[tid] - available
            i = cursor[tid]
            times = self.times[tid]
            end = len(units)
            while i < end and units[i] <= gone:
                if sample is not None:
                    sample(t - times[i])
                i += 1
            cursor[tid] = i


async def open_sockets(c, count: int, within: float = 30.0) -> int:
    """Start ``count`` watching sockets; how many joined within ``within`` seconds."""
    ready = [asyncio.Event() for _ in range(count)]
    for k in range(count):
        c.tasks.append(asyncio.ensure_future(_watch(c, k, ready[k])))
    try:
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in ready)), within)
    except asyncio.TimeoutError:
        pass
    return sum(e.is_set() for e in ready)


async def _watch(c, k: int, ready: asyncio.Event) -> None:
    """One sampled socket on ``event:{id}`` (the first also on ``seats:{id}``)."""
    rooms = [f"event:{c.event_id}"]
    if k == 0 and c.inventory.seated:
        rooms.append(f"seats:{c.event_id}")
    cursor = c.tracker.new_cursor()
    backoff = 0.5
    while not c.stopping:
        ws = await c.api.ws_connect()
        if ws is None:
            await asyncio.sleep(backoff * random.uniform(0.5, 1.5))
            backoff = min(backoff * 2, 10)
            continue
        c.push_sockets_open += 1
        seqs: dict[str, int | None] = {}
        try:
            for room in rooms:
                seqs[room] = None
                await ws.send_str(orjson.dumps({"op": "join", "room": room, "ref": room}).decode())
            async for msg in ws:
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    continue
                now = time.monotonic()
                frame = orjson.loads(msg.data)
                op = frame.get("op")
                if op == "reply":
                    room = frame.get("ref")
                    if room not in seqs:
                        continue
                    if not frame.get("ok"):
                        c.api.errors["ws_" + str((frame.get("error") or {}).get("code"))] += 1
                        continue
                    data = frame.get("data") or {}
                    seqs[room] = data.get("seq")
                    if room.startswith("event:"):
                        counts = snapshot_counts(data)
                        c.inventory.update_counts(counts)
                        c.tracker.match(cursor, counts, now, None)
                        if not ready.is_set():
                            c.push_sockets_joined += 1
                            ready.set()
                        c.check_sold_out()
                    elif isinstance(data.get("seats"), dict):
                        c.inventory.update_seats(data["seats"])
                    backoff = 0.5
                elif op == "event":
                    room, seq = frame.get("room"), frame.get("seq")
                    last = seqs.get(room)
                    if isinstance(seq, int) and isinstance(last, int):
                        if seq <= last:
                            continue
                        if seq == last + 1:
                            seqs[room] = seq
                        else:
                            # Missed a push: rejoin for a fresh snapshot (the counts in
                            # this one are absolute, so it is still good to use).
                            c.seq_gaps += 1
                            seqs[room] = None
                            await ws.send_str(orjson.dumps({"op": "join", "room": room, "ref": room}).decode())
                    name, data = frame.get("event"), frame.get("data")
                    if name == "tickets-batch-updated" and isinstance(data, dict):
                        c.tracker.match(cursor, data, now, c.push_sampler(now))
                        c.inventory.update_counts(data)
                        c.check_sold_out()
                    elif name == "seats-updated" and isinstance(data, dict):
                        c.inventory.update_seats(data)
        except asyncio.CancelledError:
            await ws.close()
            raise
        except (aiohttp.ClientError, OSError, ValueError, RuntimeError):
            pass
        finally:
            c.push_sockets_open -= 1
        if not c.stopping:
            c.reconnects += 1
            await asyncio.sleep(backoff * random.uniform(0.5, 1.5))
            backoff = min(backoff * 2, 10)


def snapshot_counts(data: dict) -> dict:
    counts = data.get("availability")
    if isinstance(counts, dict):
        return counts
    event = data.get("event") if isinstance(data.get("event"), dict) else data
    return {str(t["id"]): t.get("available") for t in event.get("ticketTypes") or [] if "id" in t}
