"""Admin routes: live stats of an event (and announcements)."""

from aiohttp import web

from . import keys
from .http import int_id, json_response, require_admin

routes = web.RouteTableDef()


@routes.get("/api/admin/events/{eventId}/stats")
async def event_stats(request: web.Request) -> web.Response:
    """Live stats of an event across all instances (admins).
    ---
    summary: Event stats
    tags: [admin]
    security: [{bearer: []}]
    parameters: [{$ref: "#/components/parameters/eventId"}]
    responses:
      200: {description: "Connections, active shoppers, queue length, admissions in the last minute,
            queue state and live instances", content: {application/json: {schema: Stats}}}
      401: {$ref: "#/components/responses/Unauthorized"}
      403: {$ref: "#/components/responses/Forbidden"}
      404: {$ref: "#/components/responses/NotFound"}
      503: {$ref: "#/components/responses/Unavailable"}
    """
    require_admin(request)
    event_id = str(int_id(request.match_info["eventId"], "event"))
    return json_response(await request.app[keys.waiting_room].stats(event_id))
