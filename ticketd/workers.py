"""``ticketd serve --workers N``: N processes serving one port, each a full instance of the
cluster (its own Redis bridge, admission ticks, heartbeat and stats), the kernel spreading
connections over them (SO_REUSEPORT).

The parent starts the embedded servers (if any), migrates and makes the demo data once,
then supervises: a worker that dies is started again; SIGTERM or Ctrl-C to the parent stops
every worker gracefully (their sockets closed with 1001) before the embedded servers stop.
Workers run in sessions of their own, so a terminal's Ctrl-C reaches them once, through
the parent.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time

log = logging.getLogger(__name__)

WORKER_ENV = "TICKETD_WORKER"
# A worker that dies sooner than this after starting, this many times in a row, is a
# broken configuration rather than bad luck: stop everything.
QUICK_DEATH_SECONDS = 5.0
QUICK_DEATHS = 3


def count(value: str) -> int:
    """``auto`` = the cores this process may run on; else a positive number."""
    if value == "auto":
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    number = int(value)
    if number < 1:
        raise ValueError("--workers must be at least 1")
    return number


def is_worker() -> bool:
    return os.environ.get(WORKER_ENV) == "1"


class Supervisor:
    def __init__(self, config, workers: int):
        self.config = config
        self.workers = workers
        self.env = {**os.environ, WORKER_ENV: "1", "TICKETD_DATABASE_URL": config.database_url,
                    "TICKETD_REDIS_URL": config.redis_url, "TICKETD_SECRET": config.secret}
        self.processes: list[subprocess.Popen | None] = [None] * workers
        self.started: list[float] = [0.0] * workers
        self.quick_deaths = 0
        self.stopping = False

    def run(self) -> int:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._stop)
        for index in range(self.workers):
            self._start(index)
        print(f"ticketd: {self.workers} workers on http://{self.config.host}:{self.config.port}  "
              "(Ctrl-C stops them all)", flush=True)
        status = 0
        while any(p is not None and p.poll() is None for p in self.processes):
            time.sleep(0.2)
            if self.stopping:
                continue
            for index, process in enumerate(self.processes):
                if process is not None and process.poll() is not None:
                    if time.monotonic() - self.started[index] < QUICK_DEATH_SECONDS:
                        self.quick_deaths += 1
                    else:
                        self.quick_deaths = 0
                    if self.quick_deaths >= QUICK_DEATHS:
                        log.error("workers keep dying at start (last exit code %s): stopping", process.returncode)
                        status = 1
                        self._stop()
                        break
                    log.warning("worker %d (pid %d) exited with %s: starting it again",
                                index, process.pid, process.returncode)
                    self._start(index)
        return status

    def _start(self, index: int) -> None:
        env = dict(self.env)
        if self.config.instance_id:
            env["TICKETD_INSTANCE_ID"] = f"{self.config.instance_id}-w{index}"
        self.processes[index] = subprocess.Popen(
            [sys.executable, "-m", "ticketd", "serve", "--host", self.config.host, "--port", str(self.config.port)],
            env=env, start_new_session=True)
        self.started[index] = time.monotonic()

    def _stop(self, *_) -> None:
        if self.stopping:
            return
        self.stopping = True
        for process in self.processes:
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
