"""Live queue updates over /ws: own position, admission, presence through an open socket,
admin stats and auto-mode switches, in one app and across real instances."""

from __future__ import annotations

import aiohttp
import redis as redis_sync

from ticketd.waitingroom import event_keys

from helpers import Api
from helpers import check, leave, queue_event, shopper_tokens, status, until
from wsclient import connect


async def test_queue_room_pushes_own_position_and_admission(client, api, admin_token):
    eid = (await api.create_event(admin_token, queue=queue_event(capacity=1)))["id"]
    holder, waiter, behind = shopper_tokens(3)
    await check(api, eid, holder)
    await check(api, eid, waiter)
    await check(api, eid, behind)
    ws = await connect(client, f"/ws?token={behind}")
    snap = await ws.join(f"queue:{eid}")
    assert snap["status"] == "queued" and isinstance(snap["seq"], int)
    await until(lambda: _is_admitted(api, eid, holder))
    await leave(api, eid, holder)  # waiter goes in, behind moves up to the head
    while True:
        push = await ws.push("queue-update", room=f"queue:{eid}")
        assert push["seq"] > snap["seq"]
        if push["data"]["position"] == 1:
            break
    assert push["data"]["status"] == "queued" and push["data"]["position"] == 1
    assert push["data"]["estimatedWaitSeconds"] > 0
    await leave(api, eid, waiter)
    admitted = await ws.push("queue-admitted", room=f"queue:{eid}")
    assert admitted["data"]["expiresAt"].endswith("Z")
    assert (await status(api, eid, behind))["expiresAt"] == admitted["data"]["expiresAt"]
    await ws.close()


async def test_queue_room_seq_has_no_gaps(client, api, admin_token):
    """Every push of the room reaches every member (each its own data), so seq never skips."""
    eid = (await api.create_event(admin_token, queue=queue_event(capacity=1)))["id"]
    tokens = shopper_tokens(5)
    for t in tokens:
        await check(api, eid, t)
    ws = await connect(client, f"/ws?token={tokens[-1]}")
    snap = await ws.join(f"queue:{eid}")
    seqs = []
    for t in tokens[:-1]:  # each leaves once admitted; the last one moves up each time
        await until(lambda: _is_admitted(api, eid, t))
        await leave(api, eid, t)
    while True:
        msg = await ws.recv()
        if msg.get("op") == "event" and msg["room"] == f"queue:{eid}":
            seqs.append(msg["seq"])
            if msg["event"] == "queue-admitted":
                break
    assert seqs == list(range(snap["seq"] + 1, snap["seq"] + 1 + len(seqs)))
    await ws.close()


async def _is_admitted(api, eid, token):
    return (await status(api, eid, token))["status"] == "admitted"


async def test_queue_room_is_for_the_signed_in_shopper(client, api, admin_token):
    eid = (await api.create_event(admin_token, queue=queue_event(capacity=1)))["id"]
    anonymous = await connect(client, "/ws")
    reply = await anonymous.call("join", room=f"queue:{eid}")
    assert not reply["ok"] and reply["error"]["code"] == "unauthorized"
    user = await connect(client, f"/ws?token={shopper_tokens(1)[0]}")
    assert (await user.join(f"queue:{eid}"))["status"] == "none"
    reply = await user.call("join", room="queue:999")
    assert not reply["ok"] and reply["error"]["code"] == "not_found"
    reply = await user.call("join", room=f"admin:{eid}")
    assert not reply["ok"] and reply["error"]["code"] == "forbidden"
    await anonymous.close()
    await user.close()


