"""Events, their ticket types and seats."""

from aiohttp import web

from . import events, keys, schemas
from .http import int_id, json_response, parse_body, require_admin

routes = web.RouteTableDef()


def queue_active(app: web.Application):
    return app[keys.waiting_room].is_active


async def load_event(app: web.Application, event_id: int) -> dict:
    return await events.get_event(app[keys.db], event_id, queue_active(app))


@routes.get("/api/events")
async def list_events(request: web.Request) -> web.Response:
    """Every event with live availability.
    ---
    summary: List events
    tags: [events]
    responses:
      200: {description: Events, content: {application/json: {schema: EventListResponse}}}
    """
    app = request.app
    return json_response({"events": await events.list_events(app[keys.db], queue_active(app))})


@routes.get("/api/events/{eventId}")
async def get_event(request: web.Request) -> web.Response:
    """One event with its ticket types and queue state.
    ---
    summary: Get event
    tags: [events]
    parameters: [eventId]
    responses:
      200: {description: The event, content: {application/json: {schema: EventResponse}}}
      404: NotFound
    """
    event_id = int_id(request.match_info["eventId"], "event")
    return json_response({"event": await load_event(request.app, event_id)})


@routes.post("/api/events")
async def create_event(request: web.Request) -> web.Response:
    """Create an event (admins).
    ---
    summary: Create event
    tags: [events]
    security: [{bearer: []}]
    requestBody: {content: {application/json: {schema: CreateEventRequest}}}
    responses:
      201: {description: Created, content: {application/json: {schema: EventResponse}}}
      400: ValidationError
      401: Unauthorized
      403: Forbidden
    """
    require_admin(request)
    body = await parse_body(request, schemas.CreateEventRequest())
    event_id = await events.create_event(request.app[keys.db], body)
    await request.app[keys.waiting_room].settings_changed(str(event_id))
    return json_response({"event": await load_event(request.app, event_id)}, status=201)


@routes.patch("/api/events/{eventId}")
async def update_event(request: web.Request) -> web.Response:
    """Change an event's details or queue settings, live (admins).
    ---
    summary: Update event
    tags: [events]
    security: [{bearer: []}]
    parameters: [eventId]
    requestBody: {content: {application/json: {schema: UpdateEventRequest}}}
    responses:
      200: {description: Updated, content: {application/json: {schema: EventResponse}}}
      400: ValidationError
      401: Unauthorized
      403: Forbidden
      404: NotFound
    """
    require_admin(request)
    event_id = int_id(request.match_info["eventId"], "event")
    body = await parse_body(request, schemas.UpdateEventRequest())
    app = request.app
    await events.update_event(app[keys.db], event_id, body)
    await app[keys.waiting_room].settings_changed(str(event_id))
    event = await load_event(app, event_id)
    await app[keys.realtime].event_updated(event)
    return json_response({"event": event})


@routes.get("/api/events/{eventId}/seats")
async def list_seats(request: web.Request) -> web.Response:
    """Every seat of the event with its status.
    ---
    summary: List seats
    tags: [events]
    parameters: [eventId]
    responses:
      200: {description: Seats, content: {application/json: {schema: SeatListResponse}}}
      404: NotFound
    """
    event_id = int_id(request.match_info["eventId"], "event")
    return json_response({"seats": await events.list_seats(request.app[keys.db], event_id)})
