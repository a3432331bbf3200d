"""The waiting room's REST routes: check in, own status, leave."""

from aiohttp import web

from . import keys
from .http import int_id, json_response, require_user

routes = web.RouteTableDef()


def _event_id(request: web.Request) -> str:
    return str(int_id(request.match_info["eventId"], "event"))


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
    room = request.app[keys.waiting_room]
    return json_response(await room.check(_event_id(request), who.user_id))


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
    room = request.app[keys.waiting_room]
    return json_response(await room.status(_event_id(request), who.user_id))


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
    await request.app[keys.waiting_room].leave(_event_id(request), who.user_id)
    return web.Response(status=204)
