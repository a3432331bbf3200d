"""Real-time pushes: the rooms, the Redis bridge and the coalesced inventory pushes.

The interface the rest of ticketd relies on:

- ``inventory_changed(change)``: stock or seats of ``change.event_id`` changed; push fresh
  absolute counts to ``event:{id}`` (``tickets-batch-updated``) and the touched seats to
  ``seats:{id}`` (``seats-updated``), coalesced. Never blocks, never raises.
- ``await event_updated(event)``: an event's details or queue state changed; pushes
  ``event-updated`` with the event object to ``event:{id}``.
- ``await publish(room, event, data)``: one push to every member of ``room`` on every
  instance, with the room's next ``seq``.
- ``register_room(prefix, *, authorize, snapshot, personalize=None)``: a room kind, e.g.
  ``"queue"`` for ``queue:{eventId}``.
    - ``await authorize(identity | None, key)`` raises errors.Unauthorized / Forbidden /
      NotFound when the connection may not join ``prefix:key``.
    - ``await snapshot(identity | None, key) -> dict``: the join reply's data (seq is added).
    - ``await personalize(key, event, data, identities) -> list[tuple[event, data] | None]``:
      optional; when given, a push to this room is rendered per local member (one call per
      push per instance with every local member's identity) instead of the same bytes for
      all; None skips that member. The seq is the room's seq for that push.
- ``local_connection_count(room_prefix_or_room=None)`` and ``live_rooms()`` for stats.
"""

from __future__ import annotations

import asyncio
import logging

import redis.exceptions
from aiohttp import web

from . import background, bridge, events, keys
from .http import dumps, int_id
from .inventory import InventoryChange
from .ws import Hub, RoomKind

log = logging.getLogger(__name__)

FLUSH_LOCK_PREFIX = "ticketd:flush:"
_REDIS_DOWN = (redis.exceptions.RedisError, ConnectionError, OSError, asyncio.TimeoutError)


async def _anyone(identity, key: str) -> None:
    pass


