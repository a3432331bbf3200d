"""Reservations: hold, confirm, cancel, ownership, limits, idempotency, expiry."""

import asyncio
import time

from helpers import db_query


def hold_body(event, quantity=2, type_index=0):
    return {"eventId": event["id"], "items": [{"ticketTypeId": event["ticketTypes"][type_index]["id"],
                                               "quantity": quantity}]}


async def available(api, event, type_index=0):
    _, body = await api.call("GET", f"/api/events/{event['id']}", expect=200)
    return body["event"]["ticketTypes"][type_index]["available"]


async def test_hold_confirm_cancel(api, admin_token):
    event = await api.create_event(admin_token, quantity=10)
    fan = await api.register()
    _, body = await api.call("POST", "/api/reservations", fan, expect=201, json=hold_body(event, 3))
    reservation = body["reservation"]
    assert reservation["status"] == "pending" and reservation["eventId"] == event["id"]
    assert reservation["items"] == [{"ticketTypeId": event["ticketTypes"][0]["id"], "quantity": 3}]
    assert reservation["seatIds"] == [] and reservation["expiresAt"].endswith("Z")
    assert await available(api, event) == 7
    _, body = await api.call("POST", f"/api/reservations/{reservation['id']}/confirm", fan, expect=200)
    assert body["reservation"]["status"] == "confirmed"
    assert await available(api, event) == 7
    _, body = await api.call("POST", f"/api/reservations/{reservation['id']}/cancel", fan, expect=200)
    assert body["reservation"]["status"] == "cancelled"
    assert await available(api, event) == 10
    # Cancelling twice returns nothing twice.
    await api.call("POST", f"/api/reservations/{reservation['id']}/cancel", fan, expect=200)
    assert await available(api, event) == 10


async def test_confirming_a_cancelled_reservation_is_invalid_state(api, admin_token):
    event = await api.create_event(admin_token, quantity=10)
    fan = await api.register()
    _, body = await api.call("POST", "/api/reservations", fan, expect=201, json=hold_body(event, 2))
    rid = body["reservation"]["id"]
    await api.call("POST", f"/api/reservations/{rid}/cancel", fan, expect=200)
    for _ in range(2):  # and it stays so: nothing is sold, the stock stays back
        status, err = await api.call("POST", f"/api/reservations/{rid}/confirm", fan)
        assert status == 409, err
        assert err["error"]["code"] == "invalid_state"
        assert err["error"]["message"] == "The reservation was cancelled"
        assert set(err["error"]) >= {"code", "message", "details"}
    _, got = await api.call("GET", f"/api/reservations/{rid}", fan, expect=200)
    assert got["reservation"]["status"] == "cancelled"
    assert await available(api, event) == 10


async def test_seats_hold_confirm_cancel(api, admin_token):
    event = await api.create_event(admin_token, seats=(1, 4))
    _, body = await api.call("GET", f"/api/events/{event['id']}/seats")
    seat_ids = [s["id"] for s in body["seats"]]
    fan = await api.register()
    _, body = await api.call("POST", "/api/reservations", fan, expect=201,
                             json={"eventId": event["id"], "seatIds": seat_ids[:2]})
    reservation = body["reservation"]
    assert reservation["seatIds"] == seat_ids[:2]
    assert reservation["items"] == [{"ticketTypeId": event["ticketTypes"][1]["id"], "quantity": 2}]
    _, seats = await api.call("GET", f"/api/events/{event['id']}/seats")
    assert [s["status"] for s in seats["seats"]] == ["held", "held", "available", "available"]
    assert await available(api, event, 1) == 2
    other = await api.register()
    status, err = await api.call("POST", "/api/reservations", other,
                                 json={"eventId": event["id"], "seatIds": seat_ids[1:3]})
    assert status == 409 and err["error"]["code"] == "seat_unavailable"
    assert err["error"]["details"]["seatIds"] == [seat_ids[1]]
    await api.call("POST", f"/api/reservations/{reservation['id']}/confirm", fan, expect=200)
    _, seats = await api.call("GET", f"/api/events/{event['id']}/seats")
    assert [s["status"] for s in seats["seats"]][:2] == ["sold", "sold"]
    _, body = await api.call("POST", f"/api/reservations/{reservation['id']}/cancel", fan, expect=200)
    assert body["reservation"]["seatIds"] == seat_ids[:2]  # the record stays whole
    _, seats = await api.call("GET", f"/api/events/{event['id']}/seats")
    assert {s["status"] for s in seats["seats"]} == {"available"}
    assert await available(api, event, 1) == 4


