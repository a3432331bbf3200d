"""The gate: ticketd as the waiting room in front of a site that is not ticketd.

Visitors get an anonymous identity, queue like anyone, and once admitted carry a signed
admission token; the site (or nginx in front of it, with auth_request) asks
/api/queue/verify/{eventId} whether to let a request through, or checks the token itself
against /.well-known/jwks.json.
"""

from __future__ import annotations

import urllib.parse

from aiohttp import web

from .. import appkeys, errors, events
from ..gate.returns import checked_return
from . import schemas
from .http import client_address, event_id, is_https, json_response, parse_body
from .pages import page_response

routes = web.RouteTableDef()

COOKIE_PREFIX = "ticketd_admission_"
# A token whose admission ended less than this long ago is answered "the admission has ended"
# (403, back to the queue); older ones are plainly expired (401).
ENDED_GRACE_MS = 60_000


@routes.post("/api/visitors")
async def create_visitor(request: web.Request) -> web.Response:
    """An anonymous visitor identity: it may queue (check, status, leave, challenge, the
    queue:{eventId} room) and nothing else. Limited per client address.
    ---
    summary: Create a visitor
    tags: [gate]
    responses:
      201: {description: "A visitor token, signed and expiring like a user's",
            content: {application/json: {schema: VisitorResponse}}}
      429: RateLimited
    """
    app = request.app
    await app[appkeys.rate_limiter].hit("visitors_per_address", client_address(request))
    token, visitor_id = app[appkeys.signer].issue_visitor()
    return json_response({"token": token, "visitor": {"id": visitor_id}}, status=201)


@routes.get("/.well-known/jwks.json")
async def jwks(request: web.Request) -> web.Response:
    """The public keys admission tokens are signed with (Ed25519), for verifying them offline.
    ---
    summary: Admission-token keys (JWKS)
    tags: [gate]
    responses:
      200: {description: JSON Web Key Set, content: {application/json: {schema: Jwks}}}
    """
    return json_response(request.app[appkeys.admission_tokens].keys.jwks,
                         headers={"Cache-Control": "public, max-age=60"})


@routes.get("/api/queue/verify/{eventId}")
async def verify(request: web.Request) -> web.Response:
    """For nginx's auth_request: is this request's admission token valid and its admission
    still live? The token comes as `Authorization: Bearer` or in the cookie
    `ticketd_admission_{eventId}`. One Redis round trip; no PostgreSQL.
    ---
    summary: Verify an admission
    tags: [gate]
    parameters: [eventId]
    responses:
      204: {description: Let it through}
      401: {description: "unauthorized: no token, or a bad signature, audience or expiry",
            content: {application/json: {schema: ErrorResponse}}}
      403: {description: "queue_required: a valid token whose admission has ended",
            content: {application/json: {schema: ErrorResponse}}}
      404: NotFound
      503: Unavailable
    """
    event = event_id(request)
    token = _bearer(request) or request.cookies.get(f"{COOKIE_PREFIX}{event}")
    if not token:
        raise errors.Unauthorized("No admission token")
    await _live_admission(request, token, event)
    return web.Response(status=204, headers={"Cache-Control": "no-store"})


@routes.get("/gate/{eventId}")
async def gate_page(request: web.Request) -> web.StreamResponse:
    # The waiting-room page of a gated site: a page, so no docstring (not in the API description).
    checked_return(request.query.get("return"), request.app[appkeys.config].gate_origins)
    await events.require_event(request.app[appkeys.db], event_id(request))
    return page_response("gate.html")


@routes.get("/gate/{eventId}/enter")
async def gate_enter(request: web.Request) -> web.Response:
    # For a proxy in front of the site (deploy/gate.nginx.conf): a request it turned away
    # is sent here with X-Original-URI, and on to the gate page with that path, properly
    # encoded (stock nginx cannot URL-encode). Only a path on this same site: no open redirect.
    event = event_id(request)
    target = request.headers.get("X-Original-URI", "/")
    if not target.startswith("/") or target.startswith("//"):
        target = "/"
    location = f"/gate/{event}?" + urllib.parse.urlencode({"return": target})
    raise web.HTTPFound(location, headers={"Cache-Control": "no-store"})


@routes.post("/api/gate/{eventId}/pass")
async def gate_pass(request: web.Request) -> web.Response:
    """Once admitted, the gate page trades the admission token for the cookie the gated site
    is let through with, and learns where to send the visitor.
    ---
    summary: Enter the gated site
    description: "`return` must be a path on this site or an absolute http(s) URL on one of
      TICKETD_GATE_ORIGINS; anything else is a 400 (never an open redirect)."
    tags: [gate]
    parameters: [eventId]
    requestBody: {required: true, content: {application/json: {schema: PassRequest}}}
    responses:
      200: {description: "The cookie is set (HttpOnly, SameSite=Lax, Max-Age to the admission's
            end); go to `redirect`", content: {application/json: {schema: PassResponse}}}
      400: ValidationError
      401: Unauthorized
      403: {description: "queue_required: the admission has ended", content: {application/json: {schema: ErrorResponse}}}
      404: NotFound
      503: Unavailable
    """
    event = event_id(request)
    body = await parse_body(request, schemas.PassRequest())
    config = request.app[appkeys.config]
    redirect = checked_return(body["return_to"], config.gate_origins)
    now_ms, expires_ms = await _live_admission(request, body["admission_token"], event)
    response = json_response({"redirect": redirect})
    response.set_cookie(f"{COOKIE_PREFIX}{event}", body["admission_token"], path="/", httponly=True,
                        samesite="Lax", secure=is_https(request), domain=config.gate_cookie_domain or None,
                        max_age=max(1, (expires_ms - now_ms) // 1000))
    return response


async def _live_admission(request: web.Request, token: str, event: int) -> tuple[int, int]:
    """(now, admission end) for a valid token whose admission is live; 401 or 403 else."""
    claims, ends_ms = request.app[appkeys.admission_tokens].verify(token, event)
    now_ms, expires_ms = await request.app[appkeys.waiting_room].admission(event, claims["sub"])
    if claims["exp"] * 1000 + ENDED_GRACE_MS <= now_ms:
        raise errors.Unauthorized("Admission token expired")
    # The token names its admission by its end: a later admission of the same shopper
    # does not revive an old token.
    if expires_ms <= now_ms or expires_ms != ends_ms:
        raise errors.QueueRequired("This admission has ended: join the queue again")
    return now_ms, expires_ms


def _bearer(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None
