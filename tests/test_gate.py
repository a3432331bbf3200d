"""The gate against real Redis, PostgreSQL and instances: visitors, admission tokens that
any instance's JWKS verifies with a stock JOSE library, the verify endpoint's answers, the
gate page's return rules, the admission cookie, key creation and rotation."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import subprocess
import sys
import time

import aiohttp
import jwt
import pytest

from ticketd.config import DEFAULT_LIMITS, Limit
from ticketd.gate.keys import ACTIVATION_SECONDS, REFRESH_SECONDS

from gate_site import call, make_admin, mint_admission_token, redis_now_ms
from helpers import Api, TEST_SECRET, check, db_query, leave, queue_event, report, status, until
from servers import ROOT, PortTaken, PostgresServer, TicketdProcess
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


def _ends_ms(answer: dict) -> int:
    return round(datetime.datetime.fromisoformat(answer["expiresAt"].replace("Z", "+00:00")).timestamp() * 1000)


async def test_verify_of_an_admission_that_ran_out(gate, admin_token, redis_url):
    """A real admission of the shortest session allowed (10 s) runs out: its token, ours and
    correctly signed, is then answered 403 queue_required (back to the queue), by header and
    by cookie."""
    api = gate
    eid = (await api.create_event(admin_token, queue=queue_event(capacity=5, session=10)))["id"]
    visitor = await _visitor(api)
    await until(lambda: _admitted(api, eid, visitor))
    answer = await check(api, eid, visitor)
    token, ends = answer["admissionToken"], _ends_ms(answer)
    assert ends - redis_now_ms(redis_url) <= 10_000
    assert await _verify(api, eid, token) == 204
    _decode(token, await _jwks(api), eid)                      # ours: Ed25519, a published kid
    while redis_now_ms(redis_url) < ends - 500:                # live until its end: let through
        assert await _verify(api, eid, token) == 204
        await asyncio.sleep(0.5)
    while redis_now_ms(redis_url) < ends:
        await asyncio.sleep(0.05)
    assert await _verify(api, eid, token) == 403
    assert await _verify(api, eid, cookie=token) == 403
    with pytest.raises(jwt.ExpiredSignatureError):             # and a stock library says so too
        _decode(token, await _jwks(api), eid)
    assert (await status(api, eid, visitor))["status"] == "none"


async def test_verify_of_expired_tokens_403_for_a_minute_then_401(gate, admin_token, database_url, redis_url):
    """Tokens ticketd signed (its code, its key) whose admission ended in the past: within a
    minute of the end, 403 queue_required (the admission has ended: queue again); from a
    minute on, 401 unauthorized (plainly expired). The end is judged on Redis's clock."""
    api = gate
    eid = (await api.create_event(admin_token, queue=queue_event(capacity=5)))["id"]
    _, body = await api.call("POST", "/api/visitors", expect=201, headers={"X-Forwarded-For": "198.51.100.9"})
    shopper = f"v:{body['visitor']['id']}"
    jwks = await _jwks(api)
    now = redis_now_ms(redis_url)
    cases = [  # (ends, expected); ends on a whole second, as exp is in seconds
        (-(-(now - 1_000) // 1000) * 1000, 403),       # ended 0-1 s ago
        (-(-(now - 59_000) // 1000) * 1000, 403),      # ended 58-59 s ago: still within the minute
        ((now - 60_000) // 1000 * 1000, 401),          # ended 60-61 s ago: the minute is over
        ((now - 3_600_000) // 1000 * 1000, 401),       # an hour ago
    ]
    for ends, expected in cases:
        token = await mint_admission_token(database_url, eid, shopper, ends)
        header = jwt.get_unverified_header(token)
        assert header["alg"] == "EdDSA" and header["kid"] in {k.key_id for k in jwks.keys}
        claims = jwt.decode(token, jwks[header["kid"]].key, algorithms=["EdDSA"], audience=f"ticketd:event:{eid}",
                            issuer="ticketd", options={"verify_exp": False})
        assert claims["sub"] == shopper and claims["exp"] * 1000 == ends
        ended_ago = redis_now_ms(redis_url) - ends
        assert await _verify(api, eid, token) == expected, (ended_ago, expected)
        assert await _verify(api, eid, cookie=token) == expected, (ended_ago, expected)


async def test_verify_answers_while_postgresql_is_down(redis_url, clean_state):
    """One ticketd on a PostgreSQL of the test's own: once visitors are admitted, PostgreSQL
    stops, and verify goes on answering: 204 for live admissions (a token it has seen and one it
    has not), 403 once one is left, 401 for a forged token, all while /readyz says PostgreSQL is
    down."""
    pg = PostgresServer()
    proc = None
    try:
        proc = TicketdProcess(pg.url, redis_url, TEST_SECRET, "pg-down", TICKETD_ADMISSION_INTERVAL=0.2).start()
        eid = _create_event(proc.url, pg.url, queue_event(capacity=2, mode="on"))
        async with aiohttp.ClientSession() as http:
            async def visitor_token():
                async with http.post(f"{proc.url}/api/visitors") as resp:
                    return (await resp.json())["token"]

            async def admission(visitor):
                async with http.post(f"{proc.url}/api/queue/check/{eid}", headers=_auth(visitor)) as resp:
                    return (await resp.json()).get("admissionToken")

            async def verify(token):
                async with http.get(f"{proc.url}/api/queue/verify/{eid}", headers=_auth(token)) as resp:
                    return resp.status

            first, second = await visitor_token(), await visitor_token()
            seen, unseen = await until(lambda: admission(first)), await until(lambda: admission(second))
            assert await verify(seen) == 204

            pg.stop()
            async with http.get(f"{proc.url}/readyz") as resp:
                assert resp.status == 503 and "postgres" in (await resp.text()).lower()
            # Longer than a key reload: the failing reloads change nothing.
            loop = asyncio.get_running_loop()
            until_time = loop.time() + REFRESH_SECONDS * 1.5
            answers = 0
            while loop.time() < until_time:
                started = loop.time()
                assert await verify(seen) == 204
                assert loop.time() - started < 1
                answers += 1
                await asyncio.sleep(0.1)
            assert await verify(unseen) == 204            # never verified before: its signature too
            head, payload, signature = unseen.split(".")
            assert await verify(f"{head}.{payload}.{signature[:-4]}AAAA") == 401
            async with http.post(f"{proc.url}/api/queue/leave/{eid}", headers=_auth(first)) as resp:
                assert resp.status == 204, await resp.text()
            assert await verify(seen) == 403
            assert await verify(unseen) == 204
            async with http.get(f"{proc.url}/readyz") as resp:
                assert resp.status == 503                 # still down all along
            report(f"verify with PostgreSQL down: {answers} answers over {REFRESH_SECONDS * 1.5:g} s, all 204")
    finally:
        if proc is not None:
            proc.stop()
        pg.close()


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


def _start_together(procs: list[TicketdProcess], timeout: float = 60) -> float:
    """Launch every process at once, then wait for all: none waits for another to be up
    (TicketdProcess.start would). Returns how far apart the launches were, in seconds."""
    first = time.monotonic()
    for proc in procs:
        proc.launch()
    spread = time.monotonic() - first
    for proc in procs:
        try:
            proc.wait_ready(timeout)
        except PortTaken:  # its free port was taken meanwhile: that one starts late, on another
            proc.start(timeout)
    return spread


async def test_three_instances_starting_together_make_one_key(redis_url, clean_state):
    """A brand-new PostgreSQL (no tables, no key) that nothing else touches first: three
    ``ticketd serve`` launched at the same moment race to migrate it and to create the first
    signing key. Exactly one is made, every instance signs with it, and a token from each
    verifies against every instance's JWKS and verify endpoint."""
    pg = PostgresServer()
    database_url = pg.url
    procs = [TicketdProcess(database_url, redis_url, TEST_SECRET, f"keys-race-{i}") for i in range(3)]
    try:
        assert db_query(database_url, "SELECT to_regclass('signing_keys')") == [(None,)]
        spread = _start_together(procs)
        assert spread < 1, f"the launches were {spread:.2f} s apart"
        assert db_query(database_url, "SELECT count(*) FROM signing_keys") == [(1,)]
        [(kid,)] = db_query(database_url, "SELECT kid FROM signing_keys")
        assert sum("created the first admission-token signing key" in proc.log() for proc in procs) == 1
        eid = _create_event(procs[0].url, database_url, queue_event(capacity=5, mode="off"))
        async with aiohttp.ClientSession() as http:
            tokens = []
            for proc in procs:  # a visitor let in by each instance, with that instance's token
                async with http.post(f"{proc.url}/api/visitors") as resp:
                    visitor = (await resp.json())["token"]
                async with http.post(f"{proc.url}/api/queue/check/{eid}", headers=_auth(visitor)) as resp:
                    answer = await resp.json()
                assert answer["status"] == "admitted", answer
                assert jwt.get_unverified_header(answer["admissionToken"])["kid"] == kid
                tokens.append(answer["admissionToken"])
            for proc in procs:
                jwks = await _jwks(http, proc.url)
                assert [k.key_id for k in jwks.keys] == [kid]
                for token in tokens:
                    _decode(token, jwks, eid)
                    async with http.get(f"{proc.url}/api/queue/verify/{eid}", headers=_auth(token)) as resp:
                        assert resp.status == 204, (proc.name, await resp.text())
    finally:
        for proc in procs:
            proc.stop()
        pg.close()


async def test_first_starts_racing_in_one_process_make_one_key(database_url, clean_state):
    """The same race, tighter than processes can make it: eight first starts, each on a
    connection of its own, all looking for a key at the same moment."""
    from ticketd import db
    from ticketd.gate.keys import SigningKeys

    pools = [await db.create_pool(database_url, maxsize=1) for _ in range(8)]
    try:
        await db.migrate(pools[0])  # the tables, as a first start makes them (a clean state has no key)
        assert db_query(database_url, "SELECT count(*) FROM signing_keys") == [(0,)]
        starts = [SigningKeys(pool, TEST_SECRET) for pool in pools]
        await asyncio.gather(*(keys.ensure() for keys in starts))
        assert db_query(database_url, "SELECT count(*) FROM signing_keys") == [(1,)]
        assert len({keys.signing.kid for keys in starts}) == 1
    finally:
        for pool in pools:
            pool.close()
            await pool.wait_closed()


ROTATION_BOUND_SECONDS = 10  # the contract: "running instances publish it and sign with it within 10 s"


async def test_rotated_keys_are_published_then_signed_with_within_10_s(ticketd_processes, database_url):
    procs = ticketd_processes(3)
    eid = _create_event(procs[0].url, database_url, queue_event(capacity=5))
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{procs[0].url}/api/visitors") as resp:
            visitor = (await resp.json())["token"]

        async def admitted_token(base):
            async with http.post(f"{base}/api/queue/check/{eid}", headers=_auth(visitor)) as r:
                return (await r.json()).get("admissionToken")
        old_token = await until(lambda: admitted_token(procs[0].url))
        old_kid = jwt.get_unverified_header(old_token)["kid"]

        done = subprocess.run([sys.executable, "-m", "ticketd", "rotate-keys"], capture_output=True, text=True,
                              cwd=ROOT, env={"TICKETD_DATABASE_URL": database_url, "TICKETD_REDIS_URL": "redis://x",
                                             "TICKETD_SECRET": TEST_SECRET, "PYTHONPATH": str(ROOT),
                                             "PATH": "/usr/bin:/bin"}, timeout=60)
        assert done.returncode == 0, done.stderr
        # The clock starts when the key was added (PostgreSQL's clock says how long ago).
        [(new_kid, age)] = db_query(database_url, "SELECT kid, EXTRACT(EPOCH FROM now() - created_at)::float8 "
                                                  "FROM signing_keys WHERE kid <> %s", (old_kid,))
        rotated_at = time.monotonic() - age
        # What it says is what happens (and what is checked below).
        assert new_kid in done.stdout and f"publish it within {REFRESH_SECONDS:g} s" in done.stdout \
            and f"sign with it {ACTIVATION_SECONDS:g} s from now" in done.stdout, done.stdout
        assert REFRESH_SECONDS < ACTIVATION_SECONDS <= ROTATION_BOUND_SECONDS - 2

        published: dict[str, float] = {}
        signing: dict[str, float] = {}
        while len(published) < len(procs) or len(signing) < len(procs):
            assert time.monotonic() - rotated_at <= ROTATION_BOUND_SECONDS, \
                f"after {ROTATION_BOUND_SECONDS} s: published by {sorted(published)}, signing on {sorted(signing)}"
            for proc in procs:
                kids = {k.key_id for k in (await _jwks(http, proc.url)).keys}
                assert old_kid in kids, proc.name          # the old key stays published
                if new_kid in kids:
                    published.setdefault(proc.name, time.monotonic() - rotated_at)
                fresh = await admitted_token(proc.url)
                if jwt.get_unverified_header(fresh)["kid"] == new_kid:
                    signing.setdefault(proc.name, time.monotonic() - rotated_at)
                    # Signed with the new key: every instance already accepts it.
                    for other in procs:
                        _decode(fresh, await _jwks(http, other.url), eid)
                        async with http.get(f"{other.url}/api/queue/verify/{eid}", headers=_auth(fresh)) as r:
                            assert r.status == 204, (proc.name, other.name, await r.text())
            await asyncio.sleep(0.1)
        for proc in procs:  # tokens of the old key still verify everywhere
            async with http.get(f"{proc.url}/api/queue/verify/{eid}", headers=_auth(old_token)) as r:
                assert r.status == 204
        report(f"key rotation: published after {max(published.values()):.1f} s, signed with on every instance "
               f"after {max(signing.values()):.1f} s (bound {ROTATION_BOUND_SECONDS} s)")


def _create_event(base: str, database_url: str, queue: dict):
    """An event made through a ticketd process (by an admin made in its database)."""
    return call(base, "POST", "/api/events", make_admin(base, database_url), expect=201, body={
        "name": "Gate Night", "venue": "Hall", "startsAt": "2027-01-01T20:00:00Z",
        "ticketTypes": [{"name": "GA", "price": 10, "quantity": 10}], "queue": queue})["event"]["id"]


def _auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


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
