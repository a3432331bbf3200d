"""``ticketd serve | migrate | create-admin``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gc
import logging
import sys
from pathlib import Path

from aiohttp import web

from . import __version__, auth, db, demo, embedded
from .config import Config

log = logging.getLogger("ticketd")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ticketd", description=__doc__)
    parser.add_argument("--version", action="version", version=__version__)
    parser.add_argument("--data-dir", type=Path, default=Path(".ticketd"),
                        help="where embedded PostgreSQL and Redis keep their data (default ./.ticketd)")
    sub = parser.add_subparsers(dest="command", required=True)
    serve_cmd = sub.add_parser("serve", help="run the server")
    serve_cmd.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1)")
    serve_cmd.add_argument("--port", type=int, default=None, help="port to listen on (default 8080)")
    serve_cmd.add_argument("--data-dir", type=Path, default=argparse.SUPPRESS)
    sub.add_parser("migrate", help="apply database migrations").add_argument(
        "--data-dir", type=Path, default=argparse.SUPPRESS)
    admin = sub.add_parser("create-admin", help="create an admin account or promote an existing one")
    admin.add_argument("email")
    admin.add_argument("--password", required=True)
    admin.add_argument("--name", default="Administrator")
    admin.add_argument("--data-dir", type=Path, default=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    config = Config.from_env()
    if args.command == "serve":
        overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
        config = dataclasses.replace(config, **overrides)
    try:
        with services(config, args.data_dir.resolve()) as config:
            if args.command == "serve":
                return serve(config)
            if args.command == "migrate":
                applied = _run(_migrate(config))
                print(f"applied: {', '.join(applied) or 'nothing (up to date)'}")
                return 0
            user = _run(_create_admin(config, args.email, args.password, args.name))
            print(f"admin {user['email']} (id {user['id']}) ready")
            return 0
    except (ConfigError, RuntimeError) as exc:
        print(f"ticketd: {exc}", file=sys.stderr)
        return 2


class ConfigError(Exception):
    pass


@contextlib.contextmanager
def services(config: Config, data_dir: Path):
    """The config with embedded PostgreSQL/Redis filled in for whichever URL is unset."""
    with contextlib.ExitStack() as stack:
        embedded_any = not config.database_url or not config.redis_url
        if not config.database_url:
            log.info("TICKETD_DATABASE_URL not set: embedded PostgreSQL in %s", data_dir / "postgres")
            config = dataclasses.replace(config, database_url=stack.enter_context(
                embedded.postgres(data_dir / "postgres")))
        if not config.redis_url:
            log.info("TICKETD_REDIS_URL not set: embedded Redis in %s", data_dir / "redis")
            config = dataclasses.replace(config, redis_url=stack.enter_context(
                embedded.redis(data_dir / "redis")))
        if not config.secret:
            if not embedded_any:
                raise ConfigError("TICKETD_SECRET must be set when PostgreSQL and Redis are external")
            config = dataclasses.replace(config, secret=embedded.secret(data_dir))
        yield config


def _run(coro):
    return asyncio.run(coro)


async def _migrate(config: Config) -> list[str]:
    pool = await db.create_pool(config.database_url, maxsize=2)
    try:
        return await db.migrate(pool)
    finally:
        pool.close()
        await pool.wait_closed()


async def _create_admin(config: Config, email: str, password: str, name: str) -> dict:
    pool = await db.create_pool(config.database_url, maxsize=2)
    try:
        await db.migrate(pool)
        return await auth.create_admin(pool, email, password, name)
    finally:
        pool.close()
        await pool.wait_closed()


async def _prepare(config: Config) -> dict | None:
    """Migrate, and on a first start create the demo data."""
    pool = await db.create_pool(config.database_url, maxsize=2)
    try:
        await db.migrate(pool)
        if await demo.needs_demo(pool):
            return await demo.create_demo(pool)
        return None
    finally:
        pool.close()
        await pool.wait_closed()


def serve(config: Config) -> int:
    from .app import create_app

    credentials = _run(_prepare(config))
    if credentials:
        print(f"\nFirst start: demo data created.\n  admin email:    {credentials['email']}\n"
              f"  admin password: {credentials['password']}\n", flush=True)
    with contextlib.suppress(ImportError):
        import uvloop
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    url = f"http://{config.host}:{config.port}"
    app = create_app(config)
    # Tens of thousands of long-lived objects per thousand sockets: with the default
    # thresholds the collector rescans them over and over while clients connect (a third
    # of the accept cost). Leave the startup heap alone and collect young objects less often.
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)
    web.run_app(app, host=config.host, port=config.port, access_log=None,
                print=lambda _: print(f"ticketd {__version__} listening on {url}  (Ctrl-C stops)",
                                      flush=True),
                shutdown_timeout=5,
                # Dead peers are found by the WebSocket heartbeat and the HTTP keep-alive
                # timeout; a TCP keepalive setsockopt per connection buys nothing more.
                tcp_keepalive=False)
    return 0
