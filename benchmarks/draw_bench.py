"""The draw at the start of a sale: 100,000 pre-queued shoppers get random places, while
another event's admissions keep ticking. Also: how many toll challenges an instance
verifies per second.

Throwaway PostgreSQL and Redis; the waiting room runs in this process, as each instance's
admission task runs it (a tick every half interval). It prints:
- pre-queueing 100,000 through the check script (the real path, 200 at a time);
- the draw: from the tick that claimed it to every place written, split into the shuffle
  (64-bit keys from ``secrets``, sorted) and the chunks written to Redis (10,000 each; the
  longest one is how long Redis is busy with the draw at a stretch);
- the other event's decided ticks during the draw: the longest gap between two of them
  (they run every interval, 1 s, whatever the draw does);
- the ticks' own durations during the draw;
- challenge verification (HMAC + SHA-256 at 18 bits) per second on one core.

    .venv/bin/python benchmarks/draw_bench.py [--prequeued 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import statistics
import sys
import tempfile
import time
from pathlib import Path

import redis.asyncio as aioredis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ticketd import db, embedded, events  # noqa: E402
from ticketd.changes import AdmissionDecided, ChangeFeed, QueueDrawn  # noqa: E402
from ticketd.config import Config  # noqa: E402
from ticketd.gate.keys import SigningKeys  # noqa: E402
from ticketd.gate.tokens import AdmissionTokens  # noqa: E402
from ticketd.waitingroom import WaitingRoom, event_keys  # noqa: E402
from ticketd.waitingroom import room as room_module  # noqa: E402
from ticketd.waitingroom.toll import Toll, solve  # noqa: E402

SECRET = "bench-secret"


def event_body(name: str, **queue) -> dict:
    return {"name": name, "venue": "Hall", "starts_at": datetime.datetime(2027, 1, 1, tzinfo=datetime.timezone.utc),
            "ticket_types": [{"name": "GA", "price": 10, "quantity": 1000}],
            "queue": {"mode": "on", "capacity": 1000, "session_seconds": 3600, **queue}}


async def bench(args, database_url: str, redis_url: str) -> None:
    pool = await db.create_pool(database_url, maxsize=4)
    await db.migrate(pool)
    redis = aioredis.Redis.from_pool(aioredis.BlockingConnectionPool.from_url(redis_url, max_connections=256))
    feed = ChangeFeed()
    config = Config(database_url=database_url, redis_url=redis_url, secret=SECRET, admission_interval=1.0,
                    queue_abandon_seconds=3600, instance_id="bench")
    keys = SigningKeys(pool, SECRET)
    await keys.ensure()
    room = WaitingRoom(config, redis, pool, feed, AdmissionTokens(keys, "ticketd"))

    sale = await events.create_event(pool, event_body("The draw", prequeue_seconds=3600))
    other = await events.create_event(pool, event_body("Another event", capacity=5))
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=30)
    await events.update_event(pool, sale, {"sale_starts_at": later})
    await room.event_changed(sale)
    await room.event_created(other)
    for shopper in range(2_000):  # the other event: a queue that moves every tick
        await room.check(other, f"o{shopper}")

    sem = asyncio.Semaphore(200)

    async def prequeue(i: int) -> None:
        async with sem:
            answer = await room.check(sale, str(1_000_000 + i))
            assert answer["status"] == "prequeue", answer
    started = time.perf_counter()
    await asyncio.gather(*[prequeue(i) for i in range(args.prequeued)])
    took = time.perf_counter() - started
    print(f"pre-queued {args.prequeued:,} through the check script in {took:.1f} s "
          f"({args.prequeued / took:,.0f}/s)")

    # Instrument the draw: the shuffle and each chunk.
    chunk_times: list[float] = []
    shuffle_time: list[float] = []
    original_shuffled = room_module.shuffled

    def timed_shuffled(members):
        t0 = time.perf_counter()
        out = original_shuffled(members)
        shuffle_time.append(time.perf_counter() - t0)
        return out
    room_module.shuffled = timed_shuffled

    class TimedDraw:
        def __init__(self, script):
            self.script = script

        async def __call__(self, keys_, args_=()):
            t0 = time.perf_counter()
            reply = await self.script(keys_, args_)
            chunk_times.append(time.perf_counter() - t0)
            return reply
    room._scripts.draw = TimedDraw(room._scripts.draw)

    drawn_at: list[float] = []
    other_ticks: list[float] = []

    async def listen(change) -> None:
        if isinstance(change, QueueDrawn):
            drawn_at.append(time.perf_counter())
        elif isinstance(change, AdmissionDecided) and change.event_id == other:
            other_ticks.append(time.perf_counter())
            # the admitted are done at once: the other event's queue keeps moving
            await redis.delete(event_keys(other).admitted)
    feed.subscribe(listen)

    await events.update_event(pool, sale, {"sale_starts_at": datetime.datetime.now(datetime.timezone.utc)})
    await room.event_changed(sale)
    tick_durations: list[float] = []
    start = time.perf_counter()
    claimed_at = None
    loop = asyncio.get_running_loop()
    next_at = loop.time()
    while not drawn_at or time.perf_counter() - drawn_at[0] < 3:
        t0 = time.perf_counter()
        decided = await room.tick({})
        tick_durations.append(time.perf_counter() - t0)
        if claimed_at is None and any(reply.draw_claim for event, reply in decided if event == sale):
            claimed_at = t0
        next_at = max(next_at + 0.5, loop.time())
        await asyncio.sleep(next_at - loop.time())
        if time.perf_counter() - start > 120:
            raise RuntimeError("no draw within 120 s")
    draw_ms = 1000 * (drawn_at[0] - claimed_at)
    print(f"the draw of {args.prequeued:,}: {draw_ms:,.0f} ms from the claiming tick to every place written "
          f"(shuffle {1000 * shuffle_time[0]:.0f} ms; {len(chunk_times)} chunks to Redis, "
          f"{1000 * sum(chunk_times):.0f} ms in all, longest {1000 * max(chunk_times):.0f} ms)")
    during = [t for t in other_ticks if claimed_at - 1 <= t <= drawn_at[0] + 1]
    gaps = [b - a for a, b in zip(during, during[1:])]
    print(f"the other event meanwhile: {len(during)} decided ticks, longest gap {max(gaps):.2f} s "
          f"(the interval is 1 s)")
    print(f"ticks while drawing: median {1000 * statistics.median(tick_durations):.1f} ms, "
          f"max {1000 * max(tick_durations):.1f} ms")
    waiting, admitted = await redis.zcard(event_keys(sale).queue), await redis.zcard(event_keys(sale).admitted)
    print(f"placed: {admitted:,} admitted since, {waiting:,} in the queue, "
          f"{await redis.zcard(event_keys(sale).pre)} left in the pre-queue")

    toll = Toll(SECRET)
    challenge, _ = toll.issue("42", sale, 18, now_ms=int(time.time() * 1000))
    nonce = solve(challenge, 18)
    rounds = 50_000
    t0 = time.perf_counter()
    for _ in range(rounds):
        assert toll.verify("42", sale, challenge, nonce) is not None
    per = (time.perf_counter() - t0) / rounds
    print(f"challenge verification (18 bits): {1 / per:,.0f}/s on one core ({1e6 * per:.1f} µs each)")
    await redis.aclose()
    pool.close()
    await pool.wait_closed()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prequeued", type=int, default=100_000)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="draw-bench-"))
    with embedded.postgres(base / "pg") as database_url, embedded.redis(base / "redis", persist=False) as redis_url:
        try:
            import uvloop
            uvloop.run(bench(args, database_url, redis_url))
        except ImportError:
            asyncio.run(bench(args, database_url, redis_url))


if __name__ == "__main__":
    main()
