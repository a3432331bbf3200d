"""JSON in and out, and ids: what the REST API and the WebSocket protocol share.

Ids are opaque strings to clients. Inside ticketd each kind has one type: events, users,
ticket types and seats are ``int``, reservations ``uuid.UUID``. They are converted
here, at the edges, and nowhere else.
"""

from __future__ import annotations

import decimal
import uuid

import orjson

from . import errors

JSONDecodeError = orjson.JSONDecodeError
loads = orjson.loads

# Database ids are positive bigints.
MAX_ID = 2**63


def dumps(data) -> bytes:
    """JSON bytes with times as ISO-8601 UTC ("…Z")."""
    return orjson.dumps(data, default=_jsonable, option=orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS)


def _jsonable(value):
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def is_id(value) -> bool:
    """Whether ``value`` is the text of one of our integer ids, exactly as we write it ("12",
    not "012": another text for the same number would be another room on /ws)."""
    return (isinstance(value, str) and value.isascii() and value.isdigit() and value[0] != "0"
            and int(value) < MAX_ID)


def parse_id(value, what: str = "id") -> int:
    """A path or room id: anything that is not one of ours is a 404, as if it did not exist."""
    if not is_id(value):
        raise errors.NotFound(f"No such {what}")
    return int(value)


def parse_uuid(value, what: str = "id") -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        raise errors.NotFound(f"No such {what}") from None
