"""Fixed-window rate limits in Redis, shared by every instance."""

from __future__ import annotations

import math

from . import errors
from .failures import REDIS_DOWN
from .luascripts import Script

KEY_PREFIX = "ticketd:rate:"

# Failed logins per account: slows password guessing to a crawl.
LOGIN_FAILURES = (10, 15 * 60)
# Holds per shopper: far above what a person clicks, well below what a bot fires.
RESERVATIONS = (30, 60)


class RateLimiter:
    def __init__(self, client):
        self._hit = Script(client, __package__, "rate_hit")
        self._peek = Script(client, __package__, "rate_peek")

    async def hit(self, bucket: str, limit: tuple[int, int]) -> None:
        """Count one request; 429 rate_limited once ``limit`` (count, seconds) is passed."""
        count, seconds = limit
        await self._verdict(self._hit, bucket, [seconds * 1000, count])

    async def check(self, bucket: str, limit: tuple[int, int]) -> None:
        """429 if the bucket is already full, without counting."""
        await self._verdict(self._peek, bucket, [limit[0]])

    async def _verdict(self, script: Script, bucket: str, args: list) -> None:
        try:
            wait_ms = await script([KEY_PREFIX + bucket], args)
        except REDIS_DOWN:
            # Fail open: a limiter must not take logins and purchases down with Redis.
            return
        if wait_ms >= 0:
            retry_after = max(1, math.ceil(wait_ms / 1000))
            raise errors.RateLimited(f"Too many attempts; try again in {retry_after} s",
                                     {"retryAfter": retry_after},
                                     headers={"Retry-After": str(retry_after)})
