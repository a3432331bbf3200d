"""``ticketd loadtest`` run as a user runs it (``python -m ticketd loadtest …`` in a
subprocess) against a real ``ticketd serve``, and against a target that only fails."""

from __future__ import annotations

import asyncio
import datetime
import json
import random
import re
import secrets
import subprocess
import sys
import time
import urllib.request
from collections import Counter

from aiohttp import web

from ticketd.loadtest.proofofwork import POOL_BITS, Solver, solve_slice
from ticketd.waitingroom.toll import Toll, solves

from helpers import db_query
from servers import ROOT

ADMIN_EMAIL = "loadtest-admin@example.com"
ADMIN_PASSWORD = "loadtest-admin-password"
SUMMARY_KEYS = {"fans", "admitted", "sold", "oversold", "purchasesPerSecond", "queueWaitSeconds", "purchaseMs",
                "pushMs", "errors", "serverErrors", "elapsedSeconds", "soldOutSeconds", "admissionsPerSecond",
                "accountsPath"}


def _http(method: str, url: str, body=None, token: str | None = None) -> dict:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    with urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers, method=method),
                                timeout=30) as resp:
        return json.loads(resp.read())


def _loadtest_command(url: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "ticketd", "loadtest", "--url", url, *args]


def _last_json_line(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def test_small_crowd_sells_out_exactly_and_reports(ticketd_processes, database_url, tmp_path):
    (proc,) = ticketd_processes(1, TICKETD_RATE_LIMITS="off", TICKETD_ADMISSION_INTERVAL=0.5)
    subprocess.run([sys.executable, "-m", "ticketd", "create-admin", ADMIN_EMAIL, "--password", ADMIN_PASSWORD],
                   env=proc.env, cwd=tmp_path, check=True, capture_output=True, timeout=60)
    admin = _http("POST", proc.url + "/api/auth/login", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})["token"]
    event = _http("POST", proc.url + "/api/events", {
        "name": "Rehearsal Night", "venue": "Test Hall", "startsAt": "2027-01-01T20:00:00Z",
        "ticketTypes": [{"name": "GA", "price": 30, "quantity": 50, "maxPerOrder": 4}],
        "queue": {"mode": "on", "capacity": 20, "sessionSeconds": 120}}, admin)["event"]
    report = tmp_path / "report.html"

    done = subprocess.run(
        _loadtest_command(proc.url, "--event", event["id"], "--fans", "300", "--admin-email", ADMIN_EMAIL,
                          "--admin-password", ADMIN_PASSWORD, "--tickets-per-fan", "2", "--think", "0.1-0.5",
                          "--pay", "0-0.2", "--json", "--report", str(report)),
        cwd=ROOT, capture_output=True, text=True, timeout=300)

    assert done.returncode == 0, done.stderr[-4000:]
    summary = _last_json_line(done.stdout)
    assert SUMMARY_KEYS <= summary.keys()
    assert summary["fans"] == 300
    assert summary["sold"] == 50
    assert summary["oversold"] == 0
    assert summary["serverErrors"] == 0
    assert summary["done"] == 25 and summary["done"] + summary["gaveUp"] == 300
    assert 25 <= summary["admitted"] <= 300
    for key in ("queueWaitSeconds", "purchaseMs", "pushMs"):
        assert {"p50", "p99"} <= summary[key].keys()
        assert summary[key]["p50"] is not None and summary[key]["p50"] <= summary[key]["p99"]
    assert summary["soldOutSeconds"] is not None and summary["soldOutSeconds"] <= summary["elapsedSeconds"]
    # This server has no bulk route yet: the tool says it registered every fan instead.
    assert summary["accountsPath"] == "register"
    assert any("bulk" in note for note in summary["notes"])
    assert "TICKETD_RATE_LIMITS=off" in done.stderr

    # The database agrees: 25 confirmed reservations of 2, nothing else held.
    rows = db_query(database_url, "SELECT r.status, count(*), sum(i.quantity) FROM reservations r "
                                  "JOIN reservation_items i ON i.reservation_id = r.id "
                                  "WHERE r.event_id = %s GROUP BY r.status", (int(event["id"]),))
    assert rows == [("confirmed", 25, 50)]

    page = report.read_text()
    assert page.count("<svg") >= 4
    assert not re.search(r"https?://", page)
    assert not re.search(r"<script|<link|<img|@import|url\((?!#)", page)
    assert "Oversell check" in page and "Push latency" in page


