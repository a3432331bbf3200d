"""The waiting room's proof-of-work toll (CONTRACT.md, "On-sale day", ``queue.challengeBits``):
find a nonce so that SHA-256 of ``challenge + ":" + nonce`` starts with ``bits`` zero bits."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from concurrent.futures import ProcessPoolExecutor


def leading_zero_bits(digest: bytes) -> int:
    value = int.from_bytes(digest, "big")
    return len(digest) * 8 - value.bit_length()


def verify(challenge: str, nonce: str, bits: int) -> bool:
    digest = hashlib.sha256(f"{challenge}:{nonce}".encode()).digest()
    return leading_zero_bits(digest) >= bits


def solve(challenge: str, bits: int, start: int = 0) -> str:
    """The first nonce (decimal text, counting from ``start``) that meets ``bits``.
    About 2**bits hashes on average: ~1 µs each in CPython, so 16 bits is tens of ms and
    20 bits about a second of one core."""
    if bits <= 0:
        return str(start)
    prefix = hashlib.sha256(f"{challenge}:".encode())
    if bits <= 32:
        shift = 32 - bits
        nonce = start
        while True:
            h = prefix.copy()
            h.update(str(nonce).encode())
            if int.from_bytes(h.digest()[:4], "big") >> shift == 0:
                return str(nonce)
            nonce += 1
    limit = 1 << (256 - bits)
    nonce = start
    while True:
        h = prefix.copy()
        h.update(str(nonce).encode())
        if int.from_bytes(h.digest(), "big") < limit:
            return str(nonce)
        nonce += 1


def solve_range(challenge: str, bits: int, start: int, count: int) -> str | None:
    """The first good nonce in ``start .. start + count - 1``, or None: lets a caller on an
    event loop solve in slices and stay responsive."""
    if bits <= 0:
        return str(start)
    prefix = hashlib.sha256(f"{challenge}:".encode())
    limit = 1 << (256 - bits)
    for nonce in range(start, start + count):
        h = prefix.copy()
        h.update(str(nonce).encode())
        if int.from_bytes(h.digest(), "big") < limit:
            return str(nonce)
    return None


POOL_BITS = 14     # from 2**14 hashes (~15 ms) a solve goes to worker processes
SLICE = 4096       # hashes per slice when solving on the event loop


class Solver:
    """Solves for the whole crowd: on worker processes when the event's toll is high enough
    to have started them, else on the event loop in slices that keep it responsive."""

    def __init__(self):
        self.pool = None
        self.solves = 0
        self.seconds = 0.0

    async def start_pool(self) -> None:
        """Worker processes for a high toll, forked now, while the tool has next to no
        sockets: a process forked later would hold copies of the fans' sockets open."""
        workers = os.cpu_count() or 1
        self.pool = ProcessPoolExecutor(max_workers=workers)
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(self.pool, time.sleep, 0.05) for _ in range(workers)))

    async def solve(self, challenge: str, bits: int) -> str:
        started = time.monotonic()
        if self.pool is not None and bits >= POOL_BITS:
            nonce = await asyncio.get_running_loop().run_in_executor(self.pool, solve, challenge, bits)
        else:
            start, nonce = 0, None
            while nonce is None:
                nonce = solve_range(challenge, bits, start, SLICE)
                start += SLICE
                if nonce is None:
                    await asyncio.sleep(0)
        self.solves += 1
        self.seconds += time.monotonic() - started
        return nonce

    def shutdown(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
