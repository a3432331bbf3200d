"""Marshmallow schemas: request validation (naming each bad field) and the response
shapes the OpenAPI description is generated from."""

from __future__ import annotations

import datetime

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from ..codec import is_id
from ..events import TIME_ZONES

QUEUE_MODES = ("off", "on", "auto")
# Where an event takes place: its pages show its times in this zone. The description lists every name.
TIME_ZONE = validate.OneOf(sorted(TIME_ZONES), error="Not an IANA time zone name such as Asia/Seoul or Europe/Berlin")


class Strict(Schema):
    class Meta:
        unknown = RAISE


class Moment(fields.AwareDateTime):
    """A moment with its offset, kept in UTC: PostgreSQL takes offsets of at most ±15:59 and
    ISO 8601 allows up to ±23:59; and a moment whose UTC date is outside years 1-9999
    could be stored but never read back."""

    default_error_messages = {"range": "Out of range: years 1 to 9999 in UTC"}

    def __init__(self, **kwargs):
        kwargs.setdefault("metadata", {"description": "ISO 8601 with an offset; in UTC, within years 1 to 9999"})
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            return moment.astimezone(datetime.timezone.utc)
        except OverflowError:
            raise self.make_error("range") from None


class SaleTime(Moment):
    """A moment the waiting room keeps in Redis too: to the millisecond, so every view of
    it reads the same."""

    def _deserialize(self, value, attr, data, **kwargs):
        moment = super()._deserialize(value, attr, data, **kwargs)
        return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


class Text(fields.String):
    """A string PostgreSQL can store: text there cannot hold the NUL character."""

    default_error_messages = {"nul": "May not contain the NUL character (\\u0000)"}

    def __init__(self, **kwargs):
        kwargs.setdefault("metadata", {"pattern": "^[^\\u0000]*$"})
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in text:
            raise self.make_error("nul")
        return text


class Id(fields.Field):
    """An id: a string of digits to clients, an int inside."""

    default_error_messages = {"invalid": "Not an id this API gave out: use ids exactly as returned, e.g. \"12\""}

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else str(value)

    def _deserialize(self, value, attr, data, **kwargs):
        if not is_id(value):
            raise self.make_error("invalid")
        return int(value)


# ---- requests -------------------------------------------------------------------

class RegisterRequest(Strict):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    password = fields.String(required=True, validate=validate.Length(min=8, max=256))
    name = Text(required=True, validate=validate.Length(min=1, max=100))


class LoginRequest(Strict):
    email = Text(required=True, validate=validate.Length(min=1, max=254))
    password = fields.String(required=True, validate=validate.Length(min=1, max=256))


class QueueSettings(Strict):
    mode = fields.String(validate=validate.OneOf(QUEUE_MODES))
    capacity = fields.Integer(strict=True, validate=validate.Range(min=1, max=1_000_000))
    session_seconds = fields.Integer(data_key="sessionSeconds", strict=True,
                                     validate=validate.Range(min=10, max=86_400))
    # null restores the default (900 s; 0 bits) or, for the rate, clears it.
    prequeue_seconds = fields.Integer(data_key="prequeueSeconds", strict=True, allow_none=True,
                                      validate=validate.Range(min=0, max=7 * 86_400))
    admit_per_minute = fields.Integer(data_key="admitPerMinute", strict=True, allow_none=True,
                                      validate=validate.Range(min=1, max=1_000_000))
    challenge_bits = fields.Integer(data_key="challengeBits", strict=True, allow_none=True,
                                    validate=validate.Range(min=0, max=24))


class TicketTypeRequest(Strict):
    name = Text(required=True, validate=validate.Length(min=1, max=100))
    price = fields.Decimal(required=True, places=2, validate=validate.Range(min=0, max=1_000_000))
    quantity = fields.Integer(strict=True, validate=validate.Range(min=0, max=1_000_000))
    max_per_order = fields.Integer(data_key="maxPerOrder", strict=True, validate=validate.Range(min=1, max=100))


class SectionRequest(Strict):
    name = Text(required=True, validate=validate.Length(min=1, max=50))
    rows = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=200))
    seats_per_row = fields.Integer(data_key="seatsPerRow", required=True, strict=True,
                                   validate=validate.Range(min=1, max=200))
    ticket_type = fields.String(data_key="ticketType", required=True)


class SeatingRequest(Strict):
    sections = fields.List(fields.Nested(SectionRequest), required=True,
                           validate=validate.Length(min=1, max=50))


