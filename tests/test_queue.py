"""The waiting room in one process against real Redis and PostgreSQL: idempotent check,
strict FIFO, leave, expiry, abandonment, auto switching, enforcement, Redis outages."""

from __future__ import annotations


import psycopg2
import redis as redis_sync

from ticketd.waitingroom import event_keys, wait_estimate

from helpers import Api, check, leave, queue_event, shopper_tokens, status, statuses, until

async def test_check_is_idempotent_and_positions_are_exact(api, admin_token):
    event = await api.create_event(admin_token, queue=queue_event(capacity=1))
    eid = event["id"]
    tokens = shopper_tokens(4)
    first = [await check(api, eid, t) for t in tokens]
    # The first may already be admitted by a tick; everyone else waits in arrival order.
    waiting = await until(lambda: _all_queued_after_first(api, eid, tokens))
    for index, s in enumerate(waiting, start=1):
        assert s == {"status": "queued", "position": index, "ahead": index - 1, "queueLength": 3,
                     "estimatedWaitSeconds": s["estimatedWaitSeconds"]}
        assert s["estimatedWaitSeconds"] > 0
    # Checking again, any number of times, keeps the place.
    for _ in range(3):
        again = [await check(api, eid, t) for t in tokens[1:]]
        assert [a["position"] for a in again] == [1, 2, 3]
        assert {a["queueLength"] for a in again} == {3}
    assert first[1]["status"] == "queued"
    admitted = await check(api, eid, tokens[0])
    assert admitted["status"] == "admitted" and admitted["expiresAt"].endswith("Z")
    assert await check(api, eid, tokens[0]) == admitted


async def _all_queued_after_first(api, eid, tokens):
    result = await statuses(api, eid, tokens)
    if result[0]["status"] != "admitted":
        return None
    return result[1:]


async def test_status_none_and_leave_frees_a_place(api, admin_token):
    event = await api.create_event(admin_token, queue=queue_event(capacity=2))
    eid = event["id"]
    a, b, c = shopper_tokens(3)
    assert await status(api, eid, a) == {"status": "none"}
    for t in (a, b, c):
        await check(api, eid, t)
    await until(lambda: _statuses_are(api, eid, [a, b], "admitted"))
    s = await status(api, eid, c)
    assert s["status"] == "queued" and s["position"] == 1
    await leave(api, eid, a)
    assert await status(api, eid, a) == {"status": "none"}
    await until(lambda: _statuses_are(api, eid, [c], "admitted"))
    # Leaving twice, or without a place, is still 204.
    await leave(api, eid, a)


async def _statuses_are(api, eid, tokens, wanted):
    return all(s["status"] == wanted for s in await statuses(api, eid, tokens))


async def test_strict_fifo_admission_order(api, admin_token, redis_url):
    event = await api.create_event(admin_token, queue=queue_event(capacity=3))
    eid = event["id"]
    tokens = shopper_tokens(15)
    for t in tokens:  # arrivals in a known order
        await check(api, eid, t)
    user_of = {t: str(10_000 + i) for i, t in enumerate(tokens)}
    order = [user_of[t] for t in tokens]
    r = redis_sync.Redis.from_url(redis_url, decode_responses=True)
    admitted_key = event_keys(int(eid)).admitted
    served: list[str] = []
    while len(served) < len(order):
        async def next_batch():
            now = {u for u in r.zrange(admitted_key, 0, -1)}
            # At every sample, those admitted are exactly the next ones in arrival order.
            expected = order[len(served):len(served) + len(now)]
            assert now == set(expected), (now, expected)
            return sorted(now, key=order.index) if now else None
        batch = await until(next_batch)
        served.extend(batch)
        for user in batch:
            await leave(api, eid, tokens[order.index(user)])
    assert served == order
    r.close()


async def test_expiry_frees_a_place(api, admin_token, database_url):
    event = await api.create_event(admin_token, queue=queue_event(capacity=1))
    eid = event["id"]
    _set_session_seconds(database_url, eid, 1)  # below what the API allows, to keep it quick
    await api.call("PATCH", f"/api/events/{eid}", admin_token, expect=200, json={"name": "Quick"})
    a, b = shopper_tokens(2)
    await check(api, eid, a)
    first = await until(lambda: _admitted(api, eid, a))
    await check(api, eid, b)
    second = await until(lambda: _admitted(api, eid, b))
    assert second["expiresAt"] > first["expiresAt"]
    assert await status(api, eid, a) == {"status": "none"}


