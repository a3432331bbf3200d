"""The waiting room's REST routes: check in, own status, leave."""

from aiohttp import web

from .. import appkeys
from . import schemas
from .http import event_id, json_response, parse_body, require_shopper

routes = web.RouteTableDef()


@routes.post("/api/queue/check/{eventId}")
async def check(request: web.Request) -> web.Response:
    """Enter the waiting room (or its pre-queue) or be let in; calling again never loses or
    changes the place. When the event asks for a toll (`queue.challengeBits` > 0), entering
    needs a solved challenge from GET /api/queue/challenge/{eventId} in the body; a shopper
    already queued or admitted checks again without one.
    ---
    summary: Check in to the waiting room
    tags: [queue]
    security: [{bearer: []}]
    parameters: [eventId]
    requestBody: {required: false, content: {application/json: {schema: CheckRequest}}}
    responses:
      200: {description: "`admitted` with `expiresAt`, `queued` with position and ETA, `prequeue`
            before the sale, or `closed` before the pre-queue opens",
            content: {application/json: {schema: QueueStatus}}}
      400: ValidationError
      401: Unauthorized
      403: {description: "challenge_required (details.bits): solve a challenge first",
            content: {application/json: {schema: ErrorResponse}}}
      404: NotFound
      429: RateLimited
      503: Unavailable
    """
    who = await _counted_shopper(request)
    body = await parse_body(request, schemas.CheckRequest(), optional=True) or {}
    room = request.app[appkeys.waiting_room]
    return json_response(await room.check(event_id(request), who.shopper, body.get("challenge"),
                                          body.get("nonce")))


@routes.get("/api/queue/challenge/{eventId}")
async def challenge(request: web.Request) -> web.Response:
    """A fresh toll challenge: find a nonce such that SHA-256 of `challenge + ":" + nonce`
    starts with `bits` zero bits, then send both with the check. Bound to the caller and the
    event, single use, expiring.
    ---
    summary: Toll challenge
    tags: [queue]
    security: [{bearer: []}]
    parameters: [eventId]
    responses:
      200: {description: The challenge, content: {application/json: {schema: Challenge}}}
      401: Unauthorized
      404: NotFound
      429: RateLimited
      503: Unavailable
    """
    who = await _counted_shopper(request)
    return json_response(await request.app[appkeys.waiting_room].challenge(event_id(request), who.shopper))


@routes.get("/api/queue/status/{eventId}")
async def status(request: web.Request) -> web.Response:
    """Own place in the waiting room; polling it keeps the place alive.
    ---
    summary: Waiting room status
    tags: [queue]
    security: [{bearer: []}]
    parameters: [eventId]
    responses:
      200: {description: "`admitted`, `queued` or `none`", content: {application/json: {schema: QueueStatus}}}
      401: Unauthorized
      404: NotFound
      429: RateLimited
      503: Unavailable
    """
    who = await _counted_shopper(request)
    return json_response(await request.app[appkeys.waiting_room].status(event_id(request), who.shopper))


@routes.post("/api/queue/leave/{eventId}")
async def leave(request: web.Request) -> web.Response:
    """Leave the queue or give up an admission; the place goes to the next in line.
    ---
    summary: Leave the waiting room
    tags: [queue]
    security: [{bearer: []}]
    parameters: [eventId]
    responses:
      204: {description: Left}
      401: Unauthorized
      404: NotFound
      503: Unavailable
    """
    who = require_shopper(request)
    await request.app[appkeys.waiting_room].leave(event_id(request), who.shopper)
    return web.Response(status=204)


async def _counted_shopper(request: web.Request):
    """The caller, their call counted: a browser polls every few seconds, a script faster."""
    who = require_shopper(request)
    await request.app[appkeys.rate_limiter].hit("queue_calls_per_shopper", who.shopper)
    return who
