"""HTTP plumbing shared by every handler: the error middleware, JSON in and out,
and who is calling."""

from __future__ import annotations

import ipaddress
import logging
import re
import secrets

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from marshmallow import Schema

from .. import appkeys, errors, logs
from ..auth import Identity
from ..codec import JSONDecodeError, dumps, loads, parse_id
from ..failures import classify
from .pages import not_found_page, wants_page

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024

_IDENTITY = web.RequestKey("identity", object)
REQUEST_ID_KEY = web.RequestKey("request_id", str)
_ADDRESS = web.RequestKey("client_address", str)

# aiohttp's own HTTP errors (unknown route, wrong method, body too large) mapped to
# the contract's codes.
_HTTP_CODES = {
    400: "validation_error", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 413: "payload_too_large", 429: "rate_limited",
}


def json_response(data, status: int = 200, headers: dict | None = None) -> web.Response:
    return web.Response(body=dumps(data), status=status, headers=headers,
                        content_type="application/json")


def error_response(error: errors.ApiError) -> web.Response:
    body = {"error": {"code": error.code, "message": error.message, "details": error.details}}
    return json_response(body, status=error.status, headers=error.headers or None)


# What pages are served with: scripts and styles from this site only (no inline script or
# style), never framed, forms and base URL pinned.
PAGE_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
               "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every answer says nosniff and a referrer policy; pages also
    carry the content security policy and refuse to be framed."""
    if response.status == 101:
        return  # a WebSocket: no content to type, and its headers live as long as the socket
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    if response.content_type == "text/html":
        headers.setdefault("Content-Security-Policy", PAGE_POLICY)
        headers.setdefault("X-Frame-Options", "DENY")


@web.middleware
async def error_middleware(request: web.Request, handler):
    """The one middleware, in one frame (an open WebSocket keeps it for hours, 5,000 times
    over): the request's id (the proxy's X-Request-Id if it sent a sane one) for every log
    line and on the answer, and every failure turned into the contract's error. Sockets get
    no request id: it would stay in memory as long as they do."""
    token = rid = None
    if request.path != "/ws":
        given = request.headers.get("X-Request-Id", "")
        rid = request[REQUEST_ID_KEY] = given if REQUEST_ID.match(given) else secrets.token_hex(8)
        token = logs.request_id.set(rid)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            if rid:
                exc.headers["X-Request-Id"] = rid
            raise
        if exc.status == 404 and wants_page(request):
            response = not_found_page()
        else:
            message = "Request body too large (limit 64 KiB)" if exc.status == 413 else exc.reason
            response = error_response(errors.HttpError(exc.status, _HTTP_CODES.get(exc.status, "error"),
                                                       message, _passthrough_headers(exc)))
    except ConnectionResetError:
        # The client went away mid-request (a phone losing signal, a load generator giving up
        # on an upgrade): nothing to answer and nothing wrong here. aiohttp drops the reply.
        log.debug("%s %s: client gone", request.method, request.path)
        response = web.Response(status=400)
    except Exception as exc:
        error = classify(exc)
        if error is None:
            log.exception("Unhandled error on %s %s", request.method, request.path)
            error = errors.Internal()
        elif error.status == 503:
            log.warning("%s %s: %s (%r)", request.method, request.path, error.message, exc)
        response = not_found_page() if error.status == 404 and wants_page(request) else error_response(error)
    finally:
        if token is not None:
            logs.request_id.reset(token)
    if rid and not response.prepared:
        response.headers["X-Request-Id"] = rid
    return response


class AccessLogger(AbstractAccessLogger):
    """One line per answered request (TICKETD_ACCESS_LOG), by aiohttp once it is written: the
    method, the path without its query (which may carry ?token=), the route, the status, the
    latency, the client and the request id. Never a header, a cookie or a body."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        match = getattr(request, "match_info", None)
        resource = match.route.resource if match is not None else None
        self.logger.info("%s %s %s", request.method, request.path, response.status, extra={
            "method": request.method, "path": request.path, "status": response.status,
            "route": resource.canonical if resource is not None else None,
            "client": client_address(request) if isinstance(request, web.Request) else request.remote,
            "request_id": request.get(REQUEST_ID_KEY), "latency_ms": round(1000 * time, 2)})


def _passthrough_headers(exc: web.HTTPException) -> dict:
    return {name: value for name, value in exc.headers.items() if name in ("Allow", "Retry-After")}


async def parse_body(request: web.Request, schema: Schema, optional: bool = False) -> dict | None:
    """The request's JSON body validated by ``schema``; 400 naming each bad field. With
    ``optional``, no body at all is None."""
    raw = await request.read()
    if not raw:
        if optional:
            return None
        raise errors.ValidationFailed("A JSON body is required", {"_body": ["Missing JSON body"]})
    try:
        data = loads(raw)
    except JSONDecodeError as exc:
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
            request[_IDENTITY] = request.app[appkeys.signer].verify(token.strip())
    return request[_IDENTITY]


def client_address(request: web.Request) -> str:
    """The caller's address: the peer's, unless the peer is a trusted proxy
    (TICKETD_TRUSTED_PROXIES); then the nearest X-Forwarded-For hop that is not one.
    Nobody else's X-Forwarded-For is believed."""
    if _ADDRESS not in request:
        request[_ADDRESS] = _forwarded_for(request, request.app[appkeys.config].trusted_proxies)
    return request[_ADDRESS]


def _forwarded_for(request: web.Request, proxies: tuple) -> str:
    peer = request.remote or ""
    if not proxies or not _within(peer, proxies):
        return peer
    hops = [hop.strip() for line in request.headers.getall("X-Forwarded-For", ())
            for hop in line.split(",") if hop.strip()]
    address = peer
    for hop in reversed(hops):  # each trusted proxy appended the address it saw
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return address  # not an address: what the client wrote, not a proxy
        address = hop
        if not _within(hop, proxies):
            break
    return address


def is_https(request: web.Request) -> bool:
    """Whether the browser's side is https: the connection's, or a trusted proxy's word."""
    if request.secure:
        return True
    proxies = request.app[appkeys.config].trusted_proxies
    return bool(proxies) and _within(request.remote or "", proxies) and \
        request.headers.get("X-Forwarded-Proto", "").lower() == "https"


def _within(address: str, networks: tuple) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def require_user(request: web.Request) -> Identity:
    """An account (not a visitor: a visitor may only queue)."""
    who = identity(request)
    if who is None or not who.is_user:
        raise errors.Unauthorized("Sign in with an account" if who else None)
    return who


def require_shopper(request: web.Request) -> Identity:
    """Anyone who may queue: an account or a visitor."""
    who = identity(request)
    if who is None:
        raise errors.Unauthorized()
    return who


def require_admin(request: web.Request) -> Identity:
    who = require_user(request)
    if not who.is_admin:
        raise errors.Forbidden("Administrators only")
    return who


def event_id(request: web.Request) -> int:
    """The path's ``{eventId}``."""
    return parse_id(request.match_info["eventId"], "event")
