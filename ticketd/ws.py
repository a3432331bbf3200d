"""GET /ws: the WebSocket protocol and the in-process hub of rooms.

A push is serialised once, framed once, and the same bytes are written synchronously to
every local member's transport: no per-recipient await, task or gather, so one slow
socket cannot hold up the others. A socket whose unsent output passes
``config.ws_max_buffer`` is cut off (1013, then abort: a client that stopped reading
would never finish a polite close).

Joins are exact with respect to pushes: the connection is parked in the room's
``pending`` map (pushes are buffered for it) while the snapshot loads, the reply carries
the seq the room had when the snapshot started loading, and buffered pushes with a
higher seq follow the reply.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
import urllib.parse

import orjson
import psycopg2
import redis.exceptions
from aiohttp import WSCloseCode, WSMsgType, web

from . import bridge as bridge_mod
from . import errors, keys, metrics
from .http import dumps

log = logging.getLogger(__name__)

MAX_ROOMS = 50
MAX_BAD_FRAMES = 10
MAX_FRAME_BYTES = 4096
# Identical join snapshots of a shared room are served from one load while the room's
# seq has not moved and the load is younger than this (queue state has no push of its own).
SNAPSHOT_TTL = 1.0

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


class RoomKind:
    __slots__ = ("prefix", "authorize", "snapshot", "personalize", "shared")

    def __init__(self, prefix, authorize, snapshot, personalize=None, shared=False):
        self.prefix = prefix
        self.authorize = authorize
        self.snapshot = snapshot
        self.personalize = personalize
        # shared: the snapshot does not depend on who asks, so joiners share one load.
        self.shared = shared


class Room:
    __slots__ = ("name", "kind", "key", "channel", "members", "pending", "seq", "ready",
                 "snap", "tail")

    def __init__(self, name: str, kind: RoomKind, key: str):
        self.name = name
        self.kind = kind
        self.key = key
        self.channel = bridge_mod.channel(name)
        self.members: set[Conn] = set()
        self.pending: dict[Conn, list] = {}
        self.seq = 0
        self.ready: asyncio.Future | None = None
        self.snap: tuple | None = None
        self.tail: asyncio.Task | None = None


class Hub:
    def __init__(self):
        self.kinds: dict[str, RoomKind] = {}
        self.rooms: dict[str, Room] = {}
        self.by_channel: dict[bytes, Room] = {}
        self.conns: set[Conn] = set()
        self.max_buffer = 256 * 1024
        self.bridge: bridge_mod.Bridge | None = None
        self.redis = None
        self.signer = None
        self._pushes: dict[bytes, object] = {}

    def register(self, kind: RoomKind) -> None:
        self.kinds[kind.prefix] = kind

    # ---- rooms -------------------------------------------------------------------

    def _room(self, name: str, kind: RoomKind, key: str) -> Room:
        room = self.rooms.get(name)
        if room is None:
            room = self.rooms[name] = Room(name, kind, key)
            self.by_channel[room.channel] = room
            room.ready = asyncio.ensure_future(self._open(room))
        return room

    async def _open(self, room: Room) -> None:
        """Subscribe the room's channel, then read its seq: every push after that seq
        arrives through the subscription."""
        if self.bridge is None or not self.bridge.up:
            return  # single-instance mode; the bridge subscribes it when Redis is back
        try:
            await self.bridge.subscribe(room.channel)
            seq = await self.redis.get(bridge_mod.seq_key(room.name))
        except (ConnectionError, OSError, asyncio.TimeoutError, redis.exceptions.RedisError) as exc:
            log.info("room %s starts local (Redis: %s)", room.name, exc or type(exc).__name__)
            return
        room.seq = max(room.seq, int(seq or 0))

    def _release_if_empty(self, room: Room) -> None:
        if room.members or room.pending or self.rooms.get(room.name) is not room:
            return
        if not room.ready.done():
            # Let the SUBSCRIBE finish first so the UNSUBSCRIBE follows it.
            room.ready.add_done_callback(lambda _: self._release_if_empty(room))
            return
        del self.rooms[room.name]
        del self.by_channel[room.channel]
        if self.bridge is not None:
            self.bridge.unsubscribe(room.channel)

    def live_channels(self) -> list[bytes]:
        return list(self.by_channel)

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
            self._write_all(room, seq, text_frame(body))
        metrics.PUSH_LATENCY.observe(max(0.0, time.time() - float(published)))

    def _write_all(self, room: Room, seq: int, frame: bytes) -> None:
        limit = self.max_buffer
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
        if slow:
            for conn in slow:
                self.cut(conn)

    async def _personal(self, room: Room, seq: int, body: bytes, previous) -> None:
        """Render a push per member (in push order: each waits for the previous one)."""
        if previous is not None and not previous.done():
            await asyncio.wait([previous])
        try:
            push = orjson.loads(body)
            targets = [*room.members, *room.pending]
            if not targets:
                return
            rendered = await room.kind.personalize(room.key, push["event"], push["data"],
                                                   [c.identity for c in targets])
            for conn, item in zip(targets, rendered):
                if item is None:
                    continue
                event, data = item
                frame = text_frame(dumps({"op": "event", "room": room.name, "event": event,
                                          "seq": seq, "data": data}))
                if conn in room.members:
                    conn.transport.write(frame)
                    if conn.transport.get_write_buffer_size() > self.max_buffer:
                        self.cut(conn)
                elif conn in room.pending:
                    room.pending[conn].append((seq, frame))
        except Exception:
            log.exception("personalised push to %s failed", room.name)

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

    def cut(self, conn: Conn) -> None:
        """Cut off a connection that does not read its output."""
        if not conn.alive:
            return
        metrics.WS_SLOW_CLIENTS_CUT.inc()
        log.info("cutting off a slow WebSocket client (%d bytes unsent)",
                 conn.transport.get_write_buffer_size())
        try:
            conn.transport.write(_CLOSE_TRY_AGAIN)
        except RuntimeError:
            pass
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
            self._release_if_empty(room)
        conn.rooms = []

    # ---- the protocol ------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """GET /ws: the real-time protocol of CONTRACT.md (not in the OpenAPI description)."""
        app = request.app
        config = app[keys.config]
        _check_origin(request, config.allowed_origins)
        token = _query_token(request.query_string)
        identity = app[keys.signer].verify(token) if token else None
        ws = web.WebSocketResponse(compress=False, autoping=False, max_msg_size=MAX_FRAME_BYTES,
                                   decode_text=False)
        await ws.prepare(request)
        conn = Conn(ws, request.transport, identity)
        self.conns.add(conn)
        metrics.WS_CONNECTIONS.inc()
        try:
            while conn.alive:
                msg = await ws.receive()
                conn.idle = False
                if msg.type is WSMsgType.TEXT:
                    await self.dispatch(conn, msg.data)
                elif msg.type is WSMsgType.PING:
                    await ws.pong(msg.data)
                elif msg.type is WSMsgType.PONG:
                    pass
                elif msg.type is WSMsgType.BINARY:
                    await self._bad(conn, "Frames must be JSON text")
                else:
                    break
        finally:
            self.drop(conn)
            _drop_tracebacks(ws.exception())
        return ws

    async def dispatch(self, conn: Conn, raw: bytes) -> None:
        try:
            msg = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return await self._bad(conn, "Invalid JSON")
        op = msg.get("op") if isinstance(msg, dict) else None
        if op == "ping":
            return conn.send(dumps({"op": "pong", "ref": msg.get("ref")}))
        if op not in ("join", "leave", "auth"):
            return await self._bad(conn, "Unknown op" if isinstance(msg, dict) else "Expected an object")
        ref = msg.get("ref")
        try:
            if op == "auth":
                token = msg.get("token")
                if not isinstance(token, str) or not token:
                    raise errors.ApiError("auth needs a token")
                conn.identity = self.signer.verify(token)
                return _reply(conn, ref, {"data": {"userId": conn.identity.user_id,
                                                   "role": conn.identity.role}})
            name = msg.get("room")
            if not isinstance(name, str) or not name or len(name) > 200:
                raise errors.ApiError(f"{op} needs a room")
            if op == "leave":
                self.leave(conn, name)
                return _reply(conn, ref, {"room": name, "data": {}})
            await self.join(conn, name, ref)
        except errors.ApiError as exc:
            _reply_error(conn, ref, exc.code, exc.message)
        except (psycopg2.Error, redis.exceptions.RedisError, ConnectionError, asyncio.TimeoutError):
            log.warning("%s %s failed: a backend is unavailable", op, msg.get("room"))
            _reply_error(conn, ref, "unavailable", "Temporarily unavailable; try again shortly")
        except Exception:
            log.exception("WebSocket %s failed", op)
            _reply_error(conn, ref, "internal_error", "Internal server error")

    async def _bad(self, conn: Conn, message: str) -> None:
        conn.bad += 1
        conn.send(dumps({"op": "error", "error": {"code": "bad_request", "message": message}}))
        if conn.bad >= MAX_BAD_FRAMES:
            await conn.ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"Too many bad frames")

    async def join(self, conn: Conn, name: str, ref) -> None:
        prefix, _, key = name.partition(":")
        kind = self.kinds.get(prefix)
        if kind is None or not key:
            raise errors.NotFound("No such room")
        room = self.rooms.get(name)
        if (room is None or room not in conn.rooms) and len(conn.rooms) >= MAX_ROOMS:
            raise errors.LimitExceeded(f"At most {MAX_ROOMS} rooms per connection")
        await kind.authorize(conn.identity, key)
        if not conn.alive:
            return
        room = self._room(name, kind, key)
        # (Re)joining: park the connection so pushes during the snapshot are buffered.
        room.members.discard(conn)
        room.pending[conn] = []
        if room not in conn.rooms:
            conn.rooms.append(room)
        try:
            if not room.ready.done():
                await asyncio.shield(room.ready)
            base = room.seq
            data = await self._snapshot(room, conn, base)
        except BaseException:
            if room.pending.pop(conn, None) is not None:
                conn.rooms.remove(room)
                self._release_if_empty(room)
            raise
        buffered = room.pending.pop(conn, None)
        if buffered is None:  # dropped meanwhile
            return
        room.members.add(conn)
        _reply(conn, ref, {"room": name, "data": {**data, "seq": base}})
        for seq, frame in buffered:
            if seq > base:
                conn.transport.write(frame)

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
        self._release_if_empty(room)

    async def close_all(self) -> None:
        """Shutdown: close every socket with 1001 so clients reconnect elsewhere."""
        conns = [c for c in self.conns if not c.ws.closed]
        if conns:
            log.info("closing %d WebSocket connections (1001)", len(conns))
            await asyncio.wait([asyncio.ensure_future(
                c.ws.close(code=WSCloseCode.GOING_AWAY, message=b"Server shutting down"))
                for c in conns], timeout=3)


def _drop_tracebacks(exc: BaseException | None) -> None:
    """aiohttp keeps the error that ended a socket (a peer gone without a close frame, the
    usual way phones and dropped networks leave), and that error's traceback holds frames
    that hold the WebSocketResponse: a reference cycle that keeps all of the connection's
    objects (~45) alive until a full GC pass, which then stops the loop for ~70 ms per
    1,000 such sockets. Without the tracebacks, reference counting frees them at once."""
    while exc is not None:
        exc.__traceback__ = None
        exc = exc.__context__


def _failed(fut: asyncio.Future) -> bool:
    return fut.done() and (fut.cancelled() or fut.exception() is not None)


def _reply(conn: Conn, ref, fields: dict) -> None:
    conn.send(dumps({"op": "reply", "ref": ref, "ok": True, **fields}))


def _reply_error(conn: Conn, ref, code: str, message: str) -> None:
    conn.send(dumps({"op": "reply", "ref": ref, "ok": False,
                     "error": {"code": code, "message": message}}))


def _query_token(query_string: str) -> str | None:
    # Not request.query: its MultiDict would stay cached on the request for the socket's life.
    if "token=" not in query_string:
        return None
    for value in urllib.parse.parse_qs(query_string).get("token", ()):
        return value
    return None


def _check_origin(request: web.Request, allowed: tuple[str, ...]) -> None:
    """Browsers send Origin: it must be allowed or our own host. Non-browser clients
    send none and are let through (they are not subject to cross-site attacks)."""
    origin = request.headers.get("Origin")
    if origin is None or origin in allowed:
        return
    if urllib.parse.urlsplit(origin).netloc.lower() != request.host.lower():
        raise errors.Forbidden("WebSocket origin not allowed")
