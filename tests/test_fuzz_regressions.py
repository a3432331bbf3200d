"""Inputs the fuzzers found to break the server, each kept as a test of its fix."""

from __future__ import annotations

import asyncio

import aiohttp
import orjson
import pytest

from ticketd import appkeys

from wsclient import connect
from wsraw import TEXT, RawWs, frame


def _event(**extra) -> dict:
    return {"name": "N", "venue": "V", "startsAt": "2030-01-01T20:00:00Z",
            "ticketTypes": [{"name": "GA", "price": 1, "quantity": 5}], **extra}


@pytest.mark.parametrize("moment, expect", [
    # Offsets PostgreSQL refuses (it takes at most ±15:59) are fine in ISO 8601.
    ("2030-06-22T11:58:19+18:39", "2030-06-21T17:19:19Z"),
    ("2030-01-01T00:00:00-23:59", "2030-01-01T23:59:00Z"),
])
async def test_any_iso_offset_is_a_moment_in_utc(api, admin_token, moment, expect):
    _, body = await api.call("POST", "/api/events", admin_token, expect=201,
                             json=_event(startsAt=moment, saleStartsAt=moment))
    assert body["event"]["startsAt"] == expect and body["event"]["saleStartsAt"] == expect
    event_id = body["event"]["id"]
    _, body = await api.call("PATCH", f"/api/events/{event_id}", admin_token, expect=200,
                             json={"startsAt": moment, "saleStartsAt": moment})
    assert body["event"]["startsAt"] == expect and body["event"]["saleStartsAt"] == expect


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:00:00-05:00"])
async def test_a_moment_outside_years_1_to_9999_in_utc_is_a_400(api, admin_token, moment):
    _, body = await api.call("POST", "/api/events", admin_token, expect=400, json=_event(startsAt=moment))
    assert body["error"]["code"] == "validation_error" and "startsAt" in body["error"]["details"]
    _, body = await api.call("POST", "/api/events", admin_token, expect=400, json=_event(saleStartsAt=moment))
    assert "saleStartsAt" in body["error"]["details"]


@pytest.mark.parametrize("method, path, body, field", [
    ("POST", "/api/auth/register", {"email": "nul@example.com", "password": "password-1", "name": "a\x00b"}, "name"),
    ("POST", "/api/auth/login", {"email": "a\x00b@example.com", "password": "password-1"}, "email"),
    ("POST", "/api/events", _event(name="a\x00b"), "name"),
    ("POST", "/api/events", _event(venue="\x00"), "venue"),
    ("POST", "/api/events", _event(ticketTypes=[{"name": "G\x00A", "price": 1, "quantity": 1}]), "ticketTypes"),
    ("PATCH", "/api/events/{event}", {"venue": "x\x00"}, "venue"),
])
async def test_a_nul_character_in_text_for_postgresql_is_a_400(api, admin_token, method, path, body, field):
    event = await api.create_event(admin_token)
    _, answer = await api.call(method, path.format(event=event["id"]), admin_token, expect=400, json=body)
    assert answer["error"]["code"] == "validation_error" and field in answer["error"]["details"], answer


