"""Admin routes: live stats of an event (and announcements)."""

import datetime

from aiohttp import web

from .. import appkeys, events
from ..changes import Announcement
from . import schemas
from .http import event_id, json_response, parse_body, require_admin

routes = web.RouteTableDef()


@routes.get("/api/admin/events/{eventId}/stats")
async def event_stats(request: web.Request) -> web.Response:
    """Live stats of an event across all instances (admins).
    ---
    summary: Event stats
    tags: [admin]
    security: [{bearer: []}]
    parameters: [eventId]
    responses:
      200: {description: "Connections, active shoppers, queue length, admissions in the last minute,
            queue state and live instances", content: {application/json: {schema: Stats}}}
      401: Unauthorized
      403: Forbidden
      404: NotFound
      503: Unavailable
    """
    require_admin(request)
    return json_response(await request.app[appkeys.waiting_room].stats(event_id(request)))


@routes.post("/api/admin/events/{eventId}/announce")
async def announce(request: web.Request) -> web.Response:
    """Push an announcement to everyone watching the event (admins).
    ---
    summary: Announce
    tags: [admin]
    security: [{bearer: []}]
    parameters: [eventId]
    requestBody: {required: true, content: {application/json: {schema: AnnounceRequest}}}
    responses:
      202: {description: "Accepted: `announcement` {message, at} goes to the room event:{eventId}",
            content: {application/json: {schema: Accepted}}}
      400: ValidationError
      401: Unauthorized
      403: Forbidden
      404: NotFound
    """
    require_admin(request)
    announced = event_id(request)
    body = await parse_body(request, schemas.AnnounceRequest())
    app = request.app
    await events.require_event(app[appkeys.db], announced)
    await app[appkeys.feed].emit(Announcement(announced, body["message"],
                                              datetime.datetime.now(datetime.timezone.utc)))
    return json_response({"ok": True}, status=202)
