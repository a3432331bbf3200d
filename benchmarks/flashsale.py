"""The flash sale, end to end: 20,000 fans arrive within a second for 2,000 tickets and a
500-seat section, and the PostgreSQL ceiling the sale is measured against.

It starts throwaway PostgreSQL and Redis (the embedded servers' wheels), ``ticketd serve
--workers 2`` on 127.0.0.1 with the abuse limits off, an event with 2,000 general admission
tickets and a 500-seat section (capacity 500, the queue on), and then:

1. the ceiling: ``pgbench`` (PostgreSQL's own, from the pgserver wheel) hammering one hot
   row (``UPDATE … SET available = available - 1 WHERE id = 1 AND available > 0``) with 8
   and with 50 clients, against the same PostgreSQL, before the sale (nothing else runs);
2. the sale: ``ticketd loadtest`` with the fans in a spike (bulk accounts, a ``queue:``
   socket each, hold and confirm after admission with the tool's default think and pay
   times), while this process samples the server's CPU and memory (every worker, from
   /proc) once a second.

It prints the figures (time from the first arrival to sold out, admissions/s, purchases/s,
queue wait p50/p99, purchase p50/p99, push p99, server CPU and memory, oversold) and
ticketd's purchases/s as a share of the hot-row ceiling. Everything shares this machine:
the tool, the workers, PostgreSQL and Redis. Exit status: the load test's.

    .venv/bin/python benchmarks/flashsale.py [--fans 20000] [--workers 2] [--report FILE.html]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from serving import wait_ready  # noqa: E402
from ticketd import embedded  # noqa: E402

SECRET = "flashsale-bench-secret"
ADMIN = ("flash-admin@example.com", "flash-admin-password")
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
HOT_ROW = "UPDATE hot SET available = available - 1 WHERE id = 1 AND available > 0;\n"


def event_body(capacity: int) -> dict:
    return {"name": "Flash Sale", "venue": "Arena", "startsAt": "2030-06-01T19:00:00Z",
            "ticketTypes": [{"name": "Standing", "price": 55, "quantity": 2000, "maxPerOrder": 4},
                            {"name": "Seated", "price": 88, "maxPerOrder": 4}],
            "seating": {"sections": [{"name": "A", "rows": 20, "seatsPerRow": 25, "ticketType": "Seated"}]},
            "queue": {"mode": "on", "capacity": capacity, "sessionSeconds": 600}}


# ---- the ceiling ------------------------------------------------------------------------------

def pgbench_ceiling(database_url: str, clients: int, seconds: int) -> float:
    """Transactions per second of the hot-row update with ``clients`` connections."""
    import pgserver

    url = urllib.parse.urlsplit(database_url)
    host = urllib.parse.parse_qs(url.query).get("host", [url.hostname or "127.0.0.1"])[0]
    conn = ["-h", host, "-U", url.username or "postgres"] + (["-p", str(url.port)] if url.port else [])
    script = Path(tempfile.mkstemp(prefix="hot-row-", suffix=".sql")[1])
    script.write_text(HOT_ROW)
    out = pgserver.pgbench([*conn, "-n", "-c", str(clients), "-j", "2", "-T", str(seconds), "-f", str(script),
                            "hotrow"])
    script.unlink()
    match = re.search(r"tps = ([\d.]+)", out)
    if not match:
        raise RuntimeError(f"pgbench said:\n{out}")
    return float(match.group(1))


def prepare_hot_row(database_url: str) -> None:
    import psycopg2

    conn = psycopg2.connect(database_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS hotrow")
        cur.execute("CREATE DATABASE hotrow")
    conn.close()
    conn = psycopg2.connect(database_url.replace("/postgres?", "/hotrow?"))
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE hot (id int PRIMARY KEY, available bigint NOT NULL CHECK (available >= 0))")
        cur.execute("INSERT INTO hot VALUES (1, 1000000000)")
    conn.close()


# ---- the server -------------------------------------------------------------------------------

class Sampler(threading.Thread):
    """Once a second: the CPU time and resident memory of the server's processes."""

    def __init__(self, parent: int):
        super().__init__(daemon=True)
        self.parent = parent
        self.samples: list[tuple[float, float, int]] = []     # (time, cpu seconds, rss bytes)
        self.stopping = threading.Event()

    def processes(self) -> list[int]:
        kids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                if int(stat.read_text().rpartition(")")[2].split()[1]) == self.parent:
                    kids.append(int(stat.parent.name))
            except (FileNotFoundError, ProcessLookupError, ValueError):
                continue
        return [self.parent, *kids]

    def read(self) -> tuple[float, int]:
        cpu, rss = 0.0, 0
        for pid in self.processes():
            try:
                stat = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            except FileNotFoundError:
                continue
            cpu += (int(stat[11]) + int(stat[12])) / TICKS
            rss += int(stat[21]) * PAGE
        return cpu, rss

    def run(self) -> None:
        while not self.stopping.is_set():
            self.samples.append((time.monotonic(), *self.read()))
            self.stopping.wait(1.0)

    def summary(self, start: float, end: float) -> dict:
        inside = [s for s in self.samples if start <= s[0] <= end] or self.samples[-2:]
        busy = [(b[1] - a[1]) / (b[0] - a[0]) for a, b in zip(inside, inside[1:]) if b[0] > a[0]]
        return {"cpuMean": (inside[-1][1] - inside[0][1]) / max(inside[-1][0] - inside[0][0], 1e-9),
                "cpuPeak": max(busy, default=0.0), "rssPeak": max(s[2] for s in inside),
                "workers": len(self.processes()) - 1}


