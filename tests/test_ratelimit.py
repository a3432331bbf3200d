"""Abuse limits: password guessing and hold storms get 429 with Retry-After, and nobody
can lock a fan out of their own account from somewhere else."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from ticketd.config import DEFAULT_LIMITS, Config, ConfigError, Limit

from helpers import USER_PASSWORD, Api, until

LOOPBACK_PROXY = (ipaddress.ip_network("127.0.0.1/32"),)
SMALL_LIMITS = {**DEFAULT_LIMITS,
                "login_failures_per_account_address": Limit(3, 900),
                "login_failures_per_address": Limit(8, 900),
                "login_failures_per_account": Limit(6, 900)}


@pytest.fixture
async def behind_proxy(aiohttp_client, make_app):
    """The app behind a trusted proxy on 127.0.0.1: X-Forwarded-For says who calls."""
    client = await aiohttp_client(make_app(trusted_proxies=LOOPBACK_PROXY, rate_limits=SMALL_LIMITS))
    return Api(client)


async def _email(api: Api, name: str) -> str:
    token = await api.register(name)
    return (await api.call("GET", "/api/me", token, expect=200))[1]["user"]["email"]


async def _login(api: Api, email: str, password: str, address: str | None = None):
    headers = {"X-Forwarded-For": address} if address else {}
    async with api.client.post("/api/auth/login", json={"email": email, "password": password},
                               headers=headers) as resp:
        return resp.status, await resp.json(), resp.headers


async def test_a_guesser_elsewhere_never_locks_the_owner_out(behind_proxy):
    api = behind_proxy
    email = await _email(api, "owner")
    assert (await _login(api, email, USER_PASSWORD, "198.51.100.7"))[0] == 200  # the owner's address
    for _ in range(3):
        assert (await _login(api, email, "wrong-guess", "203.0.113.9"))[0] == 401
    # The guesser's address now waits, even with the right password: it cannot tell.
    status, body, headers = await _login(api, email, USER_PASSWORD, "203.0.113.9")
    assert status == 429 and body["error"]["code"] == "rate_limited"
    assert 0 < int(headers["Retry-After"]) <= 900
    # The owner, from their own address, is not affected.
    assert (await _login(api, email, USER_PASSWORD, "198.51.100.7"))[0] == 200


async def test_many_guessers_close_the_account_to_new_addresses_only(behind_proxy):
    api = behind_proxy
    email = await _email(api, "target")
    assert (await _login(api, email, USER_PASSWORD, "198.51.100.7"))[0] == 200
    for i in range(6):  # a botnet: two guesses each from three addresses
        assert (await _login(api, email, "wrong-guess", f"203.0.113.{10 + i % 3}"))[0] == 401
    status, body, _ = await _login(api, email, USER_PASSWORD, "192.0.2.50")  # never seen before
    assert status == 429 and body["error"]["code"] == "rate_limited"
    assert (await _login(api, email, USER_PASSWORD, "198.51.100.7"))[0] == 200  # known: let in


async def test_one_address_trying_many_accounts_is_held_back(behind_proxy):
    api = behind_proxy
    emails = [await _email(api, f"stuffed{i}") for i in range(5)]
    for i in range(8):
        assert (await _login(api, emails[i % 4], "wrong-guess", "203.0.113.66"))[0] == 401
    assert (await _login(api, emails[4], USER_PASSWORD, "203.0.113.66"))[0] == 429
    assert (await _login(api, emails[4], USER_PASSWORD, "203.0.113.67"))[0] == 200


async def test_x_forwarded_for_is_ignored_from_untrusted_peers(aiohttp_client, make_app):
    api = Api(await aiohttp_client(make_app(rate_limits=SMALL_LIMITS)))  # no trusted proxies
    email = await _email(api, "spoofer")
    for i in range(3):  # a new "address" every time: all of them are the peer, 127.0.0.1
        assert (await _login(api, email, "wrong-guess", f"203.0.113.{i}"))[0] == 401
    assert (await _login(api, email, USER_PASSWORD, "203.0.113.99"))[0] == 429


async def test_an_admin_lifts_a_lock(behind_proxy, redis_url):
    import redis.asyncio as aioredis
    from ticketd.ratelimit import LoginThrottle, RateLimiter

    api = behind_proxy
    email = await _email(api, "locked")
    for _ in range(3):
        await _login(api, email, "wrong-guess", "203.0.113.5")
    assert (await _login(api, email, USER_PASSWORD, "203.0.113.5"))[0] == 429
    client = aioredis.Redis.from_url(redis_url)
    try:
        assert await LoginThrottle(RateLimiter(client, SMALL_LIMITS), client).clear(email) >= 1
    finally:
        await client.aclose()
    assert (await _login(api, email, USER_PASSWORD, "203.0.113.5"))[0] == 200


async def test_holds_are_limited_per_shopper(api, admin_token):
    event = await api.create_event(admin_token, quantity=1000)
    bot, fan = await api.register("bot"), await api.register("fan")
    body = {"eventId": event["id"], "items": [{"ticketTypeId": event["ticketTypes"][0]["id"], "quantity": 1}]}
    count, _ = DEFAULT_LIMITS["reservations_per_account"]
    results = await asyncio.gather(*[api.call("POST", "/api/reservations", bot, json=body)
                                     for _ in range(count + 10)])
    statuses = sorted(status for status, _ in results)
    assert statuses == [201] * count + [429] * 10
    assert all(b["error"]["code"] == "rate_limited" for s, b in results if s == 429)
    await api.call("POST", "/api/reservations", fan, expect=201, json=body)


async def test_rate_limits_off_turns_every_limit_off(aiohttp_client, make_app, admin_token):
    api = Api(await aiohttp_client(make_app(rate_limits=None)))
    email = await _email(api, "rehearsal")
    for _ in range(DEFAULT_LIMITS["login_failures_per_account_address"].count + 2):
        assert (await _login(api, email, "wrong-guess"))[0] == 401
    assert (await _login(api, email, USER_PASSWORD))[0] == 200


def test_limits_come_from_the_environment():
    config = Config.from_env({"TICKETD_LIMIT_RESERVATIONS_PER_ACCOUNT": "5/10",
                              "TICKETD_TRUSTED_PROXIES": "10.0.0.0/8, 127.0.0.1"})
    assert config.rate_limits["reservations_per_account"] == Limit(5, 10)
    assert config.rate_limits["login_failures_per_address"] == DEFAULT_LIMITS["login_failures_per_address"]
    assert [str(n) for n in config.trusted_proxies] == ["10.0.0.0/8", "127.0.0.1/32"]
    assert Config.from_env({"TICKETD_RATE_LIMITS": "off"}).rate_limits is None
    assert Config.from_env({"TICKETD_RATE_LIMITS": "on"}).rate_limits == DEFAULT_LIMITS
    with pytest.raises(ConfigError, match="TICKETD_LIMIT_RESERVATIONS_PER_ACCOUNT"):
        Config.from_env({"TICKETD_LIMIT_RESERVATIONS_PER_ACCOUNT": "lots"})
    with pytest.raises(ConfigError, match="TICKETD_TRUSTED_PROXIES"):
        Config.from_env({"TICKETD_TRUSTED_PROXIES": "not-an-address"})


async def test_the_other_abuse_limits_answer_429(aiohttp_client, make_app, admin_token):
    small = {**SMALL_LIMITS, "registrations_per_address": Limit(2, 600), "ws_connections_per_address": Limit(3, 60),
             "queue_calls_per_shopper": Limit(4, 60), "announcements_per_admin": Limit(2, 60)}
    api = Api(await aiohttp_client(make_app(rate_limits=small)))
    fans = [await api.register("nat") for _ in range(2)]
    code, err = await api.call("POST", "/api/auth/register",
                               json={"email": "third@example.com", "password": "a-long-password", "name": "x"})
    assert code == 429 and err["error"]["code"] == "rate_limited"
    # Upgrades are counted in the background: the one that passes the limit still gets in,
    # the next is turned away before its upgrade.
    sockets = [await api.client.ws_connect("/ws") for _ in range(4)]

    async def refused():
        async with api.client.get("/ws", headers={"Connection": "Upgrade", "Upgrade": "websocket",
                                                  "Sec-WebSocket-Version": "13",
                                                  "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}) as resp:
            if resp.status == 101:
                return None
            assert resp.status == 429 and "Retry-After" in resp.headers
            return True
    assert await until(refused, timeout=5)
    for ws in sockets:
        await ws.close()
    event = await api.create_event(admin_token, queue={"mode": "on", "capacity": 1})
    codes = [(await api.call("GET", f"/api/queue/status/{event['id']}", fans[0]))[0] for _ in range(5)]
    assert codes == [200] * 4 + [429]
    assert (await api.call("GET", f"/api/queue/status/{event['id']}", fans[1]))[0] == 200  # per shopper
    announce = [(await api.call("POST", f"/api/admin/events/{event['id']}/announce", admin_token,
                                json={"message": "hi"}))[0] for _ in range(3)]
    assert announce == [202, 202, 429]
