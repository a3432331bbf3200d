/* waiting.js — a place in an event's waiting room, live: the engine under the ticketd
 * waiting room (queue.js) and the gate page in front of another site (gate.js). Exposes
 * `window.Waiting.create(options)`.
 *
 * It checks in (paying the event's toll: Ticketd.checkIn solves it in a worker while the
 * page says it is checking the browser), follows the place on the `queue:{eventId}` socket
 * (position, people ahead, estimated wait, progress, the connection's state), and before the
 * sale shows the closed state (a countdown to the pre-queue's opening, or to the sale) and the
 * pre-queue (a countdown to the draw, how many wait for it, no position). A status poll keeps
 * the place when the socket is down. Admission is the page's: options.onAdmitted.
 *
 * The page's markup has the waiting room's ids: #waiting (its data-phase says which state),
 * #queue-title, #queue-lead, #error, #toll, #toll-progress, #before-sale, #sale-countdown(-label),
 * #prequeue-stat, #prequeue-length, #prequeue-fair, #queue-stats, #position, #ahead, #wait,
 * #queue-progress, #progress, #queue-conn, #in-line, #queue-length, #queue-announcer; #leave
 * if it has one.
 */
(function (global) {
  "use strict";
  const { $, showError, showMessage, fmtWait, fmtDuration, fmtDate } = global.App;
  const ANNOUNCE_EVERY_MS = 60000;      // a reminder of the position at most this often
  const BUCKETS = [1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000];
  const bucketOf = (p) => { const i = BUCKETS.findIndex((edge) => p <= edge); return i < 0 ? BUCKETS.length : i; };

  /**
   * @param {object} o
   * @param {string} o.eventId
   * @param {function} o.token         the bearer token to queue with, now
   * @param {function} o.socket       the page's Ticketd.Socket (made when first needed: after
   *                                   the check-in; its token is the page's business)
   * @param {function} o.onAdmitted    called once with the admitted answer ({expiresAt, admissionToken});
   *                                   the engine has stopped by then (resume() starts it again)
   * @param {function} o.onUnauthorized called with the 401 of a check or a poll; return true
   *                                   (or a promise of it) to check in again, e.g. with a new identity
   * @param {object} [o.keys]          catalogue keys to say instead of the waiting room's own
   * @param {object} [o.args]          arguments given to every message (e.g. {site})
   */
  function create(o) {
    const eventId = o.eventId;
    const id = encodeURIComponent(eventId);
    const key = (k) => (o.keys && o.keys[k]) || k;
    const args = (extra) => ({ ...(o.args || {}), ...(extra || {}) });
    const startKey = `ticketd.queue.${eventId}.start`;
    const call = (path, opts = {}) => Ticketd.api(path, { token: o.token(), ...opts });
    let stopped = false;                  // admitted or leaving: no more renders or polls
    let admittedOnce = false;
    let event = null;
    let announcer = null;
    let announced = { bucket: null, position: null };

    // ---------------------------------------------------------------- position

    function setProgress(pct) {
      const bar = $("#progress");
      pct = Math.max(0, Math.min(100, Math.round(pct)));
      bar.setAttribute("aria-valuenow", pct);
      I18n.bindAttr(bar, "aria-valuetext", "queue.progressText", { percent: pct });
      bar.firstElementChild.style.width = `${pct}%`;
    }

    /**
     * Screen readers hear the position when it enters a new bucket (1, 2, 3, 5, 10, 20, 50, …)
     * and otherwise at most once a minute — never on every push.
     */
    function announcePosition(status) {
      const position = Number(status.position);
      const bucket = bucketOf(position);
      const first = announced.bucket === null;
      const crossed = bucket !== announced.bucket;
      const stale = Date.now() - announcer.lastAt >= ANNOUNCE_EVERY_MS && position !== announced.position;
      if (!(first || crossed || stale)) return;
      const values = { position, wait: fmtWait(status.estimatedWaitSeconds), count: Number(status.ahead ?? position - 1) };
      if (announcer.say("queue.announce.position", values, { force: first })) announced = { bucket, position };
    }

    // ---------------------------------------------------------------- phases
    // checking (paying the toll) → closed (before the pre-queue opens) → prequeue (before the
    // sale: no position, the places are drawn at the start) → queued → admitted. The card's
    // data-phase says which; each render shows that phase's parts and hides the others'.

    let phase = null;
    function setPhase(name) {
      if (name !== phase) recheckFails = 0;
      phase = name;
      $("#waiting").dataset.phase = name || "";
      const before = name === "closed" || name === "prequeue";
      $("#toll").hidden = name !== "checking";
      $("#before-sale").hidden = !before;
      $("#prequeue-stat").hidden = name !== "prequeue";
      $("#prequeue-fair").hidden = name !== "prequeue";
      $("#queue-stats").hidden = name !== "queued";
      $("#queue-progress").hidden = name !== "queued" && name !== "admitted";
      $("#in-line").hidden = name !== "queued";
      const leave = $("#leave");
      if (leave) {
        leave.hidden = name === "closed" || name === "checking";
        I18n.bind(leave, name === "prequeue" ? "queue.prequeue.leave" : "queue.leave");
      }
      if (name !== "closed" && name !== "prequeue") stopBeforeSale();
    }

    function showQueued() {
      if (phase === "queued") return;
      setPhase("queued");
      I18n.bind($("#queue-title"), key("queue.heading"), args());
      I18n.bind($("#queue-lead"), key("queue.lead"), args());
    }

    function admit(status) {
      if (admittedOnce) return;
      admittedOnce = true;
      stopped = true;
      sessionStorage.removeItem(startKey);
      setPhase("admitted");
      setProgress(100);
      o.onAdmitted(status);
    }

    function render(status) {
      if (!status || stopped) return;
      if (status.status === "admitted") { admit(status); return; }
      if (status.status === "none") {
        // Before the pre-queue opens nobody is stored, and the room's pushes say "none": the
        // page re-checks itself when it opens.
        if (phase === "closed") return;
        // Dropped or expired: take a place again (after a failed check-in, not at once).
        if (Date.now() >= retryAt) enter();
        return;
      }
      if (status.status === "prequeue") { renderPrequeue(status); return; }
      if (status.status === "closed") { renderClosed(status); return; }
      if (status.status !== "queued") return;
      showQueued();
      const position = Number(status.position);
      const ahead = status.ahead ?? Math.max(0, position - 1);
      $("#position").textContent = I18n.number(position);
      $("#ahead").textContent = I18n.number(ahead);
      I18n.bindFn($("#wait"), () => fmtWait(status.estimatedWaitSeconds));
      if (status.queueLength !== undefined) I18n.bindFn($("#queue-length"), () => I18n.number(status.queueLength));
      // Progress from where this shopper first stood (kept across reloads).
      let start = Number(sessionStorage.getItem(startKey));
      if (!start || position > start) { start = position; sessionStorage.setItem(startKey, String(start)); }
      setProgress(start > 0 ? ((start - position) / start) * 100 : 0);
      announcePosition(status);
    }

    // ---------------------------------------------------------------- before the sale
    // On-sale day (CONTRACT "On-sale day"). Times are the server's (App.countdown runs on
    // Ticketd.clock, set from the answers' Date header), never the device's alone.

    let beforeSale = { key: null, stop: null, timer: null, ended: false };
    function stopBeforeSale() {
      if (beforeSale.stop) beforeSale.stop();
      clearTimeout(beforeSale.timer);
      beforeSale = { key: null, stop: null, timer: null, ended: false };
    }

    /** Count down to `iso` in the big box (once per target: pushes do not restart it), on
     * the earliest the server's clock can be, so that the check at the end is not early. */
    function countdownTo(target, iso, labelKey, onEnd) {
      if (beforeSale.key === target) return;
      stopBeforeSale();
      beforeSale.key = target;
      I18n.bind($("#sale-countdown-label"), labelKey, args());
      const box = $("#sale-countdown");
      beforeSale.stop = App.countdown(iso, (s) => { box.textContent = fmtDuration(s); },
        () => { beforeSale.ended = true; onEnd(); }, App.serverAtLeast);
    }

    /** Whether the countdown to `target` has run out: an answer from before it after that
     * means the estimate of the server's clock moved (the device clock was changed). */
    const countedDown = (target) => beforeSale.key === target && beforeSale.ended;

    // Re-checks when the time has come: a little spread (the pre-queue is drawn, so arriving
    // a second later costs nothing) and backing off if the server is not there yet.
    let recheckFails = 0;
    function recheckSoon(spreadMs) {
      clearTimeout(beforeSale.timer);
      const delay = Math.min(10000, 1000 * 2 ** Math.min(recheckFails, 4)) * (recheckFails ? 1 : 0)
        + Math.random() * spreadMs;
      recheckFails += 1;
      beforeSale.timer = setTimeout(() => { if (phase === "closed") enter(); else poll(); }, delay);
    }

    let lastClosed = null;
    function renderClosed(status) {
      lastClosed = status;
      const now = App.serverNow();
      const opens = new Date(status.opensAt).getTime();
      // Until the pre-queue opens; with no pre-queue (mode off, or none before the sale) the
      // check answers "closed" until the sale itself starts (its opensAt, the time a pre-queue
      // would open, means nothing then).
      const noQueue = Boolean(event && event.queue && event.queue.mode === "off");
      const preOpen = !noQueue && opens > now && opens < new Date(status.saleStartsAt).getTime();
      const target = preOpen ? status.opensAt : status.saleStartsAt;
      const first = phase !== "closed";
      setPhase("closed");
      I18n.bind($("#queue-title"), key("queue.closed.heading"), args());
      I18n.bind($("#queue-lead"), key(preOpen ? "queue.closed.opensAt" : "queue.closed.saleOpensAt"),
        args({ time: () => fmtDate(target) }));
      if (first) announcer.say(() => $("#queue-lead").textContent, undefined, { force: true });
      if (countedDown(`closed:${target}`)) {   // count down again, on the corrected clock
        stopBeforeSale();
        recheckFails = 0;
      }
      if (new Date(target).getTime() <= now) { recheckSoon(500); return; }   // our clock is a little ahead
      countdownTo(`closed:${target}`, target, key(preOpen ? "queue.closed.opensIn" : "queue.prequeue.startsIn"),
        () => recheckSoon(1500));
    }

    function renderPrequeue(status) {
      const first = phase !== "prequeue";
      setPhase("prequeue");
      I18n.bind($("#queue-title"), key("queue.prequeue.heading"), args());
      I18n.bind($("#queue-lead"), key("queue.prequeue.drawnAt"), args({ time: () => fmtDate(status.saleStartsAt) }));
      if (status.prequeueLength !== undefined) {
        I18n.bindFn($("#prequeue-length"), () => I18n.number(status.prequeueLength));
      }
      if (first) announcer.say(() => $("#queue-lead").textContent, undefined, { force: true });
      // Past the start and still not drawn (a poll's answer): look again, backing off.
      if (!first && (new Date(status.saleStartsAt).getTime() <= App.serverNow()
                     || countedDown(`prequeue:${status.saleStartsAt}`))) recheckSoon(1000);
      countdownTo(`prequeue:${status.saleStartsAt}`, status.saleStartsAt, key("queue.prequeue.startsIn"), () => {
        // The draw runs within a tick of the start and the socket brings the place; a status
        // poll covers a socket that is down, or a push that was missed.
        I18n.bind($("#sale-countdown-label"), "queue.prequeue.drawing");
        recheckSoon(3000);
      });
    }

    // ---------------------------------------------------------------- checking in

    function setTollProgress(p) {
      const bar = $("#toll-progress");
      const pct = Math.max(0, Math.min(100, Math.round((p.fraction || 0) * 100)));
      bar.setAttribute("aria-valuenow", pct);
      bar.firstElementChild.style.width = `${pct}%`;
    }

    function showChecking() {
      const before = phase;
      setPhase("checking");
      setTollProgress({ fraction: 0 });
      I18n.bind($("#queue-title"), key("queue.challenge.heading"), args());
      I18n.bind($("#queue-lead"), key("queue.challenge.lead"), args());
      if (before !== "checking") announcer.say("queue.challenge.checking", undefined, { force: true });
    }

    /**
     * A 401: the page decides (a new identity, or the sign-in page); true checks in again.
     * Refused again and again (three times without a check-in between), it says so instead.
     */
    let refusals = 0;
    async function refused(err) {
      refusals += 1;
      if (refusals > 3) { showError("#error", err); return null; }
      const again = await Promise.resolve(o.onUnauthorized(err)).catch(() => false);
      return again === true && !stopped ? enter() : null;
    }

    let entering = null;
    let lastEnter = 0;
    let failures = 0, retryAt = 0;     // a check-in that failed is retried by itself only later
    function enter() {
      if (!entering) {
        lastEnter = Date.now();
        entering = Ticketd.checkIn(eventId, { token: o.token(), onChallenge: showChecking, onProgress: setTollProgress })
          .then((status) => { failures = 0; retryAt = 0; refusals = 0; showError("#error", null); return status; },
            (err) => {
              if (err.status === 401) return { refused: err };
              failures += 1;
              retryAt = Date.now() + Math.min(120000, 10000 * 2 ** (failures - 1));
              if (phase === "checking") setPhase(null);
              if (err instanceof Ticketd.ApiError || err.code === "workers_unavailable") showError("#error", err);
              else showMessage("#error", "queue.challenge.failed");
              return null;
            })
          .finally(() => { entering = null; })
          .then((status) => (status && status.refused ? refused(status.refused) : render(status)));
      }
      return entering;
    }

    let lastPoll = Date.now();
    function poll() {
      lastPoll = Date.now();
      return call(`/api/queue/status/${id}`).then(render)
        .catch((err) => { if (err.status === 401 && !stopped && !entering) refused(err); });
    }

    /** Keep the tab from being frozen or discarded while it waits (Chrome spares pages holding a Web Lock). */
    function holdLock() {
      if (navigator.locks && navigator.locks.request) {
        navigator.locks.request(`ticketd-queue-${eventId}`, () => new Promise(() => {})).catch(() => {});
      }
    }

    /** Follow the place on the socket (again, e.g. after the identity changed). */
    function listen() {
      o.socket().join(`queue:${eventId}`, {
        snapshot: render,
        "queue-update": render,
        "queue-admitted": (data) => render({ status: "admitted", ...data }),
      }).catch((err) => {
        // A refused identity is the page's to handle (onUnauthorized, or its socket's).
        if (stopped || err.code === "unauthorized") return;
        showMessage("#error", "queue.liveUnavailable", { message: () => I18n.errorMessage(err) });
      });
    }

    /** Check in, then follow the place live until admitted. */
    async function start() {
      announcer = App.announcer("#queue-announcer", { minGapMs: 10000 });
      await enter();
      if (stopped) return;
      holdLock();
      listen();
      // A status poll keeps the place and catches the admission even when the socket is down.
      // (Only a fallback: in a background tab this timer runs late, the socket push does not.)
      setInterval(() => {
        if (stopped || entering || phase === "checking") return;
        const fast = o.socket().state !== "open";
        if (fast || Date.now() - lastPoll > 20000) poll();
      }, 3000);
      // Before the pre-queue opens, coming back to the tab checks again (at most every 5 s):
      // the schedule may have moved, or a background tab's timer may have run late.
      const recheck = () => {
        if (phase === "closed" && document.visibilityState === "visible" && Date.now() - lastEnter > 5000) enter();
      };
      global.addEventListener("focus", recheck);
      document.addEventListener("visibilitychange", recheck);
    }

    return {
      start, enter, poll, listen, render,
      get phase() { return phase; },
      get stopped() { return stopped; },
      /** No more renders or polls (leaving). */
      stop() { stopped = true; },
      /** Back in the queue after an admission that ended, or a leave that failed. */
      resume({ again = true } = {}) {
        stopped = false;
        if (!admittedOnce) return null;
        admittedOnce = false;
        showQueued();
        return again ? enter() : null;
      },
      /** The event: its queue mode decides what the closed state counts down to, and its
       * zone is the one the times are shown in (those shown already follow). */
      setEvent(ev) {
        event = ev;
        I18n.setTimeZone(ev.timeZone);
        if (phase === "closed" && lastClosed && ev.queue && ev.queue.mode === "off") {
          beforeSale.key = null;
          renderClosed(lastClosed);
        }
      },
      /** The socket's state, on the connection line. */
      showConn(state) {
        const el = $("#queue-conn");
        el.dataset.state = state;
        I18n.bind(el, `conn.${state}`);
      },
      forgetStart() { sessionStorage.removeItem(startKey); },
    };
  }

  global.Waiting = { create };
})(window);
