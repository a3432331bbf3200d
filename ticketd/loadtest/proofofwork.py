"""Paying the waiting room's toll for a whole crowd (``queue.challengeBits``).

Whether a nonce solves a challenge is the server's own rule,
``ticketd.waitingroom.toll.solves``, and nothing here says it again. What is the tool's is
how it searches: on the event loop in slices, so that thousands of fans stay responsive,
or on worker processes when the toll is high.

Importing the server's toll brings in the whole waiting-room package with it (its
PostgreSQL, Redis and crypto clients: about 0.3 s and 25 MB), so the crowd imports this
module only for an event that asks for a toll."""

from __future__ import annotations

import asyncio
import os
import time
from concurrent.futures import ProcessPoolExecutor

from ..waitingroom.toll import solve, solves

POOL_BITS = 14     # from 2**14 hashes (~20 ms) a solve goes to worker processes
SLICE = 4096       # hashes per slice when solving on the event loop


def solve_slice(challenge: str, bits: int, start: int, count: int) -> str | None:
    """The first nonce in ``start .. start + count - 1`` that the server accepts, or None."""
    for n in range(start, start + count):
        nonce = str(n)
        if solves(challenge, nonce, bits):
            return nonce
    return None


class Solver:
    """Solves for the whole crowd, and counts the solves."""

    def __init__(self):
        self.pool: ProcessPoolExecutor | None = None
        self.solves = 0

    async def start(self, bits: int) -> None:
        """Worker processes for a toll of ``bits`` when it is high, forked now, while the
        tool has next to no sockets: a process forked later would hold copies of the fans'
        sockets open."""
        if bits < POOL_BITS or self.pool is not None:
            return
        workers = os.cpu_count() or 1
        self.pool = ProcessPoolExecutor(max_workers=workers)
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(self.pool, time.sleep, 0.05) for _ in range(workers)))

    async def solve(self, challenge: str, bits: int) -> str:
        """The first nonce that solves ``challenge``, the same one either way."""
        if self.pool is not None and bits >= POOL_BITS:
            nonce = await asyncio.get_running_loop().run_in_executor(self.pool, solve, challenge, bits)
        else:
            start, nonce = 0, None
            while nonce is None:
                nonce = solve_slice(challenge, bits, start, SLICE)
                start += SLICE
                if nonce is None:
                    await asyncio.sleep(0)
        self.solves += 1
        return nonce

    def shutdown(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
