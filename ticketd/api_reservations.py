"""Reservations: hold, confirm, cancel, list and get own."""

from aiohttp import web

from . import errors, inventory, keys, ratelimit, schemas
from .http import json_response, parse_body, require_user

routes = web.RouteTableDef()

MAX_IDEMPOTENCY_KEY = 200


@routes.post("/api/reservations")
async def create_reservation(request: web.Request) -> web.Response:
    """Hold tickets or seats until `expiresAt`.
    ---
    summary: Create reservation
    tags: [reservations]
    security: [{bearer: []}]
    parameters:
      - {name: Idempotency-Key, in: header, required: false, schema: {type: string, maxLength: 200},
         description: The same key and body return the same reservation, never a second one}
    requestBody: {content: {application/json: {schema: CreateReservationRequest}}}
    responses:
      201: {description: Held, content: {application/json: {schema: ReservationResponse}}}
      200: {description: Repeat of an earlier request with the same Idempotency-Key,
            content: {application/json: {schema: ReservationResponse}}}
      400: ValidationError
      401: Unauthorized
      403: Forbidden
      404: NotFound
      409: Conflict
      429: RateLimited
    """
    who = require_user(request)
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 0 < len(key) <= MAX_IDEMPOTENCY_KEY:
        raise errors.ValidationFailed(details={"Idempotency-Key": [f"1 to {MAX_IDEMPOTENCY_KEY} characters"]})
    body = await parse_body(request, schemas.CreateReservationRequest())
    event_id = int(body["event_id"])
    app = request.app
    await app[keys.rate_limiter].hit("reservations:" + who.user_id, ratelimit.RESERVATIONS)
    await app[keys.waiting_room].require_admission(str(event_id), who.user_id)
    items = [{"ticket_type_id": int(i["ticket_type_id"]), "quantity": i["quantity"]}
             for i in body.get("items") or []]
    seat_ids = [int(s) for s in body.get("seat_ids") or []]
    reservation, created, change = await inventory.create_reservation(
        app[keys.db], who.user_id, event_id, items, seat_ids,
        app[keys.config].hold_seconds, key)
    if change:
        app[keys.realtime].inventory_changed(change)
    return json_response({"reservation": reservation}, status=201 if created else 200)


@routes.get("/api/reservations")
async def list_reservations(request: web.Request) -> web.Response:
    """The caller's reservations, newest first.
    ---
    summary: List own reservations
    tags: [reservations]
    security: [{bearer: []}]
    responses:
      200: {description: Reservations, content: {application/json: {schema: ReservationListResponse}}}
      401: Unauthorized
    """
    who = require_user(request)
    return json_response({"reservations": await inventory.list_reservations(request.app[keys.db], who.user_id)})


@routes.get("/api/reservations/{reservationId}")
async def get_reservation(request: web.Request) -> web.Response:
    """One of the caller's reservations; anyone else's is a 404.
    ---
    summary: Get reservation
    tags: [reservations]
    security: [{bearer: []}]
    parameters: [reservationId]
    responses:
      200: {description: The reservation, content: {application/json: {schema: ReservationResponse}}}
      401: Unauthorized
      404: NotFound
    """
    who = require_user(request)
    reservation = await inventory.get_reservation(request.app[keys.db], who.user_id,
                                                  request.match_info["reservationId"])
    return json_response({"reservation": reservation})


@routes.post("/api/reservations/{reservationId}/confirm")
async def confirm_reservation(request: web.Request) -> web.Response:
    """Confirm a pending reservation (payment is out of scope).
    ---
    summary: Confirm reservation
    tags: [reservations]
    security: [{bearer: []}]
    parameters: [reservationId]
    responses:
      200: {description: Confirmed, content: {application/json: {schema: ReservationResponse}}}
      401: Unauthorized
      403: Forbidden
      404: NotFound
      409: Conflict
    """
    who = require_user(request)
    app = request.app
    rid = request.match_info["reservationId"]
    owned = await inventory.get_reservation(app[keys.db], who.user_id, rid)
    if owned["status"] == "pending":
        await app[keys.waiting_room].require_admission(owned["eventId"], who.user_id)
    try:
        reservation, change = await inventory.confirm_reservation(app[keys.db], who.user_id, rid)
    except inventory.ExpiredOnConfirm as exc:
        if exc.change:
            app[keys.realtime].inventory_changed(exc.change)
        raise
    if change:
        app[keys.realtime].inventory_changed(change)
        await app[keys.waiting_room].purchase_confirmed(reservation["eventId"], who.user_id)
    return json_response({"reservation": reservation})


@routes.post("/api/reservations/{reservationId}/cancel")
async def cancel_reservation(request: web.Request) -> web.Response:
    """Cancel a reservation; its stock and seats return.
    ---
    summary: Cancel reservation
    tags: [reservations]
    security: [{bearer: []}]
    parameters: [reservationId]
    responses:
      200: {description: Cancelled, content: {application/json: {schema: ReservationResponse}}}
      401: Unauthorized
      404: NotFound
      409: Conflict
    """
    who = require_user(request)
    app = request.app
    reservation, change = await inventory.cancel_reservation(app[keys.db], who.user_id,
                                                             request.match_info["reservationId"])
    if change:
        app[keys.realtime].inventory_changed(change)
    return json_response({"reservation": reservation})


