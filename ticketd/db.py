"""PostgreSQL access: the aiopg pool, explicit transactions and migrations.

aiopg connections are always in autocommit mode, so anything that must be atomic
runs inside ``transaction()``.
"""

from __future__ import annotations

import contextlib
import logging
from typing import AsyncIterator

import aiopg
import psycopg2.extras

from .paths import bundled

log = logging.getLogger(__name__)

# Any constant works as long as every instance uses the same one.
MIGRATION_LOCK_ID = 0x7469636B  # "tick"

CREATE_MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""
SELECT_APPLIED = "SELECT version FROM schema_migrations"
INSERT_APPLIED = "INSERT INTO schema_migrations (version) VALUES (%s)"


async def create_pool(dsn: str, maxsize: int = 20) -> aiopg.Pool:
    # Sessions in UTC so every timestamp leaves as ISO-8601 UTC.
    return await aiopg.create_pool(dsn, minsize=1, maxsize=maxsize, timeout=30,
                                   options="-c timezone=UTC")


@contextlib.asynccontextmanager
async def transaction(pool: aiopg.Pool) -> AsyncIterator[aiopg.Cursor]:
    """A cursor inside BEGIN … COMMIT; any exception rolls back."""
    async with pool.acquire() as conn:
        async with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            await cur.execute("BEGIN")
            try:
                yield cur
            except BaseException:
                # A cancelled query leaves the cursor closed; the rollback failing then
                # must not hide the original error (least of all a cancellation).
                with contextlib.suppress(Exception):
                    await cur.execute("ROLLBACK")
                raise
            else:
                await cur.execute("COMMIT")


@contextlib.asynccontextmanager
async def cursor(pool: aiopg.Pool) -> AsyncIterator[aiopg.Cursor]:
    """An autocommit cursor returning rows as dicts."""
    async with pool.acquire() as conn:
        async with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            yield cur


async def fetch_all(pool: aiopg.Pool, query: str, params=()) -> list[dict]:
    async with cursor(pool) as cur:
        await cur.execute(query, params)
        return await cur.fetchall()


async def fetch_one(pool: aiopg.Pool, query: str, params=()) -> dict | None:
    async with cursor(pool) as cur:
        await cur.execute(query, params)
        return await cur.fetchone()


def migration_files() -> list[tuple[str, str]]:
    """(version, sql) for every numbered file in sql/, in order."""
    files = sorted(
        (entry.name, entry.read_text(encoding="utf-8"))
        for entry in bundled("sql", "001_initial.sql").iterdir()
        if entry.name.endswith(".sql") and entry.name[:3].isdigit()
    )
    return [(name.removesuffix(".sql"), text) for name, text in files]




async def migrate(pool: aiopg.Pool) -> list[str]:
    """Apply every migration not yet recorded; returns the versions applied.

    A session-level advisory lock makes instances that start together take turns:
    the second one finds everything applied.
    """
    applied_now = []
    async with pool.acquire() as conn:
        async with conn.cursor() as cur:
            await cur.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_ID,))
            try:
                await cur.execute(CREATE_MIGRATIONS_TABLE)
                await cur.execute(SELECT_APPLIED)
                done = {row[0] for row in await cur.fetchall()}
                for version, text in migration_files():
                    if version in done:
                        continue
                    await cur.execute("BEGIN")
                    try:
                        await cur.execute(text)
                        await cur.execute(INSERT_APPLIED, (version,))
                    except BaseException:
                        await cur.execute("ROLLBACK")
                        raise
                    await cur.execute("COMMIT")
                    log.info("applied migration %s", version)
                    applied_now.append(version)
            finally:
                await cur.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_ID,))
    return applied_now
