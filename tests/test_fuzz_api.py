"""Property-based fuzzing of the REST API with schemathesis: every operation of the app's
own OpenAPI description, against a real ``ticketd serve``, as an anonymous caller, a
visitor, a user and an admin.

Checks on every response: no 5xx; the status is one the operation documents, with the
documented content type and body schema; and a request that the description calls valid
is not refused with a 400. Some rules cannot be said in JSON Schema (an id in a body that
the API never gave out, a section naming a ticket type of the same body, ...): they are
written in the operation's description and listed in ``SEMANTIC_RULES`` below, and a 400
for a valid-looking request passes only when every problem it names is one of them.

Half of the ids in paths and reservation bodies are ones the server gave out (the seeded
events, ticket types, seats and reservations), so the fuzzing reaches past the 404s.

Example counts: ``TICKETD_FUZZ_EXAMPLES`` (default below) per operation and caller, plus
schemathesis's own example and coverage cases. In CI (``CI`` set) the run is derandomized,
so a red run is reproducible; locally each run explores new inputs.
"""

from __future__ import annotations

import collections
import contextlib
import os
import re

import psycopg2
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, settings, strategies as st
from schemathesis.checks import (content_type_conformance, not_a_server_error, positive_data_acceptance,
                                 response_schema_conformance, status_code_conformance)

from ticketd.api.openapi import build_spec
from ticketd.app import create_app
from ticketd.auth import TokenSigner, hash_password
from ticketd.codec import dumps, loads
from ticketd.config import Config

from helpers import FUZZ_COUNTS, clean, TEST_SECRET, USER_PASSWORD
from servers import TicketdProcess

# The description the server serves at /api/openapi.json, built by the same code (the
# fixture checks that the running server serves exactly this).
SPEC = loads(dumps(build_spec(create_app(Config(database_url="postgresql://unused", redis_url="redis://unused",
                                                secret=TEST_SECRET)))))
schema = schemathesis.openapi.from_dict(SPEC)

CALLERS = ("anonymous", "visitor", "user", "admin")
EXAMPLES = int(os.environ.get("TICKETD_FUZZ_EXAMPLES", "12"))
LINK_SCENARIOS = int(os.environ.get("TICKETD_FUZZ_SCENARIOS", "30"))
FUZZ_SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=bool(os.environ.get("CI")),
                         suppress_health_check=list(HealthCheck), database=None)

# Rules that JSON Schema cannot state, each written in the description of the operations
# that apply it (and in docs/api.md): (field path in `details`, message pattern).
SEMANTIC_RULES = [
    # "An id the API never gave out is ... a 400 validation_error in a body."
    (r"eventId|items\.\d+\.ticketTypeId|seatIds(\.\d+)?", r"Not an id this API gave out"),
    (r"items", r"Ticket type .* is not on sale for this event|tickets are seated: choose seats instead"),
    (r"seatIds", r"Seat .* is not part of this event"),
    # POST /api/events: names within one body.
    (r"ticketTypes", r"Ticket type names must be unique|needs a quantity \(or seats\)"),
    (r"seating", r"Section names must be unique"),
    (r"seating\.sections\.\d+\.ticketType", r"No ticket type named"),
    (r"startsAt|saleStartsAt", r"Out of range: years 1 to 9999 in UTC"),
    # The gate: `return` must be on this site or an allowed origin.
    (r"return", r"Not an allowed address"),
]


def _problems(details, path=()):
    if isinstance(details, dict):
        for key, value in details.items():
            yield from _problems(value, (*path, str(key)))
    elif isinstance(details, list):
        for message in details:
            yield ".".join(path), str(message)
    else:
        yield ".".join(path), str(details)


def _semantic_only(response) -> bool:
    try:
        details = response.json()["error"]["details"]
    except (ValueError, KeyError, TypeError):
        return False
    problems = list(_problems(details))
    return bool(problems) and all(
        any(re.fullmatch(where, field) and re.search(what, message) for where, what in SEMANTIC_RULES)
        for field, message in problems)


def valid_requests_are_accepted(ctx, response, case):
    """schemathesis's positive_data_acceptance, except for a 400 that names only rules the
    description states in words."""
    if response.status_code == 400 and _semantic_only(response):
        return None
    return positive_data_acceptance(ctx, response, case)


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          valid_requests_are_accepted]

# ---- ids the server gave out, filled in by the fixture ----------------------------------

KNOWN: dict[str, list[str]] = {}


