"""The gate through a real nginx (Debian's package), with the shipped deploy/gate.nginx.conf:
a tiny shop upstream, a real ticketd, and nginx's auth_request in front of the shop.

Without nginx these tests are skipped, unless CI is set (``.ci/run`` installs it)."""

from __future__ import annotations

import subprocess
import tempfile
import urllib.parse
from pathlib import Path

import aiohttp
import jwt

from gate_site import CONFIG, find_nginx, gate_ticketd, site  # noqa: F401 (fixtures)
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
