"""GET /ws: the WebSocket protocol. One envelope, one dispatcher for join / leave / auth /
ping, replies matched by ``ref``; rooms and delivery are the hub's."""

from __future__ import annotations

import logging
import urllib.parse
from typing import Callable

from aiohttp import WSCloseCode, WSMsgType, web

from .. import errors
from ..codec import JSONDecodeError, dumps, loads
from ..failures import classify
from .hub import Conn, Hub

log = logging.getLogger(__name__)

MAX_BAD_FRAMES = 10
MAX_FRAME_BYTES = 4096
MAX_ROOM_NAME = 200


class WsEndpoint:
    """``handle`` is mounted at /ws directly; the app holds the hub under ``hub_key``."""

    def __init__(self, hub_key: web.AppKey[Hub], signer, allowed_origins: tuple[str, ...],
                 before_upgrade: Callable[[web.Request], None]):
        self.hub_key = hub_key
        self.signer = signer
        self.allowed_origins = allowed_origins
        # Raises the contract's error (e.g. 429 rate_limited) to refuse the upgrade. It must
        # not await anything: awaiting Redis here left the request in a reference cycle.
        self.before_upgrade = before_upgrade

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """The real-time protocol (described in docs/api.md, not in the OpenAPI description)."""
        _check_origin(request, self.allowed_origins)
        token = _query_token(request.query_string)
        identity = self.signer.verify(token) if token else None
        self.before_upgrade(request)
        ws = web.WebSocketResponse(compress=False, autoping=False, max_msg_size=MAX_FRAME_BYTES,
                                   decode_text=False)
        await ws.prepare(request)
        hub = request.app[self.hub_key]
        conn = Conn(ws, request.transport, identity)
        hub.add(conn)
        try:
            while conn.alive:
                msg = await ws.receive()
                conn.idle = False
                if msg.type is WSMsgType.TEXT:
                    await self.dispatch(hub, conn, msg.data)
                elif msg.type is WSMsgType.PING:
                    await ws.pong(msg.data)
                elif msg.type is WSMsgType.PONG:
                    pass
                elif msg.type is WSMsgType.BINARY:
                    await self._bad(conn, "Frames must be JSON text")
                else:
                    break
                # Replies are held to the same limit as pushes: a client that keeps asking
                # (pings, joins) and never reads is cut off, not buffered without end.
                if conn.transport.get_write_buffer_size() > hub.max_buffer:
                    hub.cut(conn)
        finally:
            hub.drop(conn)
            _drop_tracebacks(ws.exception())
        return ws

    async def dispatch(self, hub: Hub, conn: Conn, raw: bytes) -> None:
        try:
            msg = loads(raw)
        except JSONDecodeError:
            return await self._bad(conn, "Invalid JSON")
        if not isinstance(msg, dict):
            return await self._bad(conn, "Expected an object")
        ref = msg.get("ref")
        try:
            dumps(ref)  # echoed in every answer: JSON we can read but not write (too deep) is refused
        except TypeError:
            return await self._bad(conn, "ref must be a string")
        op = msg.get("op")
        if op not in ("ping", "join", "leave", "auth"):
            return await self._bad(conn, "Unknown op")
        conn.bad = 0  # a good frame: bad ones count in a row
        if op == "ping":
            return conn.send(dumps({"op": "pong", "ref": ref}))
        try:
            if op == "auth":
                token = msg.get("token")
                if not isinstance(token, str) or not token:
                    raise errors.ApiError("auth needs a token")
                conn.identity = self.signer.verify(token)
                # A socket that changes who it is keeps only the rooms the new identity may be in.
                for room in list(conn.rooms):
                    try:
                        await room.kind.authorize(conn.identity, room.key)
                    except errors.ApiError:
                        hub.leave(conn, room.name)
                return _reply(conn, ref, {"data": conn.identity.view()})
            name = msg.get("room")
            if not isinstance(name, str) or not name or len(name) > MAX_ROOM_NAME:
                raise errors.ApiError(f"{op} needs a room")
            if op == "leave":
                hub.leave(conn, name)
                return _reply(conn, ref, {"room": name, "data": {}})
            joined = await hub.join(conn, name)
            if joined is not None:
                data, after = joined
                _reply(conn, ref, {"room": name, "data": data})
                for frame in after:
                    conn.write(frame)
        except Exception as exc:
            error = classify(exc)
            if error is None:
                log.exception("WebSocket %s failed", op)
                error = errors.Internal()
            elif error.status == 503:
                log.warning("%s %s failed: %s (%r)", op, msg.get("room"), error.message, exc)
            _reply_error(conn, ref, error.code, error.message)

    async def _bad(self, conn: Conn, message: str) -> None:
        conn.bad += 1
        conn.send(dumps({"op": "error", "error": {"code": "bad_request", "message": message}}))
        if conn.bad >= MAX_BAD_FRAMES:
            await conn.ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"Too many bad frames")


def _drop_tracebacks(exc: BaseException | None) -> None:
    """aiohttp keeps the error that ended a socket (a peer gone without a close frame, the
    usual way phones and dropped networks leave), and that error's traceback holds frames
    that hold the WebSocketResponse: a reference cycle that keeps all of the connection's
    objects (~45) alive until a full GC pass, which then stops the loop for ~70 ms per
    1,000 such sockets. Without the tracebacks, reference counting frees them at once."""
    while exc is not None:
        exc.__traceback__ = None
        exc = exc.__context__


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