def test_seated_crowd_gets_every_seat_once(ticketd_processes, database_url, tmp_path):
    (proc,) = ticketd_processes(1, TICKETD_RATE_LIMITS="off", TICKETD_ADMISSION_INTERVAL=0.5)
    subprocess.run([sys.executable, "-m", "ticketd", "create-admin", ADMIN_EMAIL, "--password", ADMIN_PASSWORD],
                   env=proc.env, cwd=tmp_path, check=True, capture_output=True, timeout=60)
    admin = _http("POST", proc.url + "/api/auth/login", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})["token"]
    event = _http("POST", proc.url + "/api/events", {
        "name": "Seated Night", "venue": "Test Hall", "startsAt": "2027-01-01T20:00:00Z",
        "ticketTypes": [{"name": "Stalls", "price": 60, "maxPerOrder": 4}],
        "seating": {"sections": [{"name": "A", "rows": 3, "seatsPerRow": 8, "ticketType": "Stalls"}]},
        "queue": {"mode": "on", "capacity": 10, "sessionSeconds": 120}}, admin)["event"]

    done = subprocess.run(
        _loadtest_command(proc.url, "--event", event["id"], "--fans", "60", "--admin-email", ADMIN_EMAIL,
                          "--admin-password", ADMIN_PASSWORD, "--think", "0-0.3", "--pay", "0", "--json"),
        cwd=ROOT, capture_output=True, text=True, timeout=300)

    assert done.returncode == 0, done.stderr[-4000:]
    summary = _last_json_line(done.stdout)
    assert summary["sold"] == 24 and summary["oversold"] == 0 and summary["oversell"]["duplicateSeats"] == 0
    seats = db_query(database_url, "SELECT s.status, count(*) FROM seats s WHERE s.event_id = %s GROUP BY 1",
                     (int(event["id"]),))
    assert seats == [("sold", 24)]
    owners = db_query(database_url, "SELECT count(*), count(DISTINCT seat) FROM reservations r, "
                                    "unnest(r.seat_ids) AS seat WHERE r.event_id = %s AND r.status = 'confirmed'",
                      (int(event["id"]),))
    assert owners == [(24, 24)]


async def test_the_tools_proof_of_work_is_the_one_the_server_accepts():
    toll = Toll("loadtest-secret")
    for bits in (0, 10, POOL_BITS):
        challenge, _ = toll.issue("u:42", 7, bits, int(time.time() * 1000))
        solver = Solver()
        await solver.start(bits)            # worker processes from POOL_BITS, the loop below it
        try:
            nonce = await solver.solve(challenge, bits)
        finally:
            solver.shutdown()
        assert toll.verify("u:42", 7, challenge, nonce) is not None
        # The first nonce that works, whichever way it was searched.
        assert solve_slice(challenge, bits, 0, int(nonce)) is None
        assert solver.solves == 1


async def test_a_target_that_answers_500_fails_the_run(aiohttp_server, tmp_path):
    async def broken(request: web.Request) -> web.Response:
        return web.json_response({"error": {"code": "internal_error", "message": "broken on purpose"}},
                                 status=500)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", broken)
    server = await aiohttp_server(app, host="127.0.0.1")
    proc = await asyncio.create_subprocess_exec(
        *_loadtest_command(f"http://127.0.0.1:{server.port}", "--event", "1", "--fans", "5", "--json"),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 120)

    assert proc.returncode == 1, stderr.decode()[-3000:]
    summary = _last_json_line(stdout.decode())
    assert summary["serverErrors"] >= 1
    assert summary["errors"].get("internal_error", 0) >= 1
    assert summary["exitCode"] == 1


