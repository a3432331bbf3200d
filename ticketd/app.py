"""The application factory."""

from __future__ import annotations

import asyncio
import logging

import aiohttp_cors
import redis.asyncio as aioredis
from aiohttp import web

from . import (api_admin, api_auth, api_events, api_health, api_queue, api_reservations, background, db,
               inventory, keys, metrics, pages)
from .auth import TokenSigner
from .config import Config
from .http import MAX_BODY_BYTES, error_middleware
from .ratelimit import RateLimiter
from .realtime import Realtime, close_sockets, realtime_ctx
from .waitingroom import WaitingRoom

log = logging.getLogger(__name__)

EXPIRY_BATCH = 200


async def postgres_ctx(app: web.Application):
    config = app[keys.config]
    pool = await db.create_pool(config.database_url, maxsize=config.db_pool_size)
    await db.migrate(pool)
    app[keys.db] = pool
    yield
    pool.close()
    await pool.wait_closed()


async def redis_ctx(app: web.Application):
    # Short timeouts: a dead Redis must turn into a quick 503, not a hung request.
    # A bounded pool that waits for a free connection: redis-py's default pool raises
    # MaxConnectionsError past 100 concurrent commands, which a burst of arrivals reaches.
    pool = aioredis.BlockingConnectionPool.from_url(
        app[keys.config].redis_url, max_connections=256, timeout=5,
        socket_connect_timeout=2, socket_timeout=5, health_check_interval=15)
    client = aioredis.Redis.from_pool(pool)
    app[keys.redis] = client
    app[keys.rate_limiter] = RateLimiter(client)
    yield
    await client.aclose()


async def expiry_ctx(app: web.Application):
    """Release pending reservations past their hold, in every instance."""
    async def sweep_forever():
        interval = app[keys.config].expiry_interval
        while True:
            released = []
            try:
                released = await inventory.expire_due(app[keys.db], EXPIRY_BATCH)
                for change in released:
                    app[keys.realtime].inventory_changed(change)
            except Exception:
                log.exception("expiry sweep failed; retrying")
            if len(released) < EXPIRY_BATCH:  # a full batch means more are due: go on at once
                await asyncio.sleep(interval)

    task = asyncio.create_task(sweep_forever(), name="reservation-expiry")
    yield
    await background.stop(task)


async def waitingroom_ctx(app: web.Application):
    """The waiting room once Redis and PostgreSQL exist; its admission task in every instance."""
    room = app[keys.waiting_room]
    room.attach(app[keys.redis], app[keys.db], app[keys.realtime])
    room.register_rooms()
    task = asyncio.create_task(room.run_admissions(), name="queue-admission")
    yield
    await background.stop(task)


def create_app(config: Config) -> web.Application:
    app = web.Application(middlewares=[error_middleware], client_max_size=MAX_BODY_BYTES)
    app[keys.config] = config
    app[keys.signer] = TokenSigner(config.secret, config.token_ttl_seconds)
    app[keys.realtime] = Realtime()
    app[keys.waiting_room] = WaitingRoom(config)
    app.cleanup_ctx.extend([postgres_ctx, redis_ctx, realtime_ctx, expiry_ctx, waitingroom_ctx])
    app.on_shutdown.append(close_sockets)  # 1001 to every socket once we stop accepting
    for area in (api_health, api_auth, api_events, api_reservations, api_queue, api_admin, metrics):
        app.router.add_routes(area.routes)
    # The hub's method itself handles /ws: no wrapper coroutine kept alive per socket.
    app.router.add_get("/ws", app[keys.realtime].hub.handle, name="ws")
    app.router.add_routes(pages.routes)  # last: browser pages and /static/
    _setup_cors(app, config)
    return app


def _setup_cors(app: web.Application, config: Config) -> None:
    """Cross-origin API access only for the configured origins."""
    if not config.allowed_origins:
        return
    options = aiohttp_cors.ResourceOptions(allow_credentials=False, expose_headers="*",
                                           allow_headers=("Authorization", "Content-Type", "Idempotency-Key"),
                                           max_age=600)
    cors = aiohttp_cors.setup(app, defaults={origin: options for origin in config.allowed_origins})
    for route in list(app.router.routes()):
        if route.resource is not None and route.resource.canonical.startswith("/api/"):
            cors.add(route)
