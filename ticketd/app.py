"""The application factory: every resource built, started and stopped by its own cleanup
context, in dependency order; the routes of every area."""

from __future__ import annotations

import asyncio
import logging

import aiohttp_cors
import redis.asyncio as aioredis
from aiohttp import web

from . import appkeys, background, db, luascripts
from .api import ROUTES
from .api.http import MAX_BODY_BYTES, client_address, error_middleware, security_headers
from .auth import TokenSigner
from .changes import ChangeFeed
from .config import Config
from .failures import REDIS_DOWN, BackgroundFailures
from .gate.keys import REFRESH_SECONDS as KEYS_REFRESH_SECONDS, SigningKeys
from .gate.tokens import AdmissionTokens
from .inventory import Inventory
from .live.hub import Hub
from .live.protocol import WsEndpoint
from .live.pushes import Pushes
from .live.rooms import room_kinds
from .ratelimit import BackgroundLimit, LoginThrottle, RateLimiter
from .waitingroom import WaitingRoom

log = logging.getLogger(__name__)

EXPIRY_BATCH = 200


async def postgres_ctx(app: web.Application):
    config = app[appkeys.config]
    pool = await db.create_pool(config.database_url, maxsize=config.db_pool_size)
    await db.migrate(pool)
    app[appkeys.db] = pool
    yield
    pool.close()
    await pool.wait_closed()


async def redis_ctx(app: web.Application):
    # Short timeouts: a dead Redis must turn into a quick 503, not a hung request.
    # A bounded pool that waits for a free connection: redis-py's default pool raises
    # MaxConnectionsError past 100 concurrent commands, which a burst of arrivals reaches.
    pool = aioredis.BlockingConnectionPool.from_url(
        # Waiting for a free connection is our own load, not Redis being down: give it time.
        app[appkeys.config].redis_url, max_connections=256, timeout=20,
        socket_connect_timeout=2, socket_timeout=5, health_check_interval=15)
    client = aioredis.Redis.from_pool(pool)
    app[appkeys.redis] = client
    yield
    await client.aclose()


async def signing_keys_ctx(app: web.Application):
    """The admission-token keys: created on the first start, reloaded every few seconds so a
    rotation reaches every instance before anyone signs with the new key."""
    config = app[appkeys.config]
    keys = SigningKeys(app[appkeys.db], config.secret)
    await keys.ensure()
    app[appkeys.admission_tokens] = AdmissionTokens(keys, config.issuer)

    async def reload_forever():
        failures = BackgroundFailures(log, "reloading the signing keys (the loaded ones stay in use)")
        # On a fixed beat: a slow reload does not push the next one back (gate/keys.py counts
        # on a reload every KEYS_REFRESH_SECONDS).
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            due = max(due + KEYS_REFRESH_SECONDS, loop.time())
            await asyncio.sleep(due - loop.time())
            try:
                await keys.load()
            except Exception as exc:
                failures.failed(exc)

    task = asyncio.create_task(reload_forever(), name="signing-keys")
    yield
    await background.stop(task)


def _count_upgrade(request: web.Request) -> None:
    """New sockets per client address: 429 before the upgrade once over the limit."""
    limit = request.app[appkeys.upgrade_limit]
    if limit.active:
        limit.check_and_count(client_address(request))


async def domain_ctx(app: web.Application):
    """The services over PostgreSQL and Redis (their Lua scripts registered)."""
    config, pool, client, feed = app[appkeys.config], app[appkeys.db], app[appkeys.redis], app[appkeys.feed]
    app[appkeys.inventory] = Inventory(pool, feed, config.hold_seconds)
    limiter = app[appkeys.rate_limiter] = RateLimiter(client, config.rate_limits)
    app[appkeys.login_throttle] = LoginThrottle(limiter, client)
    app[appkeys.upgrade_limit] = BackgroundLimit(limiter, "ws_connections_per_address")
    # Subscribes to the feed before the live layer does: its state is current when pushes go out.
    app[appkeys.waiting_room] = WaitingRoom(config, client, pool, feed, app[appkeys.admission_tokens])
    yield


async def live_ctx(app: web.Application):
    """The hub and its Redis bridge, the pushes, and /ws."""
    config = app[appkeys.config]
    client, pool, room = app[appkeys.redis], app[appkeys.db], app[appkeys.waiting_room]
    hub = Hub(room_kinds(pool, room, config.admission_interval), config.redis_url, client, config.ws_max_buffer)
    pushes = Pushes(hub, client, pool, room, app[appkeys.feed], config.push_interval_ms)
    app[appkeys.hub] = hub
    try:
        await luascripts.load_all(client)
    except REDIS_DOWN:
        log.warning("Redis unavailable at start: its scripts load on first use")
    await hub.start(config.ws_heartbeat)
    yield
    await pushes.stop()
    await hub.stop()


async def expiry_ctx(app: web.Application):
    """Release pending reservations past their hold, in every instance."""
    inventory = app[appkeys.inventory]
    interval = app[appkeys.config].expiry_interval

    async def sweep_forever():
        failures = BackgroundFailures(log, "the expiry sweep")
        while True:
            released = 0
            try:
                released = await inventory.expire_due(EXPIRY_BATCH)
            except Exception as exc:
                failures.failed(exc)
            if released < EXPIRY_BATCH:  # a full batch means more are due: go on at once
                await asyncio.sleep(interval)

    task = asyncio.create_task(sweep_forever(), name="reservation-expiry")
    yield
    await background.stop(task)


async def admission_ctx(app: web.Application):
    """The waiting room's admission task, in every instance."""
    hub = app[appkeys.hub]
    task = asyncio.create_task(app[appkeys.waiting_room].run_admissions(hub.connections_per_event),
                               name="queue-admission")
    yield
    await background.stop(task)


async def close_sockets(app: web.Application) -> None:
    await app[appkeys.hub].close_all()


def create_app(config: Config) -> web.Application:
    app = web.Application(middlewares=[error_middleware], client_max_size=MAX_BODY_BYTES)
    app.on_response_prepare.append(security_headers)
    app[appkeys.config] = config
    app[appkeys.feed] = ChangeFeed()
    app[appkeys.signer] = TokenSigner(config.secret, config.token_ttl_seconds)
    app.cleanup_ctx.extend([postgres_ctx, redis_ctx, signing_keys_ctx, domain_ctx, live_ctx, expiry_ctx,
                            admission_ctx])
    app.on_shutdown.append(close_sockets)  # 1001 to every socket once we stop accepting
    for routes in ROUTES:
        app.router.add_routes(routes)
    # The endpoint's method itself handles /ws: no wrapper coroutine kept alive per socket.
    # Routes freeze before startup, so it finds the hub (built in live_ctx) by its key.
    app.router.add_get("/ws", WsEndpoint(appkeys.hub, app[appkeys.signer], config.allowed_origins,
                                         _count_upgrade).handle, name="ws")
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
