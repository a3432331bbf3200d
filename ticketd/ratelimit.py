"""Abuse limits: fixed windows counted in Redis, shared by every instance, each named
in ``config.DEFAULT_LIMITS``. Redis out of reach fails open: a limiter must not take
logins and purchases down with it."""

from __future__ import annotations

import asyncio
import math
import time
from typing import Mapping

from . import errors
from .config import Limit
from .failures import REDIS_DOWN
from .luascripts import Script

KEY_PREFIX = "ticketd:rate:"
KNOWN_PREFIX = "ticketd:known-addresses:"
# An address that logged in to an account stays known to it this long.
KNOWN_SECONDS = 30 * 86400
KNOWN_MAX = 20


class RateLimiter:
    """``limits`` None: every limit is off."""

    def __init__(self, client, limits: Mapping[str, Limit] | None):
        self._redis = client
        self.limits = limits
        self._hit = Script(client, __package__, "rate_hit")
        self._peek = Script(client, __package__, "rate_peek")

    async def hit(self, name: str, key: str) -> None:
        """Count one request; 429 rate_limited once the limit is passed."""
        limit = self._limit(name)
        if limit is not None:
            _verdict(await self._call(self._hit, name, key, [limit.seconds * 1000, limit.count]))

    async def check(self, name: str, key: str) -> None:
        """429 if the window is already full, without counting."""
        _verdict(await self.full_for(name, key))

    async def full_for(self, name: str, key: str) -> int:
        """Milliseconds until a full window ends, or -1 while there is room."""
        limit = self._limit(name)
        if limit is None:
            return -1
        return await self._call(self._peek, name, key, [limit.count])

    async def count(self, name: str, key: str) -> None:
        """Count one request without an answer (the caller decides what a full window means)."""
        limit = self._limit(name)
        if limit is not None:
            await self._call(self._hit, name, key, [limit.seconds * 1000, limit.count])

    async def clear(self, name: str, key: str) -> None:
        await self._redis.delete(_key(name, key))

    def _limit(self, name: str) -> Limit | None:
        return None if self.limits is None else self.limits[name]

    async def _call(self, script: Script, name: str, key: str, args: list) -> int:
        try:
            return await script([_key(name, key)], args)
        except REDIS_DOWN:
            return -1


class BackgroundLimit:
    """A limit on a path that must not wait for Redis (a WebSocket upgrade: awaiting Redis
    inside the handler leaves its request in a reference cycle in aiohttp). Each request is
    counted in Redis in the background; once Redis says a key is over its limit, this
    instance turns that key away at once (429) until the window ends. A burst gets a few
    more through than the limit before the answer comes back, and no more."""

    MAX_BLOCKED = 10_000

    def __init__(self, limiter: RateLimiter, name: str):
        self._limiter = limiter
        self._name = name
        self._blocked: dict[str, float] = {}
        self._tasks: set = set()

    @property
    def active(self) -> bool:
        return self._limiter.limits is not None

    def check_and_count(self, key: str) -> None:
        until = self._blocked.get(key)
        if until is not None:
            left = until - time.monotonic()
            if left > 0:
                _verdict(int(left * 1000))
            del self._blocked[key]
        task = asyncio.get_running_loop().create_task(self._count(key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _count(self, key: str) -> None:
        limit = self._limiter.limits[self._name]
        wait_ms = await self._limiter._call(self._limiter._hit, self._name, key, [limit.seconds * 1000, limit.count])
        if wait_ms >= 0:
            if len(self._blocked) >= self.MAX_BLOCKED:
                now = time.monotonic()
                self._blocked = {k: t for k, t in self._blocked.items() if t > now}
            self._blocked[key] = time.monotonic() + wait_ms / 1000


class LoginThrottle:
    """Wrong passwords slow the guesser, never the owner: failures count per account and
    address, per address, and per account. A pair or an address over its limit waits; an
    account over its limit takes logins only from addresses that have logged in to it
    before, so nobody elsewhere can lock its owner out."""

    def __init__(self, limiter: RateLimiter, client):
        self._limiter = limiter
        self._redis = client

    async def before(self, email: str, address: str) -> None:
        email = email.lower()
        await self._limiter.check("login_failures_per_account_address", f"{email}|{address}")
        await self._limiter.check("login_failures_per_address", address)
        wait_ms = await self._limiter.full_for("login_failures_per_account", email)
        if wait_ms >= 0 and not await self._known(email, address):
            _verdict(wait_ms)

    async def failed(self, email: str, address: str) -> None:
        email = email.lower()
        await self._limiter.count("login_failures_per_account_address", f"{email}|{address}")
        await self._limiter.count("login_failures_per_address", address)
        await self._limiter.count("login_failures_per_account", email)

    async def succeeded(self, email: str, address: str) -> None:
        key = KNOWN_PREFIX + email.lower()
        try:
            pipe = self._redis.pipeline(transaction=False)
            pipe.zadd(key, {address: 1})
            pipe.zremrangebyrank(key, 0, -KNOWN_MAX - 1)
            pipe.expire(key, KNOWN_SECONDS)
            await pipe.execute()
        except REDIS_DOWN:
            pass

    async def clear(self, email: str) -> int:
        """An admin lifts every lock on an account; returns how many counters were cleared."""
        email = email.lower()
        keys = [_key("login_failures_per_account", email)]
        pattern = _glob_escape(_key("login_failures_per_account_address", email + "|")) + "*"
        keys += [k async for k in self._redis.scan_iter(match=pattern, count=1000)]
        return await self._redis.delete(*keys)

    async def _known(self, email: str, address: str) -> bool:
        try:
            return await self._redis.zscore(KNOWN_PREFIX + email, address) is not None
        except REDIS_DOWN:
            return True


def _key(name: str, key: str) -> str:
    return f"{KEY_PREFIX}{name}:{key}"


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def _verdict(wait_ms: int) -> None:
    if wait_ms >= 0:
        retry_after = max(1, math.ceil(wait_ms / 1000))
        raise errors.RateLimited(f"Too many attempts; try again in {retry_after} s",
                                 {"retryAfter": retry_after}, headers={"Retry-After": str(retry_after)})
