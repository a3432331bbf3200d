"""Queue settings copied from PostgreSQL (the source of truth) into Redis (where the
scripts read them), and kept there: a restarted Redis or a missed update heals itself."""

from __future__ import annotations

import logging
import time
from typing import Callable

from .. import errors, events
from ..failures import REDIS_DOWN
from ..luascripts import Script, is_error
from .keys import EVENTS_KEY, event_keys
from .scripts import Scripts

log = logging.getLogger(__name__)

REFRESH_SECONDS = 5.0


class SettingsSync:
    """``on_active(event_id, active)`` learns the auto-mode switch whenever settings are stored."""

    def __init__(self, client, pool, scripts: Scripts, on_active: Callable[[int, bool], None]):
        self._redis = client
        self._pool = pool
        self._scripts = scripts
        self._on_active = on_active
        self._missed: set[int] = set()
        self._refreshed = 0.0

    async def run(self, script: Script, event_id: int, args=(), extra_keys=()):
        """Run a script that needs the event's settings in Redis, copying them on a miss."""
        keys = [*event_keys(event_id), *extra_keys]
        try:
            return await script(keys, args)
        except Exception as exc:
            if not is_error(exc, "NOSETTINGS"):
                raise
        await self.load(event_id)
        return await script(keys, args)

    async def load(self, event_id: int) -> None:
        """Copy one event's settings; NotFound if there is no such event."""
        row = await events.queue_settings(self._pool, event_id)
        if row is None:
            raise errors.NotFound("No such event")
        reply = await self._scripts.settings(event_keys(event_id), _settings_args(row))
        await self._redis.sadd(EVENTS_KEY, event_id)
        self._on_active(event_id, reply.active)

    async def changed(self, event_id: int) -> None:
        """The event's settings changed in PostgreSQL."""
        try:
            await self.load(event_id)
        except REDIS_DOWN:
            self._missed.add(event_id)
            log.warning("Redis unavailable: queue settings of event %s will be copied later", event_id)

    def missing(self, event_id: int) -> None:
        """A script found no settings: copy them on the next refresh."""
        self._missed.add(event_id)

    @property
    def due(self) -> bool:
        return bool(self._missed) or time.monotonic() - self._refreshed > REFRESH_SECONDS

    async def refresh(self) -> None:
        """Every queued event new to Redis, and every missed change, copied in one pipeline."""
        missed = list(self._missed)
        rows = await events.queued_events(self._pool, missed)
        known = {int(e) for e in await self._redis.smembers(EVENTS_KEY)}
        pipe = self._redis.pipeline(transaction=False)
        fresh = False
        for row in rows:
            event_id = row["id"]
            # Settings already in Redis are left alone (a change writes them directly)
            # unless the change was missed.
            if event_id in known and event_id not in self._missed:
                continue
            await self._scripts.settings.queue(pipe, event_keys(event_id), _settings_args(row))
            pipe.sadd(EVENTS_KEY, event_id)
            fresh = True
        if fresh:
            await pipe.execute()
        self._missed.difference_update(missed)
        self._refreshed = time.monotonic()


def _settings_args(row: dict) -> list:
    starts = row["sale_starts_at"]
    return [row["mode"], row["capacity"], row["session_seconds"],
            int(starts.timestamp() * 1000) if starts else 0, row["prequeue_seconds"],
            row["admit_per_minute"] or 0, row["challenge_bits"]]
