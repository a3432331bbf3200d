"""The gate's verify endpoint under nginx-like load: one ticketd instance, 100 concurrent
keep-alive connections asking GET /api/queue/verify/{eventId} with a live admission's
token, as nginx's auth_request does for every request to the shop.

Throwaway PostgreSQL and Redis, one real ``ticketd serve`` pinned to core 0; the load comes
from wrk (Debian's package) on core 1, or, without wrk, from an aiohttp client.
It prints requests per second and latency p50/p99 (wrk's, or the client's).

    .venv/bin/python benchmarks/verify_bench.py [--seconds 10] [--connections 100]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from serving import wait_ready  # noqa: E402
from ticketd import embedded  # noqa: E402
from ticketd.auth import TokenSigner  # noqa: E402

SECRET = "bench-secret"
WRK_SCRIPT = """
wrk.headers["Authorization"] = "Bearer {token}"
done = function(summary, latency, requests)
  io.write(string.format("wrk: %d requests, %d non-2xx\\n", summary.requests, summary.errors.status))
  for _, p in ipairs({{50, 90, 99}}) do
    io.write(string.format("wrk latency p%d %.2f ms\\n", p, latency:percentile(p) / 1000))
  end
end
"""


async def admission(url: str) -> tuple[str, str]:
    signer = TokenSigner(SECRET, 3600)
    admin = signer.issue(1, "admin")
    async with aiohttp.ClientSession() as http:
        body = {"name": "Gate", "venue": "Shop", "startsAt": "2027-01-01T20:00:00Z",
                "ticketTypes": [{"name": "Entry", "price": 0, "quantity": 0}],
                "queue": {"mode": "on", "capacity": 100, "sessionSeconds": 3600}}
        async with http.post(f"{url}/api/events", json=body, headers={"Authorization": f"Bearer {admin}"}) as r:
            eid = (await r.json())["event"]["id"]
        async with http.post(f"{url}/api/visitors") as r:
            visitor = (await r.json())["token"]
        while True:
            async with http.post(f"{url}/api/queue/check/{eid}", headers={"Authorization": f"Bearer {visitor}"}) as r:
                answer = await r.json()
            if answer.get("admissionToken"):
                return eid, answer["admissionToken"]
            await asyncio.sleep(0.2)


async def client_load(url: str, eid: str, token: str, seconds: float, connections: int) -> None:
    latencies: list[float] = []
    codes: dict[int, int] = {}
    deadline = time.perf_counter() + seconds
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections)) as http:
        async def worker():
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                async with http.get(f"{url}/api/queue/verify/{eid}", headers={"Authorization": f"Bearer {token}"}) as r:
                    await r.read()
                    codes[r.status] = codes.get(r.status, 0) + 1
                latencies.append(time.perf_counter() - t0)
        await asyncio.gather(*[worker() for _ in range(connections)])
    latencies.sort()
    print(f"client: {len(latencies) / seconds:,.0f} requests/s, statuses {codes}, latency p50 "
          f"{1000 * statistics.median(latencies):.2f} ms, p99 {1000 * latencies[int(0.99 * len(latencies))]:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=100)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="verify-bench-"))
    with embedded.postgres(base / "pg") as database_url, embedded.redis(base / "redis", persist=False) as redis_url:
        port = embedded.free_port()
        env = {**os.environ, "TICKETD_DATABASE_URL": database_url, "TICKETD_REDIS_URL": redis_url,
               "TICKETD_SECRET": SECRET, "TICKETD_RATE_LIMITS": "off", "PYTHONPATH": str(ROOT)}
        server = subprocess.Popen(["taskset", "-c", "0", sys.executable, "-m", "ticketd", "serve", "--port", str(port)],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_ready(url, server)
            eid, token = asyncio.run(admission(url))
            cpu0 = _cpu(server.pid)
            if shutil.which("wrk"):
                script = base / "verify.lua"
                script.write_text(WRK_SCRIPT.format(token=token))
                done = subprocess.run(["taskset", "-c", "1", "wrk", "-t1", f"-c{args.connections}",
                                       f"-d{int(args.seconds)}s", "-s", str(script), f"{url}/api/queue/verify/{eid}"],
                                      capture_output=True, text=True)
                print(done.stdout.strip())
            else:
                os.sched_setaffinity(0, {1})
                asyncio.run(client_load(url, eid, token, args.seconds, args.connections))
            print(f"server CPU over the run: {100 * (_cpu(server.pid) - cpu0) / args.seconds:.0f} % of a core")
        finally:
            server.terminate()
            server.wait(20)


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    main()
