"""The Redis bridge: one pub/sub connection per process, a channel per room, and the
room's seq.

A push is published with one Lua script (``lua/publish.lua``) that INCRs the room's seq and
PUBLISHes the pre-serialised frame with that seq spliced in, so instances never interleave
and every instance (the publisher included) delivers from its subscription in seq order.
While Redis is down, pushes go to this instance's members only, with a local seq.

The subscriber speaks RESP on its own asyncio connection (``resp``): redis-py's PubSub
reconnects and resubscribes behind our back, and a join needs to know exactly when its
SUBSCRIBE took effect (the join snapshot's seq is read after that).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
import urllib.parse
from typing import Callable

from .. import background
from ..codec import dumps
from ..failures import REDIS_DOWN
from ..luascripts import Script
from . import resp

log = logging.getLogger(__name__)

CHANNEL_PREFIX = "ticketd:room:"
SEQ_PREFIX = "ticketd:seq:"


def channel(room: str) -> bytes:
    return (CHANNEL_PREFIX + room).encode()


def seq_key(room: str) -> str:
    return SEQ_PREFIX + room


def now_header(event: str) -> str:
    """The message header: publish time (for the latency metric) and the push's name."""
    return f"{time.time():.6f}|{event}"


class _Subscriber(asyncio.Protocol):
    """The pub/sub connection: feeds every RESP value to ``on_value``."""

    def __init__(self, on_value, on_lost):
        self.on_value = on_value
        self.on_lost = on_lost
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        buf = self.buf
        buf += data
        pos = 0
        while pos < len(buf):
            parsed = resp.parse(buf, pos)
            if parsed is None:
                break
            value, pos = parsed
            self.on_value(value)
        del buf[:pos]

    def connection_lost(self, exc):
        self.on_lost(exc)

    def send(self, *args) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(resp.encode_command(*args))


Deliver = Callable[[bytes, int, bytes, bytes], None]