class UpdateEventRequest(Strict):
    name = Text(validate=validate.Length(min=1, max=200))
    venue = Text(validate=validate.Length(min=1, max=200))
    starts_at = Moment(data_key="startsAt")
    time_zone = fields.String(data_key="timeZone", validate=TIME_ZONE)
    sale_starts_at = SaleTime(data_key="saleStartsAt", allow_none=True)
    max_per_customer = fields.Integer(data_key="maxPerCustomer", strict=True, allow_none=True,
                                      validate=validate.Range(min=1, max=10_000))
    queue = fields.Nested(QueueSettings)


class CreateEventRequest(UpdateEventRequest):
    """Everything a change may set, with the name, venue and start required, plus the
    currency and what is on sale (fixed once created)."""
    name = Text(required=True, validate=validate.Length(min=1, max=200))
    venue = Text(required=True, validate=validate.Length(min=1, max=200))
    starts_at = Moment(data_key="startsAt", required=True)
    # \Z, not $ (which takes "EUR\n"); the description says it in JSON Schema's regex dialect.
    currency = fields.String(validate=validate.Regexp(r"^[A-Z]{3}\Z", error="An ISO 4217 code such as EUR or KRW"),
                             metadata={"pattern": "^[A-Z]{3}$"})
    ticket_types = fields.List(fields.Nested(TicketTypeRequest), data_key="ticketTypes", required=True,
                               validate=validate.Length(min=1, max=50))
    seating = fields.Nested(SeatingRequest)


class ReservationItemRequest(Strict):
    ticket_type_id = Id(data_key="ticketTypeId", required=True)
    # No upper bound here: the ticket type's maxPerOrder is the one rule, with one message.
    # (The description still bounds it by what the JSON decoder reads as an integer: 64 bits.)
    quantity = fields.Integer(required=True, strict=True,
                              validate=validate.Range(min=1, error="Choose at least 1 ticket"),
                              metadata={"format": "int64", "maximum": 2**63 - 1})


class CreateReservationRequest(Strict):
    event_id = Id(data_key="eventId", required=True)
    items = fields.List(fields.Nested(ReservationItemRequest), validate=validate.Length(max=50))
    seat_ids = fields.List(Id(), data_key="seatIds", validate=validate.Length(max=100),
                           metadata={"uniqueItems": True})

    @validates_schema
    def _something_to_hold(self, data, **kwargs):
        if not data.get("items") and not data.get("seat_ids"):
            raise ValidationError("Choose tickets (items) or seats (seatIds)", "items")
        seats = data.get("seat_ids") or []
        if len(set(seats)) != len(seats):
            raise ValidationError("Each seat can be chosen only once", "seatIds")


class CheckRequest(Strict):
    """A solved toll challenge (only when the event asks for one)."""
    challenge = fields.String(required=True, validate=validate.Length(min=1, max=300))
    nonce = fields.String(required=True, validate=validate.Length(min=1, max=128))


class PassRequest(Strict):
    admission_token = fields.String(data_key="admissionToken", required=True,
                                    validate=validate.Length(min=1, max=4000))
    return_to = fields.String(data_key="return", required=True, validate=validate.Length(min=1, max=2000))


class BulkUsersRequest(Strict):
    count = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=5000))
    prefix = fields.String(required=True, validate=validate.Regexp(
        r"^[a-z0-9][a-z0-9-]{0,59}\Z", error="Lowercase letters, digits and dashes, at most 60"),
        metadata={"pattern": "^[a-z0-9][a-z0-9-]{0,59}$"})


class AnnounceRequest(Strict):
    message = fields.String(required=True, validate=validate.Length(min=1, max=1000))


# ---- responses --------------------------------------------------------------------
# What the views send, field for field: every field that is always present is required,
# and nothing else may appear (additionalProperties false). The suite checks every
# response it receives against these (tests/openapi_check.py).

def _always(field: fields.Field) -> fields.Field:
    field.required = True
    return field


class User(Schema):
    id = _always(fields.String())
    email = _always(fields.String())
    name = _always(fields.String())
    role = _always(fields.String(validate=validate.OneOf(("user", "admin"))))


class TokenResponse(Schema):
    token = _always(fields.String())
    user = _always(fields.Nested(User))


class MeResponse(Schema):
    user = _always(fields.Nested(User))


class TicketType(Schema):
    id = _always(fields.String())
    name = _always(fields.String())
    price = _always(fields.Float())
    total = _always(fields.Integer())
    available = _always(fields.Integer())
    maxPerOrder = _always(fields.Integer())
    seated = _always(fields.Boolean())


class QueueState(Schema):
    mode = _always(fields.String(validate=validate.OneOf(QUEUE_MODES)))
    capacity = _always(fields.Integer())
    sessionSeconds = _always(fields.Integer())
    active = _always(fields.Boolean())
    admitPerMinute = _always(fields.Integer(allow_none=True))
    prequeueSeconds = _always(fields.Integer())
    challengeBits = _always(fields.Integer())


