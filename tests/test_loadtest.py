"""``ticketd loadtest`` run as a user runs it (``python -m ticketd loadtest …`` in a
subprocess) against a real ``ticketd serve``, and against a target that only fails."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import urllib.request

from aiohttp import web

from ticketd.loadtest import pow

from conftest import db_query
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


def test_proof_of_work_finds_the_first_nonce_with_enough_zero_bits():
    nonce = pow.solve("abc123", 12)
    assert pow.verify("abc123", nonce, 12)
    assert not any(pow.verify("abc123", str(n), 12) for n in range(int(nonce)))
    assert pow.leading_zero_bits(b"\x00\x0f" + b"\xff" * 30) == 12
    assert pow.solve("x", 0) == "0"


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
