"""Fixtures: real PostgreSQL and Redis (embedded unless TICKETD_TEST_DATABASE_URL /
TICKETD_TEST_REDIS_URL point elsewhere), a clean database for every test, and helpers
that drive the API like a client would."""

from __future__ import annotations

import dataclasses
import itertools
import os
import tempfile
from pathlib import Path

import psycopg2
import pytest
import redis as redis_sync

from ticketd import embedded
from ticketd.app import create_app
from ticketd.config import Config

from servers import RedisServer, TicketdProcess

TEST_SECRET = "test-secret-not-for-production"
ADMIN_PASSWORD = "admin-password-1"
USER_PASSWORD = "user-password-1"


@pytest.fixture(scope="session")
def database_url():
    url = os.environ.get("TICKETD_TEST_DATABASE_URL")
    if url:
        yield url
        return
    with embedded.postgres(Path(tempfile.mkdtemp(prefix="ticketd-test-pg-")) / "pg") as url:
        yield url


@pytest.fixture(scope="session")
def redis_url():
    url = os.environ.get("TICKETD_TEST_REDIS_URL")
    if url:
        yield url
        return
    server = RedisServer().start()
    yield server.url
    server.stop()


def _clean(database_url: str, redis_url: str) -> None:
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


@pytest.fixture
def clean_state(database_url, redis_url):
    _clean(database_url, redis_url)


@pytest.fixture
def config(database_url, redis_url, clean_state) -> Config:
    return Config(database_url=database_url, redis_url=redis_url, secret=TEST_SECRET,
                  hold_seconds=600, expiry_interval=0.2, admission_interval=0.2,
                  push_interval_ms=100, db_pool_size=30)


@pytest.fixture
def make_app(config):
    def factory(**overrides):
        return create_app(dataclasses.replace(config, **overrides))
    return factory


@pytest.fixture
async def client(aiohttp_client, make_app):
    return await aiohttp_client(make_app())


_emails = itertools.count(1)


class Api:
    """A thin client for the REST API used by the tests: raises on unexpected status."""

    def __init__(self, client):
        self.client = client

    async def call(self, method: str, path: str, token: str | None = None, expect: int | None = None,
                   **kwargs):
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        async with self.client.request(method, path, headers=headers, **kwargs) as resp:
            body = await resp.json() if resp.content_type == "application/json" else await resp.text()
            if expect is not None:
                assert resp.status == expect, (method, path, resp.status, body)
            return resp.status, body

    async def register(self, name: str = "fan") -> str:
        email = f"{name}{next(_emails)}-{os.getpid()}@example.com"
        _, body = await self.call("POST", "/api/auth/register", expect=201,
                                  json={"email": email, "password": USER_PASSWORD, "name": name})
        return body["token"]

    async def admin(self, database_url: str) -> str:
        from ticketd import auth, db
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


@pytest.fixture
def api(client) -> Api:
    return Api(client)


@pytest.fixture
async def admin_token(api, database_url) -> str:
    return await api.admin(database_url)


@pytest.fixture
def redis_server(clean_state):
    """A dedicated Redis that the test may stop and restart (same port)."""
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture
def ticketd_processes(database_url, redis_url, clean_state):
    """Start real ``ticketd serve`` processes: ``start(n, redis_url=None, **env)``."""
    started: list[TicketdProcess] = []

    def start(count: int, redis_url_override: str | None = None, **env) -> list[TicketdProcess]:
        procs = [TicketdProcess(database_url, redis_url_override or redis_url, TEST_SECRET,
                                f"instance-{len(started) + i}", **env) for i in range(count)]
        started.extend(procs)
        for proc in procs:
            proc.start()
        return procs

    yield start
    for proc in started:
        proc.stop()




@pytest.fixture
def make_users(database_url):
    """Create ``n`` users straight in PostgreSQL and return bearer tokens for them:
    registering hundreds through scrypt would only slow the races down."""
    from ticketd.auth import TokenSigner, hash_password

    signer = TokenSigner(TEST_SECRET, 3600)
    password_hash = hash_password(USER_PASSWORD)

    def make(count: int, prefix: str = "racer") -> list[str]:
        with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
            cur.execute(
                "INSERT INTO users (email, name, password_hash) "
                "SELECT %s || g || '-' || txid_current() || '@example.com', %s || g, %s "
                "FROM generate_series(1, %s) g RETURNING id",
                (prefix, prefix, password_hash, count))
            ids = [row[0] for row in cur.fetchall()]
        conn.close()
        return [signer.issue(str(user_id), "user") for user_id in ids]

    return make


def db_query(database_url: str, query: str, params=()) -> list[tuple]:
    """Read the database directly, to check what the API claims."""
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute(query, params)
        rows = cur.fetchall()
    conn.close()
    return rows