def _sometimes_known(name: str, value):
    return st.one_of(st.just(value), st.sampled_from(KNOWN[name])) if KNOWN.get(name) else st.just(value)


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    if not path_parameters:
        return st.just(path_parameters)
    return st.fixed_dictionaries({name: _sometimes_known(name, value) for name, value in path_parameters.items()})


@schema.hook
def flatmap_body(context, body):
    """Besides the generated body: half the time, for holds and new events, one that also keeps
    the rules JSON Schema cannot state, so that the fuzzing (and the links) get past the 400s."""
    path, method = context.operation.path, context.operation.method.upper()
    if method == "POST" and path == "/api/reservations" and KNOWN.get("events"):
        return st.one_of(st.just(body), st.sampled_from(KNOWN["events"]).flatmap(_coherent_hold))
    if method == "POST" and path == "/api/events" and _well_formed_event(body):
        return st.sampled_from([body, _coherent_event(body)])
    return st.just(body)


def _coherent_hold(event: dict):
    items = st.lists(st.fixed_dictionaries({"ticketTypeId": st.sampled_from(event["types"]),
                                            "quantity": st.integers(1, 3)}),
                     max_size=2, unique_by=lambda item: item["ticketTypeId"])
    seats = st.lists(st.sampled_from(event["seats"]), max_size=2, unique=True) if event["seats"] else st.just([])
    return st.fixed_dictionaries({"eventId": st.just(event["id"]), "items": items, "seatIds": seats}).filter(
        lambda body: body["items"] or body["seatIds"])


def _well_formed_event(body) -> bool:
    if not (isinstance(body, dict) and isinstance(body.get("ticketTypes"), list) and body["ticketTypes"]):
        return False
    seating = body.get("seating", {})
    sections = seating.get("sections", []) if isinstance(seating, dict) else None
    return (all(isinstance(t, dict) and isinstance(t.get("name"), str) for t in body["ticketTypes"])
            and isinstance(sections, list) and all(isinstance(s, dict) for s in sections))


def _coherent_event(body: dict) -> dict:
    """Unique names, every section on one of the body's ticket types, a quantity for each
    unseated type, and small sections (a 200 x 200 x 50 venue is two million seats)."""
    types = [{**t, "name": f"{t['name'][:90]} {i}"} for i, t in enumerate(body["ticketTypes"])]
    sections = [{**s, "name": f"{str(s.get('name', ''))[:40]} {i}", "rows": 2, "seatsPerRow": 3,
                 "ticketType": types[i % len(types)]["name"]}
                for i, s in enumerate((body.get("seating") or {}).get("sections", []))]
    seated = {s["ticketType"] for s in sections}
    for t in types:
        if t["name"] not in seated and "quantity" not in t:
            t["quantity"] = 10
    fixed = {**body, "ticketTypes": types}
    if sections:
        fixed["seating"] = {**body["seating"], "sections": sections}
    return fixed


# ---- the server -------------------------------------------------------------------------

def _seed(url: str, admin: str, user: str) -> None:
    def call(method, path, token, **kwargs):
        resp = requests.request(method, url + path, headers={"Authorization": f"Bearer {token}"}, **kwargs)
        assert resp.status_code in (200, 201), (method, path, resp.status_code, resp.text)
        return resp.json()

    ga = {"name": "GA", "price": 30, "quantity": 1000, "maxPerOrder": 10}
    open_sale = call("POST", "/api/events", admin, json={
        "name": "Open", "venue": "Hall", "startsAt": "2030-01-01T20:00:00Z",
        "ticketTypes": [ga, {"name": "Seated", "price": 60, "maxPerOrder": 10}],
        "seating": {"sections": [{"name": "A", "rows": 4, "seatsPerRow": 5, "ticketType": "Seated"}]}})["event"]
    queued = call("POST", "/api/events", admin, json={
        "name": "Queued", "venue": "Hall", "startsAt": "2030-01-01T20:00:00Z", "ticketTypes": [ga],
        "queue": {"mode": "on", "capacity": 1, "sessionSeconds": 600}})["event"]
    later = call("POST", "/api/events", admin, json={
        "name": "Later", "venue": "Hall", "startsAt": "2030-01-01T20:00:00Z", "ticketTypes": [ga],
        "saleStartsAt": "2029-01-01T00:00:00Z", "maxPerCustomer": 4,
        "queue": {"mode": "auto", "capacity": 10, "sessionSeconds": 600, "challengeBits": 4}})["event"]
    events = [open_sale, queued, later]
    seats = call("GET", f"/api/events/{open_sale['id']}/seats", admin)["seats"]
    reservations = []
    for token in (user, admin):
        for _ in range(3):
            reservations.append(call("POST", "/api/reservations", token, json={
                "eventId": open_sale["id"], "items": [{"ticketTypeId": open_sale["ticketTypes"][0]["id"],
                                                       "quantity": 1}]})["reservation"]["id"])
        call("POST", f"/api/reservations/{reservations[-2]}/confirm", token)
        call("POST", f"/api/reservations/{reservations[-1]}/cancel", token)
    KNOWN.update(events=[{"id": e["id"], "types": [t["id"] for t in e["ticketTypes"] if not t["seated"]],
                          "seats": [s["id"] for s in seats] if e is open_sale else []} for e in events],
                 eventId=[e["id"] for e in events],
                 ticketTypeId=[t["id"] for e in events for t in e["ticketTypes"]],
                 seatId=[s["id"] for s in seats], reservationId=reservations)


