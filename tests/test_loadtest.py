"""``ticketd loadtest`` run as a user runs it (``python -m ticketd loadtest …`` in a
subprocess): against a real ``ticketd serve`` for everything the server does, and against
small stand-ins for what a real server cannot be made to do on demand (answer 500 to
everything, close every queue socket at once)."""

from __future__ import annotations

import asyncio
import datetime
import json
import re
import secrets
import subprocess
import sys
import time
import urllib.request

from aiohttp import web

from ticketd.loadtest.proofofwork import POOL_BITS, Solver, solve_slice
from ticketd.waitingroom.toll import Toll

from helpers import db_query
from servers import ROOT

ADMIN_EMAIL = "loadtest-admin@example.com"
ADMIN_PASSWORD = "loadtest-admin-password"
ADMIN_ARGS = ("--admin-email", ADMIN_EMAIL, "--admin-password", ADMIN_PASSWORD)
SUMMARY_KEYS = {"fans", "admitted", "sold", "oversold", "purchasesPerSecond", "queueWaitSeconds", "purchaseMs",
                "pushMs", "errors", "serverErrors", "elapsedSeconds", "soldOutSeconds", "admissionsPerSecond",
                "accountsPath", "waitedIn", "serverPeaks"}


def _http(method: str, url: str, body=None, token: str | None = None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    with urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers, method=method),
                                timeout=30) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


def _iso(seconds_from_now: float) -> str:
    moment = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds_from_now)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _loadtest_command(url: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "ticketd", "loadtest", "--url", url, *args]


def _last_json_line(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def _ticketd(ticketd_processes, tmp_path):
    """A real ticketd for a crowd from one machine, with an admin: (process, admin token)."""
    (proc,) = ticketd_processes(1, TICKETD_RATE_LIMITS="off", TICKETD_ADMISSION_INTERVAL=0.5)
    subprocess.run([sys.executable, "-m", "ticketd", "create-admin", ADMIN_EMAIL, "--password", ADMIN_PASSWORD],
                   env=proc.env, cwd=tmp_path, check=True, capture_output=True, timeout=60)
    admin = _http("POST", proc.url + "/api/auth/login", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})["token"]
    return proc, admin


def _event(proc, admin: str, name: str, ticket_types: list[dict], queue: dict, **fields) -> dict:
    return _http("POST", proc.url + "/api/events", {
        "name": name, "venue": "Test Hall", "startsAt": "2027-01-01T20:00:00Z", "ticketTypes": ticket_types,
        "queue": queue, **fields}, admin)["event"]


def _confirmed(database_url: str, event_id: str) -> list[tuple]:
    """(status, reservations, tickets) of the event's reservations, from the database."""
    return db_query(database_url, "SELECT r.status, count(*), sum(i.quantity) FROM reservations r "
                                  "JOIN reservation_items i ON i.reservation_id = r.id "
                                  "WHERE r.event_id = %s GROUP BY r.status", (int(event_id),))


