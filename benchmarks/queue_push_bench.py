"""What keeping a crowd informed costs: N waiting sockets on one instance while admissions run.

Starts throwaway PostgreSQL and Redis and one real ``ticketd serve`` pinned to core 0. It
queues N shoppers (20,000 by default) on an event in mode `on`, opens a `queue:` socket
for each from this process (pinned to core 1; a bare asyncio WebSocket client, so that
the client is not the bottleneck), and keeps admissions running: every second the
admitted shoppers leave, so the next tick admits --capacity more and every position
changes.

It prints:
- the server's CPU (utime + stime from /proc, as a share of one core) over --seconds of
  that, and over as long with the sockets connected but nothing moving (the floor: the
  heartbeat, the ticks);
- how stale the shown positions get: each second every socket's shown position is compared
  with its true place in Redis (one pipelined ZRANK per shopper); where they differ, the
  socket's staleness is the time since its last push (an upper bound on how long it has
  been wrong), else 0; as p50 / p99 / max over all sockets and samples, with the share of
  samples that were wrong, and the time since the last push (the old measure) beside it;
- sockets the server closed (a cut slow client would stop hearing anything);
- pushes received per second.

    .venv/bin/python benchmarks/queue_push_bench.py [--sockets 20000] [--seconds 30] [--server-tree DIR]

``--server-tree`` serves with another checkout's ``ticketd`` (e.g. a ``git worktree`` of the
commit before the waiting room stopped pushing every socket every tick), for a before/after
pair on the same machine. The server needs a file per socket: the hard limit is raised to
fit where allowed, else the sockets are capped to what it allows.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
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
from ticketd import embedded  # noqa: E402
from ticketd.auth import TokenSigner  # noqa: E402
from ticketd.waitingroom import event_keys  # noqa: E402

SECRET = "bench-secret"
# The server's own files besides its sockets: pools, the listener, logs, libraries.
FILES_BESIDE_SOCKETS = 300
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


class QueueSocket(asyncio.Protocol):
    """A minimal WebSocket client: the upgrade, one join, then it reads server frames and
    remembers when the last push came and what position it showed."""

    def __init__(self, path: str, room: str, joined: asyncio.Future):
        self.request = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                        f"Connection: Upgrade\r\nSec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
                        "Sec-WebSocket-Version: 13\r\n\r\n").encode()
        self.join = orjson.dumps({"op": "join", "room": room, "ref": "j"})
        self.joined = joined
        self.buf = bytearray()
        self.upgraded = False
        self.last_push = 0.0
        self.position = None
        self.pushes = 0
        self.closed = False

    def connection_made(self, transport):
        self.transport = transport
        transport.write(self.request)

    def connection_lost(self, exc):
        self.closed = True

    def data_received(self, data):
        self.buf += data
        if not self.upgraded:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(self.buf[:self.buf.find(b"\r\n")])
            if b" 101 " not in status:
                self.joined.set_exception(RuntimeError(f"upgrade refused: {bytes(self.buf[:end])!r}"))
                return
            del self.buf[:end + 4]
            self.upgraded = True
            mask = os.urandom(4)
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(self.join))
            self.transport.write(bytes((0x81, 0x80 | len(payload))) + mask + payload)
        buf = self.buf
        while len(buf) >= 2:
            size, head = buf[1] & 0x7F, 2
            if size == 126:
                if len(buf) < 4:
                    return
                size, head = int.from_bytes(buf[2:4], "big"), 4
            elif size == 127:
                if len(buf) < 10:
                    return
                size, head = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < head + size:
                return
            opcode, payload = buf[0] & 0x0F, bytes(buf[head:head + size])
            del buf[:head + size]
            if opcode == 0x9:  # ping: pong, masked
                self.transport.write(bytes((0x8A, 0x80)) + b"\0\0\0\0")
            elif opcode == 0x1:
                self.on_message(orjson.loads(payload))

    def on_message(self, msg: dict) -> None:
        if msg.get("op") == "reply":
            if not self.joined.done():
                self.joined.set_result(msg.get("ok"))
            self.last_push = time.monotonic()
            self.position = (msg.get("data") or {}).get("position")
        elif msg.get("op") == "event":
            self.last_push = time.monotonic()
            self.pushes += 1
            self.position = msg["data"].get("position")


async def open_sockets(port: int, eid: int, users: list[int]) -> list[tuple[int, QueueSocket]]:
    signer = TokenSigner(SECRET, 86400)
    loop = asyncio.get_running_loop()
    sem = asyncio.Semaphore(100)
    sockets: list[tuple[int, QueueSocket]] = []

    async def open_socket(user: int) -> None:
        joined = loop.create_future()
        async with sem:
            _, proto = await loop.create_connection(
                lambda: QueueSocket(f"/ws?token={signer.issue(user, 'user')}", f"queue:{eid}", joined),
                "127.0.0.1", port)
            assert await asyncio.wait_for(joined, 120), "join refused"
        sockets.append((user, proto))
    await asyncio.gather(*[open_socket(u) for u in users])
    return sockets


def client_process(port: int, eid: int, users: list[int], redis_url: str, conn) -> None:
    """One share of the sockets, in its own process (one process may hold 20,000 files here)."""
    async def run():
        sockets = await open_sockets(port, eid, users)
        redis = aioredis.Redis.from_url(redis_url)
        queue_key = event_keys(eid).queue
        conn.send(("joined", len(sockets)))
        windows = await asyncio.get_running_loop().run_in_executor(None, conn.recv)
        results = []
        for start, end in windows:
            await asyncio.sleep(max(0.0, start - time.time()))
            ages, stale, wrong = [], [], 0
            before = sum(s.pushes for _, s in sockets)
            while time.time() < end:
                await asyncio.sleep(1)
                pipe = redis.pipeline(transaction=False)
                for user, _ in sockets:
                    pipe.zrank(queue_key, str(user))
                ranks = await pipe.execute()
                now = time.monotonic()
                for (_, s), rank in zip(sockets, ranks):
                    if rank is None or s.closed:     # admitted or gone: no position to show
                        continue
                    age = now - s.last_push
                    ages.append(age)
                    if s.position != rank + 1:
                        wrong += 1
                        stale.append(age)
                    else:
                        stale.append(0.0)
            results.append((ages, stale, wrong, sum(s.pushes for _, s in sockets) - before,
                            sum(s.closed for _, s in sockets)))
        conn.send(("done", results))
        await redis.aclose()
        for _, s in sockets:
            s.transport.abort()
    os.sched_setaffinity(0, {1})
    try:
        import uvloop
        uvloop.run(run())
    except ImportError:
        asyncio.run(run())


async def bench(args, redis_url: str, url: str, pid: int) -> None:
    signer = TokenSigner(SECRET, 86400)
    redis = aioredis.Redis.from_url(redis_url)
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200))
    admin = signer.issue(1, "admin")
    body = {"name": "Push Night", "venue": "Hall", "startsAt": "2027-01-01T20:00:00Z",
            "ticketTypes": [{"name": "GA", "price": 10, "quantity": 1000}],
            "queue": {"mode": "on", "capacity": args.capacity, "sessionSeconds": 3600}}
    async with http.post(f"{url}/api/events", json=body, headers={"Authorization": f"Bearer {admin}"}) as resp:
        assert resp.status == 201, await resp.text()
        eid = int((await resp.json())["event"]["id"])
    keys = event_keys(eid)
    users = list(range(1000, 1000 + args.sockets))
    sem = asyncio.Semaphore(200)

    async def check(user: int) -> None:  # the real path: check in over HTTP
        async with sem, http.post(f"{url}/api/queue/check/{eid}",
                                  headers={"Authorization": f"Bearer {signer.issue(user, 'user')}"}) as resp:
            assert resp.status == 200, await resp.text()
            await resp.read()
    started = time.perf_counter()
    await asyncio.gather(*[check(u) for u in users])
    print(f"server: {args.server_tree.resolve()} at {_commit(args.server_tree)}")
    print(f"queued {args.sockets:,} shoppers in {time.perf_counter() - started:.1f} s")

    import multiprocessing
    ctx = multiprocessing.get_context("spawn")
    port = int(url.rsplit(":", 1)[1])
    shares = [users[i::args.clients] for i in range(args.clients)]
    pipes, procs = [], []
    started = time.perf_counter()
    for share in shares:
        parent, child = ctx.Pipe()
        pipes.append(parent)
        procs.append(ctx.Process(target=client_process, args=(port, eid, share, redis_url, child)))
    joined = 0
    for proc in procs:
        proc.start()
    loop = asyncio.get_running_loop()
    for parent in pipes:
        kind, count = await loop.run_in_executor(None, parent.recv)
        joined += count
    print(f"opened and joined {joined:,} queue sockets in {time.perf_counter() - started:.1f} s "
          f"({args.clients} client processes)")
    first = time.time() + 2
    windows = [(first, first + args.seconds), (first + args.seconds + 2, first + 2 * args.seconds + 2)]
    for parent in pipes:
        parent.send(windows)
    results = []
    for index, (start, end) in enumerate(windows):
        await asyncio.sleep(max(0.0, start - time.time()))
        cpu_before, t0 = cpu_seconds(pid), time.time()
        while time.time() < end:
            if index == 1:  # the admitted are done shopping: the next tick admits as many again
                admitted = await redis.zrange(keys.admitted, 0, -1)
                if admitted:
                    await redis.zrem(keys.admitted, *admitted)
            await asyncio.sleep(0.5)
        results.append((cpu_seconds(pid) - cpu_before) / (time.time() - t0))
    ages, stale, wrong, pushes, closed = [[], []], [[], []], [0, 0], [0, 0], 0
    for parent in pipes:
        _, per_window = await loop.run_in_executor(None, parent.recv)
        for i, (window_ages, window_stale, window_wrong, count, gone) in enumerate(per_window):
            ages[i].extend(window_ages)
            stale[i].extend(window_stale)
            wrong[i] += window_wrong
            pushes[i] += count
        closed += gone
    for proc in procs:
        proc.join(30)
    queued = await redis.zcard(keys.queue)
    moving, off = sorted(ages[1]), sorted(stale[1])
    print(f"server CPU, {joined:,} waiting sockets, nothing moving:  {100 * results[0]:5.1f} % of a core "
          f"({pushes[0] / args.seconds:,.0f} pushes/s)")
    print(f"server CPU, admissions running ({args.capacity} a tick):  {100 * results[1]:5.1f} % of a core "
          f"({pushes[1] / args.seconds:,.0f} pushes/s; {queued:,} still queued at the end)")
    print(f"staleness of the shown position while admissions run (0 when it is right): p50 "
          f"{statistics.median(off):.2f} s, p99 {off[int(0.99 * (len(off) - 1))]:.2f} s, max {off[-1]:.2f} s; "
          f"{100 * wrong[1] / max(len(off), 1):.1f} % of {len(off):,} samples showed a position other than the "
          f"true one")
    print(f"time since the last push, the same samples: p50 {statistics.median(moving):.2f} s, "
          f"p99 {moving[int(0.99 * (len(moving) - 1))]:.2f} s, max {moving[-1]:.2f} s; "
          f"{closed:,} sockets closed by the server")
    await http.close()
    await redis.aclose()


def _commit(tree: Path) -> str:
    done = subprocess.run(["git", "-C", str(tree), "log", "-1", "--format=%h %s"], capture_output=True, text=True)
    return done.stdout.strip()[:80] or "?"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sockets", type=int, default=20_000)
    parser.add_argument("--capacity", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--clients", type=int, default=2, help="client processes (each holds a share)")
    parser.add_argument("--server-tree", type=Path, default=ROOT, help="the checkout whose ticketd serves")
    args = parser.parse_args()
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = args.sockets + FILES_BESIDE_SOCKETS    # inherited by the server
    if hard < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))
        except (ValueError, OSError):   # not root, or a container without CAP_SYS_RESOURCE
            args.sockets = hard - FILES_BESIDE_SOCKETS
            print(f"the hard limit of open files ({hard:,}) caps one process: {args.sockets:,} sockets")
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    else:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    base = Path(tempfile.mkdtemp(prefix="queue-push-bench-"))
    with embedded.postgres(base / "pg") as database_url, \
            embedded.redis(base / "redis", persist=False) as redis_url:
        port = embedded.free_port()
        env = {**os.environ, "TICKETD_DATABASE_URL": database_url, "TICKETD_REDIS_URL": redis_url,
               "TICKETD_SECRET": SECRET, "TICKETD_RATE_LIMITS": "off",
               "TICKETD_QUEUE_ABANDON_SECONDS": "3600", "PYTHONPATH": str(args.server_tree.resolve())}
        log = Path(tempfile.mkstemp(prefix="queue-push-bench-", suffix=".log")[1])
        server = subprocess.Popen(["taskset", "-c", "0", sys.executable, "-m", "ticketd", "serve",
                                   "--port", str(port)], env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
                                  cwd=tempfile.gettempdir())
        try:
            url = f"http://127.0.0.1:{port}"
            wait_ready(url, server, log)
            os.sched_setaffinity(0, {1})
            try:
                import uvloop
                uvloop.run(bench(args, redis_url, url, server.pid))
            except ImportError:
                asyncio.run(bench(args, redis_url, url, server.pid))
        finally:
            server.terminate()
            server.wait(20)


if __name__ == "__main__":
    main()
