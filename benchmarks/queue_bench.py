"""Waiting-room benchmark: 100,000 users queued for one event.

Starts throwaway PostgreSQL and Redis and one real ``ticketd serve`` on 127.0.0.1, then
prints:
- check requests/s over HTTP (aiohttp client, fresh users each request);
- status p50/p99 latency over HTTP with 1,000 and with 100,000 users queued;
- admission tick duration with 100,000 queued (1,000 admitted per tick, and idle ticks);
- the time to push ``queue-update`` to 5,000 waiting sockets on that one instance
  (from publishing the tick message to the last socket reading its own position).

The bulk of the 100,000 is loaded through the WaitingRoom API in this process (same Lua
script as the HTTP route). The server's own admission task is slowed right down
(TICKETD_ADMISSION_INTERVAL=3600) so the ticks measured here are this process's, and
nobody is dropped for silence meanwhile (TICKETD_QUEUE_ABANDON_SECONDS=3600).

    .venv/bin/python benchmarks/queue_bench.py [--queued 100000] [--sockets 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import orjson
import redis.asyncio as aioredis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from serving import wait_ready  # noqa: E402
from ticketd import auth, db, embedded  # noqa: E402
from ticketd.auth import TokenSigner  # noqa: E402
from ticketd.changes import ChangeFeed  # noqa: E402
from ticketd.config import Config  # noqa: E402
from ticketd.gate.keys import SigningKeys  # noqa: E402
from ticketd.gate.tokens import AdmissionTokens  # noqa: E402
from ticketd.live import bridge  # noqa: E402
from ticketd.luascripts import Script  # noqa: E402
from ticketd.waitingroom import WaitingRoom, event_keys  # noqa: E402

SECRET = "bench-secret"
CAPACITY = 1000


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


@contextlib.contextmanager
def ticketd_serve(database_url: str, redis_url: str):
    port = embedded.free_port()
    log = Path(tempfile.mkstemp(prefix="queue-bench-ticketd-", suffix=".log")[1])
    env = {**os.environ, "TICKETD_DATABASE_URL": database_url, "TICKETD_REDIS_URL": redis_url,
           "TICKETD_SECRET": SECRET, "TICKETD_ADMISSION_INTERVAL": "3600",
           "TICKETD_QUEUE_ABANDON_SECONDS": "3600", "TICKETD_INSTANCE_ID": "bench",
           # 11,000 checks and 5,000 sockets from one address: the abuse limits would stop them.
           "TICKETD_RATE_LIMITS": "off", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "ticketd", "serve", "--port", str(port)],
                            env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT, cwd=tempfile.gettempdir())
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, proc, log)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


async def run_many(count: int, concurrency: int, job) -> list[float]:
    """``job(i)`` for i in range(count) with at most ``concurrency`` in flight; the
    latency of each, in seconds."""
    latencies: list[float] = []
    next_index = iter(range(count))

    async def worker():
        for i in next_index:
            started = time.perf_counter()
            await job(i)
            latencies.append(time.perf_counter() - started)
    await asyncio.gather(*[worker() for _ in range(concurrency)])
    return latencies


async def bench(args, database_url: str, redis_url: str, url: str) -> None:
    signer = TokenSigner(SECRET, 86400)
    pool = await db.create_pool(database_url, maxsize=4)
    redis = aioredis.Redis.from_pool(aioredis.BlockingConnectionPool.from_url(redis_url, max_connections=256))
    config = dataclasses.replace(Config.from_env({}), database_url=database_url, redis_url=redis_url,
                                 secret=SECRET, admission_interval=1.0, queue_abandon_seconds=3600,
                                 instance_id="bench-loader")
    keys = SigningKeys(pool, SECRET)
    await keys.ensure()   # the server made the first key; this loads it
    room = WaitingRoom(config, redis, pool, ChangeFeed(), AdmissionTokens(keys, config.issuer))
    publish = Script(redis, "ticketd.live", "publish")
    await auth.create_admin(pool, "bench-admin@example.com", "bench-password-1")
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    async with http.post(f"{url}/api/auth/login", json={"email": "bench-admin@example.com",
                                                        "password": "bench-password-1"}) as resp:
        admin = (await resp.json())["token"]
    body = {"name": "Bench Night", "venue": "Hall", "startsAt": "2027-01-01T20:00:00Z",
            "ticketTypes": [{"name": "GA", "price": 10, "quantity": 1000}],
            "queue": {"mode": "on", "capacity": CAPACITY, "sessionSeconds": 600}}
    async with http.post(f"{url}/api/events", json=body, headers={"Authorization": f"Bearer {admin}"}) as resp:
        eid = int((await resp.json())["event"]["id"])
    tokens: dict[int, str] = {}

    def token(user: int) -> str:
        if user not in tokens:
            tokens[user] = signer.issue(user, "user")
        return tokens[user]

    async def http_check(user: int) -> None:
        async with http.post(f"{url}/api/queue/check/{eid}",
                             headers={"Authorization": f"Bearer {token(user)}"}) as resp:
            assert resp.status == 200, await resp.text()
            await resp.read()

    async def http_status(user: int) -> None:
        async with http.get(f"{url}/api/queue/status/{eid}",
                            headers={"Authorization": f"Bearer {token(user)}"}) as resp:
            assert resp.status == 200, await resp.text()
            data = await resp.json()
            assert data["status"] == "queued", data

    import random
    rng = random.Random(7)
    print(f"ticketd at {url}; event {eid}, capacity {CAPACITY}; {os.cpu_count()} CPUs shared")

    # 1. check over HTTP: the first 1,000 arrivals.
    started = time.perf_counter()
    await run_many(1000, 100, lambda i: http_check(i))
    elapsed = time.perf_counter() - started
    print(f"check over HTTP, queue 0 -> 1,000:       {1000 / elapsed:8.0f} requests/s")

    async def status_latency(queued: int, label: str) -> None:
        for _ in range(2):  # warm-up round discarded
            lat = await run_many(2000, 10, lambda i: http_status(rng.randrange(queued)))
        print(f"status over HTTP with {label} queued:  p50 {percentile(lat, 50) * 1000:6.2f} ms   "
              f"p99 {percentile(lat, 99) * 1000:6.2f} ms   ({len(lat)} requests, 10 in flight)")

    await status_latency(1000, "  1,000")

    # 2. the bulk, through the WaitingRoom API in this process.
    bulk_to = args.queued - 10_000
    started = time.perf_counter()
    await run_many(bulk_to - 1000, 200, lambda i: room.check(eid, str(1000 + i)))
    elapsed = time.perf_counter() - started
    print(f"check via WaitingRoom API (in process):  {(bulk_to - 1000) / elapsed:8.0f} /s   "
          f"({bulk_to - 1000:,} users)")

    # 3. the last 10,000 over HTTP, with the queue already long.
    started = time.perf_counter()
    await run_many(10_000, 100, lambda i: http_check(bulk_to + i))
    elapsed = time.perf_counter() - started
    print(f"check over HTTP, queue {bulk_to:,} -> {args.queued:,}: {10_000 / elapsed:6.0f} requests/s")
    queued = await redis.zcard(event_keys(eid).queue)
    assert queued == args.queued, queued

    await status_latency(args.queued, f"{args.queued:,}")

    # 4. admission ticks with 100,000 queued: each decided tick admits CAPACITY.
    admitted_key = event_keys(eid).admitted
    busy, idle = [], []
    for round_ in range(6):
        await redis.delete(admitted_key)  # the previous batch is done shopping
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            started = time.perf_counter()
            decided = [reply for event, reply in await room.tick() if event == eid]
            took = time.perf_counter() - started
            if decided and decided[0].admitted:
                busy.append((took, len(decided[0].admitted)))
                break
            idle.append(took)
            await asyncio.sleep(0.05)
    print(f"admission tick, {CAPACITY:,} admitted of {args.queued:,}: "
          f"median {statistics.median(t for t, _ in busy) * 1000:6.2f} ms, max "
          f"{max(t for t, _ in busy) * 1000:6.2f} ms ({len(busy)} ticks)")
    print(f"admission tick, nothing to admit:         median {statistics.median(idle) * 1000:6.2f} ms "
          f"({len(idle)} ticks)")

    # 5. queue-update to 5,000 waiting sockets on the one instance.
    queue_key = event_keys(eid).queue
    waiting = [int(u) for u in await redis.zrange(queue_key, 10, 10 + args.sockets - 1)]
    ws_url = url.replace("http", "ws") + "/ws"
    sockets = []
    started = time.perf_counter()

    async def open_socket(user: int):
        ws = await http.ws_connect(f"{ws_url}?token={token(user)}", max_msg_size=0)
        await ws.send_str(orjson.dumps({"op": "join", "room": f"queue:{eid}", "ref": "j"}).decode())
        while True:
            msg = orjson.loads((await ws.receive()).data)
            if msg.get("ref") == "j":
                assert msg["ok"], msg
                sockets.append((user, ws))
                return
    await run_many(len(waiting), 100, lambda i: open_socket(waiting[i]))
    print(f"opened and joined {len(sockets):,} queue sockets in {time.perf_counter() - started:.1f} s")

    received: list[float] = []

    async def wait_update(ws):
        while True:
            msg = orjson.loads((await ws.receive()).data)
            if msg.get("event") == "queue-update":
                received.append(time.perf_counter())
                return msg["data"]["position"]
    for attempt in range(3):
        received.clear()
        waiters = [asyncio.create_task(wait_update(ws)) for _, ws in sockets]
        await asyncio.sleep(0.5)  # every reader is parked on its socket
        head = (await redis.zrange(queue_key, 0, 0))[0].decode()
        await room.leave(eid, head)  # everyone behind moves up by one
        room_name = f"queue:{eid}"
        t0 = time.perf_counter()
        await publish(
            [bridge.seq_key(room_name), bridge.channel(room_name)],
            [0, b'{"op":"event","room":' + orjson.dumps(room_name) + b',"event":"tick","seq":',
                  # everyone: a tick that refreshes every member (as after the draw), not only
                  # the front and the rotating slice, so that all 5,000 get their own frame.
                  b',"data":' + orjson.dumps({"admitted": [], "everyone": True}) + b"}",
                  bridge.now_header("tick")])
        await asyncio.wait_for(asyncio.gather(*waiters), 60)
        print(f"queue-update to {len(sockets):,} sockets: first {1000 * (min(received) - t0):7.1f} ms, "
              f"last {1000 * (max(received) - t0):7.1f} ms after the publish")
    for _, ws in sockets:
        await ws.close()
    await http.close()
    await redis.aclose()
    pool.close()
    await pool.wait_closed()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queued", type=int, default=100_000)
    parser.add_argument("--sockets", type=int, default=5000)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="queue-bench-"))
    with embedded.postgres(base / "pg") as database_url, \
            embedded.redis(base / "redis", persist=False) as redis_url, \
            ticketd_serve(database_url, redis_url) as url:
        asyncio.run(bench(args, database_url, redis_url, url))


if __name__ == "__main__":
    main()
