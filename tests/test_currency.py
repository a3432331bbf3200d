"""Events carry the ISO 4217 currency their prices are in (default TICKETD_CURRENCY, EUR)."""

import datetime
import zoneinfo

import pytest

from ticketd import db, demo
from ticketd.config import Config, ConfigError

BODY = {"name": "서울 공연", "venue": "KSPO DOME", "startsAt": "2027-03-01T10:00:00Z",
        "ticketTypes": [{"name": "VIP석", "price": 154000, "quantity": 10}]}


async def test_currency_is_set_on_create_and_comes_back_everywhere(api, admin_token):
    _, created = await api.call("POST", "/api/events", admin_token, expect=201, json={**BODY, "currency": "KRW"})
    event = created["event"]
    assert event["currency"] == "KRW" and event["ticketTypes"][0]["price"] == 154000
    _, one = await api.call("GET", f"/api/events/{event['id']}", expect=200)
    _, listed = await api.call("GET", "/api/events", expect=200)
    assert one["event"]["currency"] == listed["events"][0]["currency"] == "KRW"


async def test_currency_defaults_to_eur(api, admin_token):
    event = await api.create_event(admin_token)
    assert event["currency"] == "EUR"


async def test_currency_default_comes_from_the_config(aiohttp_client, make_app, database_url):
    from helpers import Api
    api = Api(await aiohttp_client(make_app(currency="KRW")))
    admin = await api.admin(database_url)
    _, created = await api.call("POST", "/api/events", admin, expect=201, json=BODY)
    assert created["event"]["currency"] == "KRW"


@pytest.mark.parametrize("bad", ["krw", "EURO", "E1R", "", 978])
async def test_currency_must_be_three_uppercase_letters(api, admin_token, bad):
    status, err = await api.call("POST", "/api/events", admin_token, json={**BODY, "currency": bad})
    assert status == 400 and err["error"]["code"] == "validation_error"
    assert "currency" in err["error"]["details"]


def test_ticketd_currency_env():
    assert Config.from_env({}).currency == "EUR"
    assert Config.from_env({"TICKETD_CURRENCY": "krw"}).currency == "KRW"
    with pytest.raises(ConfigError, match="TICKETD_CURRENCY"):
        Config.from_env({"TICKETD_CURRENCY": "euro"})


async def test_the_demo_has_a_korean_event_in_won_in_seoul_time(database_url, clean_state):
    pool = await db.create_pool(database_url, maxsize=2)
    try:
        await db.migrate(pool)
        await demo.create_demo(pool)
        rows = await db.fetch_all(pool, "SELECT name, venue, currency, time_zone, starts_at FROM events ORDER BY id")
    finally:
        pool.close()
        await pool.wait_closed()
    assert [r["currency"] for r in rows] == ["EUR", "KRW"]
    assert [r["time_zone"] for r in rows] == ["Europe/Berlin", "Asia/Seoul"]
    assert rows[1]["venue"] == "올림픽공원 KSPO DOME"
    # Each starts in the evening where it takes place.
    local = [r["starts_at"].astimezone(zoneinfo.ZoneInfo(r["time_zone"])).time() for r in rows]
    assert local == [datetime.time(19, 30), datetime.time(19, 0)]