def call(url: str, path: str, body: dict | None = None, token: str | None = None) -> dict:
    request = urllib.request.Request(url + path, data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {token}"} if token else {})})
    with urllib.request.urlopen(request, timeout=30) as resp:
        return json.loads(resp.read())


def raise_file_limit() -> None:
    """The soft limit up to the hard one, for the workers (ticketd loadtest lifts its own)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fans", type=int, default=20_000)
    parser.add_argument("--workers", default="2")
    parser.add_argument("--capacity", type=int, default=500)
    parser.add_argument("--pgbench-seconds", type=int, default=10)
    parser.add_argument("--report", type=Path, help="the load test's HTML report")
    parser.add_argument("loadtest_args", nargs="*", help="more options for ticketd loadtest (after --)")
    args = parser.parse_args()
    raise_file_limit()

    base = Path(tempfile.mkdtemp(prefix="flashsale-"))
    with embedded.postgres(base / "pg") as database_url, embedded.redis(base / "redis", persist=False) as redis_url:
        prepare_hot_row(database_url)
        ceiling = {clients: pgbench_ceiling(database_url, clients, args.pgbench_seconds) for clients in (8, 50)}
        for clients, tps in ceiling.items():
            print(f"hot-row ceiling, pgbench, {clients} clients: {tps:,.0f} updates/s", flush=True)

        env = {**os.environ, "TICKETD_DATABASE_URL": database_url, "TICKETD_REDIS_URL": redis_url,
               "TICKETD_SECRET": SECRET, "TICKETD_RATE_LIMITS": "off", "PYTHONPATH": str(ROOT)}
        ticketd = [sys.executable, "-m", "ticketd"]
        subprocess.run([*ticketd, "migrate"], env=env, check=True, cwd=tempfile.gettempdir(),
                       stdout=subprocess.DEVNULL)
        subprocess.run([*ticketd, "create-admin", ADMIN[0], "--password", ADMIN[1]], env=env, check=True,
                       cwd=tempfile.gettempdir(), stdout=subprocess.DEVNULL)
        port = embedded.free_port()
        url = f"http://127.0.0.1:{port}"
        log = Path(tempfile.mkstemp(prefix="flashsale-ticketd-", suffix=".log")[1])
        server = subprocess.Popen([*ticketd, "serve", "--port", str(port), "--workers", args.workers], env=env,
                                  stdout=log.open("ab"), stderr=subprocess.STDOUT, cwd=tempfile.gettempdir())
        sampler = Sampler(server.pid)
        try:
            wait_ready(url, server, log)
            token = call(url, "/api/auth/login", {"email": ADMIN[0], "password": ADMIN[1]})["token"]
            event = call(url, "/api/events", event_body(args.capacity), token)["event"]
            stock = 2000 + 500
            print(f"ticketd --workers {args.workers} on {url}: event {event['id']}, {stock:,} tickets "
                  f"(2,000 standing, 500 seats), capacity {args.capacity}; {args.fans:,} fans in a spike", flush=True)
            sampler.start()
            report = args.report or base / "report.html"
            started = time.monotonic()
            run = subprocess.run([*ticketd, "loadtest", "--url", url, "--event", event["id"], "--fans", str(args.fans),
                                  "--arrival", "spike", "--admin-email", ADMIN[0], "--admin-password", ADMIN[1],
                                  "--report", str(report), "--json", *args.loadtest_args],
                                 env={**env, "TERM": "dumb"}, cwd=tempfile.gettempdir(), stdout=subprocess.PIPE,
                                 stderr=sys.stderr, text=True)
            ended = time.monotonic()
            sampler.stopping.set()
            sampler.join()
            summary = json.loads(run.stdout.strip().splitlines()[-1])
            server_use = sampler.summary(started, ended)
        finally:
            server.terminate()
            server.wait(30)

    best = max(ceiling.values())
    q, p, push = summary["queueWaitSeconds"], summary["purchaseMs"], summary["pushMs"]
    rows = [
        ("fans / tickets", f"{summary['fans']:,} fans, {summary['stock']:,} tickets; sold {summary['sold']:,} "
                           f"in {summary['purchases']:,} purchases"),
        ("first arrival to sold out", f"{summary['soldOutSeconds']} s"),
        ("admissions/s", f"{summary['admissionsPerSecond']:,} (peak {summary['peakAdmissionsPerSecond']:,})"),
        ("purchases/s", f"{summary['purchasesPerSecond']:,} from the first arrival, "
                        f"{summary['sellingPurchasesPerSecond']:,} while selling "
                        f"(peak {summary['peakPurchasesPerSecond']:,} in one second)"),
        ("queue wait p50 / p99", f"{q['p50']} / {q['p99']} s"),
        ("purchase p50 / p99", f"{p['p50']} / {p['p99']} ms"),
        ("push p99", f"{push['p99']} ms ({push.get('samples', 0):,} samples)"),
        ("server CPU", f"{100 * server_use['cpuMean']:.0f} % of a core on average, "
                       f"{100 * server_use['cpuPeak']:.0f} % at peak ({server_use['workers']} workers)"),
        ("server memory", f"{server_use['rssPeak'] / 2**20:,.0f} MB resident at peak (all workers)"),
        ("oversold", f"{summary['oversold']}"),
        ("errors", ", ".join(f"{k} {v}" for k, v in summary["errors"].items()) or "none"),
        ("queue sockets", f"{summary['socketsRefused']:,} openings refused at the tool's open-files limit "
                          "(those fans polled their status instead)"),
        ("hot-row ceiling (pgbench)", ", ".join(f"{c} clients {t:,.0f}/s" for c, t in ceiling.items())),
        ("purchases/s vs ceiling", f"{summary['sellingPurchasesPerSecond'] / best:.3f}x while selling, "
                                   f"{summary['peakPurchasesPerSecond'] / best:.3f}x at the peak second, "
                                   f"{summary['purchasesPerSecond'] / best:.3f}x from the first arrival; "
                                   f"of {best:,.0f}/s"),
    ]
    width = max(len(k) for k, _ in rows)
    print()
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    print(f"tool: {summary['toolCpuSeconds']} s CPU, {summary['toolMaxRssMB']} MB, loop lag p99 "
          f"{summary['toolLoopLagMs'].get('p99')} ms; report: {report}")
    for warning in summary.get("warnings", []):
        print(f"warning: {warning}")
    sys.exit(run.returncode)


if __name__ == "__main__":
    main()