class ContractTarget:
    """A small stand-in for the parts of CONTRACT.md this server does not have yet: the
    admin bulk account route, ``queue.challengeBits``, and an on-sale with ``saleStartsAt``
    (``closed``, then ``prequeue``, then queued and admitted by pushes on ``queue:``), with
    every queue socket closed as the sale starts."""

    def __init__(self, *, fans: int, stock: int, bits: int, capacity: int):
        self.fans, self.stock, self.available, self.bits, self.capacity = fans, stock, stock, bits, capacity
        # The pre-queue opens 0.5 s after every fan has been told "closed", the sale 1.5 s
        # later: until then each "closed" names an opening a second away.
        self.opens_at: float | None = None
        self.sale_at = time.time() + 3600
        self.told_closed: set[str] = set()
        self.users: dict[str, str] = {}            # token -> user id
        self.challenges: dict[str, str] = {}       # challenge -> user id (unused ones)
        self.solved: set[str] = set()               # users who paid the toll
        self.prequeue: list[str] = []
        self.prequeued: set[str] = set()
        self.queue: list[str] = []
        self.admitted: set[str] = set()
        self.checks = Counter()
        self.dropped = 0
        self.bulk_calls: list[dict] = []
        self.reservations: dict[str, dict] = {}
        self.sockets: dict[str, set] = {}          # user id -> queue sockets
        self.event_sockets: set = set()
        self.seq = Counter()
        self.app = web.Application()
        r = self.app.router
        r.add_get("/api/events/1", self.event)
        r.add_post("/api/auth/login", self.login)
        r.add_post("/api/admin/users/bulk", self.bulk)
        r.add_get("/api/admin/events/1/stats", self.stats)
        r.add_get("/api/queue/challenge/1", self.challenge)
        r.add_post("/api/queue/check/1", self.check)
        r.add_get("/api/queue/status/1", self.status)
        r.add_post("/api/queue/leave/1", self.leave)
        r.add_post("/api/reservations", self.reserve)
        r.add_post("/api/reservations/{id}/confirm", self.confirm)
        r.add_get("/api/reservations/{id}", self.get_reservation)
        r.add_get("/ws", self.ws)
        self.app.on_startup.append(self._start)
        self.app.on_cleanup.append(self._stop)

    @staticmethod
    def iso(epoch: float) -> str:
        return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).isoformat().replace("+00:00", "Z")

    @staticmethod
    def error(status: int, code: str, **details) -> web.Response:
        return web.json_response({"error": {"code": code, "message": code, "details": details}}, status=status)

    def who(self, request) -> str | None:
        return self.users.get(request.headers.get("Authorization", "").removeprefix("Bearer "))

    def event_view(self) -> dict:
        return {"id": "1", "name": "Contract Night", "hasSeats": False, "maxPerCustomer": None,
                "saleStartsAt": self.iso(self.sale_at),
                "ticketTypes": [{"id": "7", "name": "GA", "price": 10, "total": self.stock,
                                 "available": self.available, "maxPerOrder": 4}],
                "queue": {"mode": "on", "capacity": self.capacity, "sessionSeconds": 60, "active": True,
                          "admitPerMinute": None, "prequeueSeconds": 1.5,
                          "challengeBits": self.bits}}

    def own_status(self, user: str) -> dict:
        if user in self.admitted:
            return {"status": "admitted", "expiresAt": self.iso(time.time() + 60)}
        if user in self.prequeue:
            return {"status": "prequeue", "saleStartsAt": self.iso(self.sale_at),
                    "prequeueLength": len(self.prequeue)}
        if user in self.queue:
            i = self.queue.index(user)
            return {"status": "queued", "position": i + 1, "ahead": i, "queueLength": len(self.queue),
                    "estimatedWaitSeconds": 1}
        return {"status": "none"}

    async def push(self, sockets, room: str, name: str, data: dict) -> None:
        self.seq[room] += 1
        frame = json.dumps({"op": "event", "room": room, "event": name, "seq": self.seq[room], "data": data})
        for ws in list(sockets):
            if not ws.closed:
                await ws.send_str(frame)

    async def _start(self, app) -> None:
        self.ticker = asyncio.ensure_future(self._tick())

    async def _stop(self, app) -> None:
        self.ticker.cancel()

    async def _tick(self) -> None:
        """Every 0.2 s: at the start, the pre-queue in a random order ahead of the rest;
        then admit from the head while fewer than ``capacity`` shop."""
        started = False
        while True:
            await asyncio.sleep(0.2)
            if not started and time.time() >= self.sale_at:
                started = True
                random.shuffle(self.prequeue)
                self.queue[:0], self.prequeue = self.prequeue, []
                # The nastiest moment for an instance to go away: every queue socket is
                # closed (1001) as the sale starts; fans must reconnect and rejoin.
                for sockets in list(self.sockets.values()):
                    for ws in list(sockets):
                        self.dropped += 1
                        await ws.close(code=1001, message=b"going away")
            if not started:
                continue
            admitted_now = set()
            while self.queue and len(self.admitted) < self.capacity:
                user = self.queue.pop(0)
                self.admitted.add(user)
                admitted_now.add(user)
            if admitted_now:
                await self.push_queue(admitted_now)

    async def push_queue(self, admitted_now: set) -> None:
        """One push to the queue room: each member gets its own status (``queue-admitted``
        when it was just let in), all under the room's one next seq."""
        self.seq["queue:1"] += 1
        for user, sockets in self.sockets.items():
            if user in admitted_now:
                name, data = "queue-admitted", {"expiresAt": self.iso(time.time() + 60)}
            else:
                name, data = "queue-update", self.own_status(user)
            frame = json.dumps({"op": "event", "room": "queue:1", "event": name, "seq": self.seq["queue:1"],
                                "data": data})
            for ws in list(sockets):
                if not ws.closed:
                    await ws.send_str(frame)

    async def event(self, request):
        return web.json_response({"event": self.event_view()})

    async def login(self, request):
        body = await request.json()
        if body != {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}:
            return self.error(401, "unauthorized")
        self.users["admin-token"] = "admin"
        return web.json_response({"token": "admin-token", "user": {"id": "admin", "role": "admin"}})

    async def bulk(self, request):
        if self.who(request) != "admin":
            return self.error(403, "forbidden")
        body = await request.json()
        self.bulk_calls.append(body)
        if not 1 <= body["count"] <= 5000 or not body["prefix"].startswith("loadtest-"):
            return self.error(400, "validation_error")
        users = []
        for i in range(body["count"]):
            uid, token = f"{body['prefix']}-{i}", secrets.token_hex(8)
            self.users[token] = uid
            users.append({"id": uid, "email": f"{uid}@example.test", "token": token})
        return web.json_response({"users": users}, status=201)

    async def stats(self, request):
        return web.json_response({"queueLength": len(self.queue), "prequeueLength": len(self.prequeue),
                                  "activeUsers": len(self.admitted), "connections": 0})

    async def challenge(self, request):
        user = self.who(request)
        challenge = secrets.token_hex(8)
        self.challenges[challenge] = user
        return web.json_response({"challenge": challenge, "bits": self.bits,
                                  "expiresAt": self.iso(time.time() + 60)})

    async def check(self, request):
        user = self.who(request)
        self.checks[user] += 1
        if self.opens_at is None or time.time() < self.opens_at:
            self.told_closed.add(user)
            if self.opens_at is None and len(self.told_closed) == self.fans:
                self.opens_at = time.time() + 0.5
                self.sale_at = self.opens_at + 1.5
            opens_at = self.opens_at or time.time() + 1
            return web.json_response({"status": "closed", "opensAt": self.iso(opens_at),
                                      "saleStartsAt": self.iso(max(self.sale_at, opens_at + 1.5))})
        if self.own_status(user)["status"] == "none":
            body = await request.json() if request.can_read_body else {}
            challenge, nonce = body.get("challenge"), body.get("nonce")
            if self.challenges.pop(challenge, None) != user or not solves(challenge, str(nonce), self.bits):
                return self.error(403, "challenge_required", bits=self.bits)
            self.solved.add(user)
            if time.time() < self.sale_at:
                self.prequeue.append(user)
                self.prequeued.add(user)
            else:
                self.queue.append(user)
        return web.json_response(self.own_status(user))

    async def status(self, request):
        return web.json_response(self.own_status(self.who(request)))

    async def leave(self, request):
        user = self.who(request)
        self.admitted.discard(user)
        for line in (self.queue, self.prequeue):
            if user in line:
                line.remove(user)
        return web.Response(status=204)

    async def reserve(self, request):
        user = self.who(request)
        if time.time() < self.sale_at:
            return self.error(403, "sale_not_started", saleStartsAt=self.iso(self.sale_at))
        if user not in self.admitted:
            return self.error(403, "queue_required")
        body = await request.json()
        quantity = body["items"][0]["quantity"]
        if quantity > self.available:
            return self.error(409, "sold_out", ticketTypeId="7", available=self.available)
        self.available -= quantity
        rid = secrets.token_hex(8)
        self.reservations[rid] = {"id": rid, "eventId": "1", "status": "pending", "owner": user,
                                  "items": [{"ticketTypeId": "7", "quantity": quantity}], "seatIds": []}
        await self.push(self.event_sockets, "event:1", "tickets-batch-updated", {"7": self.available})
        return web.json_response({"reservation": self.reservations[rid]}, status=201)

    async def confirm(self, request):
        reservation = self.reservations[request.match_info["id"]]
        reservation["status"] = "confirmed"
        self.admitted.discard(reservation["owner"])
        return web.json_response({"reservation": reservation})

    async def get_reservation(self, request):
        return web.json_response({"reservation": self.reservations[request.match_info["id"]]})

    async def ws(self, request):
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        user = self.users.get(request.query.get("token", ""))
        async for msg in ws:
            frame = json.loads(msg.data)
            room, ref = frame.get("room"), frame.get("ref")
            if frame.get("op") == "join" and room == "queue:1" and user:
                self.sockets.setdefault(user, set()).add(ws)
                data = self.own_status(user)
            elif frame.get("op") == "join" and room == "event:1":
                self.event_sockets.add(ws)
                data = {"availability": {"7": self.available}}
            else:
                continue
            await ws.send_str(json.dumps({"op": "reply", "ref": ref, "ok": True, "room": room,
                                          "data": {**data, "seq": self.seq[room]}}))
        self.event_sockets.discard(ws)
        for sockets in self.sockets.values():
            sockets.discard(ws)
        return ws


