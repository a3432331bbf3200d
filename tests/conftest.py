"""Fixtures: real PostgreSQL and Redis (embedded unless TICKETD_TEST_DATABASE_URL /
TICKETD_TEST_REDIS_URL point elsewhere), a clean database for every test, and helpers
that drive the API like a client would."""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path

import pytest

from ticketd import embedded
from ticketd.app import create_app
from ticketd.config import Config

from helpers import FIGURES, FUZZ_COUNTS, TEST_LIMITS, TEST_SECRET, Api, accounts, clean
from openapi_check import OpenApiCheck
from servers import RedisServer, TicketdProcess


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


@pytest.fixture
def clean_state(database_url, redis_url):
    clean(database_url, redis_url)


@pytest.fixture
def config(database_url, redis_url, clean_state) -> Config:
    return Config(database_url=database_url, redis_url=redis_url, secret=TEST_SECRET,
                  hold_seconds=600, expiry_interval=0.2, admission_interval=0.2,
                  push_interval_ms=100, db_pool_size=30, rate_limits=TEST_LIMITS)


@pytest.fixture
def make_app(config):
    def factory(**overrides):
        return create_app(dataclasses.replace(config, **overrides))
    return factory


@pytest.fixture
async def client(aiohttp_client, make_app):
    return await aiohttp_client(make_app())


_spec_check: list[OpenApiCheck] = []


@pytest.fixture
async def api(client) -> Api:
    """The test client; every response it gets is checked against /api/openapi.json."""
    if not _spec_check:
        async with client.get("/api/openapi.json") as resp:
            _spec_check.append(OpenApiCheck(await resp.json()))
    return Api(client, _spec_check[0])


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
    """``make(n, prefix)``: n accounts in the test database and a bearer token for each."""
    def make(count: int, prefix: str = "racer") -> list[str]:
        return accounts(database_url, count, prefix)

    return make


def pytest_terminal_summary(terminalreporter):
    for name, count in sorted(FUZZ_COUNTS.items()):
        terminalreporter.write_line(f"fuzzing: {count} {name}")
    for line in FIGURES:
        terminalreporter.write_line(f"measured: {line}")