@pytest.fixture(scope="module")
def server(database_url, redis_url):
    clean(database_url, redis_url)
    proc = TicketdProcess(database_url, redis_url, TEST_SECRET, "fuzz", TICKETD_RATE_LIMITS="off").start()
    try:
        assert requests.get(proc.url + "/api/openapi.json").json() == SPEC
        with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
            cur.execute("INSERT INTO users (email, name, password_hash, role) VALUES "
                        "('fuzz-admin@example.com', 'Admin', %s, 'admin'), "
                        "('fuzz-fan@example.com', 'Fan', %s, 'user') RETURNING id",
                        (hash_password(USER_PASSWORD),) * 2)
            admin_id, user_id = [r[0] for r in cur.fetchall()]
        conn.close()
        signer = TokenSigner(TEST_SECRET, 3600)
        tokens = {"anonymous": None, "admin": signer.issue(admin_id, "admin"), "user": signer.issue(user_id, "user"),
                  "visitor": requests.post(proc.url + "/api/visitors").json()["token"]}
        _seed(proc.url, tokens["admin"], tokens["user"])
        yield proc, tokens
    finally:
        proc.stop()
        KNOWN.clear()


CASES: collections.Counter = collections.Counter()


@schema.parametrize()
@pytest.mark.parametrize("caller", CALLERS)
@FUZZ_SETTINGS
def test_fuzz(case, caller, server):
    proc, tokens = server
    headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
    if tokens[caller]:
        headers["Authorization"] = f"Bearer {tokens[caller]}"
    case.headers = headers
    CASES[case.operation.label, caller] += 1
    FUZZ_COUNTS["REST (schemathesis): requests"] += 1
    with server_log_on_failure(proc):
        case.call_and_validate(base_url=proc.url, checks=CHECKS)


@pytest.mark.parametrize("caller", ["admin", "user"])
def test_fuzz_links(server, caller):
    """Chains along the description's links: a created event is read, changed, shown seat by
    seat and reserved from; a created reservation is read, confirmed and cancelled. The admin
    creates events and reserves; a user's event creations are refused (403) and their
    reservations start from the seeded events."""
    proc, tokens = server

    class Links(schema.as_state_machine()):
        def get_call_kwargs(self, case):
            return {"base_url": proc.url}

        def before_call(self, case):
            case.headers = {**{k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"},
                            "Authorization": f"Bearer {tokens[caller]}"}
            CASES[f"links: {case.operation.label}", caller] += 1

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)

    try:
        # No shrinking: the server's state moves on between scenarios, so replaying one to shrink
        # it takes other steps (hypothesis calls that flaky); a failure is reported as found.
        with server_log_on_failure(proc):
            Links.run(settings=settings(Links.TestCase.settings, max_examples=LINK_SCENARIOS, stateful_step_count=6,
                                        deadline=None, derandomize=FUZZ_SETTINGS.derandomize, database=None,
                                        phases=[Phase.explicit, Phase.generate],
                                        suppress_health_check=list(HealthCheck)))
    finally:
        FUZZ_COUNTS["REST links (schemathesis state machine): requests"] += sum(
            n for (label, who), n in CASES.items() if label.startswith("links: ") and who == caller)


@contextlib.contextmanager
def server_log_on_failure(proc):
    """A failure carries the server's log: a 500's traceback is only there."""
    try:
        yield
    except BaseException as exc:
        exc.add_note(f"--- ticketd's log ---\n{proc.log()}")
        raise
