"""OpenAPI 3 description generated from the routes' docstrings and the marshmallow
schemas (apispec)."""

from __future__ import annotations

import inspect

from aiohttp import web
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.yaml_utils import load_yaml_from_docstring

from .. import __version__
from . import schemas

_ERROR = {"content": {"application/json": {"schema": "ErrorResponse"}}}
RESPONSES = {
    "ValidationError": {"description": "validation_error: details name each bad field", **_ERROR},
    "Unauthorized": {"description": "unauthorized", **_ERROR},
    "Forbidden": {"description": "forbidden or queue_required", **_ERROR},
    "NotFound": {"description": "not_found", **_ERROR},
    "Conflict": {"description": "sold_out, seat_unavailable, email_taken, reservation_expired, "
                                "limit_exceeded", **_ERROR},
    "Unavailable": {"description": "unavailable (with Retry-After)", **_ERROR},
    "RateLimited": {"description": "rate_limited (with Retry-After)", **_ERROR},
}
# What JSON Schema can say of a whole request beyond its fields: added to its component.
RULES = {
    "CreateReservationRequest": {
        "description": "Tickets (items), seats (seatIds) or both: at least one of them not empty.",
        "anyOf": [{"required": ["items"], "properties": {"items": {"minItems": 1}}},
                  {"required": ["seatIds"], "properties": {"seatIds": {"minItems": 1}}}],
    },
}
PARAMETERS = {
    "eventId": {"name": "eventId", "in": "path", "required": True, "schema": {"type": "string"}},
    "reservationId": {"name": "reservationId", "in": "path", "required": True, "schema": {"type": "string"}},
}


def build_spec(app: web.Application) -> dict:
    marshmallow = MarshmallowPlugin()
    spec = APISpec(title="ticketd", version=__version__, openapi_version="3.0.3",
                   plugins=[marshmallow],
                   info={"description": "Ticketing server for high-demand on-sales. "
                                        "The WebSocket protocol on /ws is described in docs/api.md."})
    marshmallow.converter.map_to_openapi_type(schemas.Id, "string", None)
    marshmallow.converter.map_to_openapi_type(schemas.SaleTime, "string", "date-time")
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    for name, schema in inspect.getmembers(schemas, inspect.isclass):
        # Nested schemas register themselves when their parent does: skip those.
        if issubclass(schema, schemas.Schema) and schema.__module__ == schemas.__name__ \
                and schema is not schemas.Strict and name not in spec.components.schemas:
            spec.components.schema(name, schema=schema)
    for name, rules in RULES.items():
        spec.components.schemas[name].update(rules)
    for name, response in RESPONSES.items():
        spec.components.response(name, response)
    for name, parameter in PARAMETERS.items():
        spec.components.parameter(name, "path", parameter)
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if not path or route.method in ("HEAD", "*"):
            continue
        operation = load_yaml_from_docstring(inspect.getdoc(route.handler) or "")
        if not operation:
            continue
        # The handler's name, camelCased (get_event: getEvent): what links name.
        head, *rest = route.handler.__name__.split("_")
        operation.setdefault("operationId", head + "".join(word.title() for word in rest))
        spec.path(path=path, operations={route.method.lower(): operation})
    return spec.to_dict()


_built: dict[int, dict] = {}


def spec_for(app: web.Application) -> dict:
    # Routes are frozen once the app runs, so one build per app serves every request.
    if id(app) not in _built:
        _built[id(app)] = build_spec(app)
    return _built[id(app)]
