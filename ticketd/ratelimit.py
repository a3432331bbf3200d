"""Fixed-window rate limits in Redis, shared by every instance."""

from __future__ import annotations

import logging
import math

import redis.exceptions

from . import errors

log = logging.getLogger(__name__)

KEY_PREFIX = "ticketd:rate:"

# KEYS: the window's counter. ARGV: window ms, limit. Returns -1 while under the limit,
# else the milliseconds until the window ends.
HIT_SCRIPT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
if n > tonumber(ARGV[2]) then return redis.call('PTTL', KEYS[1]) end
return -1
"""
PEEK_SCRIPT = """
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[1]) then return redis.call('PTTL', KEYS[1]) end
return -1
"""

# Failed logins per account: slows password guessing to a crawl.
LOGIN_FAILURES = (10, 15 * 60)
# Holds per shopper: far above what a person clicks, well below what a bot fires.
RESERVATIONS = (30, 60)


class RateLimiter:
    def __init__(self, client):
        self._hit = client.register_script(HIT_SCRIPT)
        self._peek = client.register_script(PEEK_SCRIPT)

    async def hit(self, bucket: str, limit: tuple[int, int]) -> None:
        """Count one request; 429 rate_limited once ``limit`` (count, seconds) is passed."""
        count, seconds = limit
        await self._verdict(self._hit, bucket, [seconds * 1000, count])

    async def check(self, bucket: str, limit: tuple[int, int]) -> None:
        """429 if the bucket is already full, without counting."""
        await self._verdict(self._peek, bucket, [limit[0]])

    async def _verdict(self, script, bucket: str, args: list) -> None:
        try:
            wait_ms = await script(keys=[KEY_PREFIX + bucket], args=args)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
            # Fail open: a limiter must not take logins and purchases down with Redis.
            return
        if wait_ms >= 0:
            retry_after = max(1, math.ceil(wait_ms / 1000))
            raise errors.RateLimited(f"Too many attempts; try again in {retry_after} s",
                                     {"retryAfter": retry_after},
                                     headers={"Retry-After": str(retry_after)})
