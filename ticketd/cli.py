"""The ticketd command: serve, migrate, create-admin, unlock, rotate-keys, loadtest."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import errno
import gc
import logging
import socket
import sys
from pathlib import Path

from aiohttp import web

from . import __version__, auth, db, demo, embedded, loadtest, logs, workers
from .config import Config, ConfigError
from .gate.keys import ACTIVATION_SECONDS as KEYS_ACTIVATION_SECONDS, REFRESH_SECONDS as KEYS_REFRESH_SECONDS

log = logging.getLogger("ticketd")

DESCRIPTION = """Ticketing server for high-demand on-sales: a virtual waiting room, real-time
stock over WebSocket, no overselling. With TICKETD_DATABASE_URL / TICKETD_REDIS_URL unset,
PostgreSQL and Redis run embedded under --data-dir."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ticketd", description=DESCRIPTION,
                                     epilog="Run 'ticketd COMMAND --help' for the options of a command.")
    parser.add_argument("--version", action="version", version=__version__)
    data_dir = argparse.ArgumentParser(add_help=False)
    data_dir.add_argument("--data-dir", type=Path, default=Path(".ticketd"),
                          help="where embedded PostgreSQL and Redis keep their data (default ./.ticketd)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", parents=[data_dir], help="run the server",
                           description="Run the server (migrations first; demo data on a first start).")
    serve.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port to listen on (default 8080)")
    serve.add_argument("--workers", default="1",
                       help="processes serving the port, each a full instance (default 1; auto: one per core)")

    sub.add_parser("migrate", parents=[data_dir], help="apply database migrations",
                   description="Apply every numbered migration in sql/ not applied yet.")

    admin = sub.add_parser(
        "create-admin", parents=[data_dir], help="create an admin, or promote an account and reset its password",
        description="Create an admin account. If the email already has an account, it becomes an "
                    "admin and its password is replaced by --password.")
    admin.add_argument("email", help="the admin's email address")
    admin.add_argument("--password", required=True,
                       help="the admin's password (replaces the current one if the account exists)")
    admin.add_argument("--name", default="Administrator",
                       help="display name of a new account (default Administrator; an existing "
                            "account keeps its name)")

    unlock = sub.add_parser(
        "unlock", parents=[data_dir], help="lift the login limits on an account",
        description="Clear the failed-login counters of an account, so that it can log in from "
                    "any address again at once.")
    unlock.add_argument("email", help="the account's email address (any case)")

    sub.add_parser("rotate-keys", parents=[data_dir], help="add a new admission-token signing key",
                   description=f"Add a new signing key for admission tokens. Running instances publish it "
                               f"within {KEYS_REFRESH_SECONDS:g} s (they reload the keys that often) and "
                               f"sign with it {KEYS_ACTIVATION_SECONDS:g} s after this command (by then every "
                               f"instance has had time to publish it); the old keys stay published until "
                               f"every token they signed has expired.")

    loadtest.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "loadtest":  # a client of a running ticketd: no services, no config
        return loadtest.run(args)
    try:
        config = Config.from_env()
        logs.setup(json_lines=config.log_json)
        if args.command == "serve":
            overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
            config = dataclasses.replace(config, **overrides)
            if not workers.is_worker():  # a worker shares the port with its siblings
                _check_port_free(config.host, config.port)
        with services(config, args.data_dir.resolve()) as config:
            return COMMANDS[args.command](config, args)
    except (ConfigError, RuntimeError) as exc:
        print(f"ticketd: {exc}", file=sys.stderr)
        return 2


def _check_port_free(host: str, port: int) -> None:
    """Say so in one line, before starting anything, when the port is taken."""
    try:
        with socket.create_server((host, port), reuse_port=False):
            pass
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(f"port {port} is in use on {host}; pass --port") from None
        if exc.errno in (errno.EADDRNOTAVAIL, errno.EACCES):
            raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror}); pass --host/--port") from None
        raise


