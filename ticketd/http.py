"""HTTP plumbing shared by every handler: the error middleware, JSON in and out,
and who is calling."""

from __future__ import annotations

import decimal
import logging

import orjson
import psycopg2
import redis.exceptions
from aiohttp import web
from marshmallow import Schema, ValidationError

from . import errors, keys
from .auth import Identity

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024

_IDENTITY = web.RequestKey("identity", object)

# aiohttp's own HTTP errors (unknown route, wrong method, body too large) mapped to
# the contract's codes.
_HTTP_CODES = {
    400: "validation_error", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 413: "payload_too_large", 429: "rate_limited",
}


def dumps(data) -> bytes:
    """JSON bytes with times as ISO-8601 UTC ("…Z")."""
    return orjson.dumps(data, default=_jsonable, option=orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS)


def _jsonable(value):
    if isinstance(value, decimal.Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def json_response(data, status: int = 200, headers: dict | None = None) -> web.Response:
    return web.Response(body=dumps(data), status=status, headers=headers,
                        content_type="application/json")


def error_response(status: int, code: str, message: str, details: dict | None = None,
                   headers: dict | None = None) -> web.Response:
    body = {"error": {"code": code, "message": message, "details": details or {}}}
    return json_response(body, status=status, headers=headers)


@web.middleware
async def error_middleware(request: web.Request, handler):
    try:
        return await handler(request)
    except errors.ApiError as exc:
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)
    except ValidationError as exc:
        details = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        return error_response(400, "validation_error", "Request validation failed", details)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, "error")
        message = "Request body too large (limit 64 KiB)" if exc.status == 413 else exc.reason
        return error_response(exc.status, code, message, headers=_passthrough_headers(exc))
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
        log.warning("Redis unavailable while serving %s %s", request.method, request.path)
        return error_response(503, "unavailable", "Redis is unavailable; try again shortly",
                              {"redis": "down"}, headers={"Retry-After": "5"})
    except (psycopg2.OperationalError, psycopg2.InterfaceError):
        log.warning("PostgreSQL unavailable while serving %s %s", request.method, request.path)
        return error_response(503, "unavailable", "The database is unavailable; try again shortly",
                              {"postgres": "down"}, headers={"Retry-After": "5"})
    except Exception:
        log.exception("Unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", "Internal server error")


def _passthrough_headers(exc: web.HTTPException) -> dict:
    return {name: value for name, value in exc.headers.items() if name in ("Allow", "Retry-After")}


async def parse_body(request: web.Request, schema: Schema) -> dict:
    """The request's JSON body validated by ``schema``; 400 naming each bad field."""
    raw = await request.read()
    if not raw:
        raise errors.ValidationFailed("A JSON body is required", {"_body": ["Missing JSON body"]})
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise errors.ValidationFailed("Malformed JSON", {"_body": [f"Invalid JSON: {exc}"]}) from None
    if not isinstance(data, dict):
        raise errors.ValidationFailed("The body must be a JSON object", {"_body": ["Expected an object"]})
    return schema.load(data)


def identity(request: web.Request) -> Identity | None:
    """The caller's verified identity from the bearer token, or None when anonymous."""
    if _IDENTITY not in request:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if not header:
            request[_IDENTITY] = None
        elif scheme.lower() != "bearer" or not token:
            raise errors.Unauthorized("Use Authorization: Bearer <token>")
        else:
            request[_IDENTITY] = request.app[keys.signer].verify(token.strip())
    return request[_IDENTITY]


def require_user(request: web.Request) -> Identity:
    who = identity(request)
    if who is None:
        raise errors.Unauthorized()
    return who


def require_admin(request: web.Request) -> Identity:
    who = require_user(request)
    if not who.is_admin:
        raise errors.Forbidden("Administrators only")
    return who


def int_id(value: str, field: str = "id") -> int:
    """Path ids are opaque strings to clients; ours are integers, so others are 404s."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise errors.NotFound(f"No such {field}") from None
    if not 0 < number < 2**63:
        raise errors.NotFound(f"No such {field}")
    return number