async def test_admin_room_gets_stats_every_second(client, api, admin_token):
    eid = (await api.create_event(admin_token, queue=queue_event(capacity=1)))["id"]
    ws = await connect(client, f"/ws?token={admin_token}")
    snap = await ws.join(f"admin:{eid}")
    assert snap["mode"] == "on" and snap["capacity"] == 1 and snap["instances"] == 1
    for t in shopper_tokens(3):
        await check(api, eid, t)

    async def stats_show_queue():
        push = await ws.push("stats", room=f"admin:{eid}", timeout=10)
        data = push["data"]
        return data if data["queueLength"] == 2 and data["activeUsers"] == 1 else None
    data = await until(stats_show_queue)
    assert data["connections"] == 1 and data["queueActive"] is True
    await ws.close()


async def test_open_socket_keeps_a_waiter_present(aiohttp_client, make_app, database_url, redis_url):
    client = await aiohttp_client(make_app(queue_abandon_seconds=1))
    api = Api(client)
    admin = await api.admin(database_url)
    eid = (await api.create_event(admin, queue=queue_event(capacity=1)))["id"]
    holder, connected, silent = shopper_tokens(3)
    for t in (holder, connected, silent):
        await check(api, eid, t)
    ws = await connect(client, f"/ws?token={connected}")
    await ws.join(f"queue:{eid}")
    r = redis_sync.Redis.from_url(redis_url, decode_responses=True)
    queue_key = event_keys(int(eid)).queue

    async def silent_dropped():
        return r.zscore(queue_key, "10002") is None
    await until(silent_dropped, timeout=8, interval=0.2)
    # Seconds past the abandonment limit without polling: the socket kept the place.
    assert r.zscore(queue_key, "10001") is not None
    await leave(api, eid, holder)
    assert (await ws.push("queue-admitted", room=f"queue:{eid}"))["data"]["expiresAt"]
    r.close()
    await ws.close()


async def test_auto_switch_is_pushed_as_event_updated(client, api, admin_token):
    eid = (await api.create_event(admin_token, queue=queue_event(capacity=1, mode="auto")))["id"]
    ws = await connect(client, "/ws")
    snap = await ws.join(f"event:{eid}")
    assert snap["event"]["queue"]["active"] is False
    await check(api, eid, shopper_tokens(1)[0])  # fills the only place: queue on
    push = await ws.push("event-updated", room=f"event:{eid}")
    assert push["data"]["queue"]["active"] is True
    await ws.close()


async def test_pushes_reach_sockets_on_every_instance(ticketd_processes, api, admin_token):
    procs = ticketd_processes(2, TICKETD_ADMISSION_INTERVAL=0.2)
    eid = (await api.create_event(admin_token, queue=queue_event(capacity=1)))["id"]
    tokens = shopper_tokens(4)
    async with aiohttp.ClientSession() as http:
        for i, t in enumerate(tokens):
            async with http.post(f"{procs[i % 2].url}/api/queue/check/{eid}",
                                 headers={"Authorization": f"Bearer {t}"}) as resp:
                assert resp.status == 200
        sockets = [await connect(http, f"{procs[i % 2].ws_url}?token={t}") for i, t in enumerate(tokens)]
        # The first may be let in before its socket joins: then the join's snapshot says so.
        joined = [(await ws.join(f"queue:{eid}"))["status"] for ws in sockets]
        admin_ws = await connect(http, f"{procs[1].ws_url}?token={admin_token}")
        await admin_ws.join(f"admin:{eid}")
        # Everyone leaves in turn as admitted: each of the others is told on its own instance.
        for i, t in enumerate(tokens):
            if joined[i] != "admitted":
                await sockets[i].push("queue-admitted", room=f"queue:{eid}", timeout=15)
            async with http.post(f"{procs[(i + 1) % 2].url}/api/queue/leave/{eid}",
                                 headers={"Authorization": f"Bearer {t}"}) as resp:
                assert resp.status == 204

        async def aggregated():
            push = await admin_ws.push("stats", room=f"admin:{eid}", timeout=10)
            return push["data"] if push["data"]["instances"] == 3 and push["data"]["connections"] == 5 else None
        stats = await until(aggregated, timeout=20)
        assert stats["admittedLastMinute"] == 4
        for ws in [*sockets, admin_ws]:
            await ws.close()
