"""A gated site for the tests: a tiny shop behind a real nginx (Debian's package) running the
shipped deploy/gate.nginx.conf, in front of a real ticketd whose event, of capacity 1, is the
shop's waiting room. Shared by tests/test_gate_nginx.py (HTTP) and tests/test_browser.py
(Chromium).

Use it as the ``site`` fixture (import it into the test module). It runs against the
``gate_ticketd`` fixture: a ticketd process of its own unless the module defines another.
Without nginx the tests that use it are skipped, unless CI is set (``.ci/run`` installs it).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg2
import pytest
import redis as redis_sync

from ticketd.embedded import free_port, wait_for_port

from helpers import TEST_SECRET, USER_PASSWORD, queue_event
from servers import ROOT

CONFIG = ROOT / "deploy" / "gate.nginx.conf"
_admins = itertools.count(1)


def find_nginx() -> str:
    found = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.path.exists(p)), None)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("nginx is missing (CI is set, so the gate tests must run)", pytrace=False)
        pytest.skip("nginx is not installed; `apt-get install nginx` to run the gate tests")
    return found


class Nginx:
    """nginx with the shipped gate config, its upstreams and event pointed at the tests'."""

    def __init__(self, binary: str, shop_port: int, ticketd_port: int, event_id: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.dir = Path(tempfile.mkdtemp(prefix="ticketd-nginx-"))
        site = (CONFIG.read_text()
                .replace("server shop:8000;", f"server 127.0.0.1:{shop_port};")
                .replace("server ticketd:8080;", f"server 127.0.0.1:{ticketd_port};")
                .replace("listen 8080;", f"listen 127.0.0.1:{self.port};")
                .replace("set $gate_event 1;", f"set $gate_event {event_id};"))
        assert site.count("127.0.0.1") == 3, "deploy/gate.nginx.conf no longer has the expected lines"
        (self.dir / "gate.conf").write_text(site)
        d = self.dir
        (d / "nginx.conf").write_text(f"""
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{}}
http {{
  access_log {d}/access.log;
  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  include {d}/gate.conf;
}}
""")
        self.process = subprocess.Popen([binary, "-p", str(d), "-c", str(d / "nginx.conf"), "-g", "daemon off;"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_for_port(self.port, self.process)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)

    def log(self) -> str:
        return (self.dir / "error.log").read_text(errors="replace")[-3000:]


class Shop:
    """The site behind the gate, in a thread of its own (it must answer while a test's code
    blocks, as a browser test's does): every request gets ``the shop: {path}`` as plain text,
    and its path is recorded in ``hits``."""

    def __init__(self):
        self.hits: list[str] = []
        shop = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"      # nginx keeps its upstream connections

            def answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                shop.hits.append(self.path)
                body = f"the shop: {self.path}".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = answer

            def log_message(self, *args):   # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, name="shop", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


@dataclasses.dataclass
class Site:
    nginx: Nginx
    event_id: str
    shop: Shop
    ticketd_url: str
    admin_token: str

    @property
    def url(self) -> str:
        return self.nginx.url

    @property
    def hits(self) -> list[str]:
        return self.shop.hits


def _call(base: str, method: str, path: str, token: str | None = None, body=None, expect: int = 200):
    request = urllib.request.Request(base + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {token}"} if token else {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    assert status == expect, (method, path, status, raw[:300])
    return json.loads(raw) if raw else None


call = _call  # for the tests: (base, method, path, token=None, body=None, expect=200) -> JSON or None


async def mint_admission_token(database_url: str, event_id, shopper: str, ends_ms: int,
                               session_seconds: int = 600) -> str:
    """An admission token exactly as ticketd signs one (its own code, with the signing key it
    keeps in ``database_url``, decrypted with the tests' TICKETD_SECRET) for an admission of
    ``shopper`` that ends at ``ends_ms``, which may be long past: a real, expired, ticketd-signed
    token, without waiting for an admission to run out."""
    from ticketd import db
    from ticketd.gate.keys import SigningKeys
    from ticketd.gate.tokens import AdmissionTokens

    pool = await db.create_pool(database_url, maxsize=1)
    try:
        keys = SigningKeys(pool, TEST_SECRET)
        await keys.load()
    finally:
        pool.close()
        await pool.wait_closed()
    token = AdmissionTokens(keys, "ticketd").issue(int(event_id), shopper, ends_ms, session_seconds)
    assert token is not None, "no signing key in the database"
    return token


def redis_now_ms(redis_url: str) -> int:
    """Redis's clock, the one admissions and their ends are judged by."""
    client = redis_sync.Redis.from_url(redis_url)
    try:
        seconds, micros = client.time()
    finally:
        client.close()
    return seconds * 1000 + micros // 1000


def make_admin(base: str, database_url: str) -> str:
    """An admin's token: registered like anyone, promoted in the database, signed in again."""
    email = f"gate-admin{next(_admins)}-{os.getpid()}@example.com"
    _call(base, "POST", "/api/auth/register", body={"email": email, "password": USER_PASSWORD, "name": "Gate"},
          expect=201)
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute("UPDATE users SET role = 'admin' WHERE email = %s", (email,))
    conn.close()
    return _call(base, "POST", "/api/auth/login", body={"email": email, "password": USER_PASSWORD})["token"]


@pytest.fixture
def gate_ticketd(ticketd_processes):
    """The ticketd behind the gate: it believes the proxy (the shipped config asks for that)."""
    return ticketd_processes(1, TICKETD_ADMISSION_INTERVAL=0.2, TICKETD_TRUSTED_PROXIES="127.0.0.1")[0]


@pytest.fixture
def site(gate_ticketd, database_url):
    """nginx in front of a shop, guarded by the waiting room of an event with capacity 1."""
    binary = find_nginx()
    admin = make_admin(gate_ticketd.url, database_url)
    event = _call(gate_ticketd.url, "POST", "/api/events", admin, expect=201, body={
        "name": "The shop's sale", "venue": "Online", "startsAt": "2027-01-01T20:00:00Z",
        "ticketTypes": [{"name": "Entry", "price": 30, "quantity": 100, "maxPerOrder": 10}],
        "queue": queue_event(capacity=1)})["event"]
    shop = Shop()
    try:
        nginx = Nginx(binary, shop.port, gate_ticketd.port, event["id"])
        try:
            yield Site(nginx, event["id"], shop, gate_ticketd.url, admin)
        finally:
            nginx.stop()
    finally:
        shop.stop()
