"""The pages in a real browser (Playwright driving Debian's Chromium) against a real
``ticketd serve`` process: live stock across two browsers, the waiting room at capacity 1,
live seat holds, the admin switching the queue on; both languages (Korean and English),
prices in each event's currency, admission in a background tab, refused tokens, keyboard-only
seat selection, and axe-core on every page in both languages; the gate page, alone and in
front of a shop through nginx with the shipped config (tests/gate_site.py; skipped without
nginx unless CI is set).

Every page comes with the server's own strict Content-Security-Policy (no inline script or
style): each test checks that every page ticketd answered carried it, and a CSP violation, a
page error or a missing catalogue key fails the test.

Chromium: ``apt-get install chromium`` (or set TICKETD_CHROMIUM). Without it these tests
are skipped, unless CI is set: then a missing browser is a failure.
Set TICKETD_SCREENSHOTS=1 to also (re)take the documentation screenshots in docs/ (in
English and in Korean; the Korean ones need a CJK font, e.g. Debian's fonts-noto-cjk).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from gate_site import site  # noqa: F401 (the fixture: nginx in front of a shop, gated by ticketd)
from helpers import USER_PASSWORD, report

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
DOCS = ROOT / "docs"
AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
CATALOGUES = {lang: json.loads((ROOT / "static" / "i18n" / f"{lang}.json").read_text()) for lang in ("en", "ko")}
SHOP = "https://shop.example"        # a site behind the gate, for the screenshots
KO_EVENT = dict(name="오로라 라이브 — 서울", venue="올림픽공원 KSPO DOME", currency="KRW", time_zone="Asia/Seoul",
                prices=(132000, 154000), types=("스탠딩", "VIP석"))
# What ticketd must send with every page (CONTRACT: no inline script); no inline style either.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
# Reports what the page ran into, to the console the tests read.
WATCH = """
document.addEventListener("securitypolicyviolation", (e) =>
  console.error(`csp-violation: ${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));
"""
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

    def register(self, name: str, handle: str | None = None) -> dict:
        email = f"{(handle or name).lower()}{next(_names)}-{os.getpid()}@example.com"
        return self.call("POST", "/api/auth/register", body={"email": email, "password": USER_PASSWORD,
                                                             "name": name}, expect=201)

    def create_event(self, admin: str, *, quantity=20, seats=None, queue=None, name="Browser Night",
                     currency=None, time_zone=None, venue="Chromium Hall", prices=(35, 70),
                     types=("General Admission", "Reserved"), starts_at="2027-05-01T19:30:00Z") -> dict:
        body = {"name": name, "venue": venue, "startsAt": starts_at,
                "ticketTypes": [{"name": types[0], "price": prices[0], "quantity": quantity, "maxPerOrder": 6}]}
        if currency:
            body["currency"] = currency
        if time_zone:
            body["timeZone"] = time_zone
        if seats:
            body["ticketTypes"].append({"name": types[1], "price": prices[1], "maxPerOrder": 6})
            body["seating"] = {"sections": [{"name": "A", "rows": seats[0], "seatsPerRow": seats[1],
                                             "ticketType": types[1]}]}
        if queue:
            body["queue"] = queue
        return self.call("POST", "/api/events", admin, body, expect=201)["event"]


@pytest.fixture
def server(ticketd_processes):
    # The gate may send visitors back to the (made-up) shop of the screenshots, and believes
    # the nginx of the gated-site test, as the shipped config asks.
    return ticketd_processes(1, TICKETD_ADMISSION_INTERVAL="0.2", TICKETD_EXPIRY_INTERVAL="0.2",
                             TICKETD_PUSH_INTERVAL_MS="100", TICKETD_GATE_ORIGINS=SHOP,
                             TICKETD_TRUSTED_PROXIES="127.0.0.1")[0]


@pytest.fixture
def gate_ticketd(server):
    """The gated site (tests/gate_site.py) in front of this module's ticketd."""
    return server


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

    def factory(session: dict | None = None, viewport=(1200, 900), locale="en-US", lang: str | None = None,
                permissions=(), init_scripts=(), timezone_id=None, base_url: str | None = None):
        """``locale`` is what the browser prefers (navigator.languages, Accept-Language);
        ``lang`` is a choice already made with the page's switch (localStorage);
        ``base_url`` is where the pages are (ticketd itself unless given: e.g. a proxy)."""
        options = {"timezone_id": timezone_id} if timezone_id else {}
        base_url = base_url or server.url
        context = browser.new_context(base_url=base_url, viewport={"width": viewport[0], "height": viewport[1]},
                                      locale=locale, **options)
        context.set_default_timeout(SLOW)
        if permissions:
            context.grant_permissions(list(permissions), origin=base_url)
        context.add_init_script(WATCH)
        for script in init_scripts:
            context.add_init_script(script)
        on_site = "if (location.protocol.startsWith('http')) "      # not on about:blank
        if lang:
            context.add_init_script(f"{on_site}localStorage.setItem('ticketd.lang', {json.dumps(lang)});")
        if session:
            context.add_init_script(
                f"{on_site}{{ localStorage.setItem('ticketd.token', {json.dumps(session['token'])});"
                f"localStorage.setItem('ticketd.user', {json.dumps(json.dumps(session['user']))}); }}")
        page = context.new_page()
        page.console_log = []
        page.documents = []
        page.on("response", lambda response: _record_document(page, response))
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
    if request.session.testsfailed == failed_before:
        for page in pages:     # every test, under the CSP, in either language
            assert_clean(page)


def _record_document(page, response) -> None:
    """Every page the browser loaded, with what it said about its content and policy."""
    if response.request.resource_type == "document":
        headers = response.headers
        page.documents.append({"url": response.url, "status": response.status, "type": headers.get("content-type", ""),
                               "csp": headers.get("content-security-policy"), "ticketd": "x-request-id" in headers})


def expect():
    from playwright.sync_api import expect as _expect
    _expect.set_options(timeout=SLOW)
    return _expect


def assert_clean(page):
    """No page error, CSP violation or missing catalogue key so far, and every page that
    ticketd answered (its responses carry X-Request-Id; a shop behind the gate's do not)
    came with the policy."""
    bad = [line for line in page.console_log
           if line.startswith("pageerror") or "csp-violation" in line or "i18n: missing" in line]
    assert not bad, bad
    unprotected = [d for d in page.documents if d["ticketd"] and d["type"].startswith("text/html") and d["csp"] != CSP]
    assert not unprotected, unprotected


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


SHOTS = {
    # lang: what the pages show, and where each screenshot goes
    "en": dict(prefix="", tz="Europe/Berlin",
               event=dict(name="Aurora Live — Opening Night", starts_at="2027-05-01T18:30:00Z", time_zone="Europe/Berlin"),
               names=["Ada", "Grace", "Linus", "Margaret", "Ken", "Barbara", "Dennis", "Frances"],
               note="Extra tickets released for the standing area — good luck!"),
    "ko": dict(prefix="ko-", tz="Asia/Seoul", event=dict(**KO_EVENT, starts_at="2027-05-01T10:00:00Z"),
               names=["박지우", "김민지", "이서준", "최유나", "정하은", "강도윤", "조서연", "윤지호"],
               note="스탠딩 구역 추가 티켓이 오픈되었습니다. 행운을 빕니다!"),
}


@pytest.mark.skipif(not os.environ.get("TICKETD_SCREENSHOTS"), reason="set TICKETD_SCREENSHOTS=1 to retake docs/*.png")
@pytest.mark.parametrize("lang", ["en", "ko"])
def test_docs_screenshots(open_page, rest, admin, database_url, make_users, lang):
    """Every page with some activity, in each language, saved as docs/[ko-]*.png for the README."""
    import psycopg2

    expect_ = expect()
    shot = SHOTS[lang]
    path = lambda name: str(DOCS / f"{shot['prefix']}{name}.png")   # noqa: E731
    event = rest.create_event(admin["token"], quantity=500, seats=(6, 12),
                              queue={"mode": "off", "capacity": 1, "sessionSeconds": 600}, **shot["event"])
    eid = event["id"]
    tt = [t["id"] for t in event["ticketTypes"]]
    seats = rest.call("GET", f"/api/events/{eid}/seats", expect=200)["seats"]
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:   # a friendlier admin name
        cur.execute("UPDATE users SET name = %s WHERE email = %s", (shot["names"][0], admin["user"]["email"]))
    conn.close()
    boss_session = {**admin, "user": {**admin["user"], "name": shot["names"][0]}}
    new_page = lambda session, viewport: open_page(session, viewport=viewport, lang=lang, timezone_id=shot["tz"])  # noqa: E731

    # Some activity by others: sold and held seats, sold tickets.
    buyers = [rest.register(shot["names"][1 + i], handle=f"buyer{i}") for i in range(3)]
    for i, buyer in enumerate(buyers):
        picked = [s["id"] for s in seats[14 + i * 9: 18 + i * 9]]
        res = rest.call("POST", "/api/reservations", buyer["token"],
                        {"eventId": eid, "seatIds": picked, "items": [{"ticketTypeId": tt[0], "quantity": 4}]}, expect=201)
        if i == 0:
            rest.call("POST", f"/api/reservations/{res['reservation']['id']}/confirm", buyer["token"], expect=200)

    visitor = new_page(None, (1200, 760))
    visitor.goto("/")
    expect_(visitor.locator(f'.event-card[data-event-id="{eid}"]')).to_be_visible()   # beside the demo events
    visitor.screenshot(path=path("events"), animations="disabled")
    visitor.goto("/login")
    visitor.get_by_role("tab").nth(1).click()
    visitor.locator("#register-name").fill(shot["names"][1])
    visitor.mouse.move(0, 0)
    visitor.evaluate("document.activeElement && document.activeElement.blur()")
    visitor.screenshot(path=path("login"), animations="disabled")

    phone = new_page(boss_session, (375, 740))       # signed in, on a phone
    phone.goto(f"/events/{eid}/seats")
    expect_(phone.locator("#scroll-hint")).to_be_visible()
    phone.screenshot(path=path("seat-map-phone"), animations="disabled")
    phone.goto("about:blank")      # gone before the queue below switches on, or it would queue too

    # Now the waiting room in auto mode, its one place taken by the second buyer.
    rest.call("PATCH", f"/api/events/{eid}", admin["token"], {"queue": {"mode": "auto"}}, expect=200)
    assert rest.call("POST", f"/api/queue/check/{eid}", buyers[1]["token"], expect=200)["status"] == "admitted"

    # The admin dashboard with a few seconds of history.
    boss = new_page(boss_session, (1280, 1480))
    boss.goto(f"/admin?event={eid}")
    expect_(boss.locator("#s-connections")).to_have_text(re.compile(r"^\d+$"))

    # Capacity 1 is in use (the second buyer): the next shoppers wait; one gives up,
    # so the last one has moved up from 4 to 3.
    fans = [rest.register(shot["names"][4 + i], handle=f"fan{i}") for i in range(4)]
    waiting = [new_page(fan, (900, 900)) for fan in fans]
    for i, page in enumerate(waiting):
        page.goto(f"/events/{eid}")
        expect_(page).to_have_url(re.compile(r"/queue$"))
        expect_(page.locator("#position")).to_have_text(str(i + 1))
    rest.call("POST", f"/api/queue/leave/{eid}", fans[0]["token"], expect=204)
    expect_(waiting[-1].locator("#position")).to_have_text("3")
    expect_(waiting[-1].locator("#queue-conn")).to_have_attribute("data-state", "open")
    waiting[-1].screenshot(path=path("waiting-room"), animations="disabled")

    # The event page of the second buyer, mid-purchase, with an announcement.
    shopper = new_page(buyers[1], (1200, 860))
    shopper.goto(f"/events/{eid}")
    expect_(shopper.locator("#ticket-types[data-live=true]")).to_be_visible()
    boss.get_by_label(CATALOGUES[lang]["admin.announceLabel"]).fill(shot["note"])
    boss.locator("#announce button[type=submit]").click()
    expect_(shopper.locator(".announcement-text")).to_be_visible()
    shopper.screenshot(path=path("event-page"), animations="disabled")

    seat_page = new_page(buyers[1], (1200, 900))
    seat_page.goto(f"/events/{eid}/seats")
    expect_(seat_page.locator("#seat-map[data-live=true]")).to_be_visible()
    for s in seats[40:43]:
        seat_page.locator(f'[data-seat-id="{s["id"]}"]').click()
    seat_page.mouse.move(0, 0)
    seat_page.evaluate("document.activeElement && document.activeElement.blur()")
    seat_page.screenshot(path=path("seat-map"), animations="disabled")

    # The waiting room before the sale: a pre-queue filling up, its places drawn at the start.
    from ticketd.waitingroom.toll import solve
    pre = _on_sale(rest, admin, starts_in=41 * 60 + 7, prequeue=3600, bits=8, quantity=500, **shot["event"])
    for token in make_users(137, prefix=f"pre{lang}"):
        c = rest.call("GET", f"/api/queue/challenge/{pre['id']}", token, expect=200)
        rest.call("POST", f"/api/queue/check/{pre['id']}", token,
                  {"challenge": c["challenge"], "nonce": solve(c["challenge"], c["bits"])}, expect=200)
    early = new_page(rest.register(shot["names"][2], handle="early"), (900, 900))
    early.goto(f"/events/{pre['id']}/queue")
    expect_(early.locator("#prequeue-length")).to_have_text("138")
    expect_(early.locator("#queue-conn")).to_have_attribute("data-state", "open")
    early.screenshot(path=path("waiting-room-prequeue"), animations="disabled")

    boss.wait_for_timeout(15_000)   # let the chart gather some points (documentation only)
    boss.evaluate("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0)")
    boss.screenshot(path=path("admin-dashboard"), animations="disabled")


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


# ---------------------------------------------------------------------------------------------
# Two languages, currencies, background admission, refused tokens, keyboard, axe.

# Hidden/visible on demand: headless Chromium reports every page as visible, so a test puts
# the waiting room "in the background" by switching what the page sees (and fires the event).
BACKGROUND = """
(() => {
  let hidden = false;
  Object.defineProperty(Document.prototype, "visibilityState", { configurable: true, get: () => (hidden ? "hidden" : "visible") });
  Object.defineProperty(Document.prototype, "hidden", { configurable: true, get: () => hidden });
  window.__setHidden = (value) => { hidden = value; document.dispatchEvent(new Event("visibilitychange")); };
})();
"""
# Records every system notification and every generated tone, and still calls the real API.
# The context grants the permission; until the page asks for it, it reads "default", as a
# browser that has not prompted yet would (the prompt is then answered by the grant).
RECORD_ALERTS = """
(() => {
  window.__notifications = [];
  window.__tones = 0;
  window.__asked = 0;
  const Real = window.Notification;
  if (Real) {
    const Recording = function (title, options) {
      window.__notifications.push({ title, body: (options || {}).body, tag: (options || {}).tag });
      try { return new Real(title, options); } catch (err) { return { close() {}, set onclick(f) {} }; }
    };
    Object.defineProperty(Recording, "permission", { get: () => (window.__asked ? Real.permission : "default") });
    Recording.requestPermission = (...args) => { window.__asked += 1; return Real.requestPermission(...args); };
    window.Notification = Recording;
  }
  const Ctx = window.AudioContext;
  if (Ctx) {
    const create = Ctx.prototype.createOscillator;
    Ctx.prototype.createOscillator = function () { window.__tones += 1; return create.call(this); };
  }
})();
"""


def _page_text(page) -> str:
    """Everything a person or a screen reader gets: text, titles, labels, placeholders."""
    return page.evaluate("""() => [document.title, document.body.innerText,
      ...[...document.querySelectorAll('[aria-label],[title],[placeholder],[alt],[aria-valuetext]')].flatMap((el) =>
        ['aria-label', 'title', 'placeholder', 'alt', 'aria-valuetext'].map((a) => el.getAttribute(a) || ''))].join('\\n')""")


RAW_KEY = re.compile(r"\b(?:" + "|".join(sorted({k.split(".")[0] for k in CATALOGUES["en"]})) + r")\.[A-Za-z_][\w.]*")


def assert_translated(page, lang: str):
    """The page speaks lang: <html lang>, no raw catalogue key anywhere, no missing key."""
    expect()(page.locator("html")).to_have_attribute("lang", lang)
    text = _page_text(page)
    raw = [m.group(0) for m in RAW_KEY.finditer(text) if m.group(0) in CATALOGUES["en"]]
    assert not raw, f"raw catalogue keys on {page.url}: {raw}"
    assert_clean(page)


def run_axe(page) -> list[dict]:
    """axe-core's serious and critical violations on the page as it is now."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text() + "\n;void 0")       # evaluated by the tool: no CSP exception needed
    result = page.evaluate("axe.run(document, { resultTypes: ['violations'] })")
    page.axe_other = sorted(f"{v['id']} ({v['impact']})" for v in result["violations"]
                            if v["impact"] not in ("serious", "critical"))
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
             "nodes": [n["target"] for n in v["nodes"]][:5]}
            for v in result["violations"] if v["impact"] in ("serious", "critical")]


def check_axe(page, name: str, lang: str):
    """No serious or critical violation; the result reported at the end of the run."""
    violations = run_axe(page)
    report(f"axe ({lang}) {name}: {len(violations)} serious/critical"
           + (f"; also {', '.join(page.axe_other)}" if page.axe_other else ""))
    assert not violations, f"axe on {name} ({lang}): {json.dumps(violations, ensure_ascii=False, indent=1)}"


@pytest.mark.parametrize("locale, lang, heading", [("ko-KR", "ko", "예매 가능한 공연"), ("ko", "ko", "예매 가능한 공연"),
                                                   ("en-US", "en", "Upcoming events"), ("fr-FR", "en", "Upcoming events")])
def test_language_follows_the_browser(open_page, rest, admin, locale, lang, heading):
    rest.create_event(admin["token"])
    page = open_page(locale=locale)
    page.goto("/")
    expect()(page.get_by_role("heading", level=1)).to_have_text(heading)
    assert_translated(page, lang)
    assert page.evaluate("navigator.languages[0]") == locale


def test_language_switch_persists_across_pages_and_reloads(open_page, rest, admin):
    expect_ = expect()
    event = rest.create_event(admin["token"], seats=(2, 4))
    page = open_page(rest.register("Switcher"), locale="en-US")
    page.goto(f"/events/{event['id']}")
    expect_(page.locator("#ticket-types[data-live=true]")).to_be_visible()
    expect_(page.get_by_role("button", name="Hold tickets")).to_be_visible()

    # Switched in place: no reload, nothing typed is lost.
    page.get_by_label("Quantity of General Admission").fill("2")
    page.get_by_role("combobox", name="Language").select_option("ko")
    expect_(page.locator("html")).to_have_attribute("lang", "ko")
    expect_(page.get_by_role("button", name="예매하기")).to_be_visible()
    expect_(page.get_by_label("General Admission 수량")).to_have_value("2")
    expect_(page.locator("#conn")).to_have_text("실시간")
    assert_translated(page, "ko")

    # Remembered: another page, then a reload.
    page.get_by_role("link", name="공연", exact=True).click()
    expect_(page.get_by_role("heading", level=1)).to_have_text("예매 가능한 공연")
    page.goto(f"/events/{event['id']}/seats")
    expect_(page.get_by_role("heading", level=1)).to_have_text("좌석 선택")
    page.reload()
    expect_(page.get_by_role("heading", level=1)).to_have_text("좌석 선택")
    assert_translated(page, "ko")

    page.get_by_role("combobox", name="언어").select_option("en")
    expect_(page.get_by_role("heading", level=1)).to_have_text("Choose your seats")
    page.goto("/login")
    expect_(page.get_by_role("heading", name="Welcome back")).to_be_visible()
    assert_translated(page, "en")


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_prices_in_the_event_currency(open_page, rest, admin, lang):
    """₩ has no minor unit, € has two; Korean writes won as 154,000원."""
    expect_ = expect()
    krw = rest.create_event(admin["token"], seats=(1, 3), **KO_EVENT)
    eur = rest.create_event(admin["token"], seats=(1, 3), name="Euro Night", prices=(55, 70.5))
    won = {"en": lambda n: f"₩{n}", "ko": lambda n: f"{n}원"}[lang]
    page = open_page(lang=lang)
    page.goto("/")
    cards = {e["id"]: page.locator(f'[data-event-id="{e["id"]}"] .price-from') for e in (krw, eur)}
    expect_(cards[krw["id"]]).to_have_text({"en": f"from {won('132,000')}", "ko": f"{won('132,000')}부터"}[lang])
    expect_(cards[eur["id"]]).to_have_text({"en": "from €55.00", "ko": "€55.00부터"}[lang])

    page.goto(f"/events/{krw['id']}")
    expect_(page.locator(".tt-price").first).to_have_text(won("132,000"))
    expect_(page.locator(".tt-price").nth(1)).to_have_text(won("154,000"))
    page.goto(f"/events/{eur['id']}")
    expect_(page.locator(".tt-price").nth(1)).to_have_text("€70.50")

    # The seat map's total too, for two seats.
    page.goto(f"/events/{krw['id']}/seats")
    page.locator(".seat").first.click()
    page.locator(".seat").nth(1).click()
    expect_(page.locator("#selection strong")).to_have_text({"en": "Total ₩308,000", "ko": "합계 308,000원"}[lang])
    assert "€" not in page.locator("main").inner_text()
    assert_translated(page, lang)


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_times_are_in_the_events_own_zone_wherever_the_fan_is(open_page, rest, admin, lang):
    """A Seoul event seen from a browser in Berlin: every page shows Seoul's clocks, the zone
    named; the events list beside a Berlin event shows that one on Berlin's."""
    import datetime
    from zoneinfo import ZoneInfo

    expect_ = expect()
    seoul = rest.create_event(admin["token"], seats=(1, 4), **{**KO_EVENT, "starts_at": "2027-05-01T10:00:00Z"})
    berlin = rest.create_event(admin["token"], name="Berlin Night", time_zone="Europe/Berlin",
                               starts_at="2027-05-01T18:30:00Z")
    # 19:00 in Seoul is noon in Berlin: the page must not show the browser's clock.
    starts = {"en": "Sat, May 1, 2027, 7:00 PM GMT+9", "ko": "2027년 5월 1일 (토) 19:00 GMT+9"}[lang]
    page = open_page(rest.register("Far"), lang=lang, timezone_id="Europe/Berlin")
    assert page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone") == "Europe/Berlin"

    page.goto("/")
    card = page.locator(f'.event-card[data-event-id="{seoul["id"]}"]')
    expect_(card.locator("time")).to_have_text(starts)
    expect_(page.locator(f'.event-card[data-event-id="{berlin["id"]}"] time')).to_have_text(
        {"en": "Sat, May 1, 2027, 8:30 PM GMT+2", "ko": "2027년 5월 1일 (토) 20:30 GMT+2"}[lang])

    page.goto(f"/events/{seoul['id']}")
    expect_(page.locator("#event-head time")).to_have_text(starts)
    page.goto(f"/events/{seoul['id']}/seats")
    expect_(page.locator("#event-head time")).to_have_text(starts)

    # Before the sale: the event page's and the waiting room's times are Seoul's too.
    later = _on_sale(rest, admin, starts_in=7200, prequeue=3600, **KO_EVENT)
    opens = (datetime.datetime.fromisoformat(later["saleStartsAt"].replace("Z", "+00:00"))
             - datetime.timedelta(hours=1)).astimezone(ZoneInfo("Asia/Seoul"))
    clock = opens.strftime("%H:%M") if lang == "ko" else opens.strftime("%I:%M %p").lstrip("0")
    page.goto(f"/events/{later['id']}")
    expect_(page.locator("#sale-how")).to_contain_text(f"{clock} GMT+9")
    page.goto(f"/events/{later['id']}/queue")
    expect_(page.locator("#waiting")).to_have_attribute("data-phase", "closed")
    expect_(page.locator("#queue-lead")).to_contain_text(f"{clock} GMT+9")
    page.goto(_gate(later["id"], "/"))
    expect_(page.locator("#waiting")).to_have_attribute("data-phase", "closed")
    expect_(page.locator("#queue-lead")).to_contain_text(f"{clock} GMT+9")
    assert_translated(page, lang)


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_field_problems_and_other_failures_are_said_in_the_page_language(open_page, rest, admin, lang):
    """A validation error names the field and its problem in the page's words (never the
    server's English), and so do a proxy's 502 page and a browser without Web Workers."""
    expect_ = expect()
    t = CATALOGUES[lang]
    english_words = re.compile(r"[A-Za-z]{3,}")
    page = open_page(lang=lang)
    page.goto("/login#register")
    form = page.locator("#panel-register")
    form.get_by_label(t["register.name"]).fill("Short")
    form.get_by_label(t["login.email"]).fill(f"short{next(_names)}-{os.getpid()}@example.com")
    form.get_by_label(t["login.password"]).fill("7 chars")
    form.locator("button[type=submit]").click()
    said = {"en": "Please check what you entered. (Password: 8 to 256 characters)",
            "ko": "입력하신 내용을 확인해 주세요. (비밀번호: 8~256자로 입력해 주세요)"}[lang]
    expect_(form.locator(".error")).to_have_text(said)
    form.get_by_label(t["login.email"]).fill("not an address")
    form.get_by_label(t["login.password"]).fill(USER_PASSWORD)
    form.locator("button[type=submit]").click()
    said = {"en": "Please check what you entered. (Email: not a valid email address)",
            "ko": "입력하신 내용을 확인해 주세요. (이메일: 이메일 주소 형식이 올바르지 않습니다)"}[lang]
    expect_(form.locator(".error")).to_have_text(said)

    # A proxy in front of ticketd answers with its own HTML page.
    page.route("**/api/auth/login", lambda route: route.fulfill(
        status=502, content_type="text/html", body="<html><body><h1>502 Bad Gateway</h1></body></html>"))
    page.locator("#tab-login").click()
    form = page.locator("#panel-login")
    form.get_by_label(t["login.email"]).fill("fan@example.com")
    form.get_by_label(t["login.password"]).fill(USER_PASSWORD)
    form.locator("button[type=submit]").click()
    expect_(form.locator(".error")).to_have_text(t["errors.http_status"].replace("{status}", "502"))

    # A browser that cannot run the waiting room's check (no Web Workers).
    event = _on_sale(rest, admin, starts_in=None, bits=4)
    fan = open_page(rest.register("NoWorkers"), lang=lang, init_scripts=["delete window.Worker;"])
    fan.goto(f"/events/{event['id']}/queue")
    expect_(fan.locator("#error")).to_have_text(t["errors.workers_unavailable"])
    if lang == "ko":
        for shown in (page.locator("#panel-login .error"), fan.locator("#error")):
            assert not english_words.search(shown.inner_text()), shown.inner_text()
    assert_translated(page, lang)
    assert_translated(fan, lang)


def test_the_not_found_page_has_the_language_switch(open_page):
    expect_ = expect()
    page = open_page(locale="ko-KR")
    assert page.goto("/events/1/nowhere").status == 404
    expect_(page.get_by_role("heading", level=1)).to_have_text(CATALOGUES["ko"]["notfound.heading"])
    expect_(page.locator("#sign-in")).to_have_text(CATALOGUES["ko"]["account.signIn"])
    assert_translated(page, "ko")
    page.get_by_role("combobox", name=CATALOGUES["ko"]["lang.label"]).select_option("en")
    expect_(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    expect_(page).to_have_title("Page not found · ticketd")
    page.reload()
    expect_(page.get_by_role("link", name="See upcoming events")).to_be_visible()
    assert_translated(page, "en")


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_admission_in_a_background_tab_notifies_and_flashes_the_title(open_page, rest, admin, lang):
    expect_ = expect()
    event = rest.create_event(admin["token"], queue={"mode": "on", "capacity": 1, "sessionSeconds": 300})
    first = rest.register("First")
    assert rest.call("POST", f"/api/queue/check/{event['id']}", first["token"], expect=200)["status"] == "queued"
    # The first is let in on the next tick; the fan below then waits at position 1.
    page = open_page(rest.register("Patient"), lang=lang, permissions=["notifications"],
                     init_scripts=[BACKGROUND, RECORD_ALERTS])
    page.goto(f"/events/{event['id']}/queue")
    expect_(page.locator("#position")).to_have_text("1")
    expect_(page.locator("#queue-conn")).to_have_attribute("data-state", "open")
    ko = lang == "ko"

    # Alerts are asked for with a button, never on load; the sound is the fan's choice.
    page.get_by_role("button", name="내 차례 알림 받기" if ko else "Notify me when it's my turn").click()
    expect_(page.locator("#notify-state")).to_have_text("차례가 되면 알림으로 알려 드립니다." if ko
                                                        else "You'll get a notification when it's your turn.")
    page.get_by_label("알림음 울리기" if ko else "Play a sound when it's my turn").check()
    page.wait_for_function("window.__tones >= 2")      # the preview chime: audio is unlocked
    tones_before = page.evaluate("window.__tones")

    # To the background; the first shopper gives up the spot; the push alone does the rest.
    page.evaluate("window.__setHidden(true)")
    rest.call("POST", f"/api/queue/leave/{event['id']}", first["token"], expect=204)
    turn = re.compile("지금 예매하세요" if ko else "Your turn! Buy now")
    waiting = re.compile("접속 대기 · Browser Night" if ko else "Waiting room · Browser Night")
    expect_(page).to_have_title(turn)
    expect_(page).to_have_title(waiting)      # it alternates…
    expect_(page).to_have_title(turn)         # …until the fan looks
    page.wait_for_function("window.__notifications.length === 1")
    note = page.evaluate("window.__notifications[0]")
    assert note["title"] == ("Browser Night 예매 차례입니다" if ko else "It's your turn: Browser Night")
    assert re.search(r"[45]:\d\d" + ("입니다" if ko else r" \(until"), note["body"]), note["body"]
    assert page.evaluate("window.__tones") >= tones_before + 2                # the chime
    expect_(page.locator("#queue-alert")).to_have_text("고객님의 예매 차례입니다! 지금 예매하실 수 있습니다." if ko
                                                       else "It's your turn! You can buy tickets now.")
    expect_(page.locator("#session-left")).to_have_text(re.compile(r"^[45]:\d\d$"))
    expect_(page).to_have_url(re.compile(r"/queue$"))            # still here while in the background

    # Back in front: straight to the tickets, the session running.
    page.evaluate("window.__setHidden(false)")
    expect_(page).to_have_url(re.compile(rf"/events/{event['id']}$"))
    expect_(page.locator("#admission-left")).to_have_text(re.compile(r"^[45]:\d\d$"))
    assert_translated(page, lang)


def test_no_alert_is_asked_for_on_load(open_page, rest, admin):
    event = rest.create_event(admin["token"], queue={"mode": "on", "capacity": 1, "sessionSeconds": 300})
    rest.call("POST", f"/api/queue/check/{event['id']}", rest.register("Ahead")["token"], expect=200)
    page = open_page(rest.register("Calm"), permissions=["notifications"], init_scripts=[RECORD_ALERTS])
    page.goto(f"/events/{event['id']}/queue")
    expect()(page.locator("#position")).to_have_text(re.compile(r"^\d+$"))
    expect()(page.get_by_role("button", name="Notify me when it's my turn")).to_be_visible()
    expect()(page.get_by_label("Play a sound when it's my turn")).not_to_be_checked()
    assert page.evaluate("window.__asked") == 0 and page.evaluate("window.__tones") == 0


def _expired_token(user_id: str) -> str:
    from ticketd.auth import TokenSigner
    from helpers import TEST_SECRET
    return TokenSigner(TEST_SECRET, -60).issue(user_id, "user")


@pytest.mark.parametrize("kind", ["expired", "forged"])
def test_a_refused_token_is_dropped_and_live_pushes_keep_coming(open_page, rest, admin, kind):
    expect_ = expect()
    event = rest.create_event(admin["token"], quantity=10, seats=(1, 4))
    ga = event["ticketTypes"][0]["id"]
    fan = rest.register("Stale")
    token = _expired_token(fan["user"]["id"]) if kind == "expired" else fan["token"][:-4] + "AAAA"
    page = open_page({"token": token, "user": fan["user"]})
    page.goto(f"/events/{event['id']}")
    expect_(page.locator("#conn")).to_have_attribute("data-state", "open")
    expect_(page.locator("#ticket-types[data-live=true]")).to_be_visible()

    # The token is gone, the header offers a sign-in, and the page still lives.
    page.wait_for_function("localStorage.getItem('ticketd.token') === null")
    expect_(page.locator("#sign-in")).to_be_visible()
    expect_(page.get_by_role("button", name="Sign in to buy")).to_be_visible()
    buyer = rest.register("Buyer")
    rest.call("POST", "/api/reservations", buyer["token"],
              {"eventId": event["id"], "items": [{"ticketTypeId": ga, "quantity": 3}]}, expect=201)
    expect_(page.locator(f'[data-ticket-type="{ga}"] .available')).to_have_text("7 left", timeout=LIVE * 3)
    expect_(page.locator("#conn")).to_have_text("Live")

    # Where a sign-in is needed, it is asked for: the waiting room.
    queue_page = open_page({"token": token, "user": fan["user"]})
    queue_page.goto(f"/events/{event['id']}/queue")
    expect_(queue_page).to_have_url(re.compile(r"/login\?.*reason=expired"))
    expect_(queue_page.locator("#login-notice")).to_have_text("Your session has expired. Please sign in again.")


def test_a_server_that_closes_on_the_token_gets_an_anonymous_reconnect(open_page, rest, admin):
    """A server may refuse a token by closing the socket (4401) instead of replying: the client
    drops the token and reconnects anonymously at once, rooms and all."""
    expect_ = expect()
    event = rest.create_event(admin["token"], quantity=10)
    ga = event["ticketTypes"][0]["id"]
    page = open_page(rest.register("Closed"), init_scripts=["""
      window.__auths = 0;
      const Real = window.WebSocket;
      window.WebSocket = class extends Real {
        send(data) {
          if (String(data).includes('"op":"auth"')) {      // play the server: close with 4401
            window.__auths += 1;
            this.dispatchEvent(new CloseEvent("close", { code: 4401, reason: "token expired" }));
            super.close();
            return;
          }
          super.send(data);
        }
      };"""])
    page.goto(f"/events/{event['id']}")
    expect_(page.locator("#ticket-types[data-live=true]")).to_be_visible()
    expect_(page.locator("#conn")).to_have_text("Live")
    page.wait_for_function("localStorage.getItem('ticketd.token') === null")
    assert page.evaluate("window.__auths") == 1          # and no second try with it
    expect_(page.locator("#sign-in")).to_be_visible()
    rest.call("POST", "/api/reservations", rest.register("Buyer")["token"],
              {"eventId": event["id"], "items": [{"ticketTypeId": ga, "quantity": 2}]}, expect=201)
    expect_(page.locator(f'[data-ticket-type="{ga}"] .available')).to_have_text("8 left", timeout=LIVE * 3)


def test_seats_picked_signed_out_survive_the_sign_in(open_page, rest, admin):
    expect_ = expect()
    event = rest.create_event(admin["token"], seats=(2, 4))
    fan = rest.register("Picker")
    page = open_page(lang="ko")
    page.goto(f"/events/{event['id']}/seats")
    hold = page.locator("#hold")
    expect_(hold).to_have_text("로그인하고 좌석 예매하기")
    expect_(hold).to_be_enabled()             # signing in is possible before any seat is picked
    assert float(hold.evaluate("el => getComputedStyle(el).opacity")) == 1
    page.get_by_role("button", name=re.compile(r"^A구역 A열 2번")).click()
    page.get_by_role("button", name=re.compile(r"^A구역 B열 3번")).click()
    expect_(page.locator("#selection")).to_contain_text("A구역 A열 2번")
    hold.click()

    expect_(page).to_have_url(re.compile(r"/login\?"))
    expect_(page.locator("#login-notice")).to_contain_text("선택하신 좌석")
    form = page.locator("#panel-login")
    form.get_by_label("이메일").fill(fan["user"]["email"])
    form.get_by_label("비밀번호").fill(USER_PASSWORD)
    form.get_by_role("button", name="로그인").click()

    expect_(page).to_have_url(re.compile(rf"/events/{event['id']}/seats$"))
    expect_(page.locator("#selected-count")).to_have_text("2석:")
    expect_(page.locator("#selection")).to_contain_text("A구역 A열 2번")
    expect_(page.locator("#selection")).to_contain_text("A구역 B열 3번")
    expect_(page.get_by_role("button", name="선택 좌석 예매하기")).to_be_focused()
    page.keyboard.press("Enter")
    expect_(page.locator("#countdown")).to_be_visible()
    expect_(page.locator("#reservation .held-items li")).to_have_text(["A구역 A열 2번", "A구역 B열 3번"])
    assert_translated(page, "ko")


def test_keyboard_only_seat_selection(open_page, rest, admin):
    expect_ = expect()
    event = rest.create_event(admin["token"], seats=(3, 5))
    seats = rest.call("GET", f"/api/events/{event['id']}/seats", expect=200)["seats"]
    # Someone else has A1 already: it is skipped by Tab, reachable by arrows, not selectable.
    other = rest.register("Early")
    rest.call("POST", "/api/reservations", other["token"], {"eventId": event["id"], "seatIds": [seats[0]["id"]]},
              expect=201)
    page = open_page(rest.register("Keys"))
    page.goto(f"/events/{event['id']}/seats")
    expect_(page.locator("#seat-map[data-live=true]")).to_be_visible()
    focused = page.locator(":focus")

    # Tab from the top of the page: skip link, header, …, then one seat (roving tabindex).
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('seat')"):
            break
    expect_(focused).to_have_attribute("data-label", "A A2")        # the first available seat
    assert page.locator('.seat[tabindex="0"]').count() == 1
    page.keyboard.press("ArrowLeft")
    expect_(focused).to_have_attribute("data-label", "A A1")
    expect_(focused).to_have_attribute("aria-disabled", "true")
    expect_(focused).to_have_accessible_name(re.compile(r"^Section A · Row A · Seat 1: Held"))
    page.keyboard.press("Enter")                                     # not selectable
    expect_(focused).to_have_attribute("aria-pressed", "false")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    expect_(focused).to_have_attribute("data-label", "A B3")
    page.keyboard.press("Space")
    expect_(focused).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("End")
    page.keyboard.press("ArrowDown")
    expect_(focused).to_have_attribute("data-label", "A C5")
    page.keyboard.press("Enter")
    expect_(page.locator("#selected-count")).to_have_text("2 seats:")
    # The focus ring is there to see.
    outline = focused.evaluate("el => getComputedStyle(el).outlineStyle + ' ' + getComputedStyle(el).outlineWidth")
    assert outline.startswith("solid") and not outline.endswith(" 0px"), outline

    # On to the hold button with Tab, and through the purchase by keyboard.
    page.keyboard.press("Tab")
    expect_(focused).to_have_attribute("id", "hold")
    page.keyboard.press("Enter")
    expect_(page.locator("#countdown")).to_be_visible()
    expect_(page.get_by_role("button", name="Confirm purchase")).to_be_focused()
    page.keyboard.press("Enter")
    expect_(page.locator("#reservation-status")).to_have_attribute("data-status", "confirmed")
    sold = {s["id"]: s["status"] for s in rest.call("GET", f"/api/events/{event['id']}/seats", expect=200)["seats"]}
    assert sold[seats[7]["id"]] == sold[seats[14]["id"]] == "sold"


def test_screen_readers_hear_position_changes_without_a_flood(open_page, rest, admin):
    """The live region speaks when the position enters a new bucket, at most once per 10 s;
    the numbers on screen are not a live region (every push would be read out)."""
    import time
    expect_ = expect()
    event = rest.create_event(admin["token"], queue={"mode": "on", "capacity": 1, "sessionSeconds": 300})
    ahead = [rest.register(f"Ahead{i}") for i in range(4)]
    for fan in ahead:
        rest.call("POST", f"/api/queue/check/{event['id']}", fan["token"], expect=200)
    page = open_page(rest.register("Listener"), init_scripts=["""
      window.__spoken = [];
      new MutationObserver(() => {
        const el = document.getElementById("queue-announcer");
        if (el && el.textContent) window.__spoken.push(el.textContent);
      }).observe(document, { subtree: true, childList: true, characterData: true });"""])
    page.goto(f"/events/{event['id']}/queue")
    expect_(page.locator("#position")).to_have_text("4")
    region = page.locator("#queue-announcer")
    expect_(region).to_have_text(re.compile(r"^You are number 4 in line\. Estimated wait: .+\.$"))
    first_heard = time.monotonic()
    for stat in ("#position", "#ahead", "#wait", "#queue-stats"):
        assert page.locator(stat).get_attribute("aria-live") in (None, "off")
        assert page.locator(stat).get_attribute("role") is None

    # Two places up within seconds: pushes arrive for each, the screen reader hears none yet.
    rest.call("POST", f"/api/queue/leave/{event['id']}", ahead[1]["token"], expect=204)
    expect_(page.locator("#position")).to_have_text("3")
    rest.call("POST", f"/api/queue/leave/{event['id']}", ahead[2]["token"], expect=204)
    expect_(page.locator("#position")).to_have_text("2")
    if time.monotonic() - first_heard < 9:
        assert set(page.evaluate("window.__spoken")) == {region.inner_text()}, page.evaluate("window.__spoken")
        expect_(region).to_have_text(re.compile(r"^You are number 4 in line"))


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_phone_signed_in_header_fits_one_row_and_the_seat_map_shows_it_scrolls(open_page, rest, admin, lang):
    expect_ = expect()
    event = rest.create_event(admin["token"], seats=(2, 20))
    page = open_page(admin, viewport=(375, 740), lang=lang)
    page.goto(f"/events/{event['id']}/seats")
    expect_(page.locator("#seat-map[data-live=true]")).to_be_visible()
    header = page.locator("#site-header")
    boxes = header.evaluate("""h => [...h.children].filter((c) => !c.hidden)
        .map((c) => { const r = c.getBoundingClientRect(); return [c.className, Math.round(r.top), Math.round(r.bottom)]; })""")
    assert max(top for _, top, _ in boxes) < min(bottom for _, _, bottom in boxes), f"not one row: {boxes}"
    assert header.evaluate("h => h.scrollWidth <= h.clientWidth"), "the header overflows"
    assert header.bounding_box()["height"] < 64
    expect_(page.locator("#sign-out")).to_be_visible()
    expect_(page.locator("#scroll-hint")).to_be_visible()
    expect_(page.locator("#seat-map")).to_have_class(re.compile(r"\bmore-right\b"))
    page.locator("#seat-map").evaluate("m => { m.scrollLeft = m.scrollWidth; }")
    expect_(page.locator("#seat-map")).to_have_class(re.compile(r"\bmore-left\b"))
    assert_translated(page, lang)


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_every_page_in_both_languages_passes_axe_and_shows_no_raw_key(open_page, rest, admin, lang):
    """axe-core (tests/vendor) on every page: no serious or critical violation."""
    expect_ = expect()
    ev = KO_EVENT if lang == "ko" else {}
    event = rest.create_event(admin["token"], seats=(3, 8), **ev)
    queued = rest.create_event(admin["token"], name="Queue Night",
                               queue={"mode": "on", "capacity": 1, "sessionSeconds": 300})
    rest.call("POST", f"/api/queue/check/{queued['id']}", rest.register("Ahead")["token"], expect=200)
    fan = rest.register("Axe")
    visitor, shopper, boss = open_page(lang=lang), open_page(fan, lang=lang), open_page(admin, lang=lang)

    visitor.goto("/")
    expect_(visitor.locator(".event-card").first).to_be_visible()
    check_axe(visitor, "events", lang)
    assert_translated(visitor, lang)

    visitor.goto("/login")
    check_axe(visitor, "login", lang)
    visitor.locator("#panel-login button[type=submit]").click()          # a visible error
    expect_(visitor.locator("#panel-login .error")).to_be_visible()
    visitor.locator("#tab-register").click()
    expect_(visitor.locator("#panel-register")).to_be_visible()
    check_axe(visitor, "register", lang)
    assert_translated(visitor, lang)

    shopper.goto(f"/events/{event['id']}")
    expect_(shopper.locator("#ticket-types[data-live=true]")).to_be_visible()
    shopper.locator("#ticket-types input").first.fill("2")
    shopper.locator("#hold").click()
    expect_(shopper.locator("#countdown")).to_be_visible()
    check_axe(shopper, "event", lang)
    assert_translated(shopper, lang)

    shopper.goto(f"/events/{event['id']}/seats")
    expect_(shopper.locator("#seat-map[data-live=true]")).to_be_visible()
    shopper.locator('.seat[aria-disabled="true"]').count()
    shopper.locator(".seat:not([aria-disabled])").nth(3).click()
    check_axe(shopper, "seats", lang)
    assert_translated(shopper, lang)

    shopper.goto(f"/events/{queued['id']}/queue")
    expect_(shopper.locator("#position")).to_have_text("1")
    check_axe(shopper, "queue", lang)
    assert_translated(shopper, lang)

    boss.goto(f"/admin?event={event['id']}")
    expect_(boss.locator("#s-connections")).to_have_text(re.compile(r"^\d+$"))
    check_axe(boss, "admin", lang)
    assert_translated(boss, lang)

    visitor.goto("/events/999999")
    expect_(visitor.locator("#error")).to_be_visible()
    check_axe(visitor, "event-not-found", lang)
    assert_translated(visitor, lang)

    assert visitor.goto("/no-such-page").status == 404
    t = CATALOGUES[lang]
    expect_(visitor.get_by_role("heading", level=1)).to_have_text(t["notfound.heading"])
    expect_(visitor).to_have_title(t["title.notFound"])
    expect_(visitor.get_by_role("combobox", name=t["lang.label"])).to_have_value(lang)
    expect_(visitor.get_by_role("link", name=t["notfound.toEvents"])).to_have_attribute("href", "/")
    check_axe(visitor, "not-found", lang)
    assert_translated(visitor, lang)


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_api_errors_are_shown_in_the_page_language(open_page, rest, admin, lang):
    expect_ = expect()
    event = rest.create_event(admin["token"], quantity=3)
    page = open_page(rest.register("Greedy"), lang=lang)
    page.goto(f"/events/{event['id']}")
    expect_(page.locator("#ticket-types[data-live=true]")).to_be_visible()
    page.locator("#ticket-types input").first.evaluate("i => { i.max = 99; i.value = 5; }")
    page.locator("#hold").click()
    expect_(page.locator("#buy-error")).to_have_text(CATALOGUES[lang]["errors.sold_out"])
    assert_translated(page, lang)


def test_a_korean_page_never_paints_english_first(open_page, rest, admin):
    """The first contentful paint comes after the catalogue is applied, and by then the
    text is Korean: no flash of the English in the HTML."""
    rest.create_event(admin["token"])
    page = open_page(locale="ko-KR", init_scripts=["""
      window.__reveal = null;
      new MutationObserver(() => {
        const root = document.documentElement;
        if (window.__reveal === null && root.classList.contains("i18n-pending") === false && root.dataset.lang) {
          const h1 = document.querySelector("h1");
          window.__reveal = { at: performance.now(), h1: h1 && h1.textContent };
        }
      }).observe(document, { attributes: true, subtree: true, attributeFilter: ["class"] });"""])
    page.goto("/")
    expect()(page.get_by_role("heading", level=1)).to_have_text("예매 가능한 공연")
    page.wait_for_function("performance.getEntriesByName('first-contentful-paint').length > 0")
    reveal = page.evaluate("window.__reveal")
    fcp = page.evaluate("performance.getEntriesByName('first-contentful-paint')[0].startTime")
    assert reveal and reveal["h1"] == "예매 가능한 공연", reveal
    assert fcp >= reveal["at"], (fcp, reveal)


def test_quantities_picked_signed_out_survive_the_sign_in(open_page, rest, admin):
    expect_ = expect()
    event = rest.create_event(admin["token"], quantity=10)
    fan = rest.register("Later")
    page = open_page()
    page.goto(f"/events/{event['id']}")
    page.get_by_label("Quantity of General Admission").fill("3")
    page.get_by_role("button", name="Sign in to buy").click()
    expect_(page.locator("#login-notice")).to_have_text("Sign in to buy tickets. The quantities you picked are kept.")
    form = page.locator("#panel-login")
    form.get_by_label("Email").fill(fan["user"]["email"])
    form.get_by_label("Password").fill(USER_PASSWORD)
    form.get_by_role("button", name="Sign in").click()
    expect_(page).to_have_url(re.compile(rf"/events/{event['id']}$"))
    expect_(page.get_by_label("Quantity of General Admission")).to_have_value("3")
    expect_(page.get_by_role("button", name="Hold tickets")).to_be_focused()
    page.keyboard.press("Enter")
    expect_(page.locator("#reservation .held-items li")).to_have_text(["3 × General Admission"])


def test_a_failed_sign_in_keeps_the_current_session(open_page, rest):
    fan = rest.register("Kept")
    page = open_page(fan, lang="ko")
    page.goto("/login")
    expect()(page.locator("#signed-in-as")).to_contain_text(fan["user"]["email"])
    form = page.locator("#panel-login")
    form.get_by_label("이메일").fill(fan["user"]["email"])
    form.get_by_label("비밀번호").fill("not-the-password")
    form.get_by_role("button", name="로그인").click()
    expect()(form.locator(".error")).to_have_text("이메일 또는 비밀번호가 올바르지 않습니다.")
    assert page.evaluate("localStorage.getItem('ticketd.token')") == fan["token"]
    assert_translated(page, "ko")


# ---------------------------------------------------------------------------------------------
# On-sale day: the toll solved in the page, the waiting room before the start (closed, then the
# pre-queue and its draw), the event page's countdown and limits, the admin's schedule.

def _iso_in(seconds: float) -> str:
    """A moment `seconds` from now, as the API writes it (UTC, milliseconds)."""
    import datetime
    moment = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _on_sale(rest, admin, *, starts_in: float | None, prequeue: int | None = None, bits: int = 0,
             mode: str = "on", capacity: int = 1, max_per_customer: int | None = None, **kwargs) -> dict:
    """An event whose sale starts ``starts_in`` seconds from now (None: no start), its
    pre-queue opening ``prequeue`` seconds before, with a toll of ``bits``."""
    event = rest.create_event(admin["token"], queue={"mode": mode, "capacity": capacity, "sessionSeconds": 300},
                              **kwargs)
    body = {"saleStartsAt": None if starts_in is None else _iso_in(starts_in), "maxPerCustomer": max_per_customer,
            "queue": {"prequeueSeconds": prequeue, "challengeBits": bits}}
    return rest.call("PATCH", f"/api/events/{event['id']}", admin["token"], body, expect=200)["event"]


# The main thread's longest stall while something runs: a solve must not freeze the page.
WATCH_MAIN_THREAD = """
  window.__stall = { max: 0, last: performance.now(), ticks: 0 };
  setInterval(() => {
    const now = performance.now();
    window.__stall.max = Math.max(window.__stall.max, now - window.__stall.last);
    window.__stall.last = now;
    window.__stall.ticks += 1;
  }, 10);
"""

SOLVE = """async ([challenge, bits, impl]) => {
  Object.assign(window.__stall, { max: 0, last: performance.now(), ticks: 0 });
  let last = null;
  const t0 = performance.now();
  const nonce = await Ticketd.solveChallenge(challenge, bits, { impl, onProgress: (p) => { last = p; } });
  return { nonce, ms: performance.now() - t0, tried: last && last.tried, impl: last && last.impl,
           fraction: last && last.fraction, stall: window.__stall.max, ticks: window.__stall.ticks };
}"""


def test_the_toll_is_solved_off_the_main_thread_and_16_bits_are_timed(open_page, rest, admin):
    """Ticketd.solveChallenge in headless Chromium: correct nonces (checked with Python's
    hashlib and by the server), SubtleCrypto and the plain-JS SHA-256 both, the page's main
    thread free meanwhile. Prints how long 16 bits take."""
    import statistics
    from ticketd.waitingroom.toll import solves

    event = _on_sale(rest, admin, starts_in=None, bits=16)
    fan = rest.register("Solver")
    page = open_page(fan, init_scripts=[WATCH_MAIN_THREAD])
    page.goto("/")
    expect()(page.locator(".event-card").first).to_be_visible()
    assert page.evaluate("window.isSecureContext && Boolean(crypto.subtle)")   # 127.0.0.1: SubtleCrypto
    challenge = lambda: rest.call("GET", f"/api/queue/challenge/{event['id']}", fan["token"], expect=200)  # noqa: E731

    results = {}
    for impl in ("subtle", "js"):
        runs = []
        for _ in range(8):
            c = challenge()
            assert c["bits"] == 16
            run = page.evaluate(SOLVE, [c["challenge"], 16, impl])
            assert run["impl"] == impl and run["fraction"] == 1
            assert solves(c["challenge"], run["nonce"], 16), run
            runs.append(run)
        results[impl] = runs
        # The page kept running while the worker hashed: its 10 ms timer went on firing (a solve
        # on the main thread would stop it for the whole solve). Loose, for a busy machine.
        total_ms = sum(r["ms"] for r in runs)
        assert sum(r["ticks"] for r in runs) >= total_ms / 50, runs

    # The server takes one: the fan is queued (mode on, no start: the queue, not a pre-queue).
    c = challenge()
    nonce = page.evaluate(SOLVE, [c["challenge"], 16, None])["nonce"]
    assert rest.call("POST", f"/api/queue/check/{event['id']}", fan["token"],
                     {"challenge": c["challenge"], "nonce": nonce}, expect=200)["status"] in ("queued", "admitted")

    for impl, runs in results.items():
        ms = [r["ms"] for r in runs]
        rate = sum(r["tried"] for r in runs) / sum(ms)     # hashes per ms
        report(f"16-bit toll in headless Chromium, {impl} (8 challenges): median {statistics.median(ms):7.1f} ms, "
               f"min {min(ms):7.1f}, max {max(ms):7.1f}; "
              f"{rate * 1000:,.0f} hashes/s; 65 536 hashes ≈ {65536 / rate:.0f} ms; "
              f"longest main-thread stall {max(r['stall'] for r in runs):.0f} ms")


# What the waiting room (or the gate page) went through, kept in sessionStorage so that it
# survives the move to the next page: every phase of #waiting (checking, closed, prequeue,
# queued, admitted), every heading and every position shown.
RECORD_PHASES = """
(() => {
  const log = (kind, value) => {
    const all = JSON.parse(sessionStorage.getItem("__log") || "[]");
    const last = all.filter((e) => e[0] === kind).pop();
    if (!last || last[1] !== value) { all.push([kind, value]); sessionStorage.setItem("__log", JSON.stringify(all)); }
  };
  new MutationObserver(() => {
    const card = document.getElementById("waiting");
    if (!card || !card.dataset.phase) return;
    log("phase", card.dataset.phase);
    const heading = document.getElementById("queue-title");
    if (heading) log("heading", heading.textContent);
    const position = document.getElementById("position");
    if (position && !position.closest("[hidden]") && /^\\d+$/.test(position.textContent)) log("position", position.textContent);
  }).observe(document, { subtree: true, childList: true, characterData: true, attributes: true });
})();
"""


def skewed_clock(ms: int) -> str:
    """A device clock `ms` off: Date.now() and new Date() (not the server's Date header);
    ``window.__skew(ms)`` changes it while the page runs."""
    return f"""
(() => {{
  const Real = Date;
  let skew = {ms};
  window.__skew = (ms) => {{ skew = ms; }};
  class Skewed extends Real {{
    constructor(...args) {{ if (args.length === 0) super(Real.now() + skew); else super(...args); }}
    static now() {{ return Real.now() + skew; }}
  }}
  window.Date = Skewed;
}})();
"""


def _log(page) -> list:
    return page.evaluate("JSON.parse(sessionStorage.getItem('__log') || '[]')")


def _phases(page) -> list[str]:
    return [value for kind, value in _log(page) if kind == "phase"]


def _in_order(seen: list[str], wanted: list[str]) -> bool:
    """`wanted` is a subsequence of `seen`."""
    it = iter(seen)
    return all(any(s == w for s in it) for w in wanted)


def test_through_the_pre_queue_and_its_draw_to_admission_and_tickets(open_page, rest, admin):
    """Capacity 1, a toll of 10 bits, the pre-queue opening 7 s before a sale 15 s away. Ann
    comes from the event page, Bob (whose device clock is an hour slow) straight to the
    waiting room: closed with a countdown, then (paying the toll) the pre-queue with a
    countdown and no position, a reload that keeps Bob there, the draw, a position each;
    the first in the draw is let in and buys; the other waits at position 1, then buys."""
    expect_ = expect()
    event = _on_sale(rest, admin, starts_in=15, prequeue=7, bits=10, quantity=10, max_per_customer=2)
    eid = event["id"]
    fans = {"Ann": rest.register("Ann"), "Bob": rest.register("Bob")}
    ann = open_page(fans["Ann"], init_scripts=[RECORD_PHASES])
    bob = open_page(fans["Bob"], init_scripts=[RECORD_PHASES, skewed_clock(-3_600_000)])

    # The event page: when the sale opens, and the way to the waiting room instead of buying.
    ann.goto(f"/events/{eid}")
    expect_(ann.locator("#sale")).to_be_visible()
    expect_(ann.locator("#sale-left")).to_have_text(re.compile(r"^0:(1[0-5]|0\d)$"))
    expect_(ann.locator("#event-head")).to_contain_text("Up to 2 tickets per customer")
    expect_(ann.locator("#hold")).to_be_hidden()
    expect_(ann.get_by_label("Quantity of General Admission")).to_be_disabled()
    ann.get_by_role("link", name="Go to the waiting room").click()
    bob.goto(f"/events/{eid}/queue")

    # Closed: a countdown to the opening, on the server's clock (Bob's device is an hour off).
    for page in (ann, bob):
        expect_(page).to_have_url(re.compile(rf"/events/{eid}/queue$"))
        expect_(page.get_by_role("heading", level=1)).to_have_text("The waiting room is not open yet")
        expect_(page.locator("#sale-countdown-label")).to_have_text("Waiting room opens in")
        expect_(page.get_by_role("timer")).to_have_text(re.compile(r"^0:0[1-8]$"))
        expect_(page.locator("#queue-lead")).to_contain_text("The waiting room opens at")
        expect_(page.locator("#position")).to_be_hidden()
    assert abs(bob.evaluate("Ticketd.clock.offset") - 3_600_000) < 1500     # server − device

    # The pre-queue opens: each page pays the toll and enters it. No position, a countdown to
    # the draw, and how many wait for it (from the pushes).
    for page in (ann, bob):
        expect_(page.get_by_role("heading", level=1)).to_have_text("You're in the pre-queue")
        expect_(page.locator("#queue-lead")).to_contain_text("You are in the pre-queue; your place is drawn at")
        expect_(page.locator("#sale-countdown-label")).to_have_text("Sale starts in")
        expect_(page.get_by_role("timer")).to_have_text(re.compile(r"^0:0[1-8]$"))
        expect_(page.locator("#prequeue-length")).to_have_text("2")
        expect_(page.locator("#prequeue-fair")).to_be_visible()
        expect_(page.locator("#queue-stats")).to_be_hidden()
        assert _in_order(_phases(page), ["closed", "checking", "prequeue"]), _log(page)
        assert not [v for k, v in _log(page) if k == "position"]

    # A reload keeps Bob in the pre-queue, without a second toll.
    bob.evaluate("sessionStorage.setItem('__log', '[]')")
    bob.reload()
    expect_(bob.get_by_role("heading", level=1)).to_have_text("You're in the pre-queue")
    expect_(bob.locator("#prequeue-length")).to_have_text("2")
    assert "checking" not in _phases(bob), _log(bob)
    assert rest.call("GET", f"/api/admin/events/{eid}/stats", admin["token"], expect=200)["prequeueLength"] == 2

    # The draw: both get a place (1 and 2, at random), from the socket.
    for page in (ann, bob):
        page.wait_for_function("""() => /"(queued|admitted)"/.test(sessionStorage.getItem('__log'))""", timeout=20_000)
    statuses = {name: rest.call("GET", f"/api/queue/status/{eid}", fan["token"], expect=200)
                for name, fan in fans.items()}
    first = next((n for n, s in statuses.items() if s["status"] == "admitted"),
                 min(statuses, key=lambda n: statuses[n].get("position", 99)))
    second = "Bob" if first == "Ann" else "Ann"
    pages = {"Ann": ann, "Bob": bob}
    p1, p2 = pages[first], pages[second]

    # The first is let in: the event page, their turn, tickets within the per-customer limit.
    expect_(p1).to_have_url(re.compile(rf"/events/{eid}$"))
    expect_(p1.locator("#admission")).to_contain_text("It's your turn")
    expect_(p1.locator("#sale")).to_be_hidden()
    p1.get_by_label("Quantity of General Admission").fill("3")
    p1.get_by_role("button", name="Hold tickets").click()
    expect_(p1.locator("#buy-error")).to_have_text("You can buy at most 2 tickets for this event.")
    p1.get_by_label("Quantity of General Admission").fill("2")
    p1.get_by_role("button", name="Hold tickets").click()

    # The second waits at position 1 meanwhile.
    expect_(p2.locator("#position")).to_have_text("1")
    expect_(p2.locator("#ahead")).to_have_text("0")
    expect_(p2).to_have_url(re.compile(r"/queue$"))

    # The purchase ends the first one's admission: the second is let in and buys.
    p1.get_by_role("button", name="Confirm purchase").click()
    expect_(p1.locator("#reservation-status")).to_have_attribute("data-status", "confirmed")
    expect_(p2).to_have_url(re.compile(rf"/events/{eid}$"))
    expect_(p2.locator("#admission")).to_contain_text("It's your turn")
    p2.get_by_label("Quantity of General Admission").fill("1")
    p2.get_by_role("button", name="Hold tickets").click()
    p2.get_by_role("button", name="Confirm purchase").click()
    expect_(p2.locator("#reservation-status")).to_have_attribute("data-status", "confirmed")
    assert rest.call("GET", f"/api/events/{eid}", expect=200)["event"]["ticketTypes"][0]["available"] == 7

    # What each went through: the second saw every step, a position before its turn.
    assert _in_order(_phases(p2), ["prequeue", "queued", "admitted"]), _log(p2)
    assert _in_order(_phases(p1), ["prequeue", "admitted"]), _log(p1)
    assert ["position", "1"] in _log(p2), _log(p2)


def test_a_device_clock_changed_during_the_countdown_still_enters_the_pre_queue(open_page, rest, admin):
    """The device clock jumps 3 s ahead while the page counts down to the pre-queue (an NTP
    correction, a fan setting the time): the countdown runs out early, the check says closed,
    and the next answer's Date header corrects the estimate. The page counts down again and
    enters the pre-queue on time; it must not sit on "not open yet" (it did: an answer for the
    target it had already counted down to was taken for a countdown still running)."""
    expect_ = expect()
    event = _on_sale(rest, admin, starts_in=12, prequeue=7)
    page = open_page(rest.register("Jumper"), init_scripts=[RECORD_PHASES, skewed_clock(0)])
    page.goto(f"/events/{event['id']}/queue")
    expect_(page.locator("#waiting")).to_have_attribute("data-phase", "closed")
    expect_(page.get_by_role("timer")).to_have_text(re.compile(r"^0:0[2-5]$"))
    page.evaluate("window.__skew(3000)")
    expect_(page.get_by_role("heading", level=1)).to_have_text("You're in the pre-queue", timeout=15_000)
    expect_(page.locator("#prequeue-length")).to_have_text("1")
    expect_(page).to_have_url(re.compile(rf"/events/{event['id']}$"), timeout=20_000)
    assert _in_order(_phases(page), ["closed", "prequeue", "admitted"]), _log(page)


def _rename_pushes(name: str) -> callable:
    """A WebSocket route that renames the server's `name` pushes (the page ignores them; the
    room's seq stays whole, so no resync tells the page either)."""
    def route(ws):
        server = ws.connect_to_server()
        ws.on_message(server.send)
        server.on_message(lambda message: ws.send(message.replace(f'"event":"{name}"', '"event":"ignored"')
                                                  if isinstance(message, str) else message))
    return route


def test_event_page_counts_down_to_the_sale_then_sells_within_the_limit(open_page, rest, admin):
    """No queue (mode off): a countdown instead of the buy button, then buying when it ends;
    the per-customer limit shown and enforced in words; a sale moved later behind the page's
    back (its event-updated push never arrives) answers sale_not_started, and the page goes
    back to counting down."""
    expect_ = expect()
    event = _on_sale(rest, admin, starts_in=6, mode="off", capacity=5, max_per_customer=3, quantity=10)
    eid = event["id"]
    page = open_page(rest.register("Early"))
    page.route_web_socket("**/ws", _rename_pushes("event-updated"))
    page.goto(f"/events/{eid}")
    expect_(page.locator("#sale")).to_be_visible()
    expect_(page.locator("#sale-title")).to_have_text("Sale opens in")
    expect_(page.get_by_role("timer")).to_have_text(re.compile(r"^0:0[1-6]$"))
    expect_(page.locator("#sale-how")).to_have_text("You can buy tickets on this page as soon as the sale opens.")
    expect_(page.locator("#sale-go")).to_be_hidden()
    expect_(page.locator("#event-head")).to_contain_text("Up to 3 tickets per customer")
    expect_(page.locator("#hold")).to_be_hidden()
    expect_(page.get_by_label("Quantity of General Admission")).to_be_disabled()

    # The start: buying opens on the page by itself.
    expect_(page.locator("#sale")).to_be_hidden()
    expect_(page.locator("#announcer")).to_have_text("The sale is open.")
    expect_(page.get_by_label("Quantity of General Admission")).to_be_enabled()
    page.get_by_label("Quantity of General Admission").fill("4")
    page.get_by_role("button", name="Hold tickets").click()
    expect_(page.locator("#buy-error")).to_have_text("You can buy at most 3 tickets for this event.")
    page.get_by_label("Quantity of General Admission").fill("2")
    page.get_by_role("button", name="Hold tickets").click()
    page.get_by_role("button", name="Confirm purchase").click()
    expect_(page.locator("#reservation-status")).to_have_attribute("data-status", "confirmed")

    # The organiser moves the sale an hour later; the page has not heard. Holding says so,
    # and the page counts down again.
    rest.call("PATCH", f"/api/events/{eid}", admin["token"], {"saleStartsAt": _iso_in(3600)}, expect=200)
    page.get_by_label("Quantity of General Admission").fill("1")
    page.get_by_role("button", name="Hold tickets").click()
    expect_(page.locator("#buy-error")).to_have_text(re.compile(r"^The sale has not started yet\. It opens .+\.$"))
    expect_(page.locator("#sale")).to_be_visible()
    expect_(page.get_by_role("timer")).to_have_text(re.compile(r"^(59:\d\d|1 h 00 min)$"))
    expect_(page.locator("#hold")).to_be_hidden()
    assert_translated(page, "en")


def test_admin_edits_the_schedule_in_the_events_time_and_sees_the_pre_queue(open_page, rest, admin):
    """The dashboard sets saleStartsAt on the clocks where the event takes place (its zone,
    shown; not the admin's own), the pre-queue's opening, pacing, the per-customer limit and
    the toll; clears them (null); shows the pre-queue's length live beside the queue's."""
    import datetime
    from zoneinfo import ZoneInfo
    from ticketd.waitingroom.toll import solve

    expect_ = expect()
    event = rest.create_event(admin["token"], name="Schedule Night", time_zone="Asia/Seoul",
                              queue={"mode": "on", "capacity": 1, "sessionSeconds": 300})
    eid = event["id"]
    boss = open_page(admin, timezone_id="America/New_York")      # an organiser far from the venue
    field = lambda name: boss.get_by_role("spinbutton", name=name)  # noqa: E731
    boss.goto(f"/admin?event={eid}")
    expect_(boss.locator("#s-prequeue")).to_have_text("0")
    expect_(boss.locator("#zone-hint")).to_have_text("(time at the event: Asia/Seoul, GMT+9)")
    expect_(boss.locator("#sale-preview")).to_have_text("No start set: tickets are on sale now.")
    expect_(field("Pre-queue opens")).to_have_value("900")
    expect_(field("Browser check")).to_have_value("0")

    # An hour from now, typed as a Seoul wall clock; the pre-queue open from now on.
    start = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)).replace(microsecond=0)
    boss.get_by_label("Sale starts").fill(start.astimezone(ZoneInfo("Asia/Seoul")).strftime("%Y-%m-%dT%H:%M:%S"))
    field("Pre-queue opens").fill("7200")
    expect_(boss.locator("#sale-preview")).to_have_text(re.compile(r"^The pre-queue opens .+ GMT\+9\.$"))
    field("Admissions per minute").fill("60")
    field("Tickets per customer").fill("4")
    field("Browser check").fill("25")
    boss.get_by_role("button", name="Save on-sale settings").click()
    expect_(boss.locator("#schedule-error")).to_contain_text("the browser check 0 to 24")
    expect_(field("Browser check")).to_be_focused()
    field("Browser check").fill("8")
    boss.get_by_role("button", name="Save on-sale settings").click()
    expect_(boss.locator("#schedule-msg")).to_have_text("On-sale settings saved.")
    saved = rest.call("GET", f"/api/events/{eid}", expect=200)["event"]
    assert datetime.datetime.fromisoformat(saved["saleStartsAt"].replace("Z", "+00:00")) == start, saved
    assert saved["maxPerCustomer"] == 4
    assert {k: saved["queue"][k] for k in ("prequeueSeconds", "admitPerMinute", "challengeBits")} == \
        {"prequeueSeconds": 7200, "admitPerMinute": 60, "challengeBits": 8}

    # Fans pay the toll into the pre-queue: its length shows live, the queue's stays 0.
    for fan in (rest.register("Pre1"), rest.register("Pre2")):
        c = rest.call("GET", f"/api/queue/challenge/{eid}", fan["token"], expect=200)
        answer = rest.call("POST", f"/api/queue/check/{eid}", fan["token"],
                           {"challenge": c["challenge"], "nonce": solve(c["challenge"], c["bits"])}, expect=200)
        assert answer["status"] == "prequeue"
    expect_(boss.locator("#s-prequeue")).to_have_text("2")
    expect_(boss.locator("#s-queue")).to_have_text("0")

    # Cleared: every field empty is null (the pre-queue and the toll back to their defaults).
    boss.get_by_role("button", name="Clear the sale start").click()
    expect_(boss.locator("#sale-preview")).to_have_text("No start set: tickets are on sale now.")
    for label in ("Pre-queue opens", "Admissions per minute", "Tickets per customer", "Browser check"):
        field(label).fill("")
    boss.get_by_role("button", name="Save on-sale settings").click()
    expect_(boss.locator("#schedule-msg")).to_have_text("On-sale settings saved.")
    cleared = rest.call("GET", f"/api/events/{eid}", expect=200)["event"]
    assert (cleared["saleStartsAt"], cleared["maxPerCustomer"]) == (None, None)
    assert (cleared["queue"]["prequeueSeconds"], cleared["queue"]["admitPerMinute"],
            cleared["queue"]["challengeBits"]) == (900, None, 0)
    expect_(field("Pre-queue opens")).to_have_value("900")
    expect_(boss.get_by_label("Sale starts")).to_have_value("")
    assert_translated(boss, "en")


# A toll worker that never finds a nonce: the page stays on "Checking your browser…".
STALLED_WORKER = "let n = 0; setInterval(() => { n += 40; self.postMessage({ progress: n, impl: 'js' }); }, 100);"


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_on_sale_states_in_both_languages_pass_axe(open_page, rest, admin, lang):
    """Every new state in English and Korean, each through axe: the waiting room closed, in the
    pre-queue and checking the browser; the event page before the sale; the dashboard."""
    expect_ = expect()
    t = CATALOGUES[lang]
    ev = KO_EVENT if lang == "ko" else {}
    closed = _on_sale(rest, admin, starts_in=7200, prequeue=3600, bits=8, **ev)
    pre = _on_sale(rest, admin, starts_in=3000, prequeue=3600, bits=8, max_per_customer=4, **ev)
    fan = open_page(rest.register("Axe"), lang=lang)

    fan.goto(f"/events/{closed['id']}/queue")
    expect_(fan.locator("#waiting")).to_have_attribute("data-phase", "closed")
    expect_(fan.get_by_role("heading", level=1)).to_have_text(t["queue.closed.heading"])
    expect_(fan.locator("#sale-countdown-label")).to_have_text(t["queue.closed.opensIn"])
    expect_(fan.get_by_role("timer")).to_have_text(re.compile(r"^59:\d\d$|^1 h 00 min$|^1시간 00분$"))
    check_axe(fan, "queue-closed", lang)
    assert_translated(fan, lang)

    fan.goto(f"/events/{pre['id']}")
    expect_(fan.locator("#sale")).to_be_visible()
    expect_(fan.locator("#sale-go")).to_have_text(t["sale.enterPrequeue"])
    expect_(fan.locator("#sale-how")).to_have_text(t["sale.prequeueOpen"])
    expect_(fan.locator("#event-head")).to_contain_text(t["limit.perCustomer"]["other"].replace("{count}", "4"))
    check_axe(fan, "event-before-sale", lang)
    assert_translated(fan, lang)
    fan.locator("#sale-go").click()
    expect_(fan.locator("#waiting")).to_have_attribute("data-phase", "prequeue")
    expect_(fan.get_by_role("heading", level=1)).to_have_text(t["queue.prequeue.heading"])
    expect_(fan.locator("#sale-countdown-label")).to_have_text(t["queue.prequeue.startsIn"])
    expect_(fan.locator("#prequeue-length")).to_have_text("1")
    expect_(fan.get_by_role("button", name=t["queue.prequeue.leave"])).to_be_visible()
    check_axe(fan, "queue-prequeue", lang)
    assert_translated(fan, lang)

    slow = open_page(rest.register("Slow"), lang=lang)
    slow.route("**/static/toll-worker.js", lambda r: r.fulfill(body=STALLED_WORKER, content_type="text/javascript"))
    slow.goto(f"/events/{pre['id']}/queue")
    expect_(slow.locator("#waiting")).to_have_attribute("data-phase", "checking")
    expect_(slow.locator("#toll")).to_contain_text(t["queue.challenge.checking"])
    expect_(slow.get_by_role("progressbar", name=t["queue.challenge.progress"])).to_have_attribute(
        "aria-valuenow", re.compile(r"^[1-9]\d?$"))                  # it moves, short of 100
    check_axe(slow, "queue-checking", lang)
    assert_translated(slow, lang)

    boss = open_page(admin, lang=lang, timezone_id="America/New_York")
    boss.goto(f"/admin?event={pre['id']}")
    expect_(boss.locator("#s-prequeue")).to_have_text("1")
    expect_(boss.locator("#sale-preview")).to_contain_text("GMT+9" if lang == "ko" else "UTC")   # the event's zone
    check_axe(boss, "admin-schedule", lang)
    assert_translated(boss, lang)


def test_a_refused_solution_gets_one_fresh_challenge_then_the_page_says_so(open_page, rest, admin):
    """Ticketd.checkIn: a solved challenge the server refuses (used or expired meanwhile) is
    replaced by a fresh one, once; refused again, the waiting room says so in words."""
    expect_ = expect()
    event = _on_sale(rest, admin, starts_in=3000, prequeue=3600, bits=8)
    seen = {"challenges": 0, "solved": 0}

    def checks(refuse: int):
        def handler(route):
            body = route.request.post_data_json if route.request.post_data else None
            if body and "nonce" in body:
                seen["solved"] += 1
                if seen["solved"] <= refuse:       # as the server answers a reused or expired one
                    route.fulfill(status=403, content_type="application/json", body=json.dumps(
                        {"error": {"code": "challenge_required", "message": "Solve a fresh challenge",
                                   "details": {"bits": 8}}}))
                    return
            route.continue_()
        return handler

    def count(route):
        seen["challenges"] += 1
        route.continue_()

    page = open_page(rest.register("Retry"))
    page.route("**/api/queue/check/*", checks(refuse=1))
    page.route("**/api/queue/challenge/*", count)
    page.goto(f"/events/{event['id']}/queue")
    expect_(page.locator("#waiting")).to_have_attribute("data-phase", "prequeue")
    assert seen == {"challenges": 2, "solved": 2}

    seen.update(challenges=0, solved=0)
    stubborn = open_page(rest.register("Stubborn"))
    stubborn.route("**/api/queue/check/*", checks(refuse=99))
    stubborn.route("**/api/queue/challenge/*", count)
    stubborn.goto(f"/events/{event['id']}/queue")
    expect_(stubborn.locator("#error")).to_have_text(CATALOGUES["en"]["errors.challenge_required"])
    assert seen == {"challenges": 2, "solved": 2}


def test_the_waiting_room_of_a_sale_without_a_queue_counts_down_to_the_sale(open_page, rest, admin):
    """Mode off has no pre-queue: the check answers closed until the start (its opensAt, when a
    pre-queue would open, is not shown), then admitted, and the page goes on to the tickets."""
    expect_ = expect()
    event = _on_sale(rest, admin, starts_in=8, prequeue=5, mode="off", capacity=5)
    page = open_page(rest.register("NoQueue"))
    page.goto(f"/events/{event['id']}/queue")
    expect_(page.locator("#waiting")).to_have_attribute("data-phase", "closed")
    expect_(page.locator("#sale-countdown-label")).to_have_text("Sale starts in")
    expect_(page.locator("#queue-lead")).to_contain_text("Tickets go on sale at")
    expect_(page.get_by_role("timer")).to_have_text(re.compile(r"^0:0[4-8]$"))
    expect_(page).to_have_url(re.compile(rf"/events/{event['id']}$"), timeout=20_000)
    expect_(page.locator("#sale")).to_be_hidden()
    expect_(page.get_by_role("button", name="Hold tickets")).to_be_visible()


def test_every_page_comes_with_the_servers_content_security_policy(open_page, rest, admin):
    """The server's own header, on every page (nothing in these tests adds it): no inline
    script or style, no framing, nosniff, a referrer policy."""
    event = _on_sale(rest, admin, starts_in=7200, prequeue=3600)     # closed: the queue pages stay put
    eid = event["id"]
    page = open_page(admin)
    for path in ("/", "/login", "/admin", f"/events/{eid}", f"/events/{eid}/seats", f"/events/{eid}/queue",
                 f"/gate/{eid}?return=%2F", "/no-such-page"):
        # A tab of its own, read at commit: a page that sends the shopper on by script (the
        # event page to the waiting room) must not race the next path's navigation. The tabs
        # stay open until the context closes (closing one mid-load can hang).
        tab = page.context.new_page()
        response = tab.goto(path, wait_until="commit")
        assert response is not None, path
        headers = response.headers
        assert headers.get("content-security-policy") == CSP, (path, headers)
        assert headers.get("x-content-type-options") == "nosniff", path
        assert headers.get("x-frame-options") == "DENY" and headers.get("referrer-policy"), (path, headers)
        assert response.status == (404 if path == "/no-such-page" else 200), path
    assert "'unsafe-inline'" not in CSP and "frame-ancestors 'none'" in CSP


# ---------------------------------------------------------------------------------------------
# The gate page: the waiting room in front of a site that is not ticketd.

def _gate(event_id: str, back: str) -> str:
    return f"/gate/{event_id}?" + urllib.parse.urlencode({"return": back})


def _visitor(rest) -> str:
    return rest.call("POST", "/api/visitors", expect=201)["token"]


def _queued_visitor(rest, event_id: str) -> str:
    """A visitor who checked in (no toll), as a browser elsewhere would."""
    token = _visitor(rest)
    assert rest.call("POST", f"/api/queue/check/{event_id}", token, expect=200)["status"] in ("queued", "admitted")
    return token


def _host(url: str) -> str:
    return urllib.parse.urlsplit(url).netloc


def _said(message: str, **args) -> str:
    for name, value in args.items():
        message = message.replace(f"{{{name}}}", str(value))
    return message


def _admission_cookie(page, event_id: str) -> dict | None:
    return next((c for c in page.context.cookies() if c["name"] == f"ticketd_admission_{event_id}"), None)


HIDDEN = BACKGROUND + "window.__setHidden(true);"     # in the background from the start


def test_the_gate_page_queues_a_visitor_and_sends_them_back_admitted(open_page, rest, admin, server):
    """Capacity 1, taken; a toll of 8 bits. The page gets a visitor identity of its own, pays the
    toll, waits at position 1 (live, and still there after a reload, without a second toll), and
    when the place frees is let in: the cookie, "You're in!", and back to `return`."""
    expect_ = expect()
    event = _on_sale(rest, admin, starts_in=None, bits=8)
    eid = event["id"]
    from ticketd.waitingroom.toll import solve
    ahead = _visitor(rest)
    c = rest.call("GET", f"/api/queue/challenge/{eid}", ahead, expect=200)
    rest.call("POST", f"/api/queue/check/{eid}", ahead, {"challenge": c["challenge"],
                                                        "nonce": solve(c["challenge"], c["bits"])}, expect=200)
    host = _host(server.url)
    page = open_page(init_scripts=[RECORD_PHASES])
    page.goto(_gate(eid, "/?from=the-gate"))

    expect_(page.get_by_role("heading", level=1)).to_have_text(f"Waiting room for {host}")
    expect_(page.locator("#gate-site")).to_have_text(host)
    expect_(page).to_have_title(f"Waiting room · {host}")
    expect_(page.locator("#position")).to_have_text("1")
    expect_(page.locator("#ahead")).to_have_text("0")
    expect_(page.locator("#wait")).not_to_have_text("—")
    expect_(page.locator("#queue-conn")).to_have_text("Live")
    expect_(page.get_by_role("progressbar", name="Progress through the queue")).to_be_visible()
    assert _in_order(_phases(page), ["checking", "queued"]), _log(page)
    visitor = page.evaluate("JSON.parse(localStorage.getItem('ticketd.visitor'))")
    assert visitor["token"] and visitor["id"], visitor
    assert page.evaluate("localStorage.getItem('ticketd.token')") is None     # not a user's session
    assert rest.call("GET", f"/api/queue/status/{eid}", visitor["token"], expect=200)["position"] == 1

    # A reload keeps the place: the same visitor, and no second toll.
    page.evaluate("sessionStorage.setItem('__log', '[]')")
    page.reload()
    expect_(page.locator("#position")).to_have_text("1")
    expect_(page.locator("#queue-conn")).to_have_text("Live")
    assert "checking" not in _phases(page), _log(page)
    assert page.evaluate("JSON.parse(localStorage.getItem('ticketd.visitor')).id") == visitor["id"]

    # Korean, switched in place: the same place, the site still named.
    page.get_by_role("combobox", name="Language").select_option("ko")
    expect_(page.get_by_role("heading", level=1)).to_have_text(f"{host} 접속 대기")
    expect_(page.locator("#queue-conn")).to_have_text("실시간")
    expect_(page.locator("#position")).to_have_text("1")
    assert_translated(page, "ko")
    page.get_by_role("combobox", name="언어").select_option("en")
    expect_(page.get_by_role("heading", level=1)).to_have_text(f"Waiting room for {host}")

    # The visitor ahead leaves: this one is let in, given the cookie, and sent back.
    rest.call("POST", f"/api/queue/leave/{eid}", ahead, expect=204)
    expect_(page).to_have_url(f"{server.url}/?from=the-gate")
    expect_(page.get_by_role("heading", level=1)).to_have_text("Upcoming events")     # ticketd's home, here
    assert _in_order(_log(page), [["phase", "queued"], ["phase", "admitted"],
                                  ["heading", "You're in! Taking you to the shop…"]]), _log(page)
    cookie = _admission_cookie(page, eid)
    assert cookie and cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["path"] == "/", cookie
    assert "ticketd_admission" not in page.evaluate("document.cookie")        # HttpOnly: no script sees it
    rest.call("GET", f"/api/queue/verify/{eid}", cookie["value"], expect=204)  # a live admission


def test_a_visitor_identity_the_server_refuses_is_replaced(open_page, rest, admin, server):
    """A stored visitor token that no longer passes (forged here; expired or signed with an old
    secret alike) is dropped for a new identity, and the visitor queues with that."""
    expect_ = expect()
    event = rest.create_event(admin["token"], queue={"mode": "on", "capacity": 5, "sessionSeconds": 300})
    forged = _visitor(rest)[:-6] + "AAAAAA"
    stale = json.dumps(json.dumps({"token": forged, "id": "old"}))
    page = open_page(init_scripts=[
        "if (location.protocol.startsWith('http') && !sessionStorage.getItem('__seeded')) {"
        f" sessionStorage.setItem('__seeded', '1'); localStorage.setItem('ticketd.visitor', {stale}); }}"])
    page.goto(_gate(event["id"], "/login"))
    expect_(page).to_have_url(f"{server.url}/login")
    visitor = page.evaluate("JSON.parse(localStorage.getItem('ticketd.visitor'))")
    assert visitor["token"] != forged and visitor["id"] != "old", visitor
    assert _admission_cookie(page, event["id"])


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_gate_admission_in_a_background_tab_alerts_then_goes_on_when_seen(open_page, rest, admin, server, lang):
    """The waiting room's alerts on the gate page: asked for with a button, then the push alone
    flashes the title, chimes and notifies; the cookie is set at once, and the page goes on
    to the site when the visitor looks."""
    expect_ = expect()
    t = CATALOGUES[lang]
    event = rest.create_event(admin["token"], queue={"mode": "on", "capacity": 1, "sessionSeconds": 300})
    eid = event["id"]
    ahead = _queued_visitor(rest, eid)
    host = _host(server.url)
    page = open_page(lang=lang, permissions=["notifications"], init_scripts=[BACKGROUND, RECORD_ALERTS])
    page.goto(_gate(eid, "/login"))
    expect_(page.get_by_role("heading", level=1)).to_have_text(_said(t["gate.title"], site=host))
    expect_(page.locator("#position")).to_have_text("1")
    expect_(page.locator("#queue-conn")).to_have_attribute("data-state", "open")

    page.get_by_role("button", name=t["queue.notify.button"]).click()
    expect_(page.locator("#notify-state")).to_have_text(t["queue.notify.on"])
    page.get_by_label(t["queue.sound"]).check()
    page.wait_for_function("window.__tones >= 2")      # the preview chime: audio is unlocked
    tones_before = page.evaluate("window.__tones")

    page.evaluate("window.__setHidden(true)")
    rest.call("POST", f"/api/queue/leave/{eid}", ahead, expect=204)
    turn, waiting = _said(t["title.gateTurn"], site=host), _said(t["title.gate"], site=host)
    expect_(page).to_have_title(turn)
    expect_(page).to_have_title(waiting)      # it alternates…
    expect_(page).to_have_title(turn)         # …until the visitor looks
    page.wait_for_function("window.__notifications.length === 1")
    note = page.evaluate("window.__notifications[0]")
    assert (note["title"], note["body"]) == (_said(t["gate.notify.title"], site=host),
                                             _said(t["gate.notify.body"], site=host)), note
    assert page.evaluate("window.__tones") >= tones_before + 2
    expect_(page.get_by_role("heading", level=1)).to_have_text(t["gate.admitted"])
    expect_(page.locator("#queue-alert")).to_have_text(t["gate.admitted"])
    link = page.get_by_role("link", name=_said(t["gate.goNow"], site=host))
    expect_(link).to_have_attribute("href", f"{server.url}/login")      # the pass was taken…
    assert _admission_cookie(page, eid)                                  # …and its cookie set
    expect_(page).to_have_url(re.compile(rf"/gate/{eid}\?"))             # still here in the background
    assert_translated(page, lang)

    page.evaluate("window.__setHidden(false)")
    expect_(page).to_have_url(f"{server.url}/login")


STALLED_TOLL = lambda route: route.fulfill(body=STALLED_WORKER, content_type="text/javascript")  # noqa: E731


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_gate_states_in_both_languages_pass_axe_and_work_by_keyboard(open_page, rest, admin, server, lang):
    """The gate page in each state, each through axe: checking the browser, the pre-queue,
    closed, queued, and let in (in a background tab, so that it stays). Keyboard: the skip link,
    the language switch and the alert controls in order; the way on to the site with Enter."""
    expect_ = expect()
    t = CATALOGUES[lang]
    host = _host(server.url)
    pre = _on_sale(rest, admin, starts_in=3000, prequeue=3600, bits=8)
    closed = _on_sale(rest, admin, starts_in=7200, prequeue=3600, bits=8)
    queued = rest.create_event(admin["token"], queue={"mode": "on", "capacity": 1, "sessionSeconds": 300})
    free = rest.create_event(admin["token"], queue={"mode": "on", "capacity": 5, "sessionSeconds": 300})
    _queued_visitor(rest, queued["id"])

    slow = open_page(lang=lang)
    slow.route("**/static/toll-worker.js", STALLED_TOLL)
    slow.goto(_gate(pre["id"], "/"))
    expect_(slow.locator("#waiting")).to_have_attribute("data-phase", "checking")
    expect_(slow.locator("#toll")).to_contain_text(t["queue.challenge.checking"])
    expect_(slow.get_by_role("progressbar", name=t["queue.challenge.progress"])).to_have_attribute(
        "aria-valuenow", re.compile(r"^[1-9]\d?$"))
    check_axe(slow, "gate-checking", lang)
    assert_translated(slow, lang)

    fan = open_page(lang=lang)
    fan.goto(_gate(pre["id"], "/"))
    expect_(fan.locator("#waiting")).to_have_attribute("data-phase", "prequeue")
    expect_(fan.get_by_role("heading", level=1)).to_have_text(t["queue.prequeue.heading"])
    expect_(fan.locator("#sale-countdown-label")).to_have_text(t["gate.prequeue.startsIn"])
    expect_(fan.locator("#prequeue-length")).to_have_text("1")
    check_axe(fan, "gate-prequeue", lang)
    assert_translated(fan, lang)

    fan.goto(_gate(closed["id"], "/"))
    expect_(fan.locator("#waiting")).to_have_attribute("data-phase", "closed")
    expect_(fan.get_by_role("heading", level=1)).to_have_text(t["queue.closed.heading"])
    expect_(fan.locator("#sale-countdown-label")).to_have_text(t["queue.closed.opensIn"])
    check_axe(fan, "gate-closed", lang)
    assert_translated(fan, lang)

    fan.goto(_gate(queued["id"], "/"))
    expect_(fan.locator("#position")).to_have_text("1")
    expect_(fan.locator("#queue-conn")).to_have_attribute("data-state", "open")
    expect_(fan.get_by_role("heading", level=1)).to_have_text(_said(t["gate.title"], site=host))
    check_axe(fan, "gate-queued", lang)
    assert_translated(fan, lang)
    focused = fan.locator(":focus")
    for name in ("skip-link", "lang-switch", "notify", "sound"):
        fan.keyboard.press("Tab")
        if name == "skip-link":
            expect_(focused).to_have_class(re.compile(r"\bskip-link\b"))
        else:
            expect_(focused).to_have_attribute("id", name)
        # The focus shows: the outline, or (form fields) the ring drawn as a shadow.
        ring = focused.evaluate("el => [getComputedStyle(el).outlineStyle, getComputedStyle(el).boxShadow]")
        assert ring[0] == "solid" or ring[1] != "none", (name, ring)

    let_in = open_page(lang=lang, init_scripts=[HIDDEN])
    let_in.goto(_gate(free["id"], "/login"))
    expect_(let_in.locator("#waiting")).to_have_attribute("data-phase", "admitted")
    expect_(let_in.get_by_role("heading", level=1)).to_have_text(t["gate.admitted"])
    link = let_in.get_by_role("link", name=_said(t["gate.goNow"], site=host))
    expect_(link).to_have_attribute("href", f"{server.url}/login")
    check_axe(let_in, "gate-admitted", lang)
    assert_translated(let_in, lang)
    for _ in range(10):                      # by keyboard to the way on, and through it
        let_in.keyboard.press("Tab")
        if let_in.evaluate("document.activeElement.id") == "go-now":
            break
    let_in.keyboard.press("Enter")
    expect_(let_in).to_have_url(f"{server.url}/login")


LEAVE = """async (eventId) => {
  const { token } = JSON.parse(localStorage.getItem("ticketd.visitor"));
  const resp = await fetch(`/api/queue/leave/${eventId}`, { method: "POST", headers: { Authorization: `Bearer ${token}` } });
  return resp.status;
}"""


def test_through_nginx_a_gated_shop_lets_in_one_browser_at_a_time(open_page, site):
    """The shipped nginx config in front of a shop, capacity 1: a browser opening the shop lands
    on the gate page and, let in, on the shop page, its cookie good for the next requests too; a
    second browser waits meanwhile, and is let in when the first leaves (as a shop's own "leave"
    link would, with the visitor's token), while the first is sent back to the gate."""
    expect_ = expect()
    eid, shop = site.event_id, site.url
    host = _host(shop)
    gate_page = re.compile(rf"^{re.escape(shop)}/gate/{eid}\?return=")

    def pages_served() -> list[str]:
        """What the shop served (not counting the icon a browser asks every site for)."""
        return [hit for hit in site.hits if hit != "/favicon.ico"]

    def way_back(url: str) -> str | None:
        """The `return` of a gate page's address (as the page reads it), else None."""
        parts = urllib.parse.urlsplit(url)
        return urllib.parse.parse_qs(parts.query).get("return", [None])[0] if gate_page.match(url) else None

    first = open_page(base_url=shop, init_scripts=[RECORD_PHASES])
    first.goto("/products?id=7&color=red")
    expect_(first).to_have_url(f"{shop}/products?id=7&color=red")
    expect_(first.locator("body")).to_have_text("the shop: /products?id=7&color=red")
    assert [way_back(d["url"]) for d in first.documents if way_back(d["url"])] == \
        ["/products?id=7&color=red"], first.documents
    assert _in_order(_log(first), [["heading", f"Waiting room for {host}"], ["phase", "admitted"]]), _log(first)
    first.goto("/cart")
    expect_(first.locator("body")).to_have_text("the shop: /cart")

    second = open_page(base_url=shop, lang="ko")
    second.goto("/")
    expect_(second).to_have_url(gate_page)
    assert way_back(second.url) == "/"
    expect_(second.get_by_role("heading", level=1)).to_have_text(f"{host} 접속 대기")
    expect_(second.locator("#position")).to_have_text("1")
    expect_(second.locator("#queue-conn")).to_have_attribute("data-state", "open")     # the socket, through nginx
    assert pages_served() == ["/products?id=7&color=red", "/cart"]

    assert first.evaluate(LEAVE, eid) == 204
    expect_(second).to_have_url(f"{shop}/")
    expect_(second.locator("body")).to_have_text("the shop: /")
    second.goto("/account")
    expect_(second.locator("body")).to_have_text("the shop: /account")
    first.goto("/cart")                        # gone: back to the gate, behind the one let in
    expect_(first).to_have_url(gate_page)
    assert way_back(first.url) == "/cart"
    expect_(first.locator("#waiting")).to_have_attribute("data-phase", "queued")
    assert pages_served() == ["/products?id=7&color=red", "/cart", "/", "/account"], site.nginx.log()
    cookies = [_admission_cookie(page, eid) for page in (first, second)]
    assert all(c and c["httpOnly"] for c in cookies) and cookies[0]["value"] != cookies[1]["value"], cookies


@pytest.mark.skipif(not os.environ.get("TICKETD_SCREENSHOTS"), reason="set TICKETD_SCREENSHOTS=1 to retake docs/*.png")
@pytest.mark.parametrize("lang", ["en", "ko"])
def test_gate_screenshots(open_page, rest, admin, lang):
    """The gate page in front of a shop, waiting and let in: docs/[ko-]gate-waiting.png and
    docs/[ko-]gate-admitted.png."""
    expect_ = expect()
    shot = SHOTS[lang]
    path = lambda name: str(DOCS / f"{shot['prefix']}{name}.png")   # noqa: E731
    back = f"{SHOP}/sale/spring-drop"
    sale = {"en": "Spring drop", "ko": "봄 한정판 드롭"}[lang]
    event = rest.create_event(admin["token"], queue={"mode": "on", "capacity": 1, "sessionSeconds": 120}, name=sale)
    eid = event["id"]
    ahead = [_queued_visitor(rest, eid) for _ in range(5)]       # one let in, four waiting
    page = open_page(viewport=(900, 900), lang=lang, timezone_id=shot["tz"])
    page.goto(_gate(eid, back))
    expect_(page.locator("#position")).to_have_text("5")
    for token in ahead[1:3]:
        rest.call("POST", f"/api/queue/leave/{eid}", token, expect=204)
    expect_(page.locator("#position")).to_have_text("3")
    expect_(page.locator("#queue-conn")).to_have_attribute("data-state", "open")
    expect_(page.locator("#event-name")).to_have_text(sale)
    page.screenshot(path=path("gate-waiting"), animations="disabled")

    free = rest.create_event(admin["token"], queue={"mode": "on", "capacity": 5, "sessionSeconds": 600}, name=sale)
    let_in = open_page(viewport=(900, 720), lang=lang, timezone_id=shot["tz"], init_scripts=[HIDDEN])
    let_in.goto(_gate(free["id"], back))
    expect_(let_in.locator("#go-now")).to_have_attribute("href", back)
    expect_(let_in.locator("#event-name")).to_have_text(sale)
    let_in.screenshot(path=path("gate-admitted"), animations="disabled")
