"""/ws in one process against real PostgreSQL and Redis: every op and error path,
snapshots and seq, pushes, coalescing, slow clients."""

from __future__ import annotations

import asyncio
import base64
import gc
import os
import socket
import struct
import time

import aiohttp
import orjson
import pytest
import uvloop
from aiohttp import web

from ticketd import appkeys, metrics
from ticketd.auth import TokenSigner

from helpers import TEST_SECRET
from wsclient import connect


async def announce(api, admin_token, event_id, message="hello"):
    await api.call("POST", f"/api/admin/events/{event_id}/announce", admin_token, expect=202,
                   json={"message": message})


async def reserve(api, token, event_id, ticket_type_id=None, quantity=1, seat_ids=None):
    body = {"eventId": event_id}
    if seat_ids:
        body["seatIds"] = seat_ids
    else:
        body["items"] = [{"ticketTypeId": ticket_type_id, "quantity": quantity}]
    return (await api.call("POST", "/api/reservations", token, expect=201, json=body))[1]["reservation"]


async def test_ping_join_snapshots_and_leave(client, api, admin_token):
    event = await api.create_event(admin_token, quantity=40, seats=(2, 3))
    ws = await connect(client)
    assert await ws.call("ping") == {"op": "pong", "ref": "1"}

    reply = await ws.call("join", room=f"event:{event['id']}")
    assert reply["ok"] and reply["room"] == f"event:{event['id']}"
    data = reply["data"]
    ga, seated = event["ticketTypes"]
    assert data["availability"] == {ga["id"]: 40, seated["id"]: 6}
    assert data["event"]["id"] == event["id"] and data["event"]["queue"]["active"] is False
    assert data["seq"] == 0

    seats = await ws.join(f"seats:{event['id']}")
    assert len(seats["seats"]) == 6 and set(seats["seats"].values()) == {"available"}
    assert seats["seq"] == 0

    left = await ws.call("leave", room=f"event:{event['id']}")
    assert left["ok"] and left["room"] == f"event:{event['id']}"
    # No longer a member: the next announcement does not arrive, a seats push still does.
    await announce(api, admin_token, event["id"])
    token = await api.register()
    seat_id = next(iter(seats["seats"]))
    await reserve(api, token, event["id"], seat_ids=[seat_id])
    push = await ws.push()
    assert push["room"] == f"seats:{event['id']}" and push["event"] == "seats-updated"
    assert push["data"] == {seat_id: "held"} and push["seq"] == 1
    await ws.close()


async def test_error_paths(client, api, admin_token):
    event = await api.create_event(admin_token)
    ws = await connect(client)
    await ws.ws.send_str("{not json")
    err = await ws.recv()
    assert err["op"] == "error" and err["error"]["code"] == "bad_request"
    await ws.send({"op": "dance", "ref": "x"})
    assert (await ws.recv())["error"]["code"] == "bad_request"
    await ws.ws.send_str("[1, 2]")
    assert (await ws.recv())["error"]["code"] == "bad_request"
    await ws.ws.send_bytes(b"\x00\x01")
    assert (await ws.recv())["error"]["code"] == "bad_request"

    for room, code in [("nowhere:1", "not_found"), ("event:999999", "not_found"),
                       ("event:abc", "not_found"), ("seats:999999", "not_found"),
                       ("event", "not_found"), (None, "bad_request"), (7, "bad_request")]:
        reply = await ws.call("join", room=room)
        assert reply["ok"] is False and reply["error"]["code"] == code, (room, reply)
        assert reply["error"]["message"]
    reply = await ws.call("auth", token="forged.token")
    assert reply["ok"] is False and reply["error"]["code"] == "unauthorized"
    reply = await ws.call("auth")
    assert reply["ok"] is False and reply["error"]["code"] == "bad_request"
    expired = TokenSigner(TEST_SECRET, -1).issue("1", "user")
    assert (await ws.call("auth", token=expired))["error"]["code"] == "unauthorized"
    token = await api.register()
    reply = await ws.call("auth", token=token)
    assert reply["ok"] and reply["data"]["role"] == "user"
    # Still up after a few bad frames, and leaving a room never joined is fine.
    assert (await ws.call("leave", room=f"event:{event['id']}"))["ok"]
    assert (await ws.call("ping"))["op"] == "pong"
    await ws.close()


