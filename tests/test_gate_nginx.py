"""The gate through a real nginx (Debian's package), with the shipped deploy/gate.nginx.conf:
a tiny shop upstream, a real ticketd, and nginx's auth_request in front of the shop.

Without nginx these tests are skipped, unless CI is set (``.ci/run`` installs it)."""

from __future__ import annotations

import http.client
import subprocess
import tempfile
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import aiohttp
import jwt

from gate_site import (CONFIG, Nginx, find_nginx, gate_ticketd, mint_admission_token,  # noqa: F401 (fixtures)
                       redis_now_ms, site)
from helpers import queue_event, until
from wsclient import connect


async def _visitor(http, base) -> str:
    async with http.post(f"{base}/api/visitors") as resp:
        assert resp.status == 201, await resp.text()
        return (await resp.json())["token"]


async def _check(http, base, eid, token) -> dict:
    async with http.post(f"{base}/api/queue/check/{eid}", headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def _get(http, url, cookie: str | None = None, eid: str | None = None):
    headers = {"Cookie": f"ticketd_admission_{eid}={cookie}"} if cookie else {}
    async with http.get(url, headers=headers, allow_redirects=False) as resp:
        return resp.status, resp.headers.get("Location"), await resp.text()


async def test_only_admitted_visitors_reach_the_shop(site):
    nginx, eid, hits = site.nginx, site.event_id, site.hits
    base = nginx.url
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        # No cookie: sent to the gate, with the way back encoded; the shop never sees it.
        code, location, _ = await _get(http, f"{base}/products?id=7&color=red")
        assert code == 302 and hits == [], nginx.log()
        path, _, query = location.partition("?")
        assert path == f"/gate/{eid}" and urllib.parse.parse_qs(query) == {"return": ["/products?id=7&color=red"]}
        code, _, page = await _get(http, base + location)
        assert code == 200 and "<html" in page

        # Two visitors through nginx; capacity 1: the first is let in, the second waits.
        first, second = await _visitor(http, base), await _visitor(http, base)
        answer = await until(lambda: _admitted_answer(http, base, eid, first))
        assert (await _check(http, base, eid, second))["status"] == "queued"
        second_ws = await connect(http, f"ws://127.0.0.1:{nginx.port}/ws?token={second}")  # through nginx
        assert (await second_ws.join(f"queue:{eid}"))["status"] == "queued"

        # The gate page trades the token for the cookie, and the shop answers through nginx.
        async with http.post(f"{base}/api/gate/{eid}/pass",
                             json={"admissionToken": answer["admissionToken"], "return": "/products?id=7&color=red"}) as resp:
            assert resp.status == 200 and (await resp.json())["redirect"] == "/products?id=7&color=red"
            cookie = resp.cookies[f"ticketd_admission_{eid}"].value
        code, _, body = await _get(http, f"{base}/products?id=7&color=red", cookie, eid)
        assert code == 200 and body == "the shop: /products?id=7&color=red"
        assert hits == ["/products?id=7&color=red"]
        code, _, _ = await _get(http, f"{base}/products")  # the second visitor: not yet
        assert code == 302

        # Forged, expired and other-event tokens never reach the shop.
        head, payload, signature = cookie.split(".")
        for bad in (f"{head}.{payload}.{signature[:-6]}AAAAAA",
                    jwt.encode({"sub": "v:x", "aud": f"ticketd:event:{eid}", "exp": 1}, "k" * 32, algorithm="HS256"),
                    "not-a-token"):
            code, location, _ = await _get(http, f"{base}/checkout", bad, eid)
            assert code == 302 and location.startswith(f"/gate/{eid}?")
        assert hits == ["/products?id=7&color=red"]

        # Leaving ends it: the next request goes back to the gate, and the next in line is told.
        async with http.post(f"{base}/api/queue/leave/{eid}", headers={"Authorization": f"Bearer {first}"}) as resp:
            assert resp.status == 204
        code, location, _ = await _get(http, f"{base}/products", cookie, eid)
        assert code == 302 and location.startswith(f"/gate/{eid}?")
        assert hits == ["/products?id=7&color=red"]
        admitted = await second_ws.push("queue-admitted", room=f"queue:{eid}", timeout=10)
        token = admitted["data"]["admissionToken"]
        async with http.post(f"{base}/api/gate/{eid}/pass", json={"admissionToken": token, "return": "/"}) as resp:
            second_cookie = resp.cookies[f"ticketd_admission_{eid}"].value
        code, _, body = await _get(http, f"{base}/", second_cookie, eid)
        assert code == 200 and body == "the shop: /"
        await second_ws.close()


async def test_expired_admissions_never_reach_the_shop(site, database_url, redis_url):
    """Real ticketd-signed tokens (ticketd's own code and key) whose admission is over: one
    that ended half a minute ago (verify: 403) and one that ended two minutes ago (verify:
    401). nginx sends each to the gate; the shop never sees them. (An admission running out
    for real, 10 s at the shortest, is verify's own test in test_gate.py.)"""
    nginx, eid, hits = site.nginx, site.event_id, site.hits
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        visitor = await _visitor(http, nginx.url)
        answer = await until(lambda: _admitted_answer(http, nginx.url, eid, visitor))
        async with http.post(f"{nginx.url}/api/gate/{eid}/pass",
                             json={"admissionToken": answer["admissionToken"], "return": "/products"}) as resp:
            assert resp.status == 200
            cookie = resp.cookies[f"ticketd_admission_{eid}"].value
        code, _, body = await _get(http, f"{nginx.url}/products", cookie, eid)
        assert code == 200 and hits == ["/products"]

        shopper = jwt.decode(cookie, options={"verify_signature": False})["sub"]
        now = redis_now_ms(redis_url)
        tokens = {"ended 30 s ago": (await mint_admission_token(database_url, eid, shopper, (now - 30_000) // 1000 * 1000), 403),
                  "ended 2 min ago": (await mint_admission_token(database_url, eid, shopper, (now - 120_000) // 1000 * 1000), 401)}
        for name, (token, answer_of_verify) in tokens.items():
            assert jwt.get_unverified_header(token)["kid"] == jwt.get_unverified_header(cookie)["kid"], name
            async with http.get(f"{site.ticketd_url}/api/queue/verify/{eid}", headers={"Authorization": f"Bearer {token}"}) as r:
                assert r.status == answer_of_verify, (name, await r.text())
            for path in ("/products", "/checkout"):
                code, location, _ = await _get(http, f"{nginx.url}{path}", token, eid)
                assert code == 302 and location.startswith(f"/gate/{eid}?"), (name, code, location)
        assert hits == ["/products"], nginx.log()


async def test_a_token_for_another_event_is_turned_away(site, api, admin_token):
    nginx, eid, hits = site.nginx, site.event_id, site.hits
    other = (await api.create_event(admin_token, queue=queue_event(capacity=5)))["id"]
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        visitor = await _visitor(http, nginx.url)
        answer = await until(lambda: _admitted_answer(http, nginx.url, other, visitor))
        code, _, _ = await _get(http, f"{nginx.url}/", answer["admissionToken"], eid)
        assert code == 302 and hits == []


async def _admitted_answer(http, base, eid, token):
    answer = await _check(http, base, eid, token)
    return answer if answer["status"] == "admitted" else None


def test_the_shipped_config_is_what_nginx_accepts():
    binary = find_nginx()
    d = Path(tempfile.mkdtemp(prefix="ticketd-nginx-t-"))
    # The shipped names (shop, ticketd) must resolve for -t: point them at loopback.
    (d / "gate.conf").write_text(CONFIG.read_text().replace("shop:8000", "127.0.0.1:9")
                                 .replace("ticketd:8080", "127.0.0.1:9"))
    (d / "nginx.conf").write_text(f"pid {d}/nginx.pid; error_log {d}/error.log; events {{}} "
                                  f"http {{ proxy_temp_path {d}/p; client_body_temp_path {d}/b; "
                                  f"include {d}/gate.conf; }}")
    done = subprocess.run([binary, "-t", "-p", str(d), "-c", str(d / "nginx.conf")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


class _Recorder:
    """One upstream playing both the shop and ticketd: records what nginx forwards; verify
    answers 204 only for the cookie "in=1", and everything else 204 too (no body)."""

    def __init__(self):
        self.seen: list[dict] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                recorder.seen.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
                turned_away = self.path.startswith("/api/queue/verify/") and "in=1" not in self.headers.get("Cookie", "")
                location = self.path.startswith("/gate/1/enter")
                self.send_response(401 if turned_away else 302 if location else 204)
                if location:
                    self.send_header("Location", "/gate/1?return=%2F")
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_ticketd_and_the_shop_are_told_the_visitors_host_address_and_scheme():
    """Every location of the shipped config passes the visitor's Host, X-Forwarded-For and
    X-Forwarded-Proto on (the socket's origin check, the per-visitor limits and the Secure
    cookie need them at ticketd; the shop needs its own Host), and keeps upstream connections
    alive; the verify subrequest carries the cookie but no body, nor a length."""
    binary = find_nginx()
    upstream = _Recorder()
    nginx = Nginx(binary, upstream.port, upstream.port, "1")
    try:
        host = f"127.0.0.1:{nginx.port}"
        requests = [("GET", "/gate/1?return=%2F", {}, None), ("GET", "/api/events", {}, None),
                    ("GET", "/static/app.js", {}, None), ("GET", "/.well-known/jwks.json", {}, None),
                    ("GET", "/ws", {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
                                    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}, None),
                    ("POST", "/cart", {"Cookie": "in=1", "Content-Type": "text/plain"}, b"two apples"),
                    ("GET", "/products?id=7", {}, None)]           # no cookie: to the gate
        for method, path, headers, body in requests:
            conn = http.client.HTTPConnection("127.0.0.1", nginx.port, timeout=10)
            conn.request(method, path, body=body, headers={"Host": host, **headers})
            conn.getresponse().read()
            conn.close()
        by_path = {r["path"].split("?")[0] if r["path"].startswith("/gate/1/enter") else r["path"]: r
                   for r in upstream.seen}
        assert set(by_path) == {"/gate/1?return=%2F", "/api/events", "/static/app.js", "/.well-known/jwks.json",
                                "/ws", "/api/queue/verify/1", "/cart", "/gate/1/enter"}, sorted(by_path)
        for seen in upstream.seen:
            assert (seen.get("host"), seen.get("x-forwarded-for"), seen.get("x-forwarded-proto")) == \
                (host, "127.0.0.1", "http"), seen
            if seen["path"] == "/ws":
                assert seen.get("upgrade") == "websocket" and seen.get("connection", "").lower() == "upgrade", seen
            else:
                assert seen.get("connection") is None, seen          # keepalive: no "close"
        verifies = [r for r in upstream.seen if r["path"] == "/api/queue/verify/1"]
        assert any(r.get("cookie") == "in=1" for r in verifies)
        assert all("content-length" not in r for r in verifies), verifies
        assert by_path["/cart"]["content-length"] == "10"
        assert by_path["/gate/1/enter"]["x-original-uri"] == "/products?id=7"
    finally:
        nginx.stop()
        upstream.server.shutdown()
