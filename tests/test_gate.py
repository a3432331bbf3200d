"""The gate against real Redis, PostgreSQL and instances: visitors, admission tokens that
any instance's JWKS verifies with a stock JOSE library, the verify endpoint's answers, the
gate page's return rules, the admission cookie, key creation and rotation."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import subprocess
import sys

import aiohttp
import jwt
import pytest

from ticketd.config import DEFAULT_LIMITS, Limit

from helpers import Api, TEST_SECRET, check, db_query, leave, queue_event, status, until
from servers import ROOT
from wsclient import connect

SHOP = "https://shop.example"


@pytest.fixture
async def gate(aiohttp_client, make_app):
    app = make_app(gate_origins=frozenset({SHOP}), trusted_proxies=(ipaddress.ip_network("127.0.0.1/32"),),
                   rate_limits={**DEFAULT_LIMITS, "visitors_per_address": Limit(3, 60)})
    return Api(await aiohttp_client(app))


async def _visitor(api: Api, address: str = "198.51.100.1") -> str:
    _, body = await api.call("POST", "/api/visitors", expect=201, headers={"X-Forwarded-For": address})
    assert set(body) == {"token", "visitor"} and body["visitor"]["id"]
    return body["token"]


async def _jwks(session_or_api, base: str = "") -> jwt.PyJWKSet:
    if isinstance(session_or_api, Api):
        async with session_or_api.client.get("/.well-known/jwks.json") as resp:
            assert "max-age" in resp.headers["Cache-Control"]
            return jwt.PyJWKSet.from_dict(await resp.json())
    async with session_or_api.get(f"{base}/.well-known/jwks.json") as resp:
        return jwt.PyJWKSet.from_dict(await resp.json())


def _decode(token: str, keys: jwt.PyJWKSet, event_id: str) -> dict:
    kid = jwt.get_unverified_header(token)["kid"]
    return jwt.decode(token, keys[kid].key, algorithms=["EdDSA"], audience=f"ticketd:event:{event_id}",
                      issuer="ticketd")


async def test_visitors_may_queue_and_nothing_else(gate, admin_token):
    api = gate
    event = await api.create_event(admin_token, queue=queue_event(capacity=1))
    eid = event["id"]
    visitor = await _visitor(api)
    admitted = await check(api, eid, visitor)
    assert admitted["status"] in ("admitted", "queued")
    assert (await status(api, eid, visitor))["status"] in ("admitted", "queued")
    await api.call("GET", f"/api/queue/challenge/{eid}", visitor, expect=200)
    ws = await connect(api.client, f"/ws?token={visitor}")
    assert (await ws.join(f"queue:{eid}"))["status"] in ("admitted", "queued")
    reply = await ws.call("join", room=f"admin:{eid}")
    assert not reply["ok"] and reply["error"]["code"] == "forbidden"
    assert (await ws.call("auth", token=visitor))["data"]["role"] == "visitor"
    await ws.close()
    for method, path, body in (("GET", "/api/me", None), ("GET", "/api/reservations", None),
                               ("POST", "/api/reservations", {"eventId": eid, "items": [
                                   {"ticketTypeId": event["ticketTypes"][0]["id"], "quantity": 1}]}),
                               ("GET", f"/api/admin/events/{eid}/stats", None)):
        code, err = await api.call(method, path, visitor, json=body)
        assert code == 401 and err["error"]["code"] == "unauthorized", (method, path)
    await leave(api, eid, visitor)


async def test_visitors_are_limited_per_client_address(gate):
    for _ in range(3):
        await _visitor(gate, "203.0.113.7")
    code, err = await gate.call("POST", "/api/visitors", headers={"X-Forwarded-For": "203.0.113.7"})
    assert code == 429 and err["error"]["code"] == "rate_limited"
    await _visitor(gate, "203.0.113.8")  # another address is not held back


async def test_admitted_answers_and_pushes_carry_a_verifiable_token(gate, admin_token):
    api = gate
    eid = (await api.create_event(admin_token, queue=queue_event(capacity=1)))["id"]
    first, second = await _visitor(api), await _visitor(api)
    await until(lambda: _admitted(api, eid, first))
    answer = await check(api, eid, first)
    assert await check(api, eid, first) == answer  # one admission, one token
    claims = _decode(answer["admissionToken"], await _jwks(api), eid)
    header = jwt.get_unverified_header(answer["admissionToken"])
    assert header["alg"] == "EdDSA" and header["kid"]
    assert claims["sub"].startswith("v:") and claims["aud"] == f"ticketd:event:{eid}"
    ends = datetime.datetime.fromisoformat(answer["expiresAt"].replace("Z", "+00:00")).timestamp()
    assert claims["exp"] == int(ends) and claims["iat"] < claims["exp"]
    assert {"iss", "sub", "aud", "iat", "exp", "jti"} <= set(claims)
    # The next one is told by a push, with a token of its own.
    assert (await check(api, eid, second))["status"] == "queued"
    ws = await connect(api.client, f"/ws?token={second}")
    await ws.join(f"queue:{eid}")
    await leave(api, eid, first)
    push = await ws.push("queue-admitted", room=f"queue:{eid}", timeout=10)
    pushed = _decode(push["data"]["admissionToken"], await _jwks(api), eid)
    assert pushed["sub"] != claims["sub"]
    await ws.close()


async def _admitted(api, eid, token):
    return (await check(api, eid, token))["status"] == "admitted"


async def _verify(api: Api, eid, token: str | None = None, cookie: str | None = None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if cookie:
        headers["Cookie"] = f"ticketd_admission_{eid}={cookie}"
    async with api.client.get(f"/api/queue/verify/{eid}", headers=headers) as resp:
        if resp.status != 204:
            body = await resp.json()
            assert body["error"]["code"] == {401: "unauthorized", 403: "queue_required"}[resp.status]
        return resp.status


async def test_verify_answers_exactly(gate, admin_token, redis_url):
    api = gate
    eid = (await api.create_event(admin_token, queue=queue_event(capacity=5)))["id"]
    other = (await api.create_event(admin_token, queue=queue_event(capacity=5)))["id"]
    visitor = await _visitor(api)
    await until(lambda: _admitted(api, eid, visitor))
    token = (await check(api, eid, visitor))["admissionToken"]
    assert await _verify(api, eid, token) == 204
    assert await _verify(api, eid, cookie=token) == 204
    assert await _verify(api, eid) == 401                                   # no token
    head, payload, signature = token.split(".")
    forged = f"{head}.{payload}.{signature[:-4]}AAAA"
    assert await _verify(api, eid, forged) == 401                           # bad signature
    assert await _verify(api, other, token) == 401                          # another event's
    stale = jwt.encode({"iss": "ticketd", "sub": "v:x", "aud": f"ticketd:event:{eid}", "exp": 1, "iat": 0,
                        "jti": "x"}, "k" * 32, algorithm="HS256")
    assert await _verify(api, eid, stale) == 401                            # not ours at all
    await leave(api, eid, visitor)
    assert await _verify(api, eid, token) == 403                            # left
    # Admitted again later: the old token does not come back to life.
    await until(lambda: _admitted(api, eid, visitor))
    renewed = (await check(api, eid, visitor))["admissionToken"]
    assert renewed != token and await _verify(api, eid, renewed) == 204
    # (even within the same second: the token names its admission to the millisecond)
    assert _claim(renewed, "jti") != _claim(token, "jti") and await _verify(api, eid, token) == 403


def _claim(token: str, name: str):
    return jwt.decode(token, options={"verify_signature": False})[name]


async def test_a_confirmed_purchase_ends_the_admission_for_verify(gate, admin_token):
    api = gate
    event = await api.create_event(admin_token, queue=queue_event(capacity=5))
    fan = await api.register()
    await until(lambda: _admitted(api, event["id"], fan))
    token = (await check(api, event["id"], fan))["admissionToken"]
    _, held = await api.call("POST", "/api/reservations", fan, expect=201, json={
        "eventId": event["id"], "items": [{"ticketTypeId": event["ticketTypes"][0]["id"], "quantity": 1}]})
    assert await _verify(api, event["id"], token) == 204
    await api.call("POST", f"/api/reservations/{held['reservation']['id']}/confirm", fan, expect=200)
    assert await _verify(api, event["id"], token) == 403


@pytest.mark.parametrize("target, allowed", [
    (SHOP + "/cart?x=1", True), (SHOP + ":443/", True), ("/shop/checkout", True),
    ("https://shop.example.evil.com/", False), ("https://evil.com/?https://shop.example", False),
    ("//evil.com/", False), ("/\\evil.com", False), ("https://shop.example@evil.com/", False),
    ("http://shop.example/", False), ("https://shop.example:8443/", False), ("javascript:alert(1)", False),
    ("", False), (None, False),
])
async def test_the_gate_page_only_returns_to_allowed_sites(gate, admin_token, target, allowed):
    eid = (await gate.create_event(admin_token, queue=queue_event(capacity=5)))["id"]
    params = {} if target is None else {"return": target}
    async with gate.client.get(f"/gate/{eid}", params=params, headers={"Accept": "text/html"}) as resp:
        if allowed:
            assert resp.status == 200 and resp.content_type == "text/html"
        else:
            body = await resp.json()
            assert resp.status == 400 and body["error"]["code"] == "validation_error"


async def test_the_pass_sets_the_admission_cookie(gate, admin_token):
    api = gate
    eid = (await api.create_event(admin_token, queue=queue_event(capacity=5)))["id"]
    visitor = await _visitor(api)
    await until(lambda: _admitted(api, eid, visitor))
    token = (await check(api, eid, visitor))["admissionToken"]
    async with api.client.post(f"/api/gate/{eid}/pass", json={"admissionToken": token, "return": SHOP + "/"},
                               headers={"X-Forwarded-Proto": "https"}) as resp:
        assert resp.status == 200 and (await resp.json()) == {"redirect": SHOP + "/"}
        cookie = resp.headers["Set-Cookie"]
    assert cookie.startswith(f"ticketd_admission_{eid}={token};")
    for part in ("HttpOnly", "Path=/", "SameSite=Lax", "Secure", "Max-Age="):
        assert part in cookie, part
    assert 500 < int(cookie.split("Max-Age=")[1].split(";")[0]) <= 600
    async with api.client.post(f"/api/gate/{eid}/pass", json={"admissionToken": token, "return": "//evil.com"}) as resp:
        assert resp.status == 400
    await leave(api, eid, visitor)
    async with api.client.post(f"/api/gate/{eid}/pass", json={"admissionToken": token, "return": "/"}) as resp:
        assert resp.status == 403


async def test_keys_made_once_and_any_instance_verifies_any_others_tokens(ticketd_processes, api, admin_token,
                                                                          database_url):
    procs = ticketd_processes(3)  # started together: still exactly one key
    assert db_query(database_url, "SELECT count(*) FROM signing_keys") == [(1,)]
    eid = (await api.create_event(admin_token, queue=queue_event(capacity=5)))["id"]
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{procs[0].url}/api/visitors") as resp:
            visitor = (await resp.json())["token"]

        async def admitted_token(base):
            async with http.post(f"{base}/api/queue/check/{eid}", headers={"Authorization": f"Bearer {visitor}"}) as r:
                body = await r.json()
                return body.get("admissionToken")
        token = await until(lambda: admitted_token(procs[0].url))
        for proc in procs:
            _decode(token, await _jwks(http, proc.url), eid)
            async with http.get(f"{proc.url}/api/queue/verify/{eid}", headers={"Authorization": f"Bearer {token}"}) as r:
                assert r.status == 204

        # Rotation: published at once, signing within 10 s, the old key still published.
        done = subprocess.run([sys.executable, "-m", "ticketd", "rotate-keys"], capture_output=True, text=True,
                              cwd=ROOT, env={"TICKETD_DATABASE_URL": database_url, "TICKETD_REDIS_URL": "redis://x",
                                             "TICKETD_SECRET": TEST_SECRET, "PYTHONPATH": str(ROOT),
                                             "PATH": "/usr/bin:/bin"}, timeout=60)
        assert done.returncode == 0, done.stderr
        old_kid = jwt.get_unverified_header(token)["kid"]

        async def rotated(base):
            jwks = await _jwks(http, base)
            return len(jwks.keys) == 2 and old_kid in {k.key_id for k in jwks.keys}
        for proc in procs:
            await until(lambda: rotated(proc.url), timeout=10)
        await leave_via(http, procs[1].url, eid, visitor)

        async def signed_with_the_new_key():
            fresh = await admitted_token(procs[2].url)
            return fresh if fresh and jwt.get_unverified_header(fresh)["kid"] != old_kid else None
        fresh = await until(signed_with_the_new_key, timeout=12)
        for proc in procs:
            _decode(fresh, await _jwks(http, proc.url), eid)


async def leave_via(http, base, eid, token):
    async with http.post(f"{base}/api/queue/leave/{eid}", headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 204


async def test_verify_after_a_leave_elsewhere_within_a_second(ticketd_processes, api, admin_token):
    a, b = ticketd_processes(2)
    eid = (await api.create_event(admin_token, queue=queue_event(capacity=5)))["id"]
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{a.url}/api/visitors") as resp:
            visitor = (await resp.json())["token"]

        async def token():
            async with http.post(f"{a.url}/api/queue/check/{eid}", headers={"Authorization": f"Bearer {visitor}"}) as r:
                return (await r.json()).get("admissionToken")
        admission = await until(token)
        await leave_via(http, a.url, eid, visitor)
        started = asyncio.get_running_loop().time()
        async with http.get(f"{b.url}/api/queue/verify/{eid}", headers={"Authorization": f"Bearer {admission}"}) as r:
            assert r.status == 403
        assert asyncio.get_running_loop().time() - started < 1


async def test_the_gate_page_of_no_event_is_a_404(gate):
    async with gate.client.get("/gate/99999", params={"return": "/"}, headers={"Accept": "text/html"}) as resp:
        assert resp.status == 404 and resp.content_type == "text/html"