class Realtime:
    def __init__(self):
        self.hub = Hub()
        self.app: web.Application | None = None
        self.bridge: bridge.Bridge | None = None
        self._publish_script = None
        self._local_logged = False
        self._dirty: dict[str, set[int]] = {}
        self._flushers: dict[str, asyncio.Task] = {}
        self._keep_alive: asyncio.Task | None = None
        self._next_flush: dict[str, float] = {}
        self.hub.register(RoomKind("event", _anyone, self._event_snapshot, shared=True))
        self.hub.register(RoomKind("seats", _anyone, self._seats_snapshot, shared=True))

    # ---- lifecycle ---------------------------------------------------------------

    async def start(self, app: web.Application) -> None:
        self.app = app
        config = app[keys.config]
        client = app[keys.redis]
        self.hub.max_buffer = config.ws_max_buffer
        self.hub.redis = client
        self.hub.signer = app[keys.signer]
        self._publish_script = client.register_script(bridge.PUBLISH_LUA)
        self.bridge = self.hub.bridge = bridge.Bridge(
            config.redis_url, self.hub.on_message, self.hub.live_channels, self._bridge_up)
        self.bridge.start()
        self._keep_alive = asyncio.create_task(self.hub.keep_alive(config.ws_heartbeat), name="ws-heartbeat")
        # Give Redis a moment so the first joins get cluster-wide seqs; go on without it.
        try:
            await asyncio.wait_for(self.bridge.connected.wait(), 2)
        except asyncio.TimeoutError:
            log.warning("Redis bridge not up yet: starting in single-instance mode")

    async def stop(self) -> None:
        await background.stop(self._keep_alive, *self._flushers.values())
        if self.bridge:
            await self.bridge.stop()

    async def _bridge_up(self) -> None:
        self._local_logged = False

    # ---- rooms -------------------------------------------------------------------

    def register_room(self, prefix: str, *, authorize, snapshot, personalize=None) -> None:
        self.hub.register(RoomKind(prefix, authorize, snapshot, personalize))

    async def _event_snapshot(self, identity, key: str) -> dict:
        event = await events.get_event(self.app[keys.db], int_id(key, "event"),
                                       self.app[keys.waiting_room].is_active)
        return {"availability": {t["id"]: t["available"] for t in event["ticketTypes"]},
                "event": event}

    async def _seats_snapshot(self, identity, key: str) -> dict:
        seats = await events.list_seats(self.app[keys.db], int_id(key, "event"))
        return {"seats": {s["id"]: s["status"] for s in seats}}

    def local_connection_count(self, room_prefix_or_room: str | None = None) -> int:
        """Open sockets on this instance: all, in one room (``event:7``), or in any room
        of a kind (``queue``), each counted once."""
        if room_prefix_or_room is None:
            return len(self.hub.conns)
        if ":" in room_prefix_or_room:
            room = self.hub.rooms.get(room_prefix_or_room)
            return len(room.members) + len(room.pending) if room else 0
        prefix = room_prefix_or_room + ":"
        conns = set()
        for name, room in self.hub.rooms.items():
            if name.startswith(prefix):
                conns.update(room.members)
                conns.update(room.pending)
        return len(conns)

    def live_rooms(self) -> list[str]:
        """Rooms with members on this instance."""
        return list(self.hub.rooms)

    # ---- pushes ------------------------------------------------------------------

    async def publish(self, room: str, event: str, data: dict) -> None:
        """One push with the room's next seq to every member on every instance."""
        head = b'{"op":"event","room":' + dumps(room) + b',"event":' + dumps(event) + b',"seq":'
        tail = b',"data":' + dumps(data) + b"}"
        header = bridge.now_header(event)
        local = self.hub.rooms.get(room)
        if self.bridge is not None and self.bridge.up:
            try:
                await self._publish_script(keys=[bridge.seq_key(room), bridge.channel(room)],
                                           args=[local.seq if local else 0, head, tail, header])
                return
            except _REDIS_DOWN as exc:
                if not self._local_logged:
                    log.warning("publishing through Redis failed (%s): delivering locally", exc)
                    self._local_logged = True
        # Single-instance mode: this instance's members only, with a local seq.
        local = self.hub.rooms.get(room)
        if local is not None:
            seq = local.seq + 1
            self.hub.on_message(local.channel, seq, header.encode(), head + b"%d" % seq + tail)

    async def event_updated(self, event: dict) -> None:
        await self.publish(f"event:{event['id']}", "event-updated", event)

    def inventory_changed(self, change: InventoryChange) -> None:
        event_id = str(change.event_id)
        self._dirty.setdefault(event_id, set()).update(int(s) for s in change.seat_ids)
        if event_id not in self._flushers and self.app is not None:
            self._flushers[event_id] = asyncio.get_running_loop().create_task(self._flush(event_id))

    async def _flush(self, event_id: str) -> None:
        """Push the event's fresh counts at most once per push interval, across instances:
        a flush needs the room's short Redis lock (SET NX PX), else it waits it out."""
        loop = asyncio.get_running_loop()
        interval_ms = self.app[keys.config].push_interval_ms
        client = self.app[keys.redis]
        lock = FLUSH_LOCK_PREFIX + event_id
        try:
            while event_id in self._dirty:
                wait = self._next_flush.get(event_id, 0.0) - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                try:
                    if not await client.set(lock, 1, nx=True, px=interval_ms):
                        ttl = await client.pttl(lock)
                        self._next_flush[event_id] = loop.time() + max(ttl, 1) / 1000
                        continue
                except _REDIS_DOWN:
                    pass  # single-instance mode: the local interval alone
                seat_ids = self._dirty.pop(event_id)
                self._next_flush[event_id] = loop.time() + interval_ms / 1000
                try:
                    await self._push_inventory(event_id, seat_ids)
                except Exception:
                    log.exception("inventory push for event %s failed", event_id)
        finally:
            self._flushers.pop(event_id, None)

    async def _push_inventory(self, event_id: str, seat_ids: set[int]) -> None:
        pool = self.app[keys.db]
        number = int(event_id)
        await self.publish(f"event:{event_id}", "tickets-batch-updated",
                           await events.availability(pool, number))
        if seat_ids:
            await self.publish(f"seats:{event_id}", "seats-updated",
                               await events.seat_statuses(pool, number, sorted(seat_ids)))


async def realtime_ctx(app: web.Application):
    realtime = app[keys.realtime]
    await realtime.start(app)
    yield
    await realtime.stop()


async def close_sockets(app: web.Application) -> None:
    await app[keys.realtime].hub.close_all()
