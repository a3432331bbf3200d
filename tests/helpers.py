"""What the tests share: constants, the REST test client, reading the database directly,
and the waiting-room helpers."""

from __future__ import annotations

import asyncio
import collections
import functools
import itertools
import os
import time

import psycopg2
import redis as redis_sync

from ticketd import auth, db
from ticketd.auth import TokenSigner
from ticketd.config import DEFAULT_LIMITS, Limit

TEST_SECRET = "test-secret-not-for-production"
# The real limits, but for the ones tests go past by design: they poll the queue far faster
# than a browser, and open many sockets and accounts from one address.
TEST_LIMITS = {**DEFAULT_LIMITS, "queue_calls_per_shopper": Limit(100_000, 60),
               "ws_connections_per_address": Limit(100_000, 60),
               "registrations_per_address": Limit(100_000, 60)}
TEST_LIMITS_ENV = {f"TICKETD_LIMIT_{name.upper()}": f"{limit.count}/{limit.seconds}"
                   for name, limit in TEST_LIMITS.items() if limit != DEFAULT_LIMITS[name]}
ADMIN_PASSWORD = "admin-password-1"
USER_PASSWORD = "user-password-1"


_emails = itertools.count(1)

# What the fuzzers ran (test_fuzz_*.py), shown at the end of the run.
FUZZ_COUNTS: collections.Counter = collections.Counter()
# What tests measured (races, the draw, pacing, faults), shown at the end of the run too.
FIGURES: list[str] = []


def report(line: str) -> None:
    """A figure for the end of the run (pytest hides a passing test's own output)."""
    FIGURES.append(line)


class Api:
    """A thin client for the REST API used by the tests: raises on unexpected status."""

    def __init__(self, client, spec_check=None):
        self.client = client
        self.spec_check = spec_check

    async def call(self, method: str, path: str, token: str | None = None, expect: int | None = None,
                   **kwargs):
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        async with self.client.request(method, path, headers=headers, **kwargs) as resp:
            body = await resp.json() if resp.content_type == "application/json" else await resp.text()
            if expect is not None:
                assert resp.status == expect, (method, path, resp.status, body)
            if self.spec_check is not None:
                self.spec_check.check(method, path, resp.status, resp.content_type, body)
            return resp.status, body

    async def register(self, name: str = "fan") -> str:
        email = f"{name}{next(_emails)}-{os.getpid()}@example.com"
        _, body = await self.call("POST", "/api/auth/register", expect=201,
                                  json={"email": email, "password": USER_PASSWORD, "name": name})
        return body["token"]

    async def admin(self, database_url: str) -> str:
        email = f"admin{next(_emails)}@example.com"
        pool = await db.create_pool(database_url, maxsize=1)
        try:
            await auth.create_admin(pool, email, ADMIN_PASSWORD)
        finally:
            pool.close()
            await pool.wait_closed()
        _, body = await self.call("POST", "/api/auth/login", expect=200,
                                  json={"email": email, "password": ADMIN_PASSWORD})
        return body["token"]

    async def create_event(self, admin_token: str, *, quantity: int = 100, max_per_order: int = 10,
                           seats: tuple[int, int] | None = None, queue: dict | None = None) -> dict:
        body = {"name": "Test Night", "venue": "Test Hall", "startsAt": "2027-01-01T20:00:00Z",
                "ticketTypes": [{"name": "GA", "price": 30, "quantity": quantity, "maxPerOrder": max_per_order}]}
        if seats:
            body["ticketTypes"].append({"name": "Seated", "price": 60, "maxPerOrder": max_per_order})
            body["seating"] = {"sections": [{"name": "A", "rows": seats[0], "seatsPerRow": seats[1],
                                             "ticketType": "Seated"}]}
        if queue:
            body["queue"] = queue
        _, resp = await self.call("POST", "/api/events", admin_token, expect=201, json=body)
        return resp["event"]


def db_query(database_url: str, query: str, params=()) -> list[tuple]:
    """Read the database directly, to check what the API claims."""
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute(query, params)
        rows = cur.fetchall()
    conn.close()
    return rows


_signer = TokenSigner(TEST_SECRET, 3600)


def shopper_tokens(count: int, start: int = 10_000) -> list[str]:
    """Signed tokens for users 10000…; the queue knows users only by their token's id."""
    return [_signer.issue(start + i, "user") for i in range(count)]


async def until(probe, timeout: float = 10.0, interval: float = 0.05):
    """Poll ``probe`` (async, returns a truthy value when done) until it holds."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value {value!r})")
        await asyncio.sleep(interval)


async def check(api: Api, event_id: str, token: str, expect: int = 200) -> dict:
    return (await api.call("POST", f"/api/queue/check/{event_id}", token, expect=expect))[1]


async def status(api: Api, event_id: str, token: str) -> dict:
    return (await api.call("GET", f"/api/queue/status/{event_id}", token, expect=200))[1]


async def leave(api: Api, event_id: str, token: str) -> None:
    await api.call("POST", f"/api/queue/leave/{event_id}", token, expect=204)


async def statuses(api, event_id, tokens) -> list[dict]:
    return [await status(api, event_id, t) for t in tokens]


def queue_event(capacity: int = 2, mode: str = "on", session: int = 600) -> dict:
    return {"mode": mode, "capacity": capacity, "sessionSeconds": session}


def clean(database_url: str, redis_url: str) -> None:
    """Empty the test database (every table but the migrations') and Redis."""
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT to_regclass('users') IS NOT NULL")
        if cur.fetchone()[0]:
            cur.execute("SELECT string_agg(quote_ident(tablename), ', ') FROM pg_tables "
                        "WHERE schemaname = current_schema() AND tablename <> 'schema_migrations'")
            cur.execute(f"TRUNCATE {cur.fetchone()[0]} RESTART IDENTITY CASCADE")
    conn.close()
    client = redis_sync.Redis.from_url(redis_url)
    client.flushdb()
    client.close()


def accounts(database_url: str, count: int, prefix: str = "racer", role: str = "user") -> list[str]:
    """``count`` accounts made straight in PostgreSQL, and a bearer token for each:
    registering hundreds through scrypt would only slow the test down."""
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO users (email, name, password_hash, role) "
                    "SELECT %s || g || '-' || txid_current() || '@example.com', %s || g, %s, %s "
                    "FROM generate_series(1, %s) g RETURNING id",
                    (prefix, prefix, _password_hash(), role, count))
        ids = [row[0] for row in cur.fetchall()]
    conn.close()
    return [_signer.issue(user_id, role) for user_id in ids]


@functools.cache
def _password_hash() -> str:
    return auth.hash_password(USER_PASSWORD)