async def test_a_client_that_keeps_sending_bad_frames_is_closed_1008(client):
    ws = await connect(client)
    for _ in range(9):
        await ws.ws.send_str("nope")
        assert (await ws.recv())["op"] == "error"
    await ws.ws.send_str("nope")
    assert (await ws.recv())["op"] == "error"
    msg = await asyncio.wait_for(ws.ws.receive(), 5)
    assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 1008


async def test_frames_over_4_kib_close_1009(client):
    ws = await connect(client)
    await ws.ws.send_str(orjson.dumps({"op": "ping", "ref": "x" * 5000}).decode())
    msg = await asyncio.wait_for(ws.ws.receive(), 5)
    assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 1009


async def test_at_most_50_rooms_per_connection(client, api, admin_token):
    events = [await api.create_event(admin_token, quantity=1) for _ in range(26)]
    ws = await connect(client)
    for event in events[:25]:
        await ws.join(f"event:{event['id']}")
        await ws.join(f"seats:{event['id']}")
    reply = await ws.call("join", room=f"event:{events[25]['id']}")
    assert reply["ok"] is False and reply["error"]["code"] == "limit_exceeded"
    # Re-joining a room already joined is not a new room: it returns a fresh snapshot.
    assert (await ws.call("join", room=f"event:{events[0]['id']}"))["ok"]
    await ws.call("leave", room=f"event:{events[0]['id']}")
    assert (await ws.call("join", room=f"event:{events[25]['id']}"))["ok"]
    await ws.close()


async def test_token_on_the_url_and_origin_rules(aiohttp_client, make_app, api):
    client = await aiohttp_client(make_app(allowed_origins=("https://tickets.example",)))
    token = await api.register()
    ws = await connect(client, f"/ws?token={token}")
    assert (await ws.call("ping"))["op"] == "pong"
    await ws.close()
    with pytest.raises(aiohttp.WSServerHandshakeError) as bad_token:
        await client.ws_connect("/ws?token=garbage")
    assert bad_token.value.status == 401
    with pytest.raises(aiohttp.WSServerHandshakeError) as bad_origin:
        await client.ws_connect("/ws", headers={"Origin": "https://evil.example"})
    assert bad_origin.value.status == 403
    for origin in ("https://tickets.example", f"http://{client.server.host}:{client.server.port}"):
        ws = await connect(client, headers={"Origin": origin})
        assert (await ws.call("ping"))["op"] == "pong"
        await ws.close()


async def test_pushes_follow_the_snapshot_with_consecutive_seq(client, api, admin_token):
    event = await api.create_event(admin_token, quantity=50, seats=(1, 4))
    eid = event["id"]
    ga = event["ticketTypes"][0]["id"]
    token = await api.register()
    ws, late = await connect(client), await connect(client)
    snapshot = await ws.join(f"event:{eid}")
    seats = await ws.join(f"seats:{eid}")
    seat_ids = sorted(seats["seats"], key=int)

    await announce(api, admin_token, eid, "doors at seven")
    first = await ws.push("announcement")
    assert first["seq"] == snapshot["seq"] + 1
    assert first["data"]["message"] == "doors at seven" and first["data"]["at"].endswith("Z")

    reservation = await reserve(api, token, eid, ga, quantity=3)
    stock = await ws.push("tickets-batch-updated")
    assert stock["seq"] == first["seq"] + 1 and stock["data"][ga] == 47

    # A late joiner gets the current state and seq, then the next push with seq + 1.
    late_snapshot = await late.join(f"event:{eid}")
    assert late_snapshot["seq"] == stock["seq"] and late_snapshot["availability"][ga] == 47

    await api.call("POST", f"/api/reservations/{reservation['id']}/cancel", token, expect=200)
    for client_ws in (ws, late):
        back = await client_ws.push("tickets-batch-updated")
        assert back["seq"] == stock["seq"] + 1 and back["data"][ga] == 50

    held = await reserve(api, token, eid, seat_ids=seat_ids[:2])
    seats_push = await ws.push("seats-updated")
    assert seats_push["seq"] == seats["seq"] + 1
    assert seats_push["data"] == {seat_ids[0]: "held", seat_ids[1]: "held"}
    await api.call("POST", f"/api/reservations/{held['id']}/confirm", token, expect=200)
    sold = await ws.push("seats-updated")
    assert sold["seq"] == seats_push["seq"] + 1 and sold["data"] == {seat_ids[0]: "sold", seat_ids[1]: "sold"}

    _, updated = await api.call("PATCH", f"/api/events/{eid}", admin_token, expect=200,
                                json={"name": "Renamed Night"})
    changed = await ws.push("event-updated")
    assert changed["data"]["name"] == "Renamed Night"
    assert (await late.push("event-updated"))["seq"] == changed["seq"]
    await ws.close()
    await late.close()


