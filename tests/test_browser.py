"""The pages in a real browser (Playwright driving Debian's Chromium) against a real
``ticketd serve`` process: live stock across two browsers, the waiting room at capacity 1,
live seat holds, and the admin switching the queue on.

Chromium: ``apt-get install chromium`` (or set TICKETD_CHROMIUM). Without it these tests
are skipped, unless CI is set: then a missing browser is a failure.
Set TICKETD_SCREENSHOTS=1 to also (re)take the documentation screenshots in docs/.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from helpers import USER_PASSWORD

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
DOCS = ROOT / "docs"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
LIVE = 1_000      # ms: "within a second"
SLOW = 10_000     # ms: anything that waits on an admission tick, a redirect or a reconnect
_names = itertools.count(1)


def _find_chromium() -> str | None:
    for candidate in (os.environ.get("TICKETD_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so the browser tests must run)", pytrace=False)
    pytest.skip(f"{reason}; install it with `apt-get install chromium` to run the browser tests")


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright for Python is not installed (pip install playwright)")
    path = _find_chromium()
    if path is None:
        _unavailable("No Chromium found (looked for $TICKETD_CHROMIUM, /usr/bin/chromium, chromium on PATH)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


class Rest:
    """Just enough of the REST API to set the scene, over plain urllib."""

    def __init__(self, base: str):
        self.base = base

    def call(self, method: str, path: str, token: str | None = None, body=None, expect: int | None = None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        payload = json.loads(raw) if raw else None
        if expect is not None:
            assert status == expect, (method, path, status, payload)
        return payload

    def register(self, name: str) -> dict:
        email = f"{name.lower()}{next(_names)}-{os.getpid()}@example.com"
        return self.call("POST", "/api/auth/register", body={"email": email, "password": USER_PASSWORD,
                                                             "name": name}, expect=201)

    def create_event(self, admin: str, *, quantity=20, seats=None, queue=None, name="Browser Night") -> dict:
        body = {"name": name, "venue": "Chromium Hall", "startsAt": "2027-05-01T19:30:00Z",
                "ticketTypes": [{"name": "General Admission", "price": 35, "quantity": quantity, "maxPerOrder": 6}]}
        if seats:
            body["ticketTypes"].append({"name": "Reserved", "price": 70, "maxPerOrder": 6})
            body["seating"] = {"sections": [{"name": "A", "rows": seats[0], "seatsPerRow": seats[1],
                                             "ticketType": "Reserved"}]}
        if queue:
            body["queue"] = queue
        return self.call("POST", "/api/events", admin, body, expect=201)["event"]


@pytest.fixture
def server(ticketd_processes):
    return ticketd_processes(1, TICKETD_ADMISSION_INTERVAL="0.2", TICKETD_EXPIRY_INTERVAL="0.2",
                             TICKETD_PUSH_INTERVAL_MS="100")[0]


@pytest.fixture
def rest(server) -> Rest:
    return Rest(server.url)


@pytest.fixture
def admin(rest, database_url) -> dict:
    """An admin: registered like anyone, promoted in the database, signed in again."""
    import psycopg2

    email = rest.register("Ada")["user"]["email"]
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute("UPDATE users SET role = 'admin' WHERE email = %s", (email,))
    conn.close()
    return rest.call("POST", "/api/auth/login", body={"email": email, "password": USER_PASSWORD}, expect=200)


@pytest.fixture
def open_page(browser, server, request):
    """``open_page(session)``: a page in a fresh browser context signed in as ``session``
    ({token,user}, or None for a visitor). Screenshots of every page go to
    test-artifacts/ when the test fails."""
    contexts, pages = [], []

    def factory(session: dict | None = None, viewport=(1200, 900)):
        context = browser.new_context(base_url=server.url, viewport={"width": viewport[0], "height": viewport[1]})
        context.set_default_timeout(SLOW)
        if session:
            context.add_init_script(
                f"localStorage.setItem('ticketd.token', {json.dumps(session['token'])});"
                f"localStorage.setItem('ticketd.user', {json.dumps(json.dumps(session['user']))});")
        page = context.new_page()
        page.console_log = []
        page.on("console", lambda msg: page.console_log.append(f"{msg.type}: {msg.text}"))
        page.on("pageerror", lambda exc: page.console_log.append(f"pageerror: {exc}"))
        contexts.append(context)
        pages.append(page)
        return page

    failed_before = request.session.testsfailed
    yield factory
    if request.session.testsfailed > failed_before:   # the test's call phase failed
        ARTIFACTS.mkdir(exist_ok=True)
        for i, page in enumerate(pages):
            stem = ARTIFACTS / f"{request.node.name}-{i}"
            try:
                page.screenshot(path=f"{stem}.png", full_page=True)
            except Exception:   # a crashed page must not hide the real failure
                pass
            stem.with_suffix(".log").write_text("\n".join([page.url, *page.console_log]))
    for context in contexts:
        context.close()


def expect():
    from playwright.sync_api import expect as _expect
    _expect.set_options(timeout=SLOW)
    return _expect


def test_purchase_in_one_browser_changes_stock_in_the_other_within_a_second(open_page, rest, admin, server):
    expect_ = expect()
    event = rest.create_event(admin["token"], quantity=10)
    ga = event["ticketTypes"][0]["id"]

    # Ann signs up through the page; Bob arrives already signed in.
    ann = open_page()
    ann.goto(f"/login?next=/events/{event['id']}")
    ann.get_by_role("tab", name="Create account").click()
    form = ann.locator("#panel-register")
    form.get_by_label("Name").fill("Ann")
    form.get_by_label("Email").fill(f"ann{next(_names)}-{os.getpid()}@example.com")
    form.get_by_label("Password").fill(USER_PASSWORD)
    form.get_by_role("button", name="Create account").click()
    ann.wait_for_url(re.compile(rf"/events/{event['id']}$"))
    bob = open_page(rest.register("Bob"))
    bob.goto(f"/events/{event['id']}")

    bob_stock = bob.locator(f'[data-ticket-type="{ga}"] .available')
    expect_(bob_stock).to_have_text("10 left")
    expect_(bob.locator("#ticket-types[data-live=true]")).to_be_visible()
    expect_(bob.locator("#conn")).to_have_text("Live")
    expect_(ann.locator("#ticket-types[data-live=true]")).to_be_visible()

    # Hold 2: Bob sees 8 within a second.
    ann.get_by_label("Quantity of General Admission").fill("2")
    ann.get_by_role("button", name="Hold tickets").click()
    expect_(ann.locator("#countdown")).to_have_text(re.compile(r"^(9|10):\d\d$"))
    expect_(bob_stock).to_have_text("8 left", timeout=LIVE)

    # Cancel: the stock comes back for Bob.
    ann.get_by_role("button", name="Cancel").click()
    expect_(ann.locator("#reservation-status")).to_have_text("Reservation cancelled")
    expect_(bob_stock).to_have_text("10 left", timeout=LIVE)

    # Hold 3 and confirm: Bob sees 7 and it stays sold.
    ann.get_by_label("Quantity of General Admission").fill("3")
    ann.get_by_role("button", name="Hold tickets").click()
    expect_(bob_stock).to_have_text("7 left", timeout=LIVE)
    ann.get_by_role("button", name="Confirm purchase").click()
    expect_(ann.locator("#reservation-status")).to_have_attribute("data-status", "confirmed")
    expect_(bob_stock).to_have_text("7 left")

    # An API error reaches the shopper in words: more than the order limit.
    bob.get_by_label("Quantity of General Admission").fill("7")
    bob.get_by_role("button", name="Hold tickets").click()
    expect_(bob.locator("#buy-error")).to_be_visible()
    expect_(bob.locator("#buy-error")).not_to_have_text("")


def test_capacity_one_second_shopper_waits_at_position_one_and_is_let_in(open_page, rest, admin):
    expect_ = expect()
    event = rest.create_event(admin["token"], queue={"mode": "on", "capacity": 1, "sessionSeconds": 300})
    event_url = re.compile(rf"/events/{event['id']}$")

    first = open_page(rest.register("First"))
    first.goto(f"/events/{event['id']}")
    # Every arrival goes through the waiting room; the first is let in on the next tick.
    expect_(first).to_have_url(event_url)
    expect_(first.locator("#admission")).to_contain_text("It's your turn")

    second = open_page(rest.register("Second"))
    second.goto(f"/events/{event['id']}")
    expect_(second).to_have_url(re.compile(rf"/events/{event['id']}/queue$"))
    expect_(second.locator("#position")).to_have_text("1")
    expect_(second.locator("#ahead")).to_have_text("0")
    expect_(second.locator("#queue-conn")).to_have_text("Live")
    expect_(second.get_by_role("progressbar")).to_be_visible()

    # A reload keeps the place.
    second.reload()
    expect_(second.locator("#position")).to_have_text("1")

    # The first shopper gives up the spot: the second is let in by itself.
    first.get_by_role("button", name="Leave and free my spot").click()
    expect_(first).to_have_url(re.compile(r"/$"))
    expect_(second).to_have_url(event_url)
    expect_(second.locator("#admission")).to_contain_text("It's your turn")


def test_seat_held_in_one_browser_turns_held_in_the_other(open_page, rest, admin):
    expect_ = expect()
    event = rest.create_event(admin["token"], seats=(2, 5))
    seats = rest.call("GET", f"/api/events/{event['id']}/seats", expect=200)["seats"]
    seat = seats[2]["id"]

    ann = open_page(rest.register("Ann"))
    bob = open_page(rest.register("Bob"))
    for page in (ann, bob):
        page.goto(f"/events/{event['id']}/seats")
        expect_(page.locator("#seat-map[data-live=true]")).to_be_visible()

    ann_seat = ann.locator(f'[data-seat-id="{seat}"]')
    bob_seat = bob.locator(f'[data-seat-id="{seat}"]')
    expect_(bob_seat).to_have_attribute("data-status", "available")
    ann_seat.click()
    expect_(ann_seat).to_have_attribute("aria-pressed", "true")
    expect_(ann.locator("#selection")).to_contain_text("1 seat")
    ann.get_by_role("button", name="Hold selected seats").click()
    expect_(ann.locator("#countdown")).to_be_visible()
    expect_(bob_seat).to_have_attribute("data-status", "held", timeout=LIVE)
    expect_(bob_seat).to_be_disabled()
    expect_(ann_seat).to_have_class(re.compile(r"seat-mine"))

    ann.get_by_role("button", name="Confirm purchase").click()
    expect_(bob_seat).to_have_attribute("data-status", "sold", timeout=LIVE)

    # Keyboard: Bob selects another seat with Tab/Enter-free focus + Space, then holds it.
    other = bob.locator(f'[data-seat-id="{seats[3]["id"]}"]')
    other.focus()
    bob.keyboard.press("Space")
    expect_(other).to_have_attribute("aria-pressed", "true")
    bob.get_by_role("button", name="Hold selected seats").click()
    expect_(ann.locator(f'[data-seat-id="{seats[3]["id"]}"]')).to_have_attribute("data-status", "held", timeout=LIVE)


def test_admin_switches_queue_on_and_shopper_is_sent_to_the_waiting_room(open_page, rest, admin):
    expect_ = expect()
    event = rest.create_event(admin["token"], queue={"mode": "off", "capacity": 5, "sessionSeconds": 300})

    shopper = open_page(rest.register("Shopper"))
    shopper.goto(f"/events/{event['id']}")
    expect_(shopper.locator("#ticket-types[data-live=true]")).to_be_visible()

    # A signed-in non-admin is turned away from the dashboard in words.
    nosy = open_page(rest.register("Nosy"))
    nosy.goto("/admin")
    expect_(nosy.locator("#error")).to_contain_text("administrators only")

    boss = open_page(admin)
    boss.goto(f"/admin?event={event['id']}")
    expect_(boss.get_by_label("Event", exact=True)).to_have_value(event["id"])
    expect_(boss.locator("#s-connections")).to_have_text(re.compile(r"^[1-9]\d*$"))

    # Announcements reach the shopper's page.
    boss.get_by_label("Message to everyone on the event's pages").fill("Doors open at 18:30")
    boss.get_by_role("button", name="Send announcement").click()
    expect_(boss.locator("#announce-msg")).to_have_text("Announcement sent.")
    expect_(shopper.locator(".announcement-text")).to_have_text("Doors open at 18:30")

    # Switch the queue on: the shopper is sent to the waiting room (and, with room to
    # spare, let in again on the next tick).
    with shopper.expect_navigation(url=re.compile(rf"/events/{event['id']}/queue"), timeout=SLOW):
        boss.locator("label[for=mode-on]").click()
    expect_(boss.locator("#settings-msg")).to_contain_text("“on”")
    expect_(shopper).to_have_url(re.compile(rf"/events/{event['id']}$"))
    expect_(shopper.locator("#admission")).to_contain_text("It's your turn")
    assert rest.call("GET", f"/api/events/{event['id']}", expect=200)["event"]["queue"]["mode"] == "on"

    # Capacity and session length through the form.
    boss.get_by_label("Capacity").fill("3")
    boss.get_by_label("Session length").fill("120")
    boss.get_by_role("button", name="Save settings").click()
    expect_(boss.locator("#settings-msg")).to_have_text("Settings saved.")
    queue = rest.call("GET", f"/api/events/{event['id']}", expect=200)["event"]["queue"]
    assert (queue["capacity"], queue["sessionSeconds"]) == (3, 120)


@pytest.mark.skipif(not os.environ.get("TICKETD_SCREENSHOTS"), reason="set TICKETD_SCREENSHOTS=1 to retake docs/*.png")
def test_docs_screenshots(open_page, rest, admin):
    """The four pages with some activity, saved as docs/*.png for the README."""
    expect_ = expect()
    event = rest.create_event(admin["token"], quantity=500, seats=(6, 12), name="Aurora Live — Opening Night",
                              queue={"mode": "off", "capacity": 1, "sessionSeconds": 600})
    eid = event["id"]
    tt = {t["name"]: t["id"] for t in event["ticketTypes"]}
    seats = rest.call("GET", f"/api/events/{eid}/seats", expect=200)["seats"]

    # Some activity by others: sold and held seats, sold tickets.
    buyers = [rest.register(f"Buyer{i}") for i in range(3)]
    for i, buyer in enumerate(buyers):
        picked = [s["id"] for s in seats[14 + i * 9: 18 + i * 9]]
        res = rest.call("POST", "/api/reservations", buyer["token"],
                        {"eventId": eid, "seatIds": picked, "items": [{"ticketTypeId": tt["General Admission"],
                                                                       "quantity": 4}]}, expect=201)
        if i == 0:
            rest.call("POST", f"/api/reservations/{res['reservation']['id']}/confirm", buyer["token"], expect=200)

    # Now the waiting room in auto mode, its one place taken by the second buyer.
    rest.call("PATCH", f"/api/events/{eid}", admin["token"], {"queue": {"mode": "auto"}}, expect=200)
    assert rest.call("POST", f"/api/queue/check/{eid}", buyers[1]["token"], expect=200)["status"] == "admitted"

    # The admin dashboard with a few seconds of history.
    boss = open_page(admin, viewport=(1280, 1320))
    boss.goto(f"/admin?event={eid}")
    expect_(boss.locator("#s-connections")).to_have_text(re.compile(r"^\d+$"))

    # Capacity 1 is in use (the second buyer): the next shoppers wait; one gives up,
    # so the last one has moved up from 4 to 3.
    fans = [rest.register(f"Fan{i}") for i in range(4)]
    waiting = [open_page(fan, viewport=(900, 760)) for fan in fans]
    for i, page in enumerate(waiting):
        page.goto(f"/events/{eid}")
        expect_(page).to_have_url(re.compile(r"/queue$"))
        expect_(page.locator("#position")).to_have_text(str(i + 1))
    rest.call("POST", f"/api/queue/leave/{eid}", fans[0]["token"], expect=204)
    expect_(waiting[-1].locator("#position")).to_have_text("3")
    expect_(waiting[-1].locator("#queue-conn")).to_have_text("Live")
    waiting[-1].screenshot(path=str(DOCS / "waiting-room.png"), animations="disabled")

    # The event page of the first buyer, mid-purchase, with an announcement.
    shopper = open_page(buyers[1], viewport=(1200, 820))
    shopper.goto(f"/events/{eid}")
    expect_(shopper.locator("#ticket-types[data-live=true]")).to_be_visible()
    boss.get_by_label("Message to everyone on the event's pages").fill(
        "Extra tickets released for the standing area — good luck!")
    boss.get_by_role("button", name="Send announcement").click()
    expect_(shopper.locator(".announcement-text")).to_be_visible()
    shopper.screenshot(path=str(DOCS / "event-page.png"), animations="disabled")

    seat_page = open_page(buyers[1], viewport=(1200, 900))
    seat_page.goto(f"/events/{eid}/seats")
    expect_(seat_page.locator("#seat-map[data-live=true]")).to_be_visible()
    for s in seats[40:43]:
        seat_page.locator(f'[data-seat-id="{s["id"]}"]').click()
    seat_page.mouse.move(0, 0)
    seat_page.evaluate("document.activeElement && document.activeElement.blur()")
    seat_page.screenshot(path=str(DOCS / "seat-map.png"), animations="disabled")

    boss.wait_for_timeout(15_000)   # let the chart gather some points (documentation only)
    boss.screenshot(path=str(DOCS / "admin-dashboard.png"), animations="disabled")


def test_page_reconnects_and_rejoins_after_a_server_restart(open_page, rest, admin, server):
    expect_ = expect()
    event = rest.create_event(admin["token"], quantity=10)
    ga = event["ticketTypes"][0]["id"]
    page = open_page(rest.register("Steady"))
    page.goto(f"/events/{event['id']}")
    expect_(page.locator("#conn")).to_have_text("Live")

    server.stop()     # shutdown closes the socket (1001): the client backs off and retries
    expect_(page.locator("#conn")).to_have_text("Reconnecting…")
    server.start()
    expect_(page.locator("#conn")).to_have_text("Live", timeout=20_000)

    # The room was joined again: a purchase elsewhere shows up live.
    buyer = rest.register("Buyer")
    rest.call("POST", "/api/reservations", buyer["token"],
              {"eventId": event["id"], "items": [{"ticketTypeId": ga, "quantity": 4}]}, expect=201)
    expect_(page.locator(f'[data-ticket-type="{ga}"] .available')).to_have_text("6 left")
