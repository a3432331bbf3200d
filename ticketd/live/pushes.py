"""From changes to pushes: the live layer's listener on the change feed.

- ``StockChanged``: fresh absolute counts to ``event:{id}`` (``tickets-batch-updated``) and
  the touched seats to ``seats:{id}`` (``seats-updated``), coalesced to at most one push
  per room per interval across instances.
- ``EventChanged``: ``event-updated`` with the event to ``event:{id}``.
- ``Announcement``: ``announcement`` to ``event:{id}``.
- ``AdmissionDecided``: the ``tick`` message the queue room personalises, and the
  ``stats`` to ``admin:{id}`` about once a second; ``QueueDrawn``: a tick for everyone.
"""

from __future__ import annotations

import asyncio
import logging

from .. import background, events
from ..changes import AdmissionDecided, Announcement, ChangeFeed, EventChanged, QueueDrawn, StockChanged
from ..failures import REDIS_DOWN, BackgroundFailures
from ..waitingroom import WaitingRoom
from .hub import Hub

log = logging.getLogger(__name__)

FLUSH_LOCK_PREFIX = "ticketd:flush:"


class Pushes:
    def __init__(self, hub: Hub, client, pool, waiting_room: WaitingRoom, feed: ChangeFeed,
                 interval_ms: int):
        self._hub = hub
        self._redis = client
        self._pool = pool
        self._room = waiting_room
        self._interval_ms = interval_ms
        self._dirty: dict[int, set[int]] = {}
        self._flushers: dict[int, asyncio.Task] = {}
        self._next_flush: dict[int, float] = {}
        self._push_failures = BackgroundFailures(log, "stock pushes")
        feed.subscribe(self._on_change)

    async def stop(self) -> None:
        await background.stop(*self._flushers.values())

    async def _on_change(self, change) -> None:
        try:
            if isinstance(change, StockChanged):
                self._stock_changed(change)
            elif isinstance(change, EventChanged):
                event = await events.get_event(self._pool, change.event_id, self._room.is_active)
                await self._hub.publish(f"event:{change.event_id}", "event-updated", event)
            elif isinstance(change, Announcement):
                await self._hub.publish(f"event:{change.event_id}", "announcement",
                                        {"message": change.message, "at": change.at})
            elif isinstance(change, AdmissionDecided):
                await self._admission_decided(change)
            elif isinstance(change, QueueDrawn):  # every pre-queued shopper has a place: tell all
                await self._hub.publish(f"queue:{change.event_id}", "tick", {"admitted": [], "everyone": True})
        except REDIS_DOWN as exc:
            log.warning("%s not pushed: Redis unavailable (%s)", type(change).__name__, exc)

    async def _admission_decided(self, change: AdmissionDecided) -> None:
        decision = change.decision
        if decision.publish:
            await self._hub.publish(f"queue:{change.event_id}", "tick",
                                    {"admitted": list(decision.admitted)})
        if decision.stats_due:
            await self._hub.publish(f"admin:{change.event_id}", "stats",
                                    await self._room.stats(change.event_id))

    def _stock_changed(self, change: StockChanged) -> None:
        event_id = change.event_id
        self._dirty.setdefault(event_id, set()).update(change.seat_ids)
        if event_id not in self._flushers:
            self._flushers[event_id] = asyncio.get_running_loop().create_task(self._flush(event_id))

    async def _flush(self, event_id: int) -> None:
        """Push the event's fresh counts at most once per interval, across instances: a
        flush needs the room's short Redis lock (SET NX PX), else it waits it out."""
        loop = asyncio.get_running_loop()
        lock = f"{FLUSH_LOCK_PREFIX}{event_id}"
        try:
            while event_id in self._dirty:
                wait = self._next_flush.get(event_id, 0.0) - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                try:
                    if not await self._redis.set(lock, 1, nx=True, px=self._interval_ms):
                        ttl = await self._redis.pttl(lock)
                        self._next_flush[event_id] = loop.time() + max(ttl, 1) / 1000
                        continue
                except REDIS_DOWN:
                    pass  # single-instance mode: the local interval alone
                seat_ids = self._dirty.pop(event_id)
                self._next_flush[event_id] = loop.time() + self._interval_ms / 1000
                try:
                    await self._push_stock(event_id, seat_ids)
                except Exception as exc:
                    self._push_failures.failed(exc)
        finally:
            self._flushers.pop(event_id, None)

    async def _push_stock(self, event_id: int, seat_ids: set[int]) -> None:
        await self._hub.publish(f"event:{event_id}", "tickets-batch-updated",
                                await events.availability(self._pool, event_id))
        if seat_ids:
            await self._hub.publish(f"seats:{event_id}", "seats-updated",
                                    await events.seat_statuses(self._pool, event_id, sorted(seat_ids)))
