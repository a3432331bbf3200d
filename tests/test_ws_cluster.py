"""/ws across real ``ticketd serve`` processes sharing PostgreSQL and Redis: pushes reach
every instance, Redis can go away and come back, shutdown closes with 1001."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import orjson

from wsclient import connect
from wsraw import RawWs, frame


async def _post(session, url, token, body, expect):
    async with session.post(url, json=body, headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == expect, (url, resp.status, await resp.text())
        return await resp.json()


async def test_a_purchase_on_one_instance_reaches_sockets_on_the_others(ticketd_processes, api, admin_token):
    a, b, c = ticketd_processes(3)
    event = await api.create_event(admin_token, quantity=30)
    eid, ga = event["id"], event["ticketTypes"][0]["id"]
    token = await api.register()
    async with aiohttp.ClientSession() as session:
        watchers = [await connect(session, proc.ws_url) for proc in (b, c)]
        for watcher in watchers:
            assert (await watcher.join(f"event:{eid}"))["availability"][ga] == 30
        started = time.monotonic()
        await _post(session, a.url + "/api/reservations", token,
                    {"eventId": eid, "items": [{"ticketTypeId": ga, "quantity": 4}]}, 201)
        for watcher in watchers:
            push = await watcher.push("tickets-batch-updated", timeout=2)
            assert push["data"][ga] == 26 and push["seq"] == 1
        assert time.monotonic() - started < 1.0
        # Announcements through B reach A's and C's sockets with the next seq.
        on_a = await connect(session, a.ws_url)
        assert (await on_a.join(f"event:{eid}"))["seq"] == 1
        await _post(session, b.url + f"/api/admin/events/{eid}/announce", admin_token, {"message": "hi"}, 202)
        for ws in (on_a, *watchers):
            push = await ws.push("announcement", timeout=2)
            assert push["seq"] == 2 and push["data"]["message"] == "hi"


async def test_redis_outage_pushes_stay_local_then_resume_with_a_seq_gap(
        ticketd_processes, redis_server, api, admin_token):
    a, b = ticketd_processes(2, redis_url_override=redis_server.url)
    event = await api.create_event(admin_token, quantity=30)
    eid = event["id"]
    room = f"event:{eid}"
    announce_a = f"{a.url}/api/admin/events/{eid}/announce"
    async with aiohttp.ClientSession() as session:
        on_a, on_b = await connect(session, a.ws_url), await connect(session, b.ws_url)
        await on_a.join(room)
        await on_b.join(room)
        await _post(session, announce_a, admin_token, {"message": "one"}, 202)
        assert (await on_a.push("announcement"))["seq"] == 1
        assert (await on_b.push("announcement"))["seq"] == 1

        redis_server.stop()
        async with session.get(a.url + "/readyz") as resp:
            assert resp.status == 503 and (await resp.json())["checks"]["redis"] == "down"
        # Single-instance mode: A's own sockets still get A's pushes, in order.
        for n, message in enumerate(("two", "three"), start=2):
            await _post(session, announce_a, admin_token, {"message": message}, 202)
            push = await on_a.push("announcement")
            assert (push["seq"], push["data"]["message"]) == (n, message)

        redis_server.start()
        # Without restarting ticketd the bridges reconnect; announce until B hears again.
        deadline = time.monotonic() + 20
        while True:
            await _post(session, announce_a, admin_token, {"message": "again"}, 202)
            seen_a = await on_a.push("announcement")
            try:
                seen_b = await on_b.push("announcement", timeout=0.5)
                break
            except asyncio.TimeoutError:
                assert time.monotonic() < deadline, "pushes did not resume across instances"
        # B missed "two" and "three": its seq jumps, so its client knows to rejoin.
        assert seen_b["seq"] > 2 and seen_b["seq"] == seen_a["seq"]
        fresh = await on_b.join(room)
        assert fresh["seq"] == seen_b["seq"]
        await _post(session, announce_a, admin_token, {"message": "last"}, 202)
        last_a, last_b = await on_a.push("announcement"), await on_b.push("announcement")
        assert last_a["seq"] == last_b["seq"] == fresh["seq"] + 1
        async with session.get(b.url + "/readyz") as resp:
            assert resp.status == 200


async def test_shutdown_closes_sockets_with_1001(ticketd_processes, api, admin_token):
    (proc,) = ticketd_processes(1)
    event = await api.create_event(admin_token)
    async with aiohttp.ClientSession() as session:
        ws = await connect(session, proc.ws_url)
        await ws.join(f"event:{event['id']}")
        proc.process.terminate()
        msg = await asyncio.wait_for(ws.ws.receive(), 10)
        assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 1001


async def test_shutdown_does_not_wait_on_a_client_that_stopped_reading(ticketd_processes, api, admin_token):
    """A client that never reads cannot take a polite close: its 1001 waits behind megabytes
    of unsent output. Shutdown aborts it after the grace (CLOSE_GRACE, 3 s) instead of
    waiting for it through aiohttp's shutdown timeout twice (the process took 13 s to exit);
    a client that reads still gets its 1001."""
    (proc,) = ticketd_processes(1, TICKETD_WS_MAX_BUFFER=str(64 * 2**20))   # never cut for being slow
    event = await api.create_event(admin_token)
    deaf = await RawWs.connect(proc.port, rcvbuf=4096)
    ping = frame(orjson.dumps({"op": "ping", "ref": "x" * 3900}))
    for _ in range(60):  # 12 MB of pongs, never read: far more than the kernel buffers hold
        deaf.send(ping * 50)
        await asyncio.wait_for(deaf.writer.drain(), 5)
    async with aiohttp.ClientSession() as session:
        ws = await connect(session, proc.ws_url)
        await ws.join(f"event:{event['id']}")
        started = time.monotonic()
        proc.process.terminate()
        msg = await asyncio.wait_for(ws.ws.receive(), 10)
        assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 1001
        while proc.process.poll() is None:
            assert time.monotonic() - started < 8, "shutdown is waiting on the client that does not read"
            await asyncio.sleep(0.05)
    assert proc.process.poll() == 0
    log = proc.log()
    assert "aborting 1 WebSocket connections that did not take the close" in log
    assert log.rstrip().endswith("INFO ticketd: stopped"), log   # the end of a graceful stop, said
    deaf.abort()