async def test_bulk_accounts_proof_of_work_prequeue_and_reconnects_against_the_contract(aiohttp_server):
    target = ContractTarget(fans=30, stock=20, bits=10, capacity=4)
    server = await aiohttp_server(target.app, host="127.0.0.1")
    proc = await asyncio.create_subprocess_exec(
        *_loadtest_command(f"http://127.0.0.1:{server.port}", "--event", "1", "--fans", "30",
                           "--admin-email", ADMIN_EMAIL, "--admin-password", ADMIN_PASSWORD,
                           "--tickets-per-fan", "2", "--think", "0-0.1", "--pay", "0", "--json"),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 120)

    assert proc.returncode == 0, stderr.decode()[-3000:]
    summary = _last_json_line(stdout.decode())
    assert summary["accountsPath"] == "bulk"
    assert [c["count"] for c in target.bulk_calls] == [30]
    # Every fan waited out "closed", paid the toll, and was pre-queued before the start.
    fans = {u for u in target.users.values() if u != "admin"}
    assert len(fans) == 30 and target.told_closed == fans
    assert target.solved == fans == target.prequeued
    assert summary["powSolves"] >= 30
    assert summary["sold"] == 20 and summary["oversold"] == 0, json.dumps(summary)
    assert sum(r["items"][0]["quantity"] for r in target.reservations.values()
               if r["status"] == "confirmed") == 20
    assert summary["soldOutSeconds"] is not None
    assert summary["seqGaps"] == 0 and summary["pushMs"]["samples"] > 0
    assert target.dropped == 30 and summary["reconnects"] > 0   # those still waiting at the sell-out need not
