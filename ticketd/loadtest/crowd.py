"""A run: load the event, make the accounts, open the sampled event sockets, let the fans
arrive, watch, and at the end check the server's books against the tool's own."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import os
import random
import resource
import signal
import time
import uuid
from collections import Counter

import aiohttp
import orjson

from . import accounts, check, pow
from .client import Api, Target
from .fan import run_fan, wake
from .state import DONE, GAVE_UP, NOT_ARRIVED, SHOPPING, WAITING, Fan, Held, Inventory, PushTracker
from .stats import ErrorCounts, Samples, Timeline

POW_POOL_BITS = 14     # from 2**14 hashes (~15 ms) a solve goes to worker processes
POW_SLICE = 4096       # hashes per slice when solving on the event loop
RATE_LIMIT_NOTE = ("the target must run with TICKETD_RATE_LIMITS=off: a crowd from one machine "
                   "trips the per-address abuse limits")


@dataclasses.dataclass
class Options:
    url: str
    event_id: str
    fans: int
    admin_email: str | None = None
    admin_password: str | None = None
    ramp_seconds: float = 1.0          # spike: everyone within one second
    arrival: str = "spike"
    tickets_per_fan: int = 2
    report: str | None = None
    json: bool = False
    think: tuple[float, float] = (0.5, 2.0)
    pay: tuple[float, float] = (0.2, 1.0)
    push_sockets: int = 200
    seat_retries: int = 2
    register_concurrency: int = 16
    http_timeout: float = 30.0
    timeout: float = 900.0
    poll_seconds: float = 60.0
    stay: bool = False
    ticket_type: str | None = None
    run_id: str = ""
    tokens_file: str | None = None


class Fatal(Exception):
    """The run cannot go on (no such event, bad admin credentials, target down)."""


class Crowd:
    def __init__(self, opts: Options, api: Api):
        self.opts = opts
        self.api = api
        self.event_id = opts.event_id
        self.run_id = opts.run_id or uuid.uuid4().hex[:8]
        self.register_concurrency = opts.register_concurrency
        self.poll_seconds = opts.poll_seconds
        self.stay = opts.stay
        self.seat_retries = opts.seat_retries
        self.only_type = opts.ticket_type
        self.admin_token: str | None = None
        self.event: dict | None = None
        self.final_event: dict | None = None
        self.inventory: Inventory | None = None
        self.tracker: PushTracker | None = None
        self.baseline_taken: dict[str, int] = {}
        self.stock = 0
        self.challenge_bits = 0
        self.phase = "starting"
        self.fans: list[Fan] = []
        self.counts: Counter = Counter()
        self.admitted = 0
        self.admissions = 0
        self.purchases = 0
        self.sold = 0
        self.held_pending = 0
        self.give_ups: Counter = Counter()
        self.queue_wait = Samples()
        self.purchase_ms = Samples()
        self.push_ms = Samples()
        self.arrival_lag = Samples()
        self.timeline = Timeline()
        self.ledger: dict[str, Held] = {}
        self.sold_out = False
        self.sold_out_at: float | None = None
        self.sleepers: set[Fan] = set()
        self.reconnects = 0
        self.seq_gaps = 0
        self.tool_errors = 0
        self.pow_solves = 0
        self.pow_seconds = 0.0
        self._pow_pool = None
        self.t0: float | None = None          # time.monotonic() at the first arrival
        self.loop_t0: float | None = None
        self.ended: float | None = None
        self.first_admission: float | None = None
        self.last_admission: float | None = None
        self.first_purchase: float | None = None
        self.last_purchase: float | None = None
        self.accounts_path: str | None = None
        self.accounts_done = 0
        self.accounts_seconds: float | None = None
        self.notes: list[str] = []
        self.warnings: list[str] = []
        self.server_stats: dict | None = None
        self.server_stats_ok = False
        self.push_sockets_open = 0
        self.push_sockets_joined = 0
        self.timed_out = False
        self.interrupted = False
        self.fatal: str | None = None
        self.oversell: dict | None = None
        self.open_files: dict = {}
        self.cpu_at_start = 0.0
        self.loop_lag = Samples()
        self.gc_seconds = 0.0
        self.gc_max_pause = 0.0
        self._gc_started: float | None = None
        self.cpu_run: float | None = None
        self._tasks: list[asyncio.Task] = []
        self._stopping = False
        self._started_wall = time.time()

    # ---- what fans report --------------------------------------------------------------

    def set_state(self, fan: Fan, state: str) -> None:
        if fan.state != state:
            self.counts[fan.state] -= 1
            self.counts[state] += 1
            fan.state = state

    def on_arrive(self, fan: Fan) -> None:
        now = time.monotonic()
        fan.arrived_at = now
        self.arrival_lag.add(max(0.0, now - (self.t0 + (fan.arrive_at - self.loop_t0))))
        self.timeline.bump("arrivals", now)

    def on_admitted(self, fan: Fan) -> None:
        now = time.monotonic()
        self.admissions += 1
        if fan.admitted_at is None:
            self.admitted += 1
            self.queue_wait.add(now - (fan.first_check or now))
        fan.admitted_at = now
        self.first_admission = self.first_admission or now
        self.last_admission = now
        self.timeline.bump("admissions", now)

    def give_up(self, fan: Fan, reason: str) -> None:
        self.give_ups[reason] += 1
        self.set_state(fan, GAVE_UP)

    def tool_error(self) -> None:
        self.tool_errors += 1
        self.api.errors["tool_error"] += 1

    def record_hold(self, fan: Fan, reservation: dict, tid: str, quantity: int) -> Held:
        now = time.monotonic()
        held = Held.from_reservation(fan.index, reservation, self.inventory.seat_type)
        if not held.items:
            held.items = {tid: quantity}
        self.ledger[held.id] = held
        for type_id, n in held.items.items():
            self.tracker.hold_arrived(type_id, n, now)
        # No guess at the counts here: the push for this hold may already have come.
        self.inventory.taken(held.seat_ids)
        self.held_pending += held.tickets
        self.timeline.bump("holds", now)
        return held

    def record_purchase(self, fan: Fan, held: Held, reservation: dict, seconds: float) -> None:
        now = time.monotonic()
        held.status = str(reservation.get("status") or "confirmed")
        self.held_pending -= held.tickets
        self.purchases += 1
        self.sold += held.tickets
        self.purchase_ms.add(seconds * 1000)
        self.first_purchase = self.first_purchase or now
        self.last_purchase = now
        self.timeline.bump("purchases", now)
        self.timeline.bump("tickets", now, held.tickets)

    def record_release(self, held: Held, status: str) -> None:
        if held.status == "pending":
            self.held_pending -= held.tickets
        held.status = status
        for type_id, n in held.items.items():
            self.tracker.released(type_id, n)

    def think(self) -> float:
        return random.uniform(*self.opts.think)

    def pay(self) -> float:
        return random.uniform(*self.opts.pay)

    def wanted_tickets(self) -> int:
        k = self.opts.tickets_per_fan
        limit = (self.event or {}).get("maxPerCustomer")
        if isinstance(limit, int) and limit > 0:
            k = min(k, limit)
        return max(1, k)

    async def solve(self, challenge: str, bits: int) -> str:
        """A proof-of-work nonce: on the worker processes when the event's toll is high
        enough to have started them, else here in slices that keep the loop responsive."""
        started = time.monotonic()
        if self._pow_pool is not None and bits >= POW_POOL_BITS:
            nonce = await asyncio.get_running_loop().run_in_executor(self._pow_pool, pow.solve, challenge, bits)
        else:
            start, nonce = 0, None
            while nonce is None:
                nonce = pow.solve_range(challenge, bits, start, POW_SLICE)
                start += POW_SLICE
                if nonce is None:
                    await asyncio.sleep(0)
        self.pow_solves += 1
        self.pow_seconds += time.monotonic() - started
        return nonce

    async def _start_pow_pool(self) -> None:
        """Worker processes for a high toll, forked now, while the tool has next to no
        sockets: a process forked later would hold copies of the fans' sockets open."""
        from concurrent.futures import ProcessPoolExecutor
        workers = os.cpu_count() or 1
        self._pow_pool = ProcessPoolExecutor(max_workers=workers)
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(self._pow_pool, time.sleep, 0.05) for _ in range(workers)))

    def check_sold_out(self) -> None:
        if self.sold_out or self.t0 is None or self.inventory.total_available > 0:
            return
        self.sold_out = True
        self.sold_out_at = time.monotonic()
        if not self.stay:
            # Waiting fans learn it now instead of at their next push.
            for fan in list(self.sleepers):
                wake(fan)

    # ---- the run ------------------------------------------------------------------------

    async def prepare(self, progress) -> None:
        api = self.api
        r = await api.call("GET", f"/api/events/{self.event_id}")
        if not r.ok or not isinstance(r.data, dict) or "event" not in r.data:
            raise Fatal(f"cannot load event {self.event_id} from {api.target.base}: "
                        f"{r.status or 'no answer'} {r.code or ''}".strip())
        self.event = r.data["event"]
        queue = self.event.get("queue") or {}
        self.challenge_bits = int(queue.get("challengeBits") or 0)
        if self.challenge_bits >= POW_POOL_BITS:
            await self._start_pow_pool()
        if self.opts.ticket_type and self.opts.ticket_type not in {str(t["id"]) for t in self.event["ticketTypes"]}:
            raise Fatal(f"event {self.event_id} has no ticket type {self.opts.ticket_type}")
        if self.opts.admin_email:
            r = await api.call("POST", "/api/auth/login",
                               body={"email": self.opts.admin_email, "password": self.opts.admin_password or ""})
            if not r.ok:
                raise Fatal(f"admin login failed: {r.status or 'no answer'} {r.code or ''}".strip())
            if ((r.data or {}).get("user") or {}).get("role") != "admin":
                raise Fatal(f"{self.opts.admin_email} is not an admin")
            self.admin_token = r.data["token"]

        self.phase = "accounts"
        started = time.monotonic()

        def accounts_progress(n):
            self.accounts_done = n

        users, self.accounts_path, notes = await accounts.create(self, self.opts.fans, accounts_progress)
        self.accounts_seconds = time.monotonic() - started
        self.notes.extend(notes)
        if len(users) < self.opts.fans:
            self.warnings.append(f"only {len(users)} of {self.opts.fans} accounts could be made")
        if not users:
            raise Fatal("no accounts could be made for the fans")
        self.fans = [Fan(i, uid, token) for i, (uid, token) in enumerate(users)]
        self.counts[NOT_ARRIVED] = len(self.fans)

        # The books before the crowd: what is sold already, and the seat map.
        r = await api.call("GET", f"/api/events/{self.event_id}")
        if not r.ok:
            raise Fatal(f"cannot load event {self.event_id}: {r.status or 'no answer'} {r.code or ''}".strip())
        self.event = r.data["event"]
        seats = None
        if self.event.get("hasSeats"):
            r = await api.call("GET", f"/api/events/{self.event_id}/seats")
            if not r.ok:
                raise Fatal(f"cannot load the seats of event {self.event_id}: {r.status} {r.code}")
            seats = r.data.get("seats") or []
        self.inventory = Inventory(self.event, seats)
        self.baseline_taken = {str(t["id"]): int(t["total"]) - int(t["available"]) for t in self.event["ticketTypes"]}
        self.stock = sum(max(0, int(t["available"])) for t in self.event["ticketTypes"])
        self.tracker = PushTracker({str(t["id"]): int(t["available"]) for t in self.event["ticketTypes"]})

        self.phase = "sockets"
        count = max(1, min(self.opts.push_sockets, len(self.fans))) if self.opts.push_sockets > 0 else 1
        ready = [asyncio.Event() for _ in range(count)]
        for k in range(count):
            self._tasks.append(asyncio.ensure_future(self._watch(k, ready[k])))
        try:
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in ready)), 30)
        except asyncio.TimeoutError:
            joined = sum(e.is_set() for e in ready)
            self.warnings.append(f"only {joined} of {count} event-room sockets joined within 30 s")
            if joined == 0:
                raise Fatal("no socket could join the event room: is /ws reachable?") from None

    async def play(self) -> None:
        loop = asyncio.get_running_loop()
        n = len(self.fans)
        spread = self.opts.ramp_seconds
        self.phase = "arrival"
        self.loop_t0 = loop.time() + 0.05
        self.t0 = time.monotonic() + 0.05
        self.timeline.t0 = self.t0
        self.cpu_at_start = _cpu()
        self.check_sold_out()
        for fan in self.fans:
            fan.arrive_at = self.loop_t0 + (fan.index * spread / n)
        # Thousands of long-lived fans, sockets, tasks and timers: the cyclic collector
        # rescans them again and again, in pauses of up to a second in a spike (measured),
        # which every latency then includes. The crowd makes next to no cyclic garbage (a
        # 6,000-fan run peaked at the same RSS with the collector off), so it is off while
        # the fans run and back on afterwards.
        gc.collect()
        gc.freeze()
        gc.callbacks.append(self._gc_timer)
        gc.disable()
        self._tasks.append(asyncio.ensure_future(self._sample()))
        self._tasks.append(asyncio.ensure_future(self._watch_loop()))
        tasks = [asyncio.ensure_future(run_fan(self, fan)) for fan in self.fans]
        try:
            done, pending = await asyncio.wait(tasks, timeout=self.opts.timeout)
        except asyncio.CancelledError:
            # Ctrl-C: stop the fans, but still check the books and print the summary
            # (a second Ctrl-C stops everything).
            asyncio.current_task().uncancel()
            self.interrupted = True
            self.warnings.append("interrupted (Ctrl-C): the fans were stopped where they were")
            done = {t for t in tasks if t.done()}
            pending = {t for t in tasks if not t.done()}
        if pending and not self.interrupted:
            self.timed_out = True
            self.warnings.append(f"{len(pending)} fans had not finished after --timeout {self.opts.timeout:g} s")
        if pending:
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                self.tool_error()
        self.ended = time.monotonic()
        self.cpu_run = _cpu() - self.cpu_at_start
        gc.enable()
        gc.unfreeze()
        self.phase = "checking"
        await self._sample_once()

    def _gc_timer(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        elif self._gc_started is not None:
            pause = time.perf_counter() - self._gc_started
            self.gc_seconds += pause
            self.gc_max_pause = max(self.gc_max_pause, pause)
            self._gc_started = None

    async def _watch_loop(self) -> None:
        """How late a 100 ms sleep wakes: when this grows, the tool itself is the
        bottleneck and every latency it measures is inflated by as much."""
        while True:
            before = time.monotonic()
            await asyncio.sleep(0.1)
            self.loop_lag.add(max(0.0, time.monotonic() - before - 0.1))

    async def _sample(self) -> None:
        """Once a second: the tool's own gauges, and a poll of the server's stats unless the
        previous one is still out (a slow server leaves gaps in its series, not in ours)."""
        poll: asyncio.Future | None = None
        while True:
            await asyncio.sleep(1.0 - (time.monotonic() - self.t0) % 1.0)
            self._gauges()
            if self.admin_token and (poll is None or poll.done()):
                poll = asyncio.ensure_future(self._poll_stats())
                self._tasks.append(poll)
                self._tasks = [t for t in self._tasks if not t.done()]

    async def _sample_once(self) -> None:
        self._gauges()
        if self.admin_token:
            await self._poll_stats()

    def _gauges(self) -> None:
        now = time.monotonic()
        if self.phase in ("arrival", "selling", "draining"):
            self.phase = ("draining" if self.sold_out else
                          "arrival" if self.counts[NOT_ARRIVED] else "selling")
        tl = self.timeline
        tl.gauge("waiting", now, self.counts[WAITING])
        tl.gauge("shopping", now, self.counts[SHOPPING])
        tl.gauge("done", now, self.counts[DONE])
        tl.gauge("gaveUp", now, self.counts[GAVE_UP])
        tl.gauge("sold", now, self.sold)

    async def _poll_stats(self) -> None:
        tl = self.timeline
        r = await self.api.call("GET", f"/api/admin/events/{self.event_id}/stats", self.admin_token, timeout=5)
        now = time.monotonic()
        if r.ok and isinstance(r.data, dict):
            self.server_stats = r.data
            self.server_stats_ok = True
            for key in ("queueLength", "activeUsers", "prequeueLength", "connections"):
                if isinstance(r.data.get(key), (int, float)):
                    tl.gauge(f"server.{key}", now, r.data[key])

    def _push_sampler(self, now: float):
        def sample(seconds: float) -> None:
            self.push_ms.add(seconds * 1000)
            self.timeline.push_latency(now, seconds * 1000)
        return sample

    async def _watch(self, k: int, ready: asyncio.Event) -> None:
        """One sampled socket on ``event:{id}`` (the first also on ``seats:{id}``): the
        crowd's view of the stock, sold-out detection and push latency."""
        rooms = [f"event:{self.event_id}"]
        if k == 0 and self.inventory.seated:
            rooms.append(f"seats:{self.event_id}")
        cursor = self.tracker.new_cursor()
        backoff = 0.5
        while not self._stopping:
            ws = await self.api.ws_connect()
            if ws is None:
                await asyncio.sleep(backoff * random.uniform(0.5, 1.5))
                backoff = min(backoff * 2, 10)
                continue
            self.push_sockets_open += 1
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
                            self.api.errors["ws_" + str((frame.get("error") or {}).get("code"))] += 1
                            continue
                        data = frame.get("data") or {}
                        seqs[room] = data.get("seq")
                        if room.startswith("event:"):
                            counts = _snapshot_counts(data)
                            self.inventory.update_counts(counts)
                            self.tracker.match(cursor, counts, now, None)
                            if not ready.is_set():
                                self.push_sockets_joined += 1
                                ready.set()
                            self.check_sold_out()
                        elif isinstance(data.get("seats"), dict):
                            self.inventory.update_seats(data["seats"])
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
                                self.seq_gaps += 1
                                seqs[room] = None
                                await ws.send_str(orjson.dumps({"op": "join", "room": room, "ref": room}).decode())
                        name, data = frame.get("event"), frame.get("data")
                        if name == "tickets-batch-updated" and isinstance(data, dict):
                            self.tracker.match(cursor, data, now, self._push_sampler(now))
                            self.inventory.update_counts(data)
                            self.check_sold_out()
                        elif name == "seats-updated" and isinstance(data, dict):
                            self.inventory.update_seats(data)
            except asyncio.CancelledError:
                await ws.close()
                raise
            except (aiohttp.ClientError, OSError, ValueError, RuntimeError):
                pass
            finally:
                self.push_sockets_open -= 1
            if not self._stopping:
                self.reconnects += 1
                await asyncio.sleep(backoff * random.uniform(0.5, 1.5))
                backoff = min(backoff * 2, 10)

    async def shutdown(self) -> None:
        self._stopping = True
        gc.enable()
        if self._gc_timer in gc.callbacks:
            gc.callbacks.remove(self._gc_timer)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._pow_pool is not None:
            self._pow_pool.shutdown(wait=False, cancel_futures=True)

    # ---- the end ------------------------------------------------------------------------

    def summary(self) -> dict:
        elapsed = (self.ended or time.monotonic()) - self.t0 if self.t0 else 0.0

        def rate(count, start, end):
            if not count or start is None or end is None:
                return 0.0
            return round(count / max(end - start, 1.0), 2)

        usage = resource.getrusage(resource.RUSAGE_SELF)
        confirmed = [h for h in self.ledger.values() if h.status == "confirmed"]
        sold = sum(h.tickets for h in confirmed)
        out = {
            "fans": len(self.fans) or self.opts.fans,
            "admitted": self.admitted,
            "done": self.counts[DONE],
            "gaveUp": self.counts[GAVE_UP],
            "unfinished": self.counts[WAITING] + self.counts[SHOPPING] + self.counts[NOT_ARRIVED],
            "sold": sold,
            "stock": self.stock,
            "purchases": len(confirmed),
            "oversold": None if self.oversell is None else self.oversell["oversold"],
            "purchasesPerSecond": rate(self.purchases, self.t0, self.last_purchase),
            "peakPurchasesPerSecond": self.timeline.peak("purchases"),
            "admissionsPerSecond": rate(self.admitted, self.t0, self.last_admission),
            "peakAdmissionsPerSecond": self.timeline.peak("admissions"),
            "queueWaitSeconds": self.queue_wait.summary(1, 3),
            "purchaseMs": self.purchase_ms.summary(1, 1),
            "pushMs": self.push_ms.summary(1, 1),
            "errors": dict(sorted(self.api.errors.items(), key=lambda kv: (-kv[1], kv[0]))),
            "serverErrors": self.api.server_errors,
            "rateLimited": self.api.rate_limited,
            "giveUps": dict(self.give_ups.most_common()),
            "elapsedSeconds": round(elapsed, 2),
            "soldOutSeconds": round(self.sold_out_at - self.t0, 2) if self.sold_out_at and self.t0 else None,
            "accountsPath": self.accounts_path,
            "accountsSeconds": None if self.accounts_seconds is None else round(self.accounts_seconds, 2),
            "arrival": self.opts.arrival,
            "ticketsPerFan": self.opts.tickets_per_fan,
            "arrivalLagSeconds": self.arrival_lag.summary(1, 3),
            "wsConnectMs": self.api.ws_connect_seconds.summary(1000, 1),
            "pushSockets": self.push_sockets_joined,
            "reconnects": self.reconnects,
            "seqGaps": self.seq_gaps,
            "powSolves": self.pow_solves,
            "requests": self.api.requests,
            "serverStats": self.server_stats_ok,
            "oversell": self.oversell,
            "timedOut": self.timed_out,
            "interrupted": self.interrupted,
            "toolCpuSeconds": round(usage.ru_utime + usage.ru_stime, 2),
            "toolCpuRunSeconds": None if self.cpu_run is None else round(self.cpu_run, 2),
            "toolMaxRssMB": round(usage.ru_maxrss / 1024, 1),
            "toolLoopLagMs": self.loop_lag.summary(1000, 1),
            "toolGcSeconds": round(self.gc_seconds, 3),
            "toolGcMaxPauseMs": round(self.gc_max_pause * 1000, 1),
            "openFiles": self.open_files,
            "event": {"id": self.event_id, "name": (self.event or {}).get("name")},
            "target": self.api.target.host,
            "runId": self.run_id,
            "startedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self._started_wall)),
            "notes": self.notes,
            "warnings": self.warnings + ([f"{self.api.rate_limited} requests answered 429 rate_limited: "
                                          + RATE_LIMIT_NOTE] if self.api.rate_limited else []),
            "fatal": self.fatal,
        }
        lag = self.loop_lag.percentile(99)
        if lag is not None and lag > 0.2:
            out["warnings"].append(f"the tool itself was behind (event-loop lag p99 {lag * 1000:.0f} ms): the "
                                   "latencies above include that much of its own delay; spread the arrival "
                                   "(--arrival ramp:SECONDS), use fewer fans, or give the tool a core of its own")
        out["exitCode"] = exit_code(out)
        return out


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def exit_code(summary: dict) -> int:
    books = summary.get("oversell") or {}
    if summary["serverErrors"] or summary["oversold"] or summary["timedOut"] or books.get("ok") is False:
        return 1
    if summary.get("interrupted"):
        return 130
    if summary["fatal"]:
        return 2
    if summary["oversold"] is None:
        return 1        # the books could not be checked
    return 0


def _snapshot_counts(data: dict) -> dict:
    counts = data.get("availability")
    if isinstance(counts, dict):
        return counts
    event = data.get("event") if isinstance(data.get("event"), dict) else data
    return {str(t["id"]): t.get("available") for t in event.get("ticketTypes") or [] if "id" in t}


def _stop_on_sigterm() -> None:
    """SIGTERM does what Ctrl-C does (asyncio.run's own handler): the first one stops the
    fans and still checks the books and prints the summary; a second one exits at once."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    count = 0

    def handler():
        nonlocal count
        count += 1
        if count > 1:
            os._exit(143)
        task.cancel()
    try:
        loop.add_signal_handler(signal.SIGTERM, handler)
    except (NotImplementedError, RuntimeError, ValueError):
        pass


def raise_open_files(needed: int) -> dict:
    """Lift RLIMIT_NOFILE to what the run needs (the hard limit too, when allowed)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    info = {"needed": needed, "before": soft, "limit": soft}
    if soft >= needed:
        return info
    target_hard = hard if hard == resource.RLIM_INFINITY or hard >= needed else needed
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, target_hard))
    except (ValueError, OSError):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass
    info["limit"] = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return info


