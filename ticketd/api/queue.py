"""The waiting room's REST routes: check in, own status, leave."""

from aiohttp import web

from .. import appkeys
from .http import event_id, json_response, require_user

routes = web.RouteTableDef()


@routes.post("/api/queue/check/{eventId}")
async def check(request: web.Request) -> web.Response:
    """Enter the waiting room or be let in; calling again never loses or changes the place.
    ---
    summary: Check in to the waiting room
    tags: [queue]
    security: [{bearer: []}]
    parameters: [eventId]
    responses:
      200: {description: "`admitted` with `expiresAt`, or `queued` with position and ETA",
            content: {application/json: {schema: QueueStatus}}}
      401: Unauthorized
      404: NotFound
      503: Unavailable
    """
    who = require_user(request)
    return json_response(await request.app[appkeys.waiting_room].check(event_id(request), who.shopper))


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
      503: Unavailable
    """
    who = require_user(request)
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
    who = require_user(request)
    await request.app[appkeys.waiting_room].leave(event_id(request), who.shopper)
    return web.Response(status=204)