def _set_session_seconds(database_url, event_id, seconds):
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute("UPDATE events SET queue_session_seconds = %s WHERE id = %s", (seconds, int(event_id)))
    conn.close()


async def _admitted(api, eid, token):
    s = await status(api, eid, token)
    return s if s["status"] == "admitted" else None


async def test_abandoned_waiters_are_dropped(aiohttp_client, make_app, database_url, redis_url):
    api = Api(await aiohttp_client(make_app(queue_abandon_seconds=1)))
    admin = await api.admin(database_url)
    eid = (await api.create_event(admin, queue=queue_event(capacity=1)))["id"]
    holder, polling, silent = shopper_tokens(3)
    for t in (holder, polling, silent):
        await check(api, eid, t)
    await until(lambda: _admitted(api, eid, holder))
    r = redis_sync.Redis.from_url(redis_url, decode_responses=True)
    queue_key = event_keys(int(eid)).queue

    async def silent_dropped():
        await status(api, eid, polling)  # keeps polling: stays
        return r.zscore(queue_key, "10002") is None
    await until(silent_dropped, timeout=8, interval=0.2)
    assert r.zscore(queue_key, "10001") is not None
    await leave(api, eid, holder)
    await until(lambda: _admitted(api, eid, polling))
    assert await status(api, eid, silent) == {"status": "none"}
    r.close()


async def test_auto_mode_switches_on_and_off(aiohttp_client, make_app, database_url):
    api = Api(await aiohttp_client(make_app(queue_quiet_seconds=1)))
    admin = await api.admin(database_url)
    eid = (await api.create_event(admin, queue=queue_event(capacity=2, mode="auto")))["id"]
    a, b, c, d = shopper_tokens(4)

    async def queue_active():
        return (await api.call("GET", f"/api/events/{eid}", expect=200))[1]["event"]["queue"]["active"]

    assert not await queue_active()
    assert (await check(api, eid, a))["status"] == "admitted"  # let straight in
    assert not await queue_active()
    assert (await check(api, eid, b))["status"] == "admitted"  # capacity reached: queue on
    assert await queue_active()
    assert (await check(api, eid, c))["status"] == "queued"
    _, stats = await api.call("GET", f"/api/admin/events/{eid}/stats", admin, expect=200)
    assert stats["queueActive"] is True and stats["mode"] == "auto" and stats["activeUsers"] == 2
    await leave(api, eid, a)
    await until(lambda: _admitted(api, eid, c))
    for t in (b, c):
        await leave(api, eid, t)

    async def switched_off():
        return not await queue_active()
    await until(switched_off, timeout=6)
    assert (await check(api, eid, d))["status"] == "admitted"


async def test_off_mode_admits_and_nothing_is_enforced(api, admin_token):
    event = await api.create_event(admin_token, queue=queue_event(mode="off", capacity=1))
    eid, type_id = event["id"], event["ticketTypes"][0]["id"]
    assert event["queue"]["active"] is False
    a, b = await api.register("a"), await api.register("b")
    assert (await check(api, eid, a))["status"] == "admitted"
    assert (await check(api, eid, b))["status"] == "admitted"
    await api.call("POST", "/api/reservations", b, expect=201,
                   json={"eventId": eid, "items": [{"ticketTypeId": type_id, "quantity": 1}]})


async def test_reservations_need_an_admission_while_the_queue_is_active(api, admin_token):
    event = await api.create_event(admin_token, queue=queue_event(capacity=1))
    eid, type_id = event["id"], event["ticketTypes"][0]["id"]
    assert event["queue"]["active"] is True
    buyer = await api.register("buyer")
    body = {"eventId": eid, "items": [{"ticketTypeId": type_id, "quantity": 1}]}
    status_code, err = await api.call("POST", "/api/reservations", buyer, json=body)
    assert status_code == 403 and err["error"]["code"] == "queue_required"
    await check(api, eid, buyer)
    await until(lambda: _admitted(api, eid, buyer))
    _, held = await api.call("POST", "/api/reservations", buyer, expect=201, json=body)
    rid = held["reservation"]["id"]
    await api.call("POST", f"/api/reservations/{rid}/confirm", buyer, expect=200)
    # Confirming a purchase ends the admission; the place goes to the next shopper.
    assert await status(api, eid, buyer) == {"status": "none"}
    _, again = await api.call("POST", "/api/reservations", buyer, json=body)
    assert again["error"]["code"] == "queue_required"


