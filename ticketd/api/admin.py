"""Admin routes: live stats of an event (and announcements)."""

from aiohttp import web

from .. import appkeys, auth, events
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
      429: RateLimited
    """
    admin = require_admin(request)
    announced = event_id(request)
    await request.app[appkeys.rate_limiter].hit("announcements_per_admin", str(admin.user_id))
    body = await parse_body(request, schemas.AnnounceRequest())
    app = request.app
    # `at` on the database's clock: an instance whose own clock is off says the same time.
    at = await events.require_event(app[appkeys.db], announced)
    await app[appkeys.feed].emit(Announcement(announced, body["message"], at))
    return json_response({"ok": True}, status=202)


@routes.post("/api/admin/users/bulk")
async def bulk_users(request: web.Request) -> web.Response:
    """Accounts for a rehearsal (`ticketd loadtest`), up to 5,000 a call, with a bearer token
    each: `{prefix}-{n}@loadtest.invalid`, nobody's password (admins).
    ---
    summary: Create rehearsal accounts
    tags: [admin]
    security: [{bearer: []}]
    requestBody: {required: true, content: {application/json: {schema: BulkUsersRequest}}}
    responses:
      201: {description: The new accounts (any already there are left out),
            content: {application/json: {schema: BulkUsersResponse}}}
      400: ValidationError
      401: Unauthorized
      403: Forbidden
    """
    require_admin(request)
    body = await parse_body(request, schemas.BulkUsersRequest())
    app = request.app
    rows = await auth.create_bulk_users(app[appkeys.db], body["prefix"], body["count"])
    signer = app[appkeys.signer]
    return json_response({"users": [{"id": str(r["id"]), "email": r["email"], "token": signer.issue(r["id"], "user")}
                                    for r in rows]}, status=201)