class Bridge:
    """Subscribes the channels of rooms with local members and hands every message to
    ``deliver(channel, seq, header, body)`` in arrival order. ``local_seq(room)`` is the
    room's last seq on this instance, or None when it has no local members."""

    PING_EVERY = 5.0
    DEAD_AFTER = 15.0

    def __init__(self, url: str, client, deliver: Deliver, live_channels: Callable[[], list[bytes]],
                 local_seq: Callable[[str], int | None]):
        self.url = urllib.parse.urlsplit(url)
        self._redis = client
        self._publish = Script(client, __package__, "publish")
        self.deliver = deliver
        self.live_channels = live_channels
        self.local_seq = local_seq
        self.proto: _Subscriber | None = None
        self.up = False
        self.connected = asyncio.Event()
        self._waiters: dict[bytes, collections.deque] = {}
        self._auth_waiter: asyncio.Future | None = None
        self._lost: asyncio.Event | None = None
        self._last_heard = 0.0
        self._local_logged = False
        self._task: asyncio.Task | None = None

    # ---- publishing --------------------------------------------------------------

    async def publish(self, room: str, event: str, data) -> None:
        """One push with the room's next seq to every member on every instance."""
        head = b'{"op":"event","room":' + dumps(room) + b',"event":' + dumps(event) + b',"seq":'
        tail = b',"data":' + dumps(data) + b"}"
        header = now_header(event)
        if self.up:
            try:
                await self._publish([seq_key(room), channel(room)],
                                    [self.local_seq(room) or 0, head, tail, header])
                return
            except REDIS_DOWN as exc:
                if not self._local_logged:
                    log.warning("publishing through Redis failed (%s): delivering locally", exc)
                    self._local_logged = True
        # Single-instance mode: this instance's members only, with a local seq.
        seq = self.local_seq(room)
        if seq is not None:
            self.deliver(channel(room), seq + 1, header.encode(), head + b"%d" % (seq + 1) + tail)

    async def seq(self, room: str) -> int:
        """The room's current seq across instances."""
        return int(await self._redis.get(seq_key(room)) or 0)

    # ---- lifecycle ---------------------------------------------------------------

    async def start(self, wait: float = 2.0) -> None:
        self._task = asyncio.create_task(self._run(), name="redis-bridge")
        # Give Redis a moment so the first joins get cluster-wide seqs; go on without it.
        try:
            await asyncio.wait_for(self.connected.wait(), wait)
        except asyncio.TimeoutError:
            log.warning("Redis bridge not up yet: starting in single-instance mode")

    async def stop(self) -> None:
        if self._task:
            await background.stop(self._task)
        if self.proto and self.proto.transport:
            self.proto.transport.abort()

    async def _run(self) -> None:
        backoff = 0.1
        logged_down = False
        while True:
            try:
                await self._connect()
                # Up before resubscribing: a room opened meanwhile subscribes itself.
                self.up = True
                channels = self.live_channels()
                if channels:
                    await self._subscribe_all(channels)
                self.connected.set()
                backoff = 0.1
                if logged_down:
                    log.warning("Redis bridge reconnected: %d rooms resubscribed", len(channels))
                logged_down = False
                self._local_logged = False
                await self._watch()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not logged_down:
                    log.warning("Redis bridge down (%s): pushes stay local to this instance "
                                "until it is back", exc or type(exc).__name__)
                    logged_down = True
            self._drop()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        lost = self._lost = asyncio.Event()
        host, port = self.url.hostname or "127.0.0.1", self.url.port or 6379
        _, self.proto = await asyncio.wait_for(
            loop.create_connection(lambda: _Subscriber(self._on_value, lambda exc: lost.set()),
                                   host, port), 2)
        self._last_heard = loop.time()
        if self.url.password is not None:
            password = urllib.parse.unquote(self.url.password)
            self._auth_waiter = loop.create_future()
            if self.url.username:
                self.proto.send("AUTH", urllib.parse.unquote(self.url.username), password)
            else:
                self.proto.send("AUTH", password)
            await asyncio.wait_for(self._auth_waiter, 2)

    async def _watch(self) -> None:
        """Ping the pub/sub connection; a silent Redis counts as gone."""
        loop = asyncio.get_running_loop()
        while not self._lost.is_set():
            self.proto.send("PING")
            try:
                await asyncio.wait_for(self._lost.wait(), self.PING_EVERY)
            except asyncio.TimeoutError:
                pass
            if loop.time() - self._last_heard > self.DEAD_AFTER:
                raise ConnectionError("no answer from Redis")
        raise ConnectionError("connection lost")

    def _drop(self) -> None:
        self.up = False
        self.connected.clear()
        if self.proto and self.proto.transport:
            self.proto.transport.abort()
        self.proto = None
        for waiters in self._waiters.values():
            for fut in waiters:
                if not fut.done():
                    fut.set_exception(ConnectionError("Redis bridge down"))
        self._waiters.clear()

    # ---- subscriptions -----------------------------------------------------------

    def _expect(self, chan: bytes) -> asyncio.Future:
        fut = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(chan, collections.deque()).append(fut)
        return fut

    async def _subscribe_all(self, channels: list[bytes]) -> None:
        futs = [self._expect(c) for c in channels]
        self.proto.send("SUBSCRIBE", *channels)
        await asyncio.wait_for(asyncio.gather(*futs), 5)

    async def subscribe(self, chan: bytes) -> None:
        """SUBSCRIBE and wait until Redis confirms; raises ConnectionError when down."""
        if not self.up:
            raise ConnectionError("Redis bridge down")
        fut = self._expect(chan)
        self.proto.send("SUBSCRIBE", chan)
        await asyncio.wait_for(fut, 5)

    def unsubscribe(self, chan: bytes) -> None:
        if self.up:
            self.proto.send("UNSUBSCRIBE", chan)

    # ---- incoming ----------------------------------------------------------------

    def _on_value(self, value) -> None:
        self._last_heard = asyncio.get_running_loop().time()
        if isinstance(value, list) and value:
            kind = value[0]
            if kind == b"message":
                seq, header, body = value[2].split(b" ", 2)
                self.deliver(value[1], int(seq), header, body)
            elif kind == b"subscribe":
                waiters = self._waiters.get(value[1])
                if waiters:
                    fut = waiters.popleft()
                    if not waiters:
                        del self._waiters[value[1]]
                    if not fut.done():
                        fut.set_result(None)
            return
        if self._auth_waiter is not None and not self._auth_waiter.done():
            if isinstance(value, resp.RedisReplyError):
                self._auth_waiter.set_exception(value)
            else:
                self._auth_waiter.set_result(None)
