"""Throwaway PostgreSQL and Redis for a benchmark run: prints their URLs as shell
assignments, then runs until SIGTERM/SIGINT and removes them."""

import pathlib
import signal
import sys

from ticketd import embedded

signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
data = pathlib.Path(sys.argv[1])
with embedded.postgres(data / "postgres") as pg, embedded.redis(data / "redis", persist=False) as redis:
    print(f"export TICKETD_DATABASE_URL='{pg}'\nexport TICKETD_REDIS_URL='{redis}'", flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
