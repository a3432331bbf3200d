"""A small test client for /ws: ops with refs, replies matched by ref, pushes kept in order."""

from __future__ import annotations

import asyncio
import itertools

import aiohttp
import orjson


class WsClient:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse):
        self.ws = ws
        self.pushes: list[dict] = []  # pushes seen while waiting for something else
        self._refs = itertools.count(1)

    async def recv(self, timeout: float = 5.0) -> dict:
        msg = await asyncio.wait_for(self.ws.receive(), timeout)
        assert msg.type == aiohttp.WSMsgType.TEXT, (msg.type, msg.data, msg.extra)
        return orjson.loads(msg.data)

    async def send(self, frame: dict) -> None:
        await self.ws.send_str(orjson.dumps(frame).decode())

    async def call(self, op: str, timeout: float = 5.0, **fields) -> dict:
        ref = str(next(self._refs))
        await self.send({"op": op, "ref": ref, **fields})
        while True:
            msg = await self.recv(timeout)
            if msg.get("ref") == ref:
                return msg
            self.pushes.append(msg)

    async def join(self, room: str) -> dict:
        reply = await self.call("join", room=room)
        assert reply["ok"], reply
        return reply["data"]

    async def push(self, event: str | None = None, room: str | None = None, timeout: float = 5.0) -> dict:
        """The next push (optionally of one name / room), earlier ones kept aside first."""
        for i, msg in enumerate(self.pushes):
            if _matches(msg, event, room):
                del self.pushes[i]
                return msg
        while True:
            msg = await self.recv(timeout)
            if _matches(msg, event, room):
                return msg
            self.pushes.append(msg)

    async def close(self) -> None:
        await self.ws.close()


def _matches(msg: dict, event: str | None, room: str | None) -> bool:
    return (msg.get("op") == "event" and (event is None or msg["event"] == event)
            and (room is None or msg["room"] == room))


async def connect(client_or_session, url: str = "/ws", **kwargs) -> WsClient:
    return WsClient(await client_or_session.ws_connect(url, **kwargs))
