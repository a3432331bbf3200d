"""Who may do what: every REST route and every room kind, for every kind of caller, on an
event that exists, one that does not, and reservations of one's own or someone else's.

Read a row as a sentence: "GET /api/reservations/{id} of the user's own reservation: an
anonymous caller and a visitor get 401 unauthorized, the user 200, another user and even an
admin 404 not_found (as if it did not exist)". The answer of each cell is exact: status
and error code. The routes of the table are checked against the OpenAPI description, so
a new route without a row fails here.
"""

from __future__ import annotations

import itertools

import pytest

from helpers import USER_PASSWORD
from wsclient import connect

# The callers, in the order of the columns below.
CALLERS = ("anonymous", "visitor", "user", "other", "admin")
# `user` owns the reservation the {reservation} rows are about; `other` is another user.

OK = "ok"  # a room joined
A401, F403, N404 = "401 unauthorized", "403 forbidden", "404 not_found"
V400 = "400 validation_error"

GA_ITEM = {"ticketTypeId": "{ga}", "quantity": 1}
_emails = itertools.count()

# (method and path, body): anonymous, visitor, user, other, admin.
# {event}: an event that exists; {missing}: an event id nobody was given; {reservation}: the
# user's own pending reservation; {nobody}: a reservation id that does not exist.
MATRIX = [
    # -- operations: anyone, without or with any token
    ("GET /healthz", None, 200, 200, 200, 200, 200),
    ("GET /readyz", None, 200, 200, 200, 200, 200),
    ("GET /metrics", None, 200, 200, 200, 200, 200),
    ("GET /api/openapi.json", None, 200, 200, 200, 200, 200),
    ("GET /.well-known/jwks.json", None, 200, 200, 200, 200, 200),
    # -- accounts
    ("POST /api/auth/register", "register", 201, 201, 201, 201, 201),
    ("POST /api/auth/login", "login", 200, 200, 200, 200, 200),
    ("GET /api/me", None, A401, A401, 200, 200, 200),
    ("POST /api/visitors", None, 201, 201, 201, 201, 201),
    # -- events: anyone reads, only admins write
    ("GET /api/events", None, 200, 200, 200, 200, 200),
    ("GET /api/events/{event}", None, 200, 200, 200, 200, 200),
    ("GET /api/events/{missing}", None, N404, N404, N404, N404, N404),
    ("GET /api/events/{event}/seats", None, 200, 200, 200, 200, 200),
    ("GET /api/events/{missing}/seats", None, N404, N404, N404, N404, N404),
    ("POST /api/events", "event", A401, A401, F403, F403, 201),
    ("PATCH /api/events/{event}", {"name": "Renamed"}, A401, A401, F403, F403, 200),
    ("PATCH /api/events/{missing}", {"name": "Renamed"}, A401, A401, F403, F403, N404),
    # -- reservations: accounts only; each sees and changes only their own
    ("POST /api/reservations", "hold", A401, A401, 201, 201, 201),
    ("POST /api/reservations", "hold on missing", A401, A401, N404, N404, N404),
    ("POST /api/reservations", "hold another event's type", A401, A401, V400, V400, V400),
    ("GET /api/reservations", None, A401, A401, 200, 200, 200),
    ("GET /api/reservations/{reservation}", None, A401, A401, 200, N404, N404),
    ("GET /api/reservations/{nobody}", None, A401, A401, N404, N404, N404),
    ("POST /api/reservations/{reservation}/confirm", None, A401, A401, 200, N404, N404),
    ("POST /api/reservations/{nobody}/confirm", None, A401, A401, N404, N404, N404),
    ("POST /api/reservations/{reservation}/cancel", None, A401, A401, 200, N404, N404),
    ("POST /api/reservations/{nobody}/cancel", None, A401, A401, N404, N404, N404),
    # -- the waiting room: anyone with a token, visitors included
    ("POST /api/queue/check/{event}", None, A401, 200, 200, 200, 200),
    ("POST /api/queue/check/{missing}", None, A401, N404, N404, N404, N404),
    ("GET /api/queue/status/{event}", None, A401, 200, 200, 200, 200),
    ("GET /api/queue/status/{missing}", None, A401, N404, N404, N404, N404),
    ("GET /api/queue/challenge/{event}", None, A401, 200, 200, 200, 200),
    ("GET /api/queue/challenge/{missing}", None, A401, N404, N404, N404, N404),
    ("POST /api/queue/leave/{event}", None, A401, 204, 204, 204, 204),
    ("POST /api/queue/leave/{missing}", None, A401, N404, N404, N404, N404),
    # -- the gate: only an admission token gets through; a sign-in token is not one
    ("GET /api/queue/verify/{event}", None, A401, A401, A401, A401, A401),
    ("GET /api/queue/verify/{missing}", None, A401, A401, A401, A401, A401),
    ("POST /api/gate/{event}/pass", "pass", A401, A401, A401, A401, A401),
    ("POST /api/gate/{missing}/pass", "pass", A401, A401, A401, A401, A401),
    # -- admin: stats, announcements and rehearsal accounts
    ("GET /api/admin/events/{event}/stats", None, A401, A401, F403, F403, 200),
    ("GET /api/admin/events/{missing}/stats", None, A401, A401, F403, F403, N404),
    ("POST /api/admin/events/{event}/announce", {"message": "hi"}, A401, A401, F403, F403, 202),
    ("POST /api/admin/events/{missing}/announce", {"message": "hi"}, A401, A401, F403, F403, N404),
    ("POST /api/admin/users/bulk", "bulk", A401, A401, F403, F403, 201),
]

