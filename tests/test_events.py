"""Events, ticket types, seating and time zones."""

import pytest

from ticketd.config import Config, ConfigError

from helpers import Api, db_query
from wsclient import connect


async def test_create_and_read_event(api, admin_token):
    event = await api.create_event(admin_token, quantity=120, max_per_order=4, seats=(3, 5),
                                   queue={"mode": "on", "capacity": 50, "sessionSeconds": 300})
    assert event["name"] == "Test Night" and event["startsAt"] == "2027-01-01T20:00:00Z"
    assert event["hasSeats"] is True
    assert event["queue"] == {"mode": "on", "capacity": 50, "sessionSeconds": 300, "active": True,
                              "admitPerMinute": None, "prequeueSeconds": 900, "challengeBits": 0}
    assert event["saleStartsAt"] is None and event["maxPerCustomer"] is None
    general, seated = event["ticketTypes"]
    assert general["total"] == general["available"] == 120 and general["maxPerOrder"] == 4
    assert general["price"] == 30
    assert seated["total"] == seated["available"] == 15  # quantity comes from the seats
    _, listed = await api.call("GET", "/api/events", expect=200)
    assert [e["id"] for e in listed["events"]] == [event["id"]]
    _, one = await api.call("GET", f"/api/events/{event['id']}", expect=200)
    assert one["event"] == event


async def test_seats(api, admin_token):
    event = await api.create_event(admin_token, seats=(2, 3))
    _, body = await api.call("GET", f"/api/events/{event['id']}/seats", expect=200)
    seats = body["seats"]
    assert [s["label"] for s in seats] == ["A A1", "A A2", "A A3", "A B1", "A B2", "A B3"]
    assert {s["status"] for s in seats} == {"available"}
    assert {s["ticketTypeId"] for s in seats} == {event["ticketTypes"][1]["id"]}
    assert set(seats[0]) == {"id", "label", "section", "row", "number", "ticketTypeId", "status"}


async def test_create_and_patch_are_admin_only(api, admin_token):
    user = await api.register()
    body = {"name": "X", "venue": "Y", "startsAt": "2027-01-01T20:00:00Z",
            "ticketTypes": [{"name": "GA", "price": 1, "quantity": 1}]}
    assert (await api.call("POST", "/api/events", json=body))[0] == 401
    status, err = await api.call("POST", "/api/events", user, json=body)
    assert status == 403 and err["error"]["code"] == "forbidden"
    event = await api.create_event(admin_token)
    status, _ = await api.call("PATCH", f"/api/events/{event['id']}", user, json={"name": "Hacked"})
    assert status == 403
    _, patched = await api.call("PATCH", f"/api/events/{event['id']}", admin_token, expect=200,
                                json={"name": "Renamed", "queue": {"mode": "auto", "capacity": 7}})
    assert patched["event"]["name"] == "Renamed"
    assert patched["event"]["queue"]["mode"] == "auto" and patched["event"]["queue"]["capacity"] == 7
    assert patched["event"]["queue"]["sessionSeconds"] == 600


async def test_event_validation_names_fields(api, admin_token):
    status, err = await api.call("POST", "/api/events", admin_token, json={
        "name": "", "venue": "V", "startsAt": "not a date",
        "ticketTypes": [{"name": "GA", "price": -1, "quantity": 5}],
        "queue": {"mode": "sometimes"}})
    assert status == 400 and err["error"]["code"] == "validation_error"
    details = err["error"]["details"]
    assert {"name", "startsAt", "ticketTypes", "queue"} <= set(details)
    assert "price" in details["ticketTypes"]["0"] and "mode" in details["queue"]


async def test_section_must_name_a_ticket_type(api, admin_token):
    status, err = await api.call("POST", "/api/events", admin_token, json={
        "name": "N", "venue": "V", "startsAt": "2027-01-01T20:00:00Z",
        "ticketTypes": [{"name": "GA", "price": 1, "quantity": 5}],
        "seating": {"sections": [{"name": "A", "rows": 1, "seatsPerRow": 2, "ticketType": "VIP"}]}})
    assert status == 400 and "seating" in err["error"]["details"]


async def test_unknown_event_is_404(api):
    for path in ("/api/events/999", "/api/events/abc", "/api/events/999/seats"):
        status, err = await api.call("GET", path)
        assert status == 404 and err["error"]["code"] == "not_found", path


async def test_large_venue_seats_are_created_in_bulk(api, admin_token, database_url):
    event = await api.create_event(admin_token, seats=(40, 50))
    assert event["ticketTypes"][1]["total"] == 2000
    assert db_query(database_url, "SELECT count(*) FROM seats WHERE event_id = %s", (int(event["id"]),)) == [(2000,)]