async def test_owner_only(api, admin_token):
    event = await api.create_event(admin_token)
    owner, stranger = await api.register(), await api.register()
    _, body = await api.call("POST", "/api/reservations", owner, expect=201, json=hold_body(event))
    rid = body["reservation"]["id"]
    for method, path in (("GET", f"/api/reservations/{rid}"),
                         ("POST", f"/api/reservations/{rid}/confirm"),
                         ("POST", f"/api/reservations/{rid}/cancel")):
        status, err = await api.call(method, path, stranger)
        assert status == 404 and err["error"]["code"] == "not_found", path
        assert (await api.call(method, path))[0] == 401
    _, mine = await api.call("GET", "/api/reservations", owner, expect=200)
    _, theirs = await api.call("GET", "/api/reservations", stranger, expect=200)
    assert [r["id"] for r in mine["reservations"]] == [rid] and theirs["reservations"] == []
    _, got = await api.call("GET", f"/api/reservations/{rid}", owner, expect=200)
    assert got["reservation"]["id"] == rid
    assert (await api.call("GET", "/api/reservations/not-a-uuid", owner))[0] == 404


async def test_sold_out_and_limit(api, admin_token):
    event = await api.create_event(admin_token, quantity=5, max_per_order=4)
    fan = await api.register()
    status, err = await api.call("POST", "/api/reservations", fan, json=hold_body(event, 5))
    assert status == 409 and err["error"]["code"] == "limit_exceeded"
    await api.call("POST", "/api/reservations", fan, expect=201, json=hold_body(event, 4))
    status, err = await api.call("POST", "/api/reservations", fan, json=hold_body(event, 2))
    assert status == 409 and err["error"]["code"] == "sold_out"
    assert await available(api, event) == 1


async def test_reservation_validation(api, admin_token):
    event = await api.create_event(admin_token, seats=(1, 2))
    fan = await api.register()
    cases = [
        ({"eventId": event["id"]}, "items"),
        ({"eventId": event["id"], "items": [{"ticketTypeId": event["ticketTypes"][0]["id"], "quantity": 0}]},
         "items"),
        ({"eventId": "abc", "items": [{"ticketTypeId": "1", "quantity": 1}]}, "eventId"),
        ({"eventId": event["id"], "seatIds": ["1", "1"]}, "seatIds"),
        ({"eventId": event["id"], "items": [{"ticketTypeId": "99999", "quantity": 1}]}, "items"),
        ({"eventId": event["id"], "seatIds": ["99999"]}, "seatIds"),
        # seated types are bought by seat, not by count
        ({"eventId": event["id"], "items": [{"ticketTypeId": event["ticketTypes"][1]["id"], "quantity": 1}]},
         "items"),
    ]
    for body, field in cases:
        status, err = await api.call("POST", "/api/reservations", fan, json=body)
        assert status == 400 and err["error"]["code"] == "validation_error", body
        assert field in err["error"]["details"], (body, err)
    status, err = await api.call("POST", "/api/reservations", fan,
                                 json={"eventId": "99999", "items": [{"ticketTypeId": "1", "quantity": 1}]})
    assert status == 404


async def test_idempotency_key(api, admin_token, database_url):
    event = await api.create_event(admin_token, quantity=10)
    fan = await api.register()
    headers = {"Idempotency-Key": "order-1"}
    # Two identical requests racing: one reservation, both answers name it.
    results = await asyncio.gather(*[
        api.call("POST", "/api/reservations", fan, json=hold_body(event, 2), headers=dict(headers))
        for _ in range(10)])
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] * 9 + [201]
    assert len({body["reservation"]["id"] for _, body in results}) == 1
    assert await available(api, event) == 8
    status, err = await api.call("POST", "/api/reservations", fan, json=hold_body(event, 3), headers=dict(headers))
    assert status == 409 and err["error"]["code"] == "idempotency_key_reused"
    # Keys belong to their user: another user's same key is a new reservation.
    other = await api.register()
    await api.call("POST", "/api/reservations", other, expect=201, json=hold_body(event, 2), headers=dict(headers))
    assert db_query(database_url, "SELECT count(*) FROM reservations") == [(2,)]


