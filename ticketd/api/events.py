"""Events, their ticket types and seats."""

from aiohttp import web

from .. import appkeys, events
from . import schemas
from .http import event_id, json_response, parse_body, require_admin

routes = web.RouteTableDef()


async def load_event(app: web.Application, event: int) -> dict:
    return await events.get_event(app[appkeys.db], event, app[appkeys.waiting_room].is_active)


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
    return json_response({"events": await events.list_events(app[appkeys.db], app[appkeys.waiting_room].is_active)})


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
    return json_response({"event": await load_event(request.app, event_id(request))})


@routes.post("/api/events")
async def create_event(request: web.Request) -> web.Response:
    """Create an event (admins).
    ---
    summary: Create event
    description: "Beyond the schema, a 400 names a field when: two ticket types or two sections share a
      name; a section's ticketType names none of the body's ticket types; a ticket type that no section
      seats has no quantity."
    tags: [events]
    security: [{bearer: []}]
    requestBody: {required: true, content: {application/json: {schema: CreateEventRequest}}}
    responses:
      201:
        description: Created
        content: {application/json: {schema: EventResponse}}
        links:
          GetEvent: {operationId: getEvent, parameters: {eventId: $response.body#/event/id}}
          UpdateEvent: {operationId: updateEvent, parameters: {eventId: $response.body#/event/id}}
          ListSeats: {operationId: listSeats, parameters: {eventId: $response.body#/event/id}}
          Reserve:
            operationId: createReservation
            requestBody:
              eventId: $response.body#/event/id
              items: [{ticketTypeId: $response.body#/event/ticketTypes/0/id, quantity: 1}]
      400: ValidationError
      401: Unauthorized
      403: Forbidden
    """
    require_admin(request)
    body = await parse_body(request, schemas.CreateEventRequest())
    app = request.app
    body.setdefault("currency", app[appkeys.config].currency)
    body.setdefault("time_zone", app[appkeys.config].time_zone)
    created = await events.create_event(app[appkeys.db], body)
    await app[appkeys.waiting_room].event_created(created)
    return json_response({"event": await load_event(app, created)}, status=201)


@routes.patch("/api/events/{eventId}")
async def update_event(request: web.Request) -> web.Response:
    """Change an event's details or queue settings, live (admins).
    ---
    summary: Update event
    tags: [events]
    security: [{bearer: []}]
    parameters: [eventId]
    requestBody: {required: true, content: {application/json: {schema: UpdateEventRequest}}}
    responses:
      200: {description: Updated, content: {application/json: {schema: EventResponse}}}
      400: ValidationError
      401: Unauthorized
      403: Forbidden
      404: NotFound
    """
    require_admin(request)
    changed = event_id(request)
    body = await parse_body(request, schemas.UpdateEventRequest())
    app = request.app
    await events.update_event(app[appkeys.db], changed, body)
    await app[appkeys.waiting_room].event_changed(changed)
    return json_response({"event": await load_event(app, changed)})


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
    return json_response({"seats": await events.list_seats(request.app[appkeys.db], event_id(request))})
