"""Reservations: hold, confirm, cancel, list and get own."""

from aiohttp import web

from .. import appkeys, errors
from ..codec import parse_uuid
from . import schemas
from .http import json_response, parse_body, require_user

routes = web.RouteTableDef()

MAX_IDEMPOTENCY_KEY = 200


@routes.post("/api/reservations")
async def create_reservation(request: web.Request) -> web.Response:
    """Hold tickets or seats until `expiresAt`.
    ---
    summary: Create reservation
    description: "Beyond the schema, a 400 names a field when an eventId, ticketTypeId or seat id is not one
      the API gave out (or is another event's), or when items ask for a seated ticket type (seats are
      chosen by seatIds)."
    tags: [reservations]
    security: [{bearer: []}]
    parameters:
      - {name: Idempotency-Key, in: header, required: false,
         schema: {type: string, minLength: 1, maxLength: 200, pattern: "^[!-~]([ -~]*[!-~])?$"},
         description: "The same key and body return the same reservation, never a second one. 1 to 200
           printable characters (UTF-8 on the wire)"}
    requestBody: {required: true, content: {application/json: {schema: CreateReservationRequest}}}
    responses:
      201:
        description: Held
        content: {application/json: {schema: ReservationResponse}}
        links: &reservation
          GetReservation: {operationId: getReservation, parameters: {reservationId: $response.body#/reservation/id}}
          ConfirmReservation: {operationId: confirmReservation,
                               parameters: {reservationId: $response.body#/reservation/id}}
          CancelReservation: {operationId: cancelReservation,
                              parameters: {reservationId: $response.body#/reservation/id}}
      200:
        description: Repeat of an earlier request with the same Idempotency-Key
        content: {application/json: {schema: ReservationResponse}}
        links: *reservation
      400: ValidationError
      401: Unauthorized
      403: Forbidden
      404: NotFound
      409: Conflict
      429: RateLimited
    """
    who = require_user(request)
    key = request.headers.get("Idempotency-Key")
    # Not printable: control characters, or bytes that are not UTF-8 (aiohttp keeps them as
    # surrogates, which PostgreSQL cannot store).
    if key is not None and not (0 < len(key) <= MAX_IDEMPOTENCY_KEY and key.isprintable()):
        raise errors.ValidationFailed(details={"Idempotency-Key": [
            f"1 to {MAX_IDEMPOTENCY_KEY} printable characters, in UTF-8"]})
    body = await parse_body(request, schemas.CreateReservationRequest())
    app = request.app
    await app[appkeys.rate_limiter].hit("reservations_per_account", str(who.user_id))
    await app[appkeys.waiting_room].require_admission(body["event_id"], who.shopper)
    reservation, created = await app[appkeys.inventory].hold(
        who.user_id, body["event_id"], body.get("items") or [], body.get("seat_ids") or [], key)
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
    return json_response({"reservations": await request.app[appkeys.inventory].list(who.user_id)})


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
    reservation = await request.app[appkeys.inventory].get(who.user_id, _reservation_id(request))
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
    inventory = request.app[appkeys.inventory]
    rid = _reservation_id(request)
    event_id, status = await inventory.status_of(who.user_id, rid)
    if status == "pending":
        await request.app[appkeys.waiting_room].require_admission(event_id, who.shopper)
    return json_response({"reservation": await inventory.confirm(who.user_id, rid)})


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
    reservation = await request.app[appkeys.inventory].cancel(who.user_id, _reservation_id(request))
    return json_response({"reservation": reservation})


def _reservation_id(request: web.Request):
    return parse_uuid(request.match_info["reservationId"], "reservation")