async def test_expiry_pushes_the_stock_back(aiohttp_client, make_app, api, admin_token):
    event = await api.create_event(admin_token, quantity=5)
    client = await aiohttp_client(make_app(hold_seconds=1))
    fast = type(api)(client)
    token = await fast.register()
    ws = await connect(client)
    await ws.join(f"event:{event['id']}")
    ga = event["ticketTypes"][0]["id"]
    await reserve(fast, token, event["id"], ga, quantity=2)
    assert (await ws.push("tickets-batch-updated"))["data"][ga] == 3
    assert (await ws.push("tickets-batch-updated", timeout=10))["data"][ga] == 5


async def test_a_storm_of_purchases_is_coalesced(client, api, admin_token):
    event = await api.create_event(admin_token, quantity=1000, max_per_order=10)
    eid, ga = event["id"], event["ticketTypes"][0]["id"]
    tokens = await asyncio.gather(*(api.register() for _ in range(20)))
    ws = await connect(client)
    await ws.join(f"event:{eid}")

    started = time.monotonic()
    gate = asyncio.Semaphore(20)

    async def buy(i):
        async with gate:
            await reserve(api, tokens[i % len(tokens)], eid, ga, quantity=1)

    await asyncio.gather(*(buy(i) for i in range(200)))
    elapsed = time.monotonic() - started

    pushes = []
    while not pushes or pushes[-1]["data"][ga] != 800:
        pushes.append(await ws.push("tickets-batch-updated"))
    span = time.monotonic() - started
    seqs = [p["seq"] for p in pushes]
    assert seqs == list(range(1, len(pushes) + 1))
    # At most one push per 100 ms (plus the leading one), whatever the rate of purchases.
    assert len(pushes) <= span / 0.1 + 1, (len(pushes), elapsed, span)
    if elapsed < 4:  # a machine busy enough to spread 200 purchases wider gets more pushes, by design
        assert len(pushes) < 200 / 4
    if elapsed < 1.2:
        assert len(pushes) <= 13
    counts = [p["data"][ga] for p in pushes]
    assert counts == sorted(counts, reverse=True)
    # Nothing more once the counts are final.
    with pytest.raises(asyncio.TimeoutError):
        await ws.push("tickets-batch-updated", timeout=0.5)