# Rooms on /ws (the token on the URL): anonymous, visitor, user, other, admin.
ROOMS = [
    ("event:{event}", OK, OK, OK, OK, OK),
    ("event:{missing}", N404, N404, N404, N404, N404),
    ("seats:{event}", OK, OK, OK, OK, OK),
    ("seats:{missing}", N404, N404, N404, N404, N404),
    ("queue:{event}", A401, OK, OK, OK, OK),
    ("queue:{missing}", A401, N404, N404, N404, N404),
    ("admin:{event}", A401, F403, F403, F403, OK),
    ("admin:{missing}", A401, F403, F403, F403, N404),
]


def _body(kind, world: dict, caller: str):
    if kind is None or isinstance(kind, dict):
        return kind
    ga = world["ga"]
    return {
        "register": lambda: {"email": f"matrix{next(_emails)}-{caller}@example.com", "password": USER_PASSWORD,
                             "name": caller},
        "login": lambda: {"email": world["email"], "password": USER_PASSWORD},
        "event": lambda: {"name": "New", "venue": "Hall", "startsAt": "2030-01-01T20:00:00Z",
                          "ticketTypes": [{"name": "GA", "price": 10, "quantity": 5}]},
        "hold": lambda: {"eventId": world["event"], "items": [{"ticketTypeId": ga, "quantity": 1}]},
        "hold on missing": lambda: {"eventId": world["missing"], "items": [{"ticketTypeId": ga, "quantity": 1}]},
        "hold another event's type": lambda: {"eventId": world["event"], "items": [
            {"ticketTypeId": world["other_ga"], "quantity": 1}]},
        "pass": lambda: {"admissionToken": "not-an-admission-token", "return": "/"},
        "bulk": lambda: {"count": 2, "prefix": f"matrix-{next(_emails)}"},
    }[kind]()


def _expected(cell) -> tuple[int, str | None]:
    if isinstance(cell, int):
        return cell, None
    status, code = cell.split()
    return int(status), code


@pytest.fixture
async def world(api, admin_token, make_users):
    event = await api.create_event(admin_token, quantity=50)
    other_event = await api.create_event(admin_token, quantity=50)
    user, other = make_users(2, prefix="matrix")
    _, me = await api.call("GET", "/api/me", user, expect=200)
    _, visitor = await api.call("POST", "/api/visitors", expect=201)
    ga = event["ticketTypes"][0]["id"]
    _, held = await api.call("POST", "/api/reservations", user, expect=201,
                             json={"eventId": event["id"], "items": [{"ticketTypeId": ga, "quantity": 1}]})
    return {"tokens": {"anonymous": None, "visitor": visitor["token"], "user": user, "other": other,
                       "admin": admin_token},
            "email": me["user"]["email"], "event": event["id"], "missing": "999999", "ga": ga,
            "other_ga": other_event["ticketTypes"][0]["id"], "reservation": held["reservation"]["id"],
            "nobody": "00000000-0000-4000-8000-000000000000"}


def _row_id(row) -> str:
    return f"{row[0]}" + (f" ({row[1]})" if isinstance(row[1], str) else "")


@pytest.mark.parametrize("row", MATRIX, ids=_row_id)
async def test_who_may_call_each_route(api, world, row):
    route, body, *cells = row
    method, template = route.split()
    path = template.format(**{k: v for k, v in world.items() if isinstance(v, str)})
    # The owner last: confirming or cancelling changes the reservation for whoever follows.
    order = sorted(zip(CALLERS, cells), key=lambda pair: pair[0] == "user")
    for caller, cell in order:
        status, code = _expected(cell)
        kwargs = {} if body is None else {"json": _body(body, world, caller)}
        got, answer = await api.call(method, path, world["tokens"][caller], **kwargs)
        assert got == status, (route, caller, got, answer)
        if code is not None:
            assert answer["error"]["code"] == code, (route, caller, answer)


@pytest.mark.parametrize("row", ROOMS, ids=lambda row: row[0])
async def test_who_may_join_each_room(client, world, row):
    template, *cells = row
    room = template.format(event=world["event"], missing=world["missing"])
    for caller, cell in zip(CALLERS, cells):
        token = world["tokens"][caller]
        ws = await connect(client, f"/ws?token={token}" if token else "/ws")
        reply = await ws.call("join", room=room)
        if cell == OK:
            assert reply["ok"] is True and reply["room"] == room, (room, caller, reply)
        else:
            assert reply["ok"] is False and reply["error"]["code"] == cell.split()[1], (room, caller, reply)
        await ws.close()


async def test_the_matrix_has_a_row_for_every_route(api):
    documented = {f"{method.upper()} {path}" for path, operations in api.spec_check.spec["paths"].items()
                  for method in operations}
    placeholders = {"{event}": "{eventId}", "{missing}": "{eventId}", "{reservation}": "{reservationId}",
                    "{nobody}": "{reservationId}"}
    rows = set()
    for route, *_ in MATRIX:
        for placeholder, name in placeholders.items():
            route = route.replace(placeholder, name)
        rows.add(route)
    assert rows == documented
    assert {template.split(":")[0] for template, *_ in ROOMS} == {"event", "seats", "queue", "admin"}