async def test_an_event_of_a_million_seats_is_refused(api, admin_token):
    body = {"name": "Too big", "venue": "Nowhere", "startsAt": "2027-01-01T20:00:00Z",
            "ticketTypes": [{"name": "Seat", "price": 1}],
            "seating": {"sections": [{"name": f"S{i}", "rows": 200, "seatsPerRow": 200, "ticketType": "Seat"}
                                     for i in range(3)]}}
    status, err = await api.call("POST", "/api/events", admin_token, json=body)
    assert status == 400 and err["error"]["message"] == "At most 100,000 seats per event"
    body["seating"]["sections"][0]["ticketType"] = "Nope"
    status, err = await api.call("POST", "/api/events", admin_token, json=body)
    assert status == 400 and "No ticket type named 'Nope'" in err["error"]["message"]


# ---- time zones: where an event takes place, the zone its pages show its times in ----------

ZONED = {"name": "서울 공연", "venue": "KSPO DOME", "startsAt": "2027-03-01T10:00:00Z",
         "ticketTypes": [{"name": "VIP석", "price": 154000, "quantity": 10}]}


async def test_time_zone_is_set_on_create_changed_by_patch_and_comes_back_everywhere(api, admin_token, client):
    _, created = await api.call("POST", "/api/events", admin_token, expect=201,
                                json={**ZONED, "timeZone": "Asia/Seoul"})
    event = created["event"]
    assert event["timeZone"] == "Asia/Seoul"
    assert event["startsAt"] == "2027-03-01T10:00:00Z"        # times stay UTC: the zone is how to show them
    _, one = await api.call("GET", f"/api/events/{event['id']}", expect=200)
    _, listed = await api.call("GET", "/api/events", expect=200)
    assert one["event"]["timeZone"] == listed["events"][0]["timeZone"] == "Asia/Seoul"

    ws = await connect(client)
    snapshot = await ws.join(f"event:{event['id']}")
    assert snapshot["event"]["timeZone"] == "Asia/Seoul"
    _, patched = await api.call("PATCH", f"/api/events/{event['id']}", admin_token, expect=200,
                                json={"timeZone": "Europe/Berlin"})
    assert patched["event"]["timeZone"] == "Europe/Berlin" and patched["event"]["name"] == "서울 공연"
    assert (await ws.push("event-updated"))["data"]["timeZone"] == "Europe/Berlin"
    await ws.close()
    _, one = await api.call("GET", f"/api/events/{event['id']}", expect=200)
    assert one["event"]["timeZone"] == "Europe/Berlin"


async def test_time_zone_defaults_to_utc(api, admin_token):
    event = await api.create_event(admin_token)
    assert event["timeZone"] == "UTC"
    _, patched = await api.call("PATCH", f"/api/events/{event['id']}", admin_token, expect=200, json={"name": "Kept"})
    assert patched["event"]["timeZone"] == "UTC"


async def test_time_zone_default_comes_from_the_config(aiohttp_client, make_app, database_url):
    api = Api(await aiohttp_client(make_app(time_zone="Asia/Seoul")))
    admin = await api.admin(database_url)
    _, created = await api.call("POST", "/api/events", admin, expect=201, json=ZONED)
    assert created["event"]["timeZone"] == "Asia/Seoul"
    _, chosen = await api.call("POST", "/api/events", admin, expect=201, json={**ZONED, "timeZone": "America/New_York"})
    assert chosen["event"]["timeZone"] == "America/New_York"


@pytest.mark.parametrize("bad", ["Mars/Olympus_Mons", "asia/seoul", "GMT+25", "", "localtime", "../../etc/passwd",
                                 "Asia/Seoul\n", 9, None])
async def test_time_zone_must_be_an_iana_name(api, admin_token, bad):
    status, err = await api.call("POST", "/api/events", admin_token, json={**ZONED, "timeZone": bad})
    assert status == 400 and err["error"]["code"] == "validation_error"
    assert list(err["error"]["details"]) == ["timeZone"], err
    event = await api.create_event(admin_token)
    status, err = await api.call("PATCH", f"/api/events/{event['id']}", admin_token, json={"timeZone": bad})
    assert status == 400 and list(err["error"]["details"]) == ["timeZone"], err
    if isinstance(bad, str):
        assert "IANA" in err["error"]["message"] and "timeZone" in err["error"]["message"]
    _, unchanged = await api.call("GET", f"/api/events/{event['id']}", expect=200)
    assert unchanged["event"]["timeZone"] == "UTC"


def test_ticketd_time_zone_env():
    assert Config.from_env({}).time_zone == "UTC"
    assert Config.from_env({"TICKETD_TIME_ZONE": " Asia/Seoul "}).time_zone == "Asia/Seoul"
    for bad in ("Seoul", "KST+9", "localtime"):
        with pytest.raises(ConfigError, match="TICKETD_TIME_ZONE"):
            Config.from_env({"TICKETD_TIME_ZONE": bad})