def _raw_ws(port: int, path: str) -> socket.socket:
    """A WebSocket client on a bare socket with a tiny receive buffer, so that when it
    stops reading the server's output backs up quickly."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def _client_frame(payload: bytes) -> bytes:
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return struct.pack("!BB", 0x81, 0x80 | len(payload)) + mask + masked


async def test_a_client_that_stops_reading_is_cut_off(client, api, admin_token):
    event = await api.create_event(admin_token)
    room = f"event:{event['id']}"
    hub = client.server.app[appkeys.hub]
    readers = [await connect(client) for _ in range(3)]
    for reader in readers:
        await reader.join(room)
    sock = await asyncio.to_thread(_raw_ws, client.server.port, "/ws")
    sock.sendall(_client_frame(orjson.dumps({"op": "join", "room": room, "ref": "slow"})))
    while _members(hub, room) < 4:
        await asyncio.sleep(0.01)
    cut_before = metrics.WS_SLOW_CLIENTS_CUT._value.get()

    # 64 KiB pushes: the silent client's unsent output passes 256 KiB within a few dozen.
    big = "x" * 65536
    for i in range(1, 101):
        sent = time.monotonic()
        await hub.publish(room, "announcement", {"message": big, "n": i})
        for reader in readers:
            push = await reader.push("announcement", timeout=2)
            assert push["data"]["n"] == i
        assert time.monotonic() - sent < 1.0, f"push {i} was held up"
    assert metrics.WS_SLOW_CLIENTS_CUT._value.get() == cut_before + 1
    assert _members(hub, room) == 3
    sock.close()


def _members(hub, room: str) -> int:
    return len(hub.rooms[room].members) if room in hub.rooms else 0


def test_clients_that_vanish_without_a_close_frame_leave_no_reference_cycles(make_app):
    """Phones and dropped networks leave without a close frame. Their connections' objects
    must be freed at once, not kept in a reference cycle until a full GC pass (which would
    also stall the loop for every other socket). On uvloop, as `ticketd serve` runs: its
    transports report such a peer differently from asyncio's."""

    def server_sockets() -> int:
        return sum(type(o) is web.WebSocketResponse for o in gc.get_objects())

    async def scenario():
        app = make_app()
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        port = runner.addresses[0][1]
        hub = app[appkeys.hub]
        try:
            socks = [await asyncio.to_thread(_raw_ws, port, "/ws") for _ in range(20)]
            while len(hub.conns) < 20:
                await asyncio.sleep(0.01)
            assert server_sockets() == 20
            for sock in socks:
                sock.close()  # FIN, no close frame
            deadline = time.monotonic() + 5
            while (left := server_sockets()) > 0:
                assert time.monotonic() < deadline, f"{left} closed sockets are still held"
                await asyncio.sleep(0.01)
        finally:
            await runner.cleanup()

    gc.collect()
    gc.disable()  # cyclic garbage stays countable until collected
    try:
        uvloop.run(scenario())
    finally:
        gc.enable()


async def test_heartbeat_drops_silent_clients_and_keeps_live_ones(aiohttp_client, make_app):
    client = await aiohttp_client(make_app(ws_heartbeat=0.2))
    hub = client.server.app[appkeys.hub]
    live = await connect(client)
    silent = await asyncio.to_thread(_raw_ws, client.server.port, "/ws")  # never says a thing
    while len(hub.conns) < 2:
        await asyncio.sleep(0.01)
    deadline = time.monotonic() + 5
    while len(hub.conns) > 1:
        assert time.monotonic() < deadline, "the silent client was never dropped"
        # The live client keeps talking (its reads also answer the server's pings).
        assert (await live.call("ping"))["op"] == "pong"
        await asyncio.sleep(0.05)
    started = time.monotonic()
    while time.monotonic() - started < 1:  # five heartbeats later it is still there
        assert (await live.call("ping"))["op"] == "pong"
        await asyncio.sleep(0.05)
    assert len(hub.conns) == 1
    # The silent one saw pings, then its connection was cut.
    received = b""
    while chunk := await asyncio.to_thread(silent.recv, 65536):
        received += chunk
    assert received.startswith(bytes((0x89, 0)))
    silent.close()


async def test_an_auth_that_changes_who_it_is_leaves_rooms_the_new_identity_may_not_join(client, api, admin_token):
    event = await api.create_event(admin_token)
    ws = await connect(client, f"/ws?token={admin_token}")
    await ws.join(f"admin:{event['id']}")
    await ws.join(f"event:{event['id']}")
    fan = await api.register()
    assert (await ws.call("auth", token=fan))["ok"]
    hub = client.server.app[appkeys.hub]
    conn = next(iter(hub.conns))
    assert [room.name for room in conn.rooms] == [f"event:{event['id']}"]
    await ws.close()