async def test_unknown_event_and_anonymous(api, admin_token):
    token = shopper_tokens(1)[0]
    for method, path in (("POST", "/api/queue/check/999"), ("GET", "/api/queue/status/999"),
                         ("POST", "/api/queue/leave/999"), ("POST", "/api/queue/check/abc")):
        assert (await api.call(method, path, token))[0] == 404
        assert (await api.call(method, path))[0] == 401
    assert (await api.call("GET", "/api/admin/events/999/stats", admin_token))[0] == 404
    assert (await api.call("GET", "/api/admin/events/1/stats", token))[0] == 403


async def test_settings_change_live(api, admin_token):
    event = await api.create_event(admin_token, queue=queue_event(capacity=1))
    eid = event["id"]
    tokens = shopper_tokens(4)
    for t in tokens:
        await check(api, eid, t)
    await until(lambda: _admitted(api, eid, tokens[0]))
    _, patched = await api.call("PATCH", f"/api/events/{eid}", admin_token, expect=200,
                                json={"queue": {"capacity": 3}})
    assert patched["event"]["queue"]["capacity"] == 3
    await until(lambda: _statuses_are(api, eid, tokens[:3], "admitted"))
    _, stats = await api.call("GET", f"/api/admin/events/{eid}/stats", admin_token, expect=200)
    assert stats == {"connections": 0, "activeUsers": 3, "queueLength": 1, "admittedLastMinute": 3, "prequeueLength": 0,
                     "queueActive": True, "mode": "on", "capacity": 3, "instances": 1}
    # Forcing the queue off lets the rest in.
    await api.call("PATCH", f"/api/events/{eid}", admin_token, expect=200, json={"queue": {"mode": "off"}})
    await until(lambda: _admitted(api, eid, tokens[3]))


async def test_redis_outage_answers_503_and_the_queue_resumes(aiohttp_client, make_app, redis_server,
                                                              database_url):
    api = Api(await aiohttp_client(make_app(redis_url=redis_server.url)))
    admin = await api.admin(database_url)
    eid = (await api.create_event(admin, queue=queue_event(capacity=1)))["id"]
    a, b = shopper_tokens(2)
    await check(api, eid, a)
    await until(lambda: _admitted(api, eid, a))
    redis_server.stop()
    for method, path in (("POST", f"/api/queue/check/{eid}"), ("GET", f"/api/queue/status/{eid}"),
                         ("POST", f"/api/queue/leave/{eid}")):
        async with api.client.request(method, path, headers={"Authorization": f"Bearer {b}"}) as resp:
            assert resp.status == 503 and resp.headers["Retry-After"]
            assert (await resp.json())["error"]["code"] == "unavailable"
    # Everything else still answers.
    _, body = await api.call("GET", f"/api/events/{eid}", expect=200)
    assert body["event"]["queue"]["active"] is True
    await api.call("GET", "/api/events", expect=200)
    redis_server.start()

    async def checks_again():
        code, body = await api.call("POST", f"/api/queue/check/{eid}", b)
        return body if code == 200 else None
    await until(checks_again, timeout=15, interval=0.2)
    await until(lambda: _admitted(api, eid, b), timeout=10)


def test_wait_estimate():
    assert wait_estimate(1, 0, 2, 600) == 300          # from capacity / session before any
    assert wait_estimate(3, 0, 2, 600) == 900
    assert wait_estimate(10, 60, 2, 600) == 10         # one a second observed
    assert wait_estimate(1, 600, 2, 600) == 1


async def test_openapi_describes_the_queue_routes(api):
    _, spec = await api.call("GET", "/api/openapi.json", expect=200)
    paths = spec["paths"]
    assert set(paths["/api/queue/check/{eventId}"]) == {"post"}
    assert set(paths["/api/queue/status/{eventId}"]) == {"get"}
    assert "204" in paths["/api/queue/leave/{eventId}"]["post"]["responses"]
    assert "get" in paths["/api/admin/events/{eventId}/stats"]
