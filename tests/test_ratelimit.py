"""Rate limits: password guessing and hold storms get 429 with Retry-After."""

import asyncio

from ticketd import ratelimit

from helpers import USER_PASSWORD


async def test_failed_logins_are_limited_per_account(api):
    token = await api.register("guessed")
    _, me = await api.call("GET", "/api/me", token, expect=200)
    email = me["user"]["email"]
    attempts, window = ratelimit.LOGIN_FAILURES
    for _ in range(attempts):
        status, _ = await api.call("POST", "/api/auth/login", json={"email": email, "password": "wrong-guess"})
        assert status == 401
    # Now even the right password waits: the guesser cannot tell.
    async with api.client.post("/api/auth/login", json={"email": email, "password": USER_PASSWORD}) as resp:
        body = await resp.json()
        assert resp.status == 429 and body["error"]["code"] == "rate_limited"
        assert 0 < int(resp.headers["Retry-After"]) <= window
    # Other accounts are not affected.
    other = await api.register("bystander")
    _, me = await api.call("GET", "/api/me", other, expect=200)
    await api.call("POST", "/api/auth/login", expect=200,
                   json={"email": me["user"]["email"], "password": USER_PASSWORD})


async def test_holds_are_limited_per_shopper(api, admin_token):
    event = await api.create_event(admin_token, quantity=1000)
    bot, fan = await api.register("bot"), await api.register("fan")
    body = {"eventId": event["id"], "items": [{"ticketTypeId": event["ticketTypes"][0]["id"], "quantity": 1}]}
    count, _ = ratelimit.RESERVATIONS
    results = await asyncio.gather(*[api.call("POST", "/api/reservations", bot, json=body)
                                     for _ in range(count + 10)])
    statuses = sorted(status for status, _ in results)
    assert statuses == [201] * count + [429] * 10
    assert all(b["error"]["code"] == "rate_limited" for s, b in results if s == 429)
    await api.call("POST", "/api/reservations", fan, expect=201, json=body)
