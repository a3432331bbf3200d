"""One classifier for failures, shared by HTTP and WebSocket.

- A domain error is answered as itself.
- Redis or PostgreSQL out of reach is ``unavailable`` with Retry-After: a client should
  simply try again.
- Anything else is a bug (a programming error, a SQL error): the caller logs the traceback
  and answers the contract's internal error, never ``unavailable``.
"""

from __future__ import annotations

import time

import psycopg2
import redis.exceptions
from marshmallow import ValidationError

from . import errors

# BusyLoadingError and MaxConnectionsError are ConnectionErrors; a read-only replica
# after a failover refuses writes until the service reconnects.
REDIS_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
              redis.exceptions.ReadOnlyError)
# OperationalError: the server is gone, restarting or refusing connections;
# InterfaceError: the connection was closed under us.
POSTGRES_DOWN = (psycopg2.OperationalError, psycopg2.InterfaceError)
BACKEND_DOWN = REDIS_DOWN + POSTGRES_DOWN

RETRY_AFTER_SECONDS = 5


def down_backend(exc: BaseException) -> str | None:
    """``"redis"`` or ``"postgres"`` when ``exc`` says that backend is out of reach."""
    if isinstance(exc, REDIS_DOWN):
        return "redis"
    if isinstance(exc, POSTGRES_DOWN):
        return "postgres"
    return None


_DOWN_MESSAGES = {"redis": "Redis is unavailable; try again shortly",
                  "postgres": "The database is unavailable; try again shortly"}


def classify(exc: BaseException) -> errors.ApiError | None:
    """The contract's error for ``exc``, or None for a bug."""
    if isinstance(exc, errors.ApiError):
        return exc
    if isinstance(exc, ValidationError):
        return errors.ValidationFailed.from_marshmallow(exc)
    backend = down_backend(exc)
    if backend is not None:
        return errors.Unavailable(_DOWN_MESSAGES[backend], {backend: "down"},
                                  retry_after=RETRY_AFTER_SECONDS)
    return None


class BackgroundFailures:
    """How a background loop (a sweep, a tick, a push) reports a failed round before it
    tries again: a backend out of reach is one warning line naming it, at most every
    ``quiet_seconds`` (an outage must not flood the log with tracebacks); anything else is
    a bug, logged with its traceback every time."""

    def __init__(self, log, what: str, quiet_seconds: float = 10.0):
        self._log = log
        self._what = what
        self._quiet = quiet_seconds
        self._warned: dict[str, float] = {}

    def failed(self, exc: BaseException) -> None:
        backend = down_backend(exc)
        if backend is None:
            self._log.error("%s failed; retrying", self._what, exc_info=exc)
            return
        now = time.monotonic()
        if now - self._warned.get(backend, -self._quiet) >= self._quiet:
            self._warned[backend] = now
            self._log.warning("%s paused: %s", self._what, _DOWN_MESSAGES[backend].split(";")[0])