async def _raw_post(port: int, path: str, headers: bytes, body: dict) -> tuple[int, dict]:
    """A request written byte for byte (header values that aiohttp's client would encode)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    payload = orjson.dumps(body)
    writer.write(b"POST " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                 b"Content-Type: application/json\r\nContent-Length: " + str(len(payload)).encode() + b"\r\n"
                 + headers + b"\r\n" + payload)
    raw = await reader.read()
    writer.close()
    head, _, answer = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), orjson.loads(answer)


async def test_an_idempotency_key_that_is_not_utf8_is_a_400(client, api, admin_token):
    event = await api.create_event(admin_token)
    token = await api.register()
    body = {"eventId": event["id"], "items": [{"ticketTypeId": event["ticketTypes"][0]["id"], "quantity": 1}]}
    auth = b"Authorization: Bearer " + token.encode() + b"\r\n"
    # "\xe9t\xe9" in Latin-1 on the wire: not UTF-8.
    status, answer = await _raw_post(client.server.port, "/api/reservations",
                                     auth + b"Idempotency-Key: \xe9t\xe9\r\n", body)
    assert status == 400 and "Idempotency-Key" in answer["error"]["details"], answer
    # The same key in UTF-8 is a key like any other.
    utf8 = auth + "Idempotency-Key: \xe9t\xe9\r\n".encode()
    status, held = await _raw_post(client.server.port, "/api/reservations", utf8, body)
    assert status == 201, held
    status, again = await _raw_post(client.server.port, "/api/reservations", utf8, body)
    assert status == 200 and again["reservation"]["id"] == held["reservation"]["id"]


async def test_an_id_with_a_leading_zero_is_not_an_id_the_api_gave_out(client, api, admin_token):
    event = await api.create_event(admin_token)
    padded = "0" + event["id"]
    await api.call("GET", f"/api/events/{padded}", expect=404)
    token = await api.register()
    _, answer = await api.call("POST", "/api/reservations", token, expect=400, json={
        "eventId": padded, "items": [{"ticketTypeId": event["ticketTypes"][0]["id"], "quantity": 1}]})
    assert "eventId" in answer["error"]["details"]
    # On /ws "event:01" was a room of its own that joined with event 1's snapshot and then
    # never got a push (they go to "event:1").
    ws = await connect(client)
    reply = await ws.call("join", room=f"event:{padded}")
    assert reply["ok"] is False and reply["error"]["code"] == "not_found"
    await ws.close()


@pytest.mark.parametrize("op", [{"op": "ping"}, {"op": "join", "room": "event:1"}, {"op": "dance"}])
async def test_a_ref_too_deep_to_echo_is_a_bad_frame(client, op):
    # 300 nested lists: orjson reads them (up to 1024 deep) but writes at most 254. The
    # TypeError from echoing it used to escape the handler, whose HTTP 500 was then written
    # into the WebSocket stream.
    ws = await RawWs.connect(client.server.port)
    ws.send(frame(orjson.dumps(op)[:-1] + b',"ref":' + b"[" * 300 + b"]" * 300 + b"}"))
    opcode, payload = await ws.recv()
    assert opcode == TEXT and orjson.loads(payload)["error"]["code"] == "bad_request"
    ws.send(frame(b'{"op":"ping","ref":"still here"}'))
    assert await ws.recv() == (TEXT, b'{"op":"pong","ref":"still here"}')
    await ws.aclose()


async def test_bad_frames_close_1008_only_when_they_come_in_a_row(client):
    # docs/api.md: 1008 is "too many bad frames in a row"; the count never went back to 0,
    # so a long-lived socket was closed for its tenth mistake in hours.
    ws = await connect(client)
    for _ in range(5):
        for _ in range(9):
            await ws.ws.send_str("nope")
            assert (await ws.recv())["op"] == "error"
        assert (await ws.call("ping"))["op"] == "pong"
    for _ in range(10):
        await ws.ws.send_str("nope")
        assert (await ws.recv())["op"] == "error"
    msg = await ws.ws.receive(timeout=5)
    assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 1008


async def test_a_client_that_sends_pings_and_never_reads_is_cut_off(client, api, admin_token):
    # Replies (pongs, join snapshots) went out with no look at the socket's unsent output:
    # a client that kept asking and never read grew the server's buffer without bound.
    # Now replies are held to TICKETD_WS_MAX_BUFFER like pushes (1013, then cut).
    event = await api.create_event(admin_token)
    hub = client.server.app[appkeys.hub]
    observer = await connect(client)
    await observer.join(f"event:{event['id']}")
    flood = await RawWs.connect(client.server.port, rcvbuf=4096)
    ping = frame(orjson.dumps({"op": "ping", "ref": "x" * 3900}))
    sent = 0
    with pytest.raises(ConnectionError):
        while len(hub.conns) == 2:
            assert sent < 20_000, "still connected after 80 MB of pings that were never read"
            flood.send(ping * 50)
            sent += 50
            await asyncio.wait_for(flood.writer.drain(), 5)
        # Cut: the next writes fail.
        for _ in range(100):
            flood.send(ping * 50)
            await asyncio.wait_for(flood.writer.drain(), 5)
    assert len(hub.conns) == 1
    await announce_and_receive(api, admin_token, event["id"], observer)
    await observer.close()


async def announce_and_receive(api, admin_token, event_id: str, ws) -> None:
    await api.call("POST", f"/api/admin/events/{event_id}/announce", admin_token, expect=202,
                   json={"message": "still here"})
    assert (await ws.push("announcement"))["data"]["message"] == "still here"


async def test_pacing_after_admissions_with_no_queue(api, admin_token):
    # Mode off admits at once and counted each admission against the pacing credit, which
    # created the credit without the time it was last topped up; when the queue came on,
    # the next check did arithmetic on that missing time (a Lua error, a 500).
    _, body = await api.call("POST", "/api/events", admin_token, expect=201,
                             json=_event(queue={"mode": "off", "admitPerMinute": 60}))
    event_id = body["event"]["id"]
    _, answer = await api.call("POST", f"/api/queue/check/{event_id}", await api.register(), expect=200)
    assert answer["status"] == "admitted"
    await api.call("PATCH", f"/api/events/{event_id}", admin_token, expect=200,
                   json={"queue": {"mode": "auto", "capacity": 5}})
    _, answer = await api.call("POST", f"/api/queue/check/{event_id}", await api.register(), expect=200)
    assert answer["status"] == "admitted"