async def run(opts: Options, ui) -> dict:
    target = Target(opts.url)
    # Each fan holds a queue socket and at most one request; the sampled sockets, stats
    # polls and the process's own files come on top.
    needed = 2 * opts.fans + opts.push_sockets + 256
    open_files = raise_open_files(needed)
    # Past the open-files limit, connections wait for a free one instead of failing.
    limit = min(needed, max(64, open_files["limit"] - 64))
    connector = aiohttp.TCPConnector(limit=limit, limit_per_host=0, ttl_dns_cache=300,
                                     keepalive_timeout=60, enable_cleanup_closed=False)
    async with aiohttp.ClientSession(connector=connector, trust_env=False,
                                     cookie_jar=aiohttp.DummyCookieJar(),
                                     timeout=aiohttp.ClientTimeout(total=opts.http_timeout)) as session:
        api = Api(session, target, ErrorCounts(), opts.http_timeout)
        c = Crowd(opts, api)
        c.open_files = open_files
        c.notes.append(RATE_LIMIT_NOTE)
        if open_files["limit"] < needed:
            c.warnings.append(f"open-files limit is {open_files['limit']} and could not be raised to the "
                              f"{needed} the run may need (2 per fan): connections are capped at {limit}, so "
                              "fans may wait for one; raise it with ulimit -n (hard limit) for a faithful run")
        ui.start(c)
        ui.note(f"note: {RATE_LIMIT_NOTE}")
        _stop_on_sigterm()
        try:
            try:
                await c.prepare(ui)
                await c.play()
            except Fatal as exc:
                c.fatal = str(exc)
            except asyncio.CancelledError:      # Ctrl-C or SIGTERM before the fans came
                asyncio.current_task().uncancel()
                c.interrupted = True
                c.warnings.append("interrupted before the crowd arrived")
            if c.inventory is not None and c.t0 is not None:
                c.phase = "checking"
                c.oversell = await check.books(c)
            c.phase = "done"
        finally:
            ui.stop()
            await c.shutdown()
        return c.summary()
