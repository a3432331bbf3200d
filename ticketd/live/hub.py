"""The in-process hub: rooms, their members, and delivering pushes to sockets.

A push is serialised once, framed once, and the same bytes are written synchronously to
every local member's transport: no per-recipient await, task or gather, so one slow
socket cannot hold up the others. A socket whose unsent output passes ``max_buffer`` is
cut off (1013, then abort: a client that stopped reading would never finish a polite
close).

Joins are exact with respect to pushes: the connection is parked in the room's
``pending`` map (pushes are buffered for it) while the snapshot loads, the reply carries
the seq the room had when the snapshot started loading, and buffered pushes with a
higher seq follow the reply.

In a personalised room each member is sent their own pushes, and only when something
changed for them; the seq there counts the pushes sent to that member since its join
(the reply has seq 0), so a client still sees a gap only when a push to it was lost.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from typing import Awaitable, Callable

from aiohttp import WSCloseCode, web

from .. import background, errors, metrics
from ..codec import dumps, loads, parse_id
from ..failures import REDIS_DOWN, BackgroundFailures
from .bridge import Bridge, channel

log = logging.getLogger(__name__)

MAX_ROOMS = 50
# Identical join snapshots of a shared room are served from one load while the room's
# seq has not moved and the load is younger than this (queue state has no push of its own).
SNAPSHOT_TTL = 1.0
# Seconds a socket gets at shutdown to take its 1001 close before it is aborted.
CLOSE_GRACE = 3.0

_CLOSE_TRY_AGAIN = struct.pack("!BBH", 0x88, 2, WSCloseCode.TRY_AGAIN_LATER)
_PING = bytes((0x89, 0))


def text_frame(payload: bytes) -> bytes:
    """An unmasked, final server text frame (RFC 6455 5.2)."""
    size = len(payload)
    if size < 126:
        return bytes((0x81, size)) + payload
    if size < 65536:
        return struct.pack("!BBH", 0x81, 126, size) + payload
    return struct.pack("!BBQ", 0x81, 127, size) + payload


class Conn:
    __slots__ = ("ws", "transport", "identity", "rooms", "bad", "alive", "idle", "__weakref__")

    def __init__(self, ws: web.WebSocketResponse, transport, identity):
        self.ws = ws
        self.transport = transport
        self.identity = identity
        self.rooms: list[Room] = []  # at most MAX_ROOMS; a list is the smallest container
        self.bad = 0
        self.alive = True
        self.idle = False  # nothing received since the last heartbeat ping

    def send(self, payload: bytes) -> None:
        self.write(text_frame(payload))

    def write(self, frame: bytes) -> None:
        try:
            self.transport.write(frame)
        except RuntimeError:  # uvloop: the transport is already closed
            pass


Authorize = Callable[[object, int], Awaitable[None]]
Snapshot = Callable[[object, int], Awaitable[dict]]
Personalize = Callable[[int, str, dict, list], Awaitable[list]]


class RoomKind:
    """``prefix:{eventId}`` rooms. ``authorize(identity, event_id)`` raises the contract's
    error when the connection may not join; ``snapshot(identity, event_id)`` is the join
    reply's data. With ``personalize(event_id, event, data, identities)`` a push is
    rendered per local member ((event, data), or None: nothing for this one) instead of the
    same bytes for all. ``shared``: the snapshot does not depend on who asks, so joiners share one load."""
    __slots__ = ("prefix", "authorize", "snapshot", "personalize", "shared")

    def __init__(self, prefix: str, authorize: Authorize, snapshot: Snapshot,
                 personalize: Personalize | None = None, shared: bool = False):
        self.prefix = prefix
        self.authorize = authorize
        self.snapshot = snapshot
        self.personalize = personalize
        self.shared = shared


class Room:
    __slots__ = ("name", "kind", "key", "channel", "members", "pending", "seq", "ready",
                 "snap", "tail", "member_seq")

    def __init__(self, name: str, kind: RoomKind, key: int):
        self.name = name
        self.kind = kind
        self.key = key
        self.channel = channel(name)
        self.members: set[Conn] = set()
        self.pending: dict[Conn, list] = {}
        self.seq = 0
        self.ready: asyncio.Future | None = None
        self.snap: tuple | None = None
        self.tail: asyncio.Future | None = None  # the last personalised push in flight
        # Personalised rooms: each member's own seq.
        self.member_seq: dict[Conn, int] | None = {} if kind.personalize is not None else None


def write_all(room: Room, seq: int, frame: bytes, limit: int) -> list[Conn] | None:
    """The fan-out: ``frame`` to every member's transport, buffered for joiners; returns
    the members whose unsent output is now past ``limit``."""
    slow = None
    for conn in room.members:
        transport = conn.transport
        try:
            transport.write(frame)
            if transport.get_write_buffer_size() > limit:
                slow = slow or []
                slow.append(conn)
        except RuntimeError:  # closed under us; its handler drops it
            pass
    for buffered in room.pending.values():
        buffered.append((seq, frame))
    return slow


class Hub:
    def __init__(self, kinds: list[RoomKind], redis_url: str, client, max_buffer: int):
        self.kinds = {kind.prefix: kind for kind in kinds}
        self.rooms: dict[str, Room] = {}
        self.by_channel: dict[bytes, Room] = {}
        self.conns: set[Conn] = set()
        self.max_buffer = max_buffer
        self.bridge = Bridge(redis_url, client, self.on_message, self.live_channels, self._local_seq)
        self._pushes: dict[bytes, object] = {}
        self._keep_alive: asyncio.Task | None = None
        self._push_failures = BackgroundFailures(log, "personalised pushes")

    async def start(self, heartbeat: float) -> None:
        await self.bridge.start()
        self._keep_alive = asyncio.create_task(self.keep_alive(heartbeat), name="ws-heartbeat")

    async def stop(self) -> None:
        await background.stop(self._keep_alive)
        await self.bridge.stop()

    async def publish(self, room: str, event: str, data) -> None:
        await self.bridge.publish(room, event, data)

    # ---- rooms -------------------------------------------------------------------

    def _room(self, name: str, kind: RoomKind, key: int) -> Room:
        room = self.rooms.get(name)
        if room is None:
            room = self.rooms[name] = Room(name, kind, key)
            self.by_channel[room.channel] = room
            room.ready = asyncio.ensure_future(self._open(room))
        return room

    async def _open(self, room: Room) -> None:
        """Subscribe the room's channel, then read its seq: every push after that seq
        arrives through the subscription."""
        if not self.bridge.up:
            return  # single-instance mode; the bridge subscribes it when Redis is back
        try:
            await self.bridge.subscribe(room.channel)
            seq = await self.bridge.seq(room.name)
        except (ConnectionError, asyncio.TimeoutError, *REDIS_DOWN) as exc:
            log.info("room %s starts local (Redis: %s)", room.name, exc or type(exc).__name__)
            return
        room.seq = max(room.seq, seq)

    def _release_if_empty(self, room: Room) -> None:
        if room.members or room.pending or self.rooms.get(room.name) is not room:
            return
        if not room.ready.done():
            # Let the SUBSCRIBE finish first so the UNSUBSCRIBE follows it.
            room.ready.add_done_callback(lambda _: self._release_if_empty(room))
            return
        del self.rooms[room.name]
        del self.by_channel[room.channel]
        self.bridge.unsubscribe(room.channel)

    def live_channels(self) -> list[bytes]:
        return list(self.by_channel)

    def _local_seq(self, name: str) -> int | None:
        room = self.rooms.get(name)
        return room.seq if room is not None else None

    def connections_per_event(self) -> dict[int, int]:
        """This instance's sockets in each event's rooms (a socket counts once per room)."""
        counts: dict[int, int] = {}
        for room in self.rooms.values():
            counts[room.key] = counts.get(room.key, 0) + len(room.members) + len(room.pending)
        return counts

    # ---- delivery ----------------------------------------------------------------

    def on_message(self, chan: bytes, seq: int, header: bytes, body: bytes) -> None:
        """A push from the bridge (or a local one in single-instance mode)."""
        room = self.by_channel.get(chan)
        if room is None:
            return
        published, _, event = header.partition(b"|")
        counter = self._pushes.get(event)
        if counter is None:
            counter = self._pushes[event] = metrics.PUSHES.labels(kind=event.decode())
        counter.inc()
        room.seq = seq
        if room.kind.personalize is not None:
            room.tail = asyncio.ensure_future(self._personal(room, seq, body, room.tail))
        else:
            slow = write_all(room, seq, text_frame(body), self.max_buffer)
            if slow:
                for conn in slow:
                    self.cut(conn)
        metrics.PUSH_LATENCY.observe(max(0.0, time.time() - float(published)))

    async def _personal(self, room: Room, seq: int, body: bytes, previous) -> None:
        """Render a push per member (in push order: each waits for the previous one)."""
        if previous is not None and not previous.done():
            await asyncio.wait([previous])
        try:
            push = loads(body)
            # Joiners are left out: their snapshot is at least as fresh as this push.
            targets = list(room.members)
            if not targets:
                return
            rendered = await room.kind.personalize(room.key, push["event"], push["data"],
                                                   [c.identity for c in targets])
            head = b'{"op":"event","room":' + dumps(room.name) + b',"event":'
            member_seq = room.member_seq
            for conn, item in zip(targets, rendered):
                if item is None or conn not in room.members:
                    continue
                event, data = item
                own = member_seq[conn] = member_seq.get(conn, 0) + 1
                conn.write(text_frame(head + dumps(event) + b',"seq":%d,"data":' % own + dumps(data) + b"}"))
                if conn.transport.get_write_buffer_size() > self.max_buffer:
                    self.cut(conn)
        except Exception as exc:
            self._push_failures.failed(exc)

    async def keep_alive(self, interval: float) -> None:
        """One heartbeat for every socket, instead of aiohttp's timers per socket: ping
        each interval; a socket that sent nothing (not even the pong) since the previous
        ping is gone, and is aborted."""
        while True:
            await asyncio.sleep(interval)
            for conn in list(self.conns):
                if conn.idle:
                    log.info("WebSocket client silent for %.0fs: dropping it", interval)
                    conn.transport.abort()
                    self.drop(conn)
                else:
                    conn.idle = True
                    conn.write(_PING)

    # ---- connections -------------------------------------------------------------

    def add(self, conn: Conn) -> None:
        self.conns.add(conn)
        metrics.WS_CONNECTIONS.inc()

    def cut(self, conn: Conn) -> None:
        """Cut off a connection that does not read its output."""
        if not conn.alive:
            return
        metrics.WS_SLOW_CLIENTS_CUT.inc()
        log.info("cutting off a slow WebSocket client (%d bytes unsent)",
                 conn.transport.get_write_buffer_size())
        conn.write(_CLOSE_TRY_AGAIN)
        conn.transport.abort()
        self.drop(conn)

    def drop(self, conn: Conn) -> None:
        if not conn.alive:
            return
        conn.alive = False
        self.conns.discard(conn)
        metrics.WS_CONNECTIONS.dec()
        for room in conn.rooms:
            room.members.discard(conn)
            room.pending.pop(conn, None)
            if room.member_seq is not None:
                room.member_seq.pop(conn, None)
            self._release_if_empty(room)
        conn.rooms = []

    async def join(self, conn: Conn, name: str) -> tuple[dict, list[bytes]] | None:
        """Join ``name``: the snapshot with its seq and the frames to write right after the
        reply (written by the caller before it awaits anything), or None if the connection
        was dropped meanwhile."""
        prefix, _, key_text = name.partition(":")
        kind = self.kinds.get(prefix)
        if kind is None or not key_text:
            raise errors.NotFound("No such room")
        key = parse_id(key_text, "room")
        room = self.rooms.get(name)
        if (room is None or room not in conn.rooms) and len(conn.rooms) >= MAX_ROOMS:
            raise errors.LimitExceeded(f"At most {MAX_ROOMS} rooms per connection")
        await kind.authorize(conn.identity, key)
        if not conn.alive:
            return None
        room = self._room(name, kind, key)
        # (Re)joining: park the connection so pushes during the snapshot are buffered.
        room.members.discard(conn)
        room.pending[conn] = []
        if room not in conn.rooms:
            conn.rooms.append(room)
        try:
            if not room.ready.done():
                await asyncio.shield(room.ready)
            base = room.seq if room.member_seq is None else 0
            data = await self._snapshot(room, conn, base)
        except BaseException:
            if room.pending.pop(conn, None) is not None:
                conn.rooms.remove(room)
                self._release_if_empty(room)
            raise
        buffered = room.pending.pop(conn, None)
        if buffered is None:  # dropped meanwhile
            return None
        room.members.add(conn)
        if room.member_seq is not None:
            room.member_seq[conn] = 0
        return {**data, "seq": base}, [frame for seq, frame in buffered if seq > base]

    async def _snapshot(self, room: Room, conn: Conn, base: int) -> dict:
        kind = room.kind
        if not kind.shared:
            return await kind.snapshot(conn.identity, room.key)
        now = time.monotonic()
        snap = room.snap
        if snap is None or snap[0] != base or now - snap[1] > SNAPSHOT_TTL or _failed(snap[2]):
            snap = room.snap = (base, now, asyncio.ensure_future(kind.snapshot(None, room.key)))
        return await asyncio.shield(snap[2])

    def leave(self, conn: Conn, name: str) -> None:
        room = self.rooms.get(name)
        if room is None or room not in conn.rooms:
            return
        conn.rooms.remove(room)
        room.members.discard(conn)
        room.pending.pop(conn, None)
        if room.member_seq is not None:
            room.member_seq.pop(conn, None)
        self._release_if_empty(room)

    async def close_all(self) -> None:
        """Shutdown: close every socket with 1001 so clients reconnect elsewhere. A client
        that does not read never takes the close (it waits behind unsent output, and aiohttp
        waits for that to drain); after CLOSE_GRACE seconds such sockets are aborted, or the
        server would wait its whole shutdown timeout on them, twice."""
        conns = [c for c in self.conns if not c.ws.closed]
        if not conns:
            return
        log.info("closing %d WebSocket connections (1001)", len(conns))
        closing = {asyncio.ensure_future(c.ws.close(code=WSCloseCode.GOING_AWAY, message=b"Server shutting down")): c
                   for c in conns}
        _, pending = await asyncio.wait(closing, timeout=CLOSE_GRACE)
        if pending:
            log.info("aborting %d WebSocket connections that did not take the close", len(pending))
            for closed in pending:
                closing[closed].transport.abort()
            await asyncio.wait(pending, timeout=1)


def _failed(fut: asyncio.Future) -> bool:
    return fut.done() and (fut.cancelled() or fut.exception() is not None)