class Event(Schema):
    id = _always(fields.String())
    name = _always(fields.String())
    venue = _always(fields.String())
    startsAt = _always(fields.DateTime())
    currency = _always(fields.String())
    timeZone = _always(fields.String())
    saleStartsAt = _always(fields.DateTime(allow_none=True))
    maxPerCustomer = _always(fields.Integer(allow_none=True))
    ticketTypes = _always(fields.List(fields.Nested(TicketType)))
    hasSeats = _always(fields.Boolean())
    queue = _always(fields.Nested(QueueState))


class EventResponse(Schema):
    event = _always(fields.Nested(Event))


class EventListResponse(Schema):
    events = _always(fields.List(fields.Nested(Event)))


class Seat(Schema):
    id = _always(fields.String())
    label = _always(fields.String())
    section = _always(fields.String())
    row = _always(fields.String())
    number = _always(fields.Integer())
    ticketTypeId = _always(fields.String())
    status = _always(fields.String(validate=validate.OneOf(("available", "held", "sold"))))


class SeatListResponse(Schema):
    seats = _always(fields.List(fields.Nested(Seat)))


class ReservationItem(Schema):
    ticketTypeId = _always(fields.String())
    quantity = _always(fields.Integer())


class Reservation(Schema):
    id = _always(fields.String())
    eventId = _always(fields.String())
    status = _always(fields.String(validate=validate.OneOf(("pending", "confirmed", "cancelled", "expired"))))
    items = _always(fields.List(fields.Nested(ReservationItem)))
    seatIds = _always(fields.List(fields.String()))
    expiresAt = _always(fields.DateTime())
    createdAt = _always(fields.DateTime())


class ReservationResponse(Schema):
    reservation = _always(fields.Nested(Reservation))


class ReservationListResponse(Schema):
    reservations = _always(fields.List(fields.Nested(Reservation)))


class QueueStatus(Schema):
    """`admitted` carries expiresAt; `queued` position, ahead, queueLength and
    estimatedWaitSeconds; `prequeue` saleStartsAt and prequeueLength (no position before the
    draw); `closed` opensAt and saleStartsAt; `none` nothing else."""
    status = _always(fields.String(validate=validate.OneOf(("admitted", "queued", "prequeue", "closed",
                                                              "none"))))
    expiresAt = fields.DateTime()
    position = fields.Integer()
    ahead = fields.Integer()
    queueLength = fields.Integer()
    estimatedWaitSeconds = fields.Integer()
    saleStartsAt = fields.DateTime()
    prequeueLength = fields.Integer()
    opensAt = fields.DateTime()
    admissionToken = fields.String()


class Visitor(Schema):
    id = _always(fields.String())


class VisitorResponse(Schema):
    token = _always(fields.String())
    visitor = _always(fields.Nested(Visitor))


class PassResponse(Schema):
    redirect = _always(fields.String())


class Jwk(Schema):
    kty = _always(fields.String(validate=validate.Equal("OKP")))
    crv = _always(fields.String(validate=validate.Equal("Ed25519")))
    x = _always(fields.String())
    kid = _always(fields.String())
    alg = _always(fields.String(validate=validate.Equal("EdDSA")))
    use = _always(fields.String(validate=validate.Equal("sig")))


class Jwks(Schema):
    keys = _always(fields.List(fields.Nested(Jwk)))


class Challenge(Schema):
    challenge = _always(fields.String())
    bits = _always(fields.Integer())
    expiresAt = _always(fields.DateTime())


class Stats(Schema):
    connections = _always(fields.Integer())
    activeUsers = _always(fields.Integer())
    queueLength = _always(fields.Integer())
    prequeueLength = _always(fields.Integer())
    admittedLastMinute = _always(fields.Integer())
    queueActive = _always(fields.Boolean())
    mode = _always(fields.String(validate=validate.OneOf(QUEUE_MODES)))
    capacity = _always(fields.Integer())
    instances = _always(fields.Integer())


class BulkUser(Schema):
    id = _always(fields.String())
    email = _always(fields.String())
    token = _always(fields.String())


class BulkUsersResponse(Schema):
    users = _always(fields.List(fields.Nested(BulkUser)))


class Accepted(Schema):
    ok = _always(fields.Boolean())


class ErrorBody(Schema):
    code = _always(fields.String())
    message = _always(fields.String())
    details = _always(fields.Dict())


class ErrorResponse(Schema):
    error = _always(fields.Nested(ErrorBody))


class Health(Schema):
    status = _always(fields.String())
    checks = fields.Dict(keys=fields.String(), values=fields.String())


class NotReady(Schema):
    error = _always(fields.Nested(ErrorBody))
    status = _always(fields.String())
    checks = _always(fields.Dict(keys=fields.String(), values=fields.String()))
