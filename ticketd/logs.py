"""Logging: plain text or one JSON object per line (TICKETD_LOG_FORMAT=json), the request
id of the request being served on every line, and aiohttp's tracebacks for malformed HTTP
(a scanner, a broken client) turned into one warning line.

Nothing logged here or anywhere in ticketd holds a password, a token or a cookie: requests
are logged by method, path (never the query string, which may carry ?token=), route,
status and latency."""

from __future__ import annotations

import contextvars
import datetime
import logging
import sys

import orjson
from aiohttp import http_exceptions

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

# Fields a record may carry (``extra=``) that the JSON lines keep.
FIELDS = ("request_id", "method", "path", "route", "status", "latency_ms", "client", "instance")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {"time": datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc).isoformat(
                    timespec="milliseconds").replace("+00:00", "Z"),
                "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        for field in FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                line[field] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


class RequestIdFilter(logging.Filter):
    """Every line written while a request is served carries its id."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id.get()
        return True


class MalformedHttpFilter(logging.Filter):
    """aiohttp logs a malformed request as an ERROR with a traceback: one warning line is
    what it is (the client got its 400)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, http_exceptions.HttpProcessingError):
            reason = (exc.message or type(exc).__name__).strip().splitlines()[0]
            record.msg, record.args = "%s: %s (%s)", (record.getMessage(), reason, type(exc).__name__)
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info = record.exc_text = None
        return True


def setup(json_lines: bool, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.server").addFilter(MalformedHttpFilter())
    logging.getLogger("pgserver").setLevel(logging.WARNING)