@contextlib.contextmanager
def services(config: Config, data_dir: Path):
    """The config with embedded PostgreSQL/Redis filled in for whichever URL is unset."""
    with contextlib.ExitStack() as stack:
        embedded_any = not config.database_url or not config.redis_url
        if not config.database_url:
            log.info("TICKETD_DATABASE_URL not set: embedded PostgreSQL in %s", data_dir / "postgres")
            config = dataclasses.replace(config, database_url=stack.enter_context(
                embedded.postgres(data_dir / "postgres")), demo=config.demo is not False)
        if not config.redis_url:
            log.info("TICKETD_REDIS_URL not set: embedded Redis in %s", data_dir / "redis")
            config = dataclasses.replace(config, redis_url=stack.enter_context(
                embedded.redis(data_dir / "redis")))
        if not config.secret:
            if not embedded_any:
                raise ConfigError("TICKETD_SECRET must be set when PostgreSQL and Redis are external")
            config = dataclasses.replace(config, secret=embedded.secret(data_dir))
        yield config


async def _with_pool(config: Config, work):
    pool = await db.create_pool(config.database_url, maxsize=2)
    try:
        await db.migrate(pool)
        return await work(pool)
    finally:
        pool.close()
        await pool.wait_closed()


def _migrate(config: Config, args) -> int:
    async def run():
        pool = await db.create_pool(config.database_url, maxsize=2)
        try:
            return await db.migrate(pool)
        finally:
            pool.close()
            await pool.wait_closed()
    applied = asyncio.run(run())
    print(f"applied: {', '.join(applied) or 'nothing (up to date)'}")
    return 0


def _create_admin(config: Config, args) -> int:
    user = asyncio.run(_with_pool(config, lambda pool: auth.create_admin(pool, args.email, args.password,
                                                                          args.name)))
    print(f"admin {user['email']} (id {user['id']}) ready")
    return 0


def _unlock(config: Config, args) -> int:
    import redis.asyncio as aioredis

    from .ratelimit import LoginThrottle, RateLimiter

    async def run() -> int:
        client = aioredis.Redis.from_url(config.redis_url)
        try:
            return await LoginThrottle(RateLimiter(client, config.rate_limits), client).clear(args.email)
        finally:
            await client.aclose()
    cleared = asyncio.run(run())
    print(f"{args.email}: {cleared} login limit{'s' if cleared != 1 else ''} cleared")
    return 0


def _rotate_keys(config: Config, args) -> int:
    from .gate.keys import SigningKeys

    async def rotate(pool):
        keys = SigningKeys(pool, config.secret)
        await keys.ensure()
        return await keys.rotate()
    kid = asyncio.run(_with_pool(config, rotate))
    print(f"new signing key {kid}: running instances publish it within {KEYS_REFRESH_SECONDS:g} s and sign "
          f"with it {KEYS_ACTIVATION_SECONDS:g} s from now; the old keys stay published until their tokens "
          "have expired")
    return 0


def _serve(config: Config, args) -> int:
    try:
        count = workers.count(args.workers)
    except ValueError:
        raise ConfigError(f"--workers must be a number of at least 1, or auto (got {args.workers!r})") from None
    if not workers.is_worker():
        async def prepare(pool):
            return await demo.create_demo(pool) if config.demo and await demo.needs_demo(pool) else None
        credentials = asyncio.run(_with_pool(config, prepare))
        if credentials:
            print(f"\nFirst start: demo data created (this password is shown only once).\n"
                  f"  admin email:    {credentials['email']}\n"
                  f"  admin password: {credentials['password']}\n", flush=True)
        if count > 1:
            return workers.Supervisor(config, count).run()
    return _serve_one(config, reuse_port=workers.is_worker())


def _serve_one(config: Config, reuse_port: bool) -> int:
    from .api.http import AccessLogger
    from .app import create_app

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
    try:
        web.run_app(app, host=config.host, port=config.port,
                    access_log=logging.getLogger("ticketd.access") if config.access_log else None,
                    access_log_class=AccessLogger,
                    print=lambda _: print(f"ticketd {__version__} listening on {url}  (Ctrl-C stops)",
                                          flush=True),
                    shutdown_timeout=5, reuse_port=reuse_port,
                    # A spike of arrivals must not overflow the accept queue (aiohttp's
                    # default is 128; the kernel caps it at net.core.somaxconn).
                    backlog=4096,
                    # Dead peers are found by the WebSocket heartbeat and the HTTP keep-alive
                    # timeout; a TCP keepalive setsockopt per connection buys nothing more.
                    tcp_keepalive=False)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        raise ConfigError(f"port {config.port} is in use on {config.host}; pass --port") from None
    log.info("stopped")  # with the shutdown's first line, how long a stop took
    return 0


COMMANDS = {"serve": _serve, "migrate": _migrate, "create-admin": _create_admin, "unlock": _unlock,
            "rotate-keys": _rotate_keys}