async def test_confirm_after_expiry_is_409(aiohttp_client, make_app, database_url):
    from helpers import Api
    # A sweeper too slow to get there first: confirm itself must notice the expiry.
    api = Api(await aiohttp_client(make_app(hold_seconds=1, expiry_interval=3600)))
    admin = await api.admin(database_url)
    event = await api.create_event(admin, quantity=5)
    fan = await api.register()
    _, body = await api.call("POST", "/api/reservations", fan, expect=201, json=hold_body(event, 2))
    rid = body["reservation"]["id"]
    db_query(database_url, "UPDATE reservations SET expires_at = now() - interval '1 second' WHERE id = %s "
                           "RETURNING id", (rid,))
    status, err = await api.call("POST", f"/api/reservations/{rid}/confirm", fan)
    assert status == 409 and err["error"]["code"] == "reservation_expired"
    _, got = await api.call("GET", f"/api/reservations/{rid}", fan, expect=200)
    assert got["reservation"]["status"] == "expired"
    assert await available(api, event) == 5


async def test_sweeper_releases_expired_holds(aiohttp_client, make_app, database_url):
    from helpers import Api
    api = Api(await aiohttp_client(make_app(hold_seconds=1, expiry_interval=0.1)))
    admin = await api.admin(database_url)
    event = await api.create_event(admin, quantity=5, seats=(1, 2))
    _, seats = await api.call("GET", f"/api/events/{event['id']}/seats")
    fan = await api.register()
    _, body = await api.call("POST", "/api/reservations", fan, expect=201, json={
        "eventId": event["id"], "items": [{"ticketTypeId": event["ticketTypes"][0]["id"], "quantity": 3}],
        "seatIds": [seats["seats"][0]["id"]]})
    rid = body["reservation"]["id"]
    assert await available(api, event) == 2
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        _, got = await api.call("GET", f"/api/reservations/{rid}", fan, expect=200)
        if got["reservation"]["status"] == "expired":
            break
        await asyncio.sleep(0.05)
    assert got["reservation"]["status"] == "expired"
    assert await available(api, event) == 5
    assert await available(api, event, 1) == 2
    _, seats = await api.call("GET", f"/api/events/{event['id']}/seats")
    assert {s["status"] for s in seats["seats"]} == {"available"}


async def test_one_rule_one_message_written_for_people(api, admin_token):
    event = await api.create_event(admin_token, quantity=100, max_per_order=6, seats=(1, 2))
    fan = await api.register()
    ga, seated = event["ticketTypes"]
    answers = []
    for quantity in (7, 1000, 10**15):
        status, err = await api.call("POST", "/api/reservations", fan,
                                     json={"eventId": event["id"], "items": [{"ticketTypeId": ga["id"], "quantity": quantity}]})
        assert status == 409 and err["error"]["code"] == "limit_exceeded"
        answers.append(err["error"]["message"])
    assert answers == ["At most 6 GA tickets per order"] * 3
    cases = [
        ({"items": [{"ticketTypeId": ga["id"], "quantity": 0}]}, "Choose at least 1 ticket (items.0.quantity)"),
        ({"items": [{"ticketTypeId": "GA", "quantity": 1}]},
         'Not an id this API gave out: use ids exactly as returned, e.g. "12" (items.0.ticketTypeId)'),
        ({"seatIds": ["1", "1"]}, "Each seat can be chosen only once (seatIds)"),
        ({"seatIds": ["99999"]}, "Seat 99999 is not part of this event"),
        ({"items": [{"ticketTypeId": seated["id"], "quantity": 1}]},
         "Seated tickets are seated: choose seats instead"),
        ({}, "Choose tickets (items) or seats (seatIds) (items)"),
    ]
    for extra, message in cases:
        status, err = await api.call("POST", "/api/reservations", fan, json={"eventId": event["id"], **extra})
        assert status == 400 and err["error"]["message"] == message, (extra, err)
    seats = (await api.call("GET", f"/api/events/{event['id']}/seats", expect=200))[1]["seats"]
    await api.call("POST", "/api/reservations", fan, expect=201, json={"eventId": event["id"], "seatIds": [seats[0]["id"]]})
    status, err = await api.call("POST", "/api/reservations", await api.register(),
                                 json={"eventId": event["id"], "seatIds": [seats[0]["id"]]})
    # The seat reads as the pages label it (static/i18n/en.json "seats.label").
    assert status == 409 and err["error"]["code"] == "seat_unavailable"
    assert err["error"]["message"] == "Just taken, choose another: Section A · Row A · Seat 1"
