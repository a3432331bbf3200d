"""No oversell, whatever the concurrency and however many instances: hundreds of
purchase attempts raced at 50 tickets and 50 seats, then the database is checked."""

import asyncio
import os
import random
import signal
import time

import aiohttp

from helpers import Api, db_query, report

ATTEMPTS = 200
STOCK = 50


async def race(session_or_client, urls, tokens, bodies):
    """Fire every attempt at once, spread over ``urls``; returns [(status, body)]."""
    async def attempt(i):
        url = urls[i % len(urls)] + "/api/reservations"
        async with session_or_client.post(url, json=bodies[i],
                                          headers={"Authorization": f"Bearer {tokens[i]}"}) as resp:
            return resp.status, await resp.json()
    started = time.perf_counter()
    results = await asyncio.gather(*[attempt(i) for i in range(len(bodies))])
    elapsed = time.perf_counter() - started
    report(f"{len(bodies)} purchase attempts in {elapsed:.2f}s = {len(bodies) / elapsed:.0f}/s")
    return results


def check_inventory_consistent(database_url, event_id):
    """Stock left + stock in live reservations == total, for every ticket type; every
    held or sold seat belongs to exactly one live reservation that lists it."""
    rows = db_query(database_url, """
        SELECT t.id, t.total, t.available,
               COALESCE((SELECT sum(i.quantity) FROM reservation_items i JOIN reservations r
                         ON r.id = i.reservation_id
                         WHERE i.ticket_type_id = t.id AND r.status IN ('pending', 'confirmed')), 0)
        FROM ticket_types t WHERE t.event_id = %s""", (event_id,))
    for type_id, total, left, taken in rows:
        assert left + taken == total, (type_id, total, left, taken)
        assert left >= 0
    bad_seats = db_query(database_url, """
        SELECT s.id FROM seats s LEFT JOIN reservations r ON r.id = s.reservation_id
        WHERE s.event_id = %s AND (
            (s.status <> 'available' AND (r.id IS NULL OR r.status NOT IN ('pending', 'confirmed')
                                          OR NOT s.id = ANY(r.seat_ids)))
            OR (s.status = 'sold' AND r.status <> 'confirmed')
            OR (s.status = 'held' AND r.status <> 'pending'))""", (event_id,))
    assert bad_seats == []
    doubles = db_query(database_url, """
        SELECT seat FROM reservations r, unnest(r.seat_ids) seat
        WHERE r.event_id = %s AND r.status IN ('pending', 'confirmed')
        GROUP BY seat HAVING count(*) > 1""", (event_id,))
    assert doubles == []


def assert_losers(results, code):
    for status, body in results:
        assert status < 500, body
        if status != 201:
            assert status == 409 and body["error"]["code"] == code, body


async def test_race_for_tickets(api, admin_token, make_users, database_url):
    event = await api.create_event(admin_token, quantity=STOCK)
    tokens = make_users(ATTEMPTS)
    body = {"eventId": event["id"], "items": [{"ticketTypeId": event["ticketTypes"][0]["id"], "quantity": 1}]}
    results = await race(api.client.session, [str(api.client.make_url(""))], tokens, [body] * ATTEMPTS)
    assert_losers(results, "sold_out")
    assert sum(status == 201 for status, _ in results) == STOCK
    assert db_query(database_url, "SELECT available FROM ticket_types WHERE id = %s",
                    (int(event["ticketTypes"][0]["id"]),)) == [(0,)]
    assert db_query(database_url, "SELECT count(*) FROM reservations WHERE status = 'pending'") == [(STOCK,)]
    check_inventory_consistent(database_url, int(event["id"]))


async def race_for_seats(session, urls, event, tokens, seat_ids, database_url):
    """Overlapping windows of 1–3 adjacent seats, then single seats until all are gone."""
    rng = random.Random(42)
    windows = []
    for _ in range(ATTEMPTS):
        size = rng.choice((1, 2, 3))
        start = rng.randrange(0, len(seat_ids) - size + 1)
        windows.append(seat_ids[start:start + size])
    bodies = [{"eventId": event["id"], "seatIds": w} for w in windows]
    results = await race(session, urls, tokens[:ATTEMPTS], bodies)
    assert_losers(results, "seat_unavailable")
    won = [set(body["reservation"]["seatIds"]) for status, body in results if status == 201]
    assert sum(len(w) for w in won) == len(set().union(*won))  # no seat won twice
    check_inventory_consistent(database_url, int(event["id"]))
    # Second wave: everyone races for every seat singly; exactly the rest is sold.
    bodies = [{"eventId": event["id"], "seatIds": [seat_ids[i % len(seat_ids)]]} for i in range(ATTEMPTS)]
    results = await race(session, urls, tokens[ATTEMPTS:], bodies)
    assert_losers(results, "seat_unavailable")
    won_later = [set(body["reservation"]["seatIds"]) for status, body in results if status == 201]
    assert len(won_later) == STOCK - len(set().union(*won))
    assert set().union(*won, *won_later) == set(seat_ids)
    assert db_query(database_url, "SELECT status, count(*) FROM seats WHERE event_id = %s GROUP BY status",
                    (int(event["id"]),)) == [("held", STOCK)]
    assert db_query(database_url, "SELECT available FROM ticket_types WHERE id = %s",
                    (int(event["ticketTypes"][1]["id"]),)) == [(0,)]
    check_inventory_consistent(database_url, int(event["id"]))


