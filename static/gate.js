/* The gate page: the waiting room in front of a site that is not ticketd (GET
 * /gate/{eventId}?return=URL, the server having checked `return`).
 *
 * The visitor gets an anonymous identity if the browser has none (POST /api/visitors, kept in
 * localStorage under its own key, never the signed-in user's token), and a new one when the
 * server refuses it. The place itself is waiting.js, as in the ticketd waiting room: the toll
 * ("Checking your browser…"), the queue live on a `queue:{eventId}` socket, the closed state and
 * the pre-queue; a reload keeps the place. On admission the page trades the admission token for
 * the site's cookie (POST /api/gate/{eventId}/pass, which sets it HttpOnly), says so, and goes
 * to where the server says, `return`. In a background tab it waits for the visitor to look,
 * with the waiting room's alerts (alerts.js): the title, the chime, the notification.
 */
(function () {
  "use strict";
  const { $, showError, showMessage } = App;
  const VISITOR_KEY = "ticketd.visitor";
  const eventId = App.eventIdFromPath();
  const returnTo = new URLSearchParams(location.search).get("return") || "/";
  let room = null;
  let socket = null;

  // ------------------------------------------------------------------ the site

  /** The host of `return` (a path is on this very host), or null: "the shop". */
  function siteOf(url) {
    try {
      const u = new URL(url, location.href);
      if ((u.protocol === "http:" || u.protocol === "https:") && u.host) return u.host;
    } catch (_) { /* not a URL */ }
    return null;
  }
  const host = siteOf(returnTo);
  const site = () => host || I18n.t("gate.theShop");
  const siteArgs = { site };

  /** Only ever an http(s) address (the server answers only allowed ones anyway). */
  function safeTarget(url) {
    try {
      const u = new URL(url, location.href);
      if (u.protocol === "http:" || u.protocol === "https:") return u.href;
    } catch (_) { /* fall through */ }
    return null;
  }

  // ------------------------------------------------------------------ the visitor

  function storage() {
    try { return window.localStorage || null; } catch (_) { return null; }
  }

  function storedVisitor() {
    const s = storage();
    try {
      const v = s && JSON.parse(s.getItem(VISITOR_KEY));
      return v && typeof v.token === "string" && v.token ? v : null;
    } catch (_) {
      return null;
    }
  }

  let visitor = storedVisitor();
  const token = () => (visitor ? visitor.token : null);
  const wait = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

  /** A new anonymous identity, kept; retried (rate-limited, offline) until there is one. */
  async function newVisitor() {
    for (let attempt = 0; ; attempt++) {
      try {
        const body = await Ticketd.api("/api/visitors", { method: "POST" });
        visitor = { token: body.token, id: body.visitor.id };
        const s = storage();
        if (s) { try { s.setItem(VISITOR_KEY, JSON.stringify(visitor)); } catch (_) { /* full: this page keeps it */ } }
        showError("#error", null);
        return visitor;
      } catch (err) {
        showError("#error", err);
        await wait(err.retryAfter ? err.retryAfter * 1000 : Math.min(30000, 1000 * 2 ** attempt));
      }
    }
  }

  let renewing = null;
  /**
   * The server refused the visitor's token (a REST 401, or the socket's auth): forget it, get
   * a new identity, and queue with it (the old place is gone with the old identity).
   */
  function renew() {
    if (!renewing) {
      visitor = null;
      const s = storage();
      if (s) s.removeItem(VISITOR_KEY);
      room.forgetStart();
      renewing = newVisitor().then(() => {
        if (socket) { socket.setToken(token()); room.listen(); }
        room.enter();
      }).finally(() => { renewing = null; });
    }
    return renewing;
  }

  // Ticketd.api and the socket both announce a refused token; only ours matters here.
  window.addEventListener("ticketd:token-refused", (ev) => {
    if (visitor && ev.detail && ev.detail.token === visitor.token) renew();
  });

  function getSocket() {
    if (!socket) {
      socket = new Ticketd.Socket({ token: token(), onState: (s) => room.showConn(s) });
      socket.connect();
    }
    return socket;
  }

  // ------------------------------------------------------------------ admission

  const title = {
    turn: () => I18n.t("title.gateTurn", siteArgs),
    base: () => I18n.t("title.gate", siteArgs),
    steady: () => I18n.t("title.gateTurnSteady", siteArgs),
  };

  let endedAdmissions = 0;
  /** The admission ended (or its token is no longer good) before the visitor went on: queue again. */
  function backInTheQueue() {
    endedAdmissions += 1;
    $("#turn").hidden = true;
    $("#alerts").hidden = false;
    if (endedAdmissions > 3) { showMessage("#error", "gate.failed", siteArgs); return; }
    showMessage("#error", "gate.expired", siteArgs);
    I18n.title("title.gate", siteArgs);
    room.resume();
  }

  function admitted(status) {
    I18n.bind($("#queue-title"), "gate.admitted", siteArgs);
    I18n.bind($("#queue-lead"), "gate.admittedLead", siteArgs);
    $("#alerts").hidden = true;
    $("#queue-alert").textContent = I18n.t("gate.admitted", siteArgs);
    if (!status.admissionToken) { backInTheQueue(); return; }
    pass(status.admissionToken, 0);
  }

  /** Trade the admission token for the site's cookie, then go (at once, or when the tab is seen). */
  async function pass(admissionToken, attempt) {
    let answer;
    try {
      answer = await Ticketd.api(`/api/gate/${encodeURIComponent(eventId)}/pass`,
        { method: "POST", body: { admissionToken, return: returnTo } });
    } catch (err) {
      if (err.status === 401 || err.status === 403) { backInTheQueue(); return; }
      showError("#error", err);
      if (err.status === 400 || err.status === 404) return;        // nothing a retry changes
      await wait(err.retryAfter ? err.retryAfter * 1000 : Math.min(30000, 1000 * 2 ** attempt));
      pass(admissionToken, attempt + 1);
      return;
    }
    showError("#error", null);
    const target = safeTarget(answer && answer.redirect);
    if (!target) return;
    const link = $("#go-now");
    link.href = target;
    $("#turn").hidden = false;
    Alerts.turn({
      title,
      notification: { title: I18n.t("gate.notify.title", siteArgs), body: I18n.t("gate.notify.body", siteArgs),
        tag: `ticketd-gate-${eventId}` },
      go: () => location.replace(target),
    });
  }

  // ------------------------------------------------------------------ the page

  /** Before the page is seen: the site's name in the header, the heading and the title. */
  function prepare() {
    I18n.bindFn($("#gate-site"), site);
    $("#lang-slot").replaceWith(App.languageSwitch());
    I18n.bind($("#queue-title"), "gate.title", siteArgs);
    I18n.bind($("#queue-lead"), "gate.lead", siteArgs);
    I18n.bind($("#go-now"), "gate.goNow", siteArgs);
    I18n.title("title.gate", siteArgs);
  }

  async function main() {
    Alerts.setUp();
    room = Waiting.create({
      eventId,
      token,
      socket: getSocket,
      onAdmitted: admitted,
      onUnauthorized: () => (renewing || renew()).then(() => false),
      keys: {
        "queue.heading": "gate.title",
        "queue.lead": "gate.lead",
        "queue.closed.saleOpensAt": "gate.closed.saleOpensAt",
        "queue.prequeue.startsIn": "gate.prequeue.startsIn",
      },
      args: siteArgs,
    });
    // The event is public: its name (the sale's), and its queue mode, which says what the
    // closed state counts down to.
    Ticketd.api(`/api/events/${encodeURIComponent(eventId)}`).then(({ event }) => {
      $("#event-name").textContent = event.name;
      room.setEvent(event);
    }).catch((err) => showError("#error", err));
    if (!visitor) await newVisitor();
    await room.start();
  }

  App.start(main, prepare);
})();
