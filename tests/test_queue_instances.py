"""The waiting room across three real ``ticketd serve`` processes sharing PostgreSQL and
Redis: a burst of 500 arrivals, capacity sampled far more often than the tick."""

from __future__ import annotations

import asyncio

import aiohttp
import redis.asyncio as aioredis

from ticketd.waitingroom import event_keys

from helpers import queue_event, shopper_tokens, until

SHOPPERS = 500
CAPACITY = 50


async def test_capacity_never_exceeded_across_three_instances(ticketd_processes, api, admin_token,
                                                              redis_url):
    procs = ticketd_processes(3, TICKETD_ADMISSION_INTERVAL=0.2)
    urls = [p.url for p in procs]
    eid = (await api.create_event(admin_token, queue=queue_event(capacity=CAPACITY)))["id"]
    tokens = shopper_tokens(SHOPPERS)
    user_of = {t: str(10_000 + i) for i, t in enumerate(tokens)}
    token_of = {u: t for t, u in user_of.items()}
    r = aioredis.from_url(redis_url, decode_responses=True)
    queue_key, admitted_key = event_keys(int(eid)).queue, event_keys(int(eid)).admitted
    samples: list[int] = []
    stop = asyncio.Event()

    async def sample():
        while not stop.is_set():
            samples.append(await r.zcard(admitted_key))
            await asyncio.sleep(0.02)  # ten samples per 0.2 s tick

    sampler = asyncio.create_task(sample())
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=300)) as http:
        async def call(method, i, token, path):
            async with http.request(method, f"{urls[i % len(urls)]}{path}/{eid}",
                                    headers={"Authorization": f"Bearer {token}"}) as resp:
                assert resp.status in (200, 204), (resp.status, await resp.text())
                return await resp.json() if resp.status == 200 else None

        results = await asyncio.gather(*[call("POST", i, t, "/api/queue/check")
                                         for i, t in enumerate(tokens)])
        assert {r_["status"] for r_ in results} <= {"queued", "admitted"}
        # Checking again from another instance keeps every place.
        again = await asyncio.gather(*[call("POST", i + 1, t, "/api/queue/check")
                                       for i, t in enumerate(tokens)])
        for before, after in zip(results, again):
            if before["status"] == "queued" and after["status"] == "queued":
                assert after["position"] <= before["position"]
        waiting_order = await r.zrange(queue_key, 0, -1)
        arrival = {u: i for i, u in enumerate(waiting_order)}

        served: list[str] = []
        while len(served) < SHOPPERS:
            async def newly_admitted():
                now = await r.zrange(admitted_key, 0, -1)
                return [u for u in now if u not in seen] or None
            seen = set(served)
            batch = await until(newly_admitted, timeout=10, interval=0.02)
            # One tick admits a batch at once; within it, order by arrival.
            served.extend(sorted(batch, key=lambda u: arrival.get(u, -1)))
            # Everyone admitted shops briefly then leaves, through any instance.
            await asyncio.gather(*[call("POST", i, token_of[u], "/api/queue/leave")
                                   for i, u in enumerate(batch)])
        stop.set()
        await sampler

        # Stats aggregate every instance (three processes and the test's own app).
        async with http.get(f"{urls[0]}/api/admin/events/{eid}/stats",
                            headers={"Authorization": f"Bearer {admin_token}"}) as resp:
            stats = await resp.json()
    await r.aclose()

    assert max(samples) <= CAPACITY, max(samples)
    assert max(samples) == CAPACITY  # the burst did fill every place
    assert len(samples) > 50
    assert sorted(served) == sorted(user_of.values())  # everyone admitted exactly once
    # Those still waiting after the burst were admitted in their arrival order.
    later = [u for u in served if u in set(waiting_order)]
    assert later == waiting_order
    assert stats["instances"] == 4 and stats["queueLength"] == 0 and stats["mode"] == "on"
    assert stats["admittedLastMinute"] == SHOPPERS
