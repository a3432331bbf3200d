"""The waiting room's public API: a fair FIFO queue per event, kept in Redis and shared
by every instance.

Handlers call ``check``, ``status``, ``leave``, ``stats``, ``is_active`` and
``require_admission``; ``event_created`` / ``event_changed`` after an event was written
to PostgreSQL.
Every instance runs ``run_admissions``: the tick script decides admissions only for a tick
number (Redis time / interval) no instance has decided yet, so there is exactly one
admission decision per event per tick, whoever runs it. Every state change is one Lua
script call, atomic across instances.

What changes is told through the change feed: ``EventChanged`` when an auto-mode queue
switches on or off, ``AdmissionDecided`` for every decided tick. The room listens for
``PurchaseConfirmed``: a confirmed purchase ends the shopper's admission.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import Callable

from .. import background, errors, events, metrics
from ..changes import AdmissionDecided, ChangeFeed, EventChanged, PurchaseConfirmed, QueueDrawn
from ..failures import REDIS_DOWN, BackgroundFailures
from ..gate.tokens import AdmissionTokens
from ..luascripts import is_error
from . import views
from .keys import EVENTS_KEY, HEARTBEATS_KEY, event_keys, toll_key
from .presence import Presence, default_instance_id
from .scripts import PositionsReply, Scripts, TickReply
from .settings import SettingsSync
from .toll import Toll

log = logging.getLogger(__name__)

OFF_MODE_BATCH = 1000
DROP_BATCH = 5000
DRAW_CHUNK = 10_000
# A draw whose claimer has not moved a chunk for this long is taken over by another instance.
DRAW_STALL_MS = 30_000


class WaitingRoom:
    def __init__(self, config, client, pool, feed: ChangeFeed, tokens: AdmissionTokens):
        self.config = config
        self.tokens = tokens
        self._redis = client
        self._pool = pool
        self._feed = feed
        self._scripts = Scripts(client)
        self._active: dict[int, tuple[bool, float]] = {}
        self.settings = SettingsSync(client, pool, self._scripts, self._remember)
        interval = config.admission_interval
        self.presence = Presence(self._scripts, config.instance_id or default_instance_id(),
                                 int(max(5 * interval, 5.0) * 1000))
        abandon_ms = int(config.queue_abandon_seconds * 1000)
        self._tick_args = (max(1, int(interval * 1000)), abandon_ms, int(config.queue_quiet_seconds * 1000),
                           OFF_MODE_BATCH, DROP_BATCH, DRAW_STALL_MS)
        self.toll = Toll(config.secret)
        self._draws: dict[int, asyncio.Task] = {}
        self._tick_failures = BackgroundFailures(log, "the waiting room's admission ticks")
        feed.subscribe(self._on_change)

    # ---- the queue -------------------------------------------------------------------

    async def check(self, event_id: int, shopper: str, challenge=None, nonce=None) -> dict:
        """Enter the queue (or the pre-queue) or be let in; calling again keeps the place.
        Entering pays the event's toll with a solved ``challenge`` when it asks for one."""
        solved = self.toll.verify(shopper, event_id, challenge, nonce) if challenge is not None else None
        return await self._status(event_id, shopper, create=True, solved=solved)

    async def status(self, event_id: int, shopper: str) -> dict:
        """Own status; polling it counts as being present."""
        return await self._status(event_id, shopper, create=False)

    async def _status(self, event_id: int, shopper: str, create: bool, solved=None) -> dict:
        args = (shopper, "1" if create else "0", solved.bits if solved else 0, solved.expires_ms if solved else 0)
        reply = await self.settings.run(self._scripts.check, event_id, args,
                                        (toll_key(event_id, solved.challenge_id if solved else "-"),))
        if reply.switched:
            await self._switched(event_id, True)
        if reply.kind == "challenge":
            raise errors.ChallengeRequired(details={"bits": reply.bits})
        if reply.kind == "admitted":
            token = self.tokens.issue(event_id, shopper, reply.expires_ms, reply.session_seconds)
            return views.admitted(reply.expires_ms, token)
        return views.status(reply)

    async def admission(self, event_id: int, shopper: str) -> tuple[int, int]:
        """(Redis's time, when the shopper's admission ends or -1): one round trip."""
        reply = await self._scripts.admission([event_keys(event_id).admitted], [shopper])
        return reply.now_ms, reply.expires_ms

    async def challenge(self, event_id: int, shopper: str) -> dict:
        """A fresh toll challenge for ``shopper``: ``{challenge, bits, expiresAt}``."""
        reply = await self.settings.run(self._scripts.challenge, event_id)
        challenge, expires = self.toll.issue(shopper, event_id, reply.bits, reply.now_ms)
        return {"challenge": challenge, "bits": reply.bits, "expiresAt": views.at(expires)}

    async def leave(self, event_id: int, shopper: str) -> None:
        await self.settings.run(self._scripts.leave, event_id, (shopper,))

    async def positions(self, event_id: int, shoppers: list[str]) -> PositionsReply:
        """Each shopper's own status in one call (they count as present)."""
        return await self.settings.run(self._scripts.positions, event_id, shoppers)

    async def stats(self, event_id: int) -> dict:
        reply = await self.settings.run(self._scripts.stats, event_id, (self.presence.ttl_ms,),
                                        (HEARTBEATS_KEY,))
        return {"connections": reply.connections, "activeUsers": reply.active_users,
                "queueLength": reply.queue_length, "prequeueLength": reply.prequeue_length,
                "admittedLastMinute": reply.admitted_last_minute, "queueActive": reply.queue_active,
                "mode": reply.mode, "capacity": reply.capacity, "instances": reply.instances}

    # ---- what the shop asks ------------------------------------------------------------

    async def is_active(self, event_id: int, mode: str) -> bool:
        """Cheap: `on`/`off` from the mode itself; `auto` from this instance's view of the
        shared switch, refreshed every tick (Redis only when that view is stale)."""
        if mode != "auto":
            return mode == "on"
        cached = self._active.get(event_id)
        if cached and time.monotonic() - cached[1] < max(3 * self.config.admission_interval, 2.0):
            return cached[0]
        try:
            flag = await self._redis.hget(event_keys(event_id).state, "active")
        except REDIS_DOWN:
            return cached[0] if cached else False
        active = flag == b"1"
        self._remember(event_id, active)
        return active

    async def require_admission(self, event_id: int, shopper: str) -> None:
        """SaleNotStarted before the sale; QueueRequired unless the queue holds nobody back
        or ``shopper`` is admitted."""
        try:
            reply = await self.settings.run(self._scripts.require, event_id, (shopper,))
        except REDIS_DOWN:
            # Without Redis nobody's admission can be checked: a forced-on queue answers
            # 503 (try again), anything else lets shoppers through.
            row = await events.queue_settings(self._pool, event_id)
            if row is not None and row["mode"] == "on":
                raise errors.Unavailable("The waiting room is unavailable; try again shortly",
                                         {"redis": "down"}) from None
            return
        if not reply.sale_started:
            raise errors.SaleNotStarted(details={"saleStartsAt": views.at(reply.starts_ms)})
        if reply.queue_active and not reply.admitted:
            raise errors.QueueRequired()

    async def event_created(self, event_id: int) -> None:
        """A new event in PostgreSQL: copy its queue settings (nobody watches it yet)."""
        await self.settings.changed(event_id)

    async def event_changed(self, event_id: int) -> None:
        """The event changed in PostgreSQL: copy its queue settings, then tell."""
        self._active.pop(event_id, None)
        await self.settings.changed(event_id)
        await self._feed.emit(EventChanged(event_id))

    async def _on_change(self, change) -> None:
        if isinstance(change, PurchaseConfirmed):
            try:
                await self._redis.zrem(event_keys(change.event_id).admitted, change.shopper)
            except REDIS_DOWN:
                log.warning("Redis unavailable: admission of %s to event %s ends at expiry",
                            change.shopper, change.event_id)

    def _remember(self, event_id: int, active: bool) -> None:
        self._active[event_id] = (active, time.monotonic())

    async def _switched(self, event_id: int, active: bool) -> None:
        """The auto-mode queue turned on or off."""
        self._remember(event_id, active)
        log.info("queue of event %s is now %s", event_id, "active" if active else "inactive")
        await self._feed.emit(EventChanged(event_id))

    # ---- admissions ----------------------------------------------------------------------

    async def run_admissions(self, connections: Callable[[], dict[int, int]]) -> None:
        """Every instance runs this; ``connections()`` gives its WebSocket connections per
        event for the stats. Ticking twice per interval means no interval goes undecided
        whatever the phase."""
        loop = asyncio.get_running_loop()
        period = self.config.admission_interval / 2
        next_at = loop.time()
        try:
            while True:
                try:
                    await self.tick(connections())
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self._tick_failures.failed(exc)
                next_at = max(next_at + period, loop.time())
                await asyncio.sleep(next_at - loop.time())
        finally:
            await background.stop(*self._draws.values())

    async def tick(self, connections: dict[int, int] | None = None) -> list[tuple[int, TickReply]]:
        """One pass over every event: the admission decision (where no instance made this
        tick's yet), local caches and metrics, this instance's heartbeat, then the changes."""
        if self.settings.due:
            await self.settings.refresh()
        event_ids = sorted(int(e) for e in await self._redis.smembers(EVENTS_KEY))
        results = []
        if event_ids:
            pipe = self._redis.pipeline(transaction=False)
            for event_id in event_ids:
                await self._scripts.tick.queue(pipe, event_keys(event_id), self._tick_args)
            results = await pipe.execute(raise_on_error=False)
        decided = []
        for event_id, raw in zip(event_ids, results):
            if is_error(raw, "NOSETTINGS"):
                self.settings.missing(event_id)
                continue
            if isinstance(raw, Exception):
                raise raw
            reply = self._scripts.tick.decode(raw)
            self._remember(event_id, reply.queue_active)
            label = str(event_id)
            metrics.QUEUE_LENGTH.labels(event=label).set(reply.queue_length)
            metrics.ACTIVE_SHOPPERS.labels(event=label).set(reply.active)
            if reply.decided:
                decided.append((event_id, reply))
                if reply.admitted:
                    metrics.ADMISSIONS.labels(event=label).inc(len(reply.admitted))
                if reply.draw_claim and event_id not in self._draws:
                    # In the background: other events' ticks go on while a big draw runs.
                    self._draws[event_id] = asyncio.create_task(self._draw(event_id, reply.draw_claim),
                                                                name=f"draw-{event_id}")
        await self.presence.beat(connections or {})
        for event_id, reply in decided:
            if reply.switched:
                await self._switched(event_id, reply.queue_active)
            await self._feed.emit(AdmissionDecided(event_id, reply))
        return decided

    async def _draw(self, event_id: int, claim: int) -> None:
        """The draw this instance claimed: every pre-queued shopper gets a place drawn
        uniformly at random (every order equally likely, from the OS's cryptographic source),
        ahead of everyone who arrived after the start."""
        keys = event_keys(event_id)
        try:
            started = time.perf_counter()
            order = shuffled(await self._redis.zrange(keys.pre, 0, -1))
            moved = 0
            for i in range(0, len(order), DRAW_CHUNK):
                reply = await self._scripts.draw(keys, [claim, *order[i:i + DRAW_CHUNK]])
                if not reply.claimed:
                    log.warning("the draw of event %s was taken over by another instance", event_id)
                    return
                moved += reply.moved
            log.info("event %s: drew %d pre-queued places in %.0f ms", event_id, moved,
                     1000 * (time.perf_counter() - started))
            await self._feed.emit(QueueDrawn(event_id))
        except Exception:
            log.exception("the draw of event %s failed; another tick takes it over", event_id)
        finally:
            self._draws.pop(event_id, None)


def shuffled(members: list) -> list:
    """``members`` in a uniformly random order: sorted by a 64-bit key each from
    ``secrets`` (ties, at odds of n² / 2⁶⁵, are broken by the original order)."""
    keys = secrets.token_bytes(8 * len(members))
    ranked = sorted(range(len(members)), key=lambda i: keys[8 * i:8 * i + 8])
    return [members[i] for i in ranked]
