"""The crowd of one run: its options, its fans, and what the fans report as they go
(arrivals, admissions, holds, purchases, give-ups), counted and timed for the summary."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
import uuid
from collections import Counter

from .client import Api
from .queuesocket import wake
from .sampling import CollectorTimer
from .state import GAVE_UP, Fan, Held, Inventory
from .stats import Samples, Timeline

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
    visitors: bool = False


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
        self.inventory: Inventory | None = None
        self.tracker = None                   # eventwatch.PushTracker, once the stock is known
        self.baseline_taken: dict[str, int] = {}
        self.stock = 0
        self.challenge_bits = 0
        self.visitors = opts.visitors         # or the event is a gate event: see rehearsal.prepare
        self.verified = 0
        self.verify_refused = 0
        self.verify_ms = Samples()
        self.solver = None                    # proofofwork.Solver, once there is a toll to pay
        self.phase = "starting"
        self.fans: list[Fan] = []
        self.counts: Counter = Counter()
        self.admitted = 0
        self.waited_in: Counter = Counter()   # fans told closed, prequeue, queued (each once)
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
        self.t0: float | None = None          # time.monotonic() at the first arrival
        self.loop_t0: float | None = None
        self.ended: float | None = None
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
        self.gc = CollectorTimer()
        self.cpu_run: float | None = None
        self.tasks: list[asyncio.Task] = []
        self.stopping = False
        self.started_wall = time.time()

    # ---- what fans report --------------------------------------------------------------

    def set_state(self, fan: Fan, state: str) -> None:
        if fan.state != state:
            self.counts[fan.state] -= 1
            self.counts[state] += 1
            fan.state = state

    def on_arrive(self, fan: Fan) -> None:
        now = time.monotonic()
        self.arrival_lag.add(max(0.0, now - (self.t0 + (fan.arrive_at - self.loop_t0))))

    def on_status(self, fan: Fan, kind: str) -> None:
        if kind in ("closed", "prequeue", "queued") and kind not in fan.waited_in:
            fan.waited_in.add(kind)
            self.waited_in[kind] += 1

    def on_admitted(self, fan: Fan) -> None:
        now = time.monotonic()
        if fan.admitted_at is None:
            self.admitted += 1
            self.queue_wait.add(now - (fan.first_check or now))
        fan.admitted_at = now
        self.last_admission = now
        self.timeline.bump("admissions", now)

    def give_up(self, fan: Fan, reason: str) -> None:
        self.give_ups[reason] += 1
        self.set_state(fan, GAVE_UP)

    def tool_error(self) -> None:
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
        return held

    def record_purchase(self, fan: Fan, held: Held, reservation: dict, seconds: float) -> None:
        now = time.monotonic()
        held.status = str(reservation.get("status") or "confirmed")
        self.held_pending -= held.tickets
        self.purchases += 1
        self.sold += held.tickets
        self.purchase_ms.add(seconds * 1000)
        if self.first_purchase is None:
            self.first_purchase = now
        self.last_purchase = now
        self.timeline.bump("purchases", now)
        self.timeline.bump("tickets", now, held.tickets)

    def record_release(self, held: Held, status: str) -> None:
        if held.status == "pending":
            self.held_pending -= held.tickets
        held.status = status
        for type_id, n in held.items.items():
            self.tracker.released(type_id, n)

    def record_verified(self, seconds: float) -> None:
        self.verified += 1
        self.verify_ms.add(seconds * 1000)

    def push_sampler(self, now: float):
        """``sample(seconds)`` for one push that arrived at ``now``."""
        def sample(seconds: float) -> None:
            self.push_ms.add(seconds * 1000)
            self.timeline.push_latency(now, seconds * 1000)
        return sample

    # ---- what fans ask ------------------------------------------------------------------

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

    def toll_solver(self):
        if self.solver is None:
            # Only for an event with a toll: the module brings in the server's waiting room.
            from .proofofwork import Solver
            self.solver = Solver()
        return self.solver

    async def solve(self, challenge: str, bits: int) -> str:
        return await self.toll_solver().solve(challenge, bits)

    def check_sold_out(self) -> None:
        if self.visitors or self.sold_out or self.t0 is None or self.inventory.total_available > 0:
            return
        self.sold_out = True
        self.sold_out_at = time.monotonic()
        if not self.stay:
            # Waiting fans learn it now instead of at their next push.
            for fan in list(self.sleepers):
                wake(fan)