async def test_race_for_seats(api, admin_token, make_users, database_url):
    event = await api.create_event(admin_token, seats=(5, 10), max_per_order=10)
    _, body = await api.call("GET", f"/api/events/{event['id']}/seats")
    seat_ids = [s["id"] for s in body["seats"]]
    assert len(seat_ids) == STOCK
    await race_for_seats(api.client.session, [str(api.client.make_url(""))], event,
                         make_users(2 * ATTEMPTS), seat_ids, database_url)


async def test_race_across_three_instances(ticketd_processes, make_users, database_url):
    instances = ticketd_processes(3)
    urls = [p.url for p in instances]
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        class Remote:  # Api over a real process
            def __init__(self, base):
                self.base, self.session = base, session

            def request(self, method, path, **kw):
                return self.session.request(method, self.base + path, **kw)
        api = Api(Remote(urls[0]))
        admin = await api.admin(database_url)
        event = await api.create_event(admin, quantity=STOCK, seats=(5, 10), max_per_order=10)
        tokens = make_users(3 * ATTEMPTS)
        body = {"eventId": event["id"], "items": [{"ticketTypeId": event["ticketTypes"][0]["id"], "quantity": 1}]}
        results = await race(session, urls, tokens[:ATTEMPTS], [body] * ATTEMPTS)
        assert_losers(results, "sold_out")
        assert sum(status == 201 for status, _ in results) == STOCK
        _, seats = await api.call("GET", f"/api/events/{event['id']}/seats")
        await race_for_seats(session, urls, event, tokens[ATTEMPTS:], [s["id"] for s in seats["seats"]],
                             database_url)


async def test_crash_mid_purchase_leaves_stock_consistent(ticketd_processes, make_users, database_url):
    """SIGKILL an instance while hundreds of holds are in flight: whatever committed is
    whole, whatever did not left no trace."""
    victim, survivor = ticketd_processes(2)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        class Remote:
            def request(self, method, path, **kw):
                return session.request(method, survivor.url + path, **kw)
        api = Api(Remote())
        admin = await api.admin(database_url)
        event = await api.create_event(admin, quantity=STOCK, seats=(5, 10), max_per_order=10)
        tokens = make_users(ATTEMPTS)
        _, seats = await api.call("GET", f"/api/events/{event['id']}/seats")
        seat_ids = [s["id"] for s in seats["seats"]]

        async def attempt(i):
            body = {"eventId": event["id"], "items": [{"ticketTypeId": event["ticketTypes"][0]["id"],
                                                       "quantity": 1}],
                    "seatIds": [seat_ids[i % len(seat_ids)]]}
            try:
                async with session.post(victim.url + "/api/reservations", json=body,
                                        headers={"Authorization": f"Bearer {tokens[i]}"}) as resp:
                    return resp.status
            except aiohttp.ClientError:
                return None

        attempts = [asyncio.ensure_future(attempt(i)) for i in range(ATTEMPTS)]
        # Kill as soon as the first hold has committed, with the rest in flight.
        deadline = time.monotonic() + 20
        while db_query(database_url, "SELECT count(*) FROM reservations")[0][0] == 0:
            assert time.monotonic() < deadline, "no hold committed"
            await asyncio.sleep(0.01)
        os.kill(victim.process.pid, signal.SIGKILL)
        statuses = await asyncio.gather(*attempts)
        assert None in statuses, "the kill came too late to interrupt anything"
        assert all(s is None or s in (201, 409) for s in statuses), statuses
    # Interrupted transactions are rolled back once PostgreSQL notices the dead connections.
    deadline = time.monotonic() + 20
    while db_query(database_url, "SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%%'"
                                 " OR wait_event_type = 'Lock'")[0][0]:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    check_inventory_consistent(database_url, int(event["id"]))