def test_small_crowd_sells_out_exactly_and_reports(ticketd_processes, database_url, tmp_path):
    proc, admin = _ticketd(ticketd_processes, tmp_path)
    event = _event(proc, admin, "Rehearsal Night", [{"name": "GA", "price": 30, "quantity": 50, "maxPerOrder": 4}],
                   {"mode": "on", "capacity": 20, "sessionSeconds": 120})
    report = tmp_path / "report.html"

    done = subprocess.run(
        _loadtest_command(proc.url, "--event", event["id"], "--fans", "300", *ADMIN_ARGS, "--tickets-per-fan", "2",
                          "--think", "0.1-0.5", "--pay", "0-0.2", "--json", "--report", str(report)),
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
    # The accounts came from the admin bulk route, in one call, with no fallback.
    assert summary["accountsPath"] == "bulk"
    assert not any("register" in note for note in summary["notes"])
    assert db_query(database_url, "SELECT count(*) FROM users WHERE email LIKE %s",
                    (f"loadtest-{summary['runId']}-%@loadtest.invalid",)) == [(300,)]
    assert summary["powSolves"] == 0 and summary["serverStats"] is True
    assert "TICKETD_RATE_LIMITS=off" in done.stderr

    # The database agrees: 25 confirmed reservations of 2, nothing else held.
    assert _confirmed(database_url, event["id"]) == [("confirmed", 25, 50)]

    page = report.read_text()
    assert page.count("<svg") >= 4
    assert not re.search(r"https?://", page)
    assert not re.search(r"<script|<link|<img|@import|url\((?!#)", page)
    assert "Oversell check" in page and "Push latency" in page


def test_seated_crowd_gets_every_seat_once(ticketd_processes, database_url, tmp_path):
    proc, admin = _ticketd(ticketd_processes, tmp_path)
    event = _event(proc, admin, "Seated Night", [{"name": "Stalls", "price": 60, "maxPerOrder": 4}],
                   {"mode": "on", "capacity": 10, "sessionSeconds": 120},
                   seating={"sections": [{"name": "A", "rows": 3, "seatsPerRow": 8, "ticketType": "Stalls"}]})

    done = subprocess.run(
        _loadtest_command(proc.url, "--event", event["id"], "--fans", "60", *ADMIN_ARGS, "--think", "0-0.3",
                          "--pay", "0", "--json"),
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


def _until(probe, what: str, tool: subprocess.Popen, timeout: float = 120.0):
    """Poll ``probe()`` until it is truthy, while the tool runs."""
    deadline = time.monotonic() + timeout
    while not (value := probe()):
        assert tool.poll() is None, f"the tool ended (exit {tool.returncode}) before {what}"
        assert time.monotonic() < deadline, f"no {what} within {timeout:g} s"
        time.sleep(0.2)
    return value


def test_an_on_sale_with_a_toll_a_prequeue_and_the_draw(ticketd_processes, database_url, tmp_path):
    """On-sale day on a real ticketd: the event asks for an 8-bit toll; every fan is told
    "closed", waits in the pre-queue once it opens, and gets a place from the draw when the
    sale starts, a few seconds after that. The test moves the schedule itself (PATCH), each
    time once the server shows every fan where they should be: no step depends on how fast
    this machine happens to be today."""
    proc, admin = _ticketd(ticketd_processes, tmp_path)
    fans, push_sockets = 150, 20
    event = _event(proc, admin, "On-sale Day", [{"name": "GA", "price": 30, "quantity": 50, "maxPerOrder": 4}],
                   {"mode": "on", "capacity": 20, "sessionSeconds": 120, "challengeBits": 8,
                    "prequeueSeconds": 900}, saleStartsAt=_iso(3600))
    event_url = f"{proc.url}/api/events/{event['id']}"

    def stats():
        return _http("GET", f"{proc.url}/api/admin/events/{event['id']}/stats", token=admin)

    out, err = (tmp_path / "stdout").open("w+"), (tmp_path / "stderr").open("w+")
    tool = subprocess.Popen(
        _loadtest_command(proc.url, "--event", event["id"], "--fans", str(fans), *ADMIN_ARGS,
                          "--push-sockets", str(push_sockets), "--poll-seconds", "1", "--think", "0-0.1",
                          "--pay", "0", "--json"),
        cwd=ROOT, stdout=out, stderr=err, text=True)
    try:
        # Every fan on its queue socket (a fan joins before it checks in), and their checks
        # answered "closed" a moment later: then the pre-queue opens.
        _until(lambda: stats()["connections"] >= fans + push_sockets, "every fan on a socket", tool)
        time.sleep(3)
        _http("PATCH", event_url, {"saleStartsAt": _iso(600)}, admin)
        # Every fan paid the toll and is in the pre-queue, by the server's count: the sale
        # starts in a few seconds.
        _until(lambda: stats()["prequeueLength"] == fans, "every fan in the pre-queue", tool)
        _http("PATCH", event_url, {"saleStartsAt": _iso(3)}, admin)
        tool.wait(timeout=240)
    finally:
        if tool.poll() is None:
            tool.kill()
            tool.wait()
    out.seek(0), err.seek(0)
    stdout, stderr = out.read(), err.read()

    assert tool.returncode == 0, stderr[-4000:]
    summary = _last_json_line(stdout)
    assert summary["waitedIn"]["closed"] == fans and summary["waitedIn"]["prequeue"] == fans, summary["waitedIn"]
    assert summary["serverPeaks"]["prequeueLength"] == fans
    # One solve for the "closed" check, one to enter the pre-queue; the server never asked again.
    assert summary["powSolves"] >= 2 * fans
    assert "challenge_required" not in summary["errors"] and "sale_not_started" not in summary["errors"]
    assert summary["sold"] == 50 and summary["oversold"] == 0 and summary["serverErrors"] == 0
    assert summary["done"] == 25 and summary["done"] + summary["gaveUp"] == fans
    assert _confirmed(database_url, event["id"]) == [("confirmed", 25, 50)]


def test_visitors_pass_the_gate_and_buy_nothing(ticketd_processes, database_url, tmp_path):
    proc, admin = _ticketd(ticketd_processes, tmp_path)
    queue = {"mode": "on", "capacity": 15, "sessionSeconds": 60}
    # A gate event (nothing of its own to sell): the fans are visitors without being told.
    gate = _event(proc, admin, "Shop Gate", [{"name": "Entry", "price": 0, "quantity": 0}], queue)
    # --visitors in front of an event that does sell, with a toll that visitors pay too.
    shop = _event(proc, admin, "Shop Sale", [{"name": "GA", "price": 30, "quantity": 40}],
                  {**queue, "challengeBits": 8})
    runs = {}
    for event, fans, extra in ((gate, 60, ()), (shop, 30, ("--visitors",))):
        done = subprocess.run(
            _loadtest_command(proc.url, "--event", event["id"], "--fans", str(fans), *ADMIN_ARGS, *extra,
                              "--think", "0.1-0.4", "--json"),
            cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-4000:]
        runs[event["id"]] = summary = _last_json_line(done.stdout)
        assert summary["visitors"] is True and summary["accountsPath"] == "visitors"
        # Every visitor admitted, its admission token let through by verify, then gone.
        assert summary["admitted"] == summary["verified"] == summary["done"] == fans
        assert summary["verifyRefused"] == 0 and summary["verifyMs"]["p50"] is not None
        assert summary["verifyMs"]["p50"] <= summary["verifyMs"]["p99"]
        assert summary["errors"] == {} and summary["serverErrors"] == 0
        assert summary["sold"] == 0 and summary["oversold"] == 0 and summary["pushSockets"] == 0
    assert any("gate event" in note for note in runs[gate["id"]]["notes"])
    assert runs[shop["id"]]["powSolves"] >= 30
    assert runs[shop["id"]]["oversell"]["types"][0]["available"] == 40
    # Visitors are no accounts, and reserved nothing.
    assert db_query(database_url, "SELECT count(*) FROM users WHERE role = 'user'") == [(0,)]
    assert db_query(database_url, "SELECT count(*) FROM reservations WHERE event_id IN (%s, %s)",
                    (int(gate["id"]), int(shop["id"]))) == [(0,)]


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


class GoingAwayTarget:
    """A stand-in for what a real ticketd cannot be made to do on demand: once every fan
    waits in the queue, every queue socket is closed with 1001 at once (an instance going
    away), and only then are fans admitted, by pushes on the sockets they open again. The
    rest is the contract's shapes, as small as the tool needs them."""

    def __init__(self, *, fans: int, stock: int, capacity: int):
        self.fans, self.stock, self.available, self.capacity = fans, stock, stock, capacity
        self.tokens = {secrets.token_hex(8): f"fan-{i}" for i in range(fans)}    # token -> user id
        self.queue: list[str] = []
        self.admitted: set[str] = set()
        self.dropped = 0
        self.reservations: dict[str, dict] = {}
        self.queue_sockets: dict[str, dict] = {}   # user id -> {socket: the member's seq}
        self.event_sockets: set = set()
        self.event_seq = 0
        self.app = web.Application()
        r = self.app.router
        r.add_get("/api/events/1", self.event)
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
    def error(status: int, code: str, **details) -> web.Response:
        return web.json_response({"error": {"code": code, "message": code, "details": details}}, status=status)

    def who(self, request) -> str | None:
        return self.tokens.get(request.headers.get("Authorization", "").removeprefix("Bearer "))

    def own_status(self, user: str) -> dict:
        if user in self.admitted:
            return {"status": "admitted", "expiresAt": "2027-01-01T19:00:00Z"}
        if user in self.queue:
            i = self.queue.index(user)
            return {"status": "queued", "position": i + 1, "ahead": i, "queueLength": len(self.queue),
                    "estimatedWaitSeconds": 1}
        return {"status": "none"}

    async def _start(self, app) -> None:
        self.ticker = asyncio.ensure_future(self._tick())

    async def _stop(self, app) -> None:
        self.ticker.cancel()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(0.2)
            if not self.dropped:
                if len(self.queue) == self.fans:
                    for sockets in list(self.queue_sockets.values()):
                        for ws in list(sockets):
                            self.dropped += 1
                            await ws.close(code=1001, message=b"going away")
                continue
            while self.queue and len(self.admitted) < self.capacity:
                user = self.queue.pop(0)
                self.admitted.add(user)
                for ws, seq in list(self.queue_sockets.get(user, {}).items()):
                    self.queue_sockets[user][ws] = seq + 1
                    await ws.send_str(json.dumps({"op": "event", "room": "queue:1", "event": "queue-admitted",
                                                  "seq": seq + 1, "data": self.own_status(user)}))

    async def event(self, request):
        return web.json_response({"event": {
            "id": "1", "name": "Going Away Night", "hasSeats": False, "maxPerCustomer": None, "saleStartsAt": None,
            "ticketTypes": [{"id": "7", "name": "GA", "price": 10, "total": self.stock, "available": self.available,
                             "maxPerOrder": 4}],
            "queue": {"mode": "on", "capacity": self.capacity, "sessionSeconds": 60, "active": True,
                      "admitPerMinute": None, "prequeueSeconds": 900, "challengeBits": 0}}})

    async def check(self, request):
        user = self.who(request)
        if self.own_status(user)["status"] == "none":
            self.queue.append(user)
        return web.json_response(self.own_status(user))

    async def status(self, request):
        return web.json_response(self.own_status(self.who(request)))

    async def leave(self, request):
        user = self.who(request)
        self.admitted.discard(user)
        if user in self.queue:
            self.queue.remove(user)
        return web.Response(status=204)

    async def reserve(self, request):
        user = self.who(request)
        if user not in self.admitted:
            return self.error(403, "queue_required")
        quantity = (await request.json())["items"][0]["quantity"]
        if quantity > self.available:
            return self.error(409, "sold_out", ticketTypeId="7", available=self.available)
        self.available -= quantity
        rid = secrets.token_hex(8)
        self.reservations[rid] = {"id": rid, "eventId": "1", "status": "pending", "owner": user,
                                  "items": [{"ticketTypeId": "7", "quantity": quantity}], "seatIds": []}
        self.event_seq += 1
        frame = json.dumps({"op": "event", "room": "event:1", "event": "tickets-batch-updated",
                            "seq": self.event_seq, "data": {"7": self.available}})
        for ws in list(self.event_sockets):
            if not ws.closed:
                await ws.send_str(frame)
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
        user = self.tokens.get(request.query.get("token", ""))
        async for msg in ws:
            frame = json.loads(msg.data)
            room, ref = frame.get("room"), frame.get("ref")
            if frame.get("op") == "join" and room == "queue:1" and user:
                self.queue_sockets.setdefault(user, {})[ws] = 0     # a member's seq starts at 0
                data, seq = self.own_status(user), 0
            elif frame.get("op") == "join" and room == "event:1":
                self.event_sockets.add(ws)
                data, seq = {"availability": {"7": self.available}}, self.event_seq
            else:
                continue
            await ws.send_str(json.dumps({"op": "reply", "ref": ref, "ok": True, "room": room,
                                          "data": {**data, "seq": seq}}))
        self.event_sockets.discard(ws)
        for sockets in self.queue_sockets.values():
            sockets.pop(ws, None)
        return ws


async def test_every_queue_socket_closed_with_1001_mid_wait(aiohttp_server, tmp_path):
    target = GoingAwayTarget(fans=30, stock=20, capacity=4)
    server = await aiohttp_server(target.app, host="127.0.0.1")
    tokens = tmp_path / "tokens.txt"
    # Both line formats (TOKEN, or USERID TOKEN), a comment and a blank line.
    lines = ["# fans of the going-away night", ""] + [f"{user} {token}" if i % 2 else token
                                                    for i, (token, user) in enumerate(target.tokens.items())]
    tokens.write_text("\n".join(lines) + "\n")
    proc = await asyncio.create_subprocess_exec(
        *_loadtest_command(f"http://127.0.0.1:{server.port}", "--event", "1", "--fans", "30",
                           "--tokens", str(tokens), "--tickets-per-fan", "2", "--think", "0-0.1", "--pay", "0",
                           "--json"),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 120)

    assert proc.returncode == 0, stderr.decode()[-3000:]
    summary = _last_json_line(stdout.decode())
    assert summary["accountsPath"] == "file" and summary["fans"] == 30
    # Every fan was waiting when its socket went; each opened another and was still admitted.
    assert target.dropped == 30 and summary["reconnects"] >= 30
    assert summary["sold"] == 20 and summary["oversold"] == 0, json.dumps(summary)
    assert sum(r["items"][0]["quantity"] for r in target.reservations.values()
               if r["status"] == "confirmed") == 20
    assert summary["seqGaps"] == 0 and summary["pushMs"]["samples"] > 0
