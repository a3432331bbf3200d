/* The waiting room: position, people ahead, estimated wait, progress; moves on by itself when
 * admitted. Before the sale: a countdown to the pre-queue's opening, then the pre-queue (a
 * countdown to the draw, how many wait for it, no position). Entering pays the event's toll
 * (Ticketd.checkIn solves it in a worker) while the page says it is checking the browser. In a background tab the admission push itself (not a timer: background timers
 * are throttled) flashes the title, plays a chime if the fan turned it on, and shows a
 * system notification if the fan allowed them. */
(function () {
  "use strict";
  const { $, call, getSocket, showError, showMessage, showAnnouncement, fmtWait, fmtDuration, fmtTime, fmtDate } = App;
  const eventId = App.eventIdFromPath();
  const params = new URLSearchParams(location.search);
  const next = params.get("next") === "seats" ? "seats" : "";
  const startKey = `ticketd.queue.${eventId}.start`;
  const SOUND_KEY = "ticketd.sound";
  const ANNOUNCE_EVERY_MS = 60000;      // a reminder of the position at most this often
  let leaving = false;                  // admitted or leaving: no more renders or polls
  let event = null;
  let announcer = null;
  let alertRegion = null;
  let announced = { bucket: null, position: null };

  function purchaseUrl() {
    return `/events/${encodeURIComponent(eventId)}${next ? "/seats" : ""}`;
  }

  function go() { location.replace(purchaseUrl()); }

  // ------------------------------------------------------------------ alerts

  let flashTimer = null;
  /** Alternate the tab's title until the fan looks at the tab again. */
  function flashTitle() {
    if (flashTimer) return;
    let on = true;
    const base = () => I18n.t("title.queueNamed", { name: event ? event.name : "" });
    const show = () => { document.title = on ? I18n.t("title.yourTurn") : base(); on = !on; };
    show();                                 // at once, from the push itself
    flashTimer = setInterval(show, 1000);   // the alternation may run late in the background: fine
  }

  function stopFlash() {
    clearInterval(flashTimer);
    flashTimer = null;
    I18n.title("title.yourTurnSteady");
  }

  const soundOn = () => localStorage.getItem(SOUND_KEY) === "on";
  let audioCtx = null;
  function audio() {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return null;
    if (!audioCtx) audioCtx = new Ctx();
    if (audioCtx.state === "suspended") audioCtx.resume().catch(() => {});
    return audioCtx;
  }

  /** Two short sine tones, generated: no audio file. */
  function chime(volume = 0.25) {
    const ctx = audio();
    if (!ctx) return;
    const t0 = ctx.currentTime + 0.02;
    for (const [freq, at] of [[880, 0], [1318.5, 0.18]]) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = "sine";
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, t0 + at);
      gain.gain.exponentialRampToValueAtTime(volume, t0 + at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t0 + at + 0.4);
      osc.connect(gain).connect(ctx.destination);
      osc.start(t0 + at);
      osc.stop(t0 + at + 0.45);
    }
  }

  const canNotify = () => "Notification" in window;

  function renderNotifyState() {
    const button = $("#notify");
    if (!canNotify()) {
      button.hidden = true;
      showMessage("#notify-state", "queue.notify.unsupported");
      return;
    }
    const permission = Notification.permission;
    button.hidden = permission !== "default";
    showMessage("#notify-state", permission === "granted" ? "queue.notify.on"
      : permission === "denied" ? "queue.notify.denied" : null);
  }

  function notify(expiresAt) {
    if (!canNotify() || Notification.permission !== "granted") return;
    const seconds = expiresAt ? Math.max(0, (new Date(expiresAt).getTime() - Date.now()) / 1000) : null;
    const body = seconds === null ? I18n.t("queue.notify.bodyNoTime")
      : I18n.t("queue.notify.body", { time: fmtDuration(seconds), until: fmtTime(new Date(expiresAt)) });
    try {
      const n = new Notification(I18n.t("queue.notify.title", { event: event ? event.name : "ticketd" }), {
        body, tag: `ticketd-turn-${eventId}`, requireInteraction: true, lang: I18n.lang, icon: "/static/favicon.svg" });
      n.onclick = () => { window.focus(); n.close(); go(); };
    } catch (err) {
      console.warn("ticketd: the notification could not be shown", err);   // e.g. Android wants a service worker
    }
  }

  function setUpAlerts() {
    renderNotifyState();
    $("#notify").addEventListener("click", async () => {
      try { await Notification.requestPermission(); } catch (_) { /* old callback form: ignore */ }
      renderNotifyState();
      if (Notification.permission !== "default") $("#sound").focus();
    });
    const sound = $("#sound");
    sound.checked = soundOn();
    sound.addEventListener("change", () => {
      localStorage.setItem(SOUND_KEY, sound.checked ? "on" : "off");
      if (sound.checked) chime(0.12);      // a preview; also unlocks audio while we have a gesture
    });
    // Browsers only let a page play sound after the fan interacted with it: unlock on the
    // first interaction so the chime can play later from a background tab.
    const unlock = () => { if (soundOn()) audio(); };
    document.addEventListener("pointerdown", unlock, { once: true });
    document.addEventListener("keydown", unlock, { once: true });
  }

  // ------------------------------------------------------------------ admission

  let admittedOnce = false;
  function admitted(data) {
    if (admittedOnce) return;
    admittedOnce = true;
    leaving = true;
    sessionStorage.removeItem(startKey);
    setPhase("admitted");
    setProgress(100);
    I18n.bind($("#queue-title"), "queue.yourTurn");
    I18n.bind($("#queue-lead"), "queue.admittedLead");
    const turn = $("#turn");
    turn.hidden = false;
    $("#go-now").href = purchaseUrl();
    const expiresAt = data && data.expiresAt;
    if (expiresAt) {
      App.countdown(expiresAt, (s) => { $("#session-left").textContent = fmtDuration(s); }, expired);
    }
    alertRegion.textContent = I18n.t("queue.announce.admitted");
    if (document.visibilityState === "visible") {
      I18n.bind($("#queue-lead"), "queue.taking");
      go();
      return;
    }
    // In the background: all of it now, from this push.
    flashTitle();
    if (soundOn()) chime();
    notify(expiresAt);
    const onVisible = () => {
      if (document.visibilityState !== "visible") return;
      document.removeEventListener("visibilitychange", onVisible);
      stopFlash();
      I18n.bind($("#queue-lead"), "queue.taking");
      go();
    };
    document.addEventListener("visibilitychange", onVisible);
  }

  /** The session ran out before the fan came back: take a place again. */
  function expired() {
    if (document.visibilityState === "visible" && location.pathname.endsWith("/queue")) {
      stopFlash();
      showMessage("#error", "queue.expired");
      admittedOnce = false;
      leaving = false;
      $("#turn").hidden = true;
      showQueued();
      enter();
    }
  }

  // ------------------------------------------------------------------ position

  function setProgress(pct) {
    const bar = $("#progress");
    pct = Math.max(0, Math.min(100, Math.round(pct)));
    bar.setAttribute("aria-valuenow", pct);
    I18n.bindAttr(bar, "aria-valuetext", "queue.progressText", { percent: pct });
    bar.firstElementChild.style.width = `${pct}%`;
  }

  const BUCKETS = [1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000];
  const bucketOf = (p) => { const i = BUCKETS.findIndex((edge) => p <= edge); return i < 0 ? BUCKETS.length : i; };

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
    const args = { position, wait: fmtWait(status.estimatedWaitSeconds), count: Number(status.ahead ?? position - 1) };
    if (announcer.say("queue.announce.position", args, { force: first })) announced = { bucket, position };
  }

  // ------------------------------------------------------------------ phases
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
    $("#leave").hidden = name === "closed" || name === "checking";
    I18n.bind($("#leave"), name === "prequeue" ? "queue.prequeue.leave" : "queue.leave");
    if (name !== "closed" && name !== "prequeue") stopBeforeSale();
  }

  function showQueued() {
    if (phase === "queued") return;
    setPhase("queued");
    I18n.bind($("#queue-title"), "queue.heading");
    I18n.bind($("#queue-lead"), "queue.lead");
  }

  function render(status) {
    if (!status || leaving) return;
    if (status.status === "admitted") { admitted(status); return; }
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

  // ------------------------------------------------------------------ before the sale
  // On-sale day (CONTRACT "On-sale day"). Times are the server's (App.countdown runs on
  // Ticketd.clock, set from the answers' Date header), never the device's alone.

  let beforeSale = { key: null, stop: null, timer: null };
  function stopBeforeSale() {
    if (beforeSale.stop) beforeSale.stop();
    clearTimeout(beforeSale.timer);
    beforeSale = { key: null, stop: null, timer: null };
  }

  /** Count down to `iso` in the big box (once per target: pushes do not restart it). */
  function countdownTo(key, iso, labelKey, onEnd) {
    if (beforeSale.key === key) return;
    stopBeforeSale();
    beforeSale.key = key;
    I18n.bind($("#sale-countdown-label"), labelKey);
    const box = $("#sale-countdown");
    beforeSale.stop = App.countdown(iso, (s) => { box.textContent = fmtDuration(s); }, onEnd);
  }

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
    I18n.bind($("#queue-title"), "queue.closed.heading");
    I18n.bind($("#queue-lead"), preOpen ? "queue.closed.opensAt" : "queue.closed.saleOpensAt",
      { time: () => fmtDate(target) });
    if (first) announcer.say(() => $("#queue-lead").textContent, undefined, { force: true });
    if (new Date(target).getTime() <= now) { recheckSoon(500); return; }   // our clock is a little ahead
    countdownTo(`closed:${target}`, target, preOpen ? "queue.closed.opensIn" : "queue.prequeue.startsIn",
      () => recheckSoon(1500));
  }

  function renderPrequeue(status) {
    const first = phase !== "prequeue";
    setPhase("prequeue");
    I18n.bind($("#queue-title"), "queue.prequeue.heading");
    I18n.bind($("#queue-lead"), "queue.prequeue.drawnAt", { time: () => fmtDate(status.saleStartsAt) });
    if (status.prequeueLength !== undefined) {
      I18n.bindFn($("#prequeue-length"), () => I18n.number(status.prequeueLength));
    }
    if (first) announcer.say(() => $("#queue-lead").textContent, undefined, { force: true });
    // Past the start and still not drawn (a poll's answer): look again, backing off.
    if (!first && new Date(status.saleStartsAt).getTime() <= App.serverNow()) recheckSoon(1000);
    countdownTo(`prequeue:${status.saleStartsAt}`, status.saleStartsAt, "queue.prequeue.startsIn", () => {
      // The draw runs within a tick of the start and the socket brings the place; a status
      // poll covers a socket that is down, or a push that was missed.
      I18n.bind($("#sale-countdown-label"), "queue.prequeue.drawing");
      recheckSoon(3000);
    });
  }

  // ------------------------------------------------------------------ checking in

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
    I18n.bind($("#queue-title"), "queue.challenge.heading");
    I18n.bind($("#queue-lead"), "queue.challenge.lead");
    if (before !== "checking") announcer.say("queue.challenge.checking", undefined, { force: true });
  }

  let entering = null;
  let lastEnter = 0;
  let failures = 0, retryAt = 0;     // a check-in that failed is retried by itself only later
  function enter() {
    if (!entering) {
      lastEnter = Date.now();
      entering = Ticketd.checkIn(eventId, { token: App.session.token, onChallenge: showChecking, onProgress: setTollProgress })
        .then((status) => { failures = 0; retryAt = 0; showError("#error", null); render(status); })
        .catch((err) => {
          if (err.status === 401) { location.replace(App.loginUrl(undefined, err.tokenRefused ? "expired" : "queue")); return; }
          failures += 1;
          retryAt = Date.now() + Math.min(120000, 10000 * 2 ** (failures - 1));
          if (phase === "checking") setPhase(null);
          if (err instanceof Ticketd.ApiError) showError("#error", err);
          else showMessage("#error", "queue.challenge.failed");
        })
        .finally(() => { entering = null; });
    }
    return entering;
  }

  function poll() {
    lastPoll = Date.now();
    return call(`/api/queue/status/${encodeURIComponent(eventId)}`).then(render).catch(() => {});
  }
  let lastPoll = Date.now();

  /** Keep the tab from being frozen or discarded while it waits (Chrome spares pages holding a Web Lock). */
  function holdLock() {
    if (navigator.locks && navigator.locks.request) {
      navigator.locks.request(`ticketd-queue-${eventId}`, () => new Promise(() => {})).catch(() => {});
    }
  }

  async function main() {
    if (!App.requireLogin("queue")) return;
    announcer = App.announcer("#queue-announcer", { minGapMs: 10000 });
    alertRegion = $("#queue-alert");
    setUpAlerts();
    document.addEventListener("ticketd:conn", (ev) => {
      const el = $("#queue-conn");
      el.dataset.state = ev.detail;
      I18n.bind(el, `conn.${ev.detail}`);
    });
    // A refused token: this page cannot work signed out.
    document.addEventListener("ticketd:signed-out", () => location.replace(App.loginUrl(undefined, "expired")));
    call(`/api/events/${encodeURIComponent(eventId)}`).then(({ event: ev }) => {
      event = ev;
      $("#event-name").textContent = event.name;
      if (!flashTimer) I18n.title("title.queueNamed", { name: event.name });
      if (phase === "closed" && lastClosed && event.queue.mode === "off") { beforeSale.key = null; renderClosed(lastClosed); }
    }).catch((err) => showError("#error", err));

    await enter();
    if (leaving) return;
    holdLock();
    const sock = getSocket();
    sock.join(`queue:${eventId}`, {
      snapshot: render,
      "queue-update": render,
      "queue-admitted": admitted,
    }).catch((err) => showMessage("#error", "queue.liveUnavailable", { message: () => I18n.errorMessage(err) }));
    sock.join(`event:${eventId}`, { announcement: showAnnouncement }).catch(() => {});

    // A status poll keeps the place and catches the admission even when the socket is down.
    // (Only a fallback: in a background tab this timer runs late, the socket push does not.)
    setInterval(() => {
      if (leaving || entering || phase === "checking") return;
      const fast = sock.state !== "open";
      if (fast || Date.now() - lastPoll > 20000) poll();
    }, 3000);
    // Before the pre-queue opens, coming back to the tab checks again (at most every 5 s):
    // the schedule may have moved, or a background tab's timer may have run late.
    const recheck = () => {
      if (phase === "closed" && document.visibilityState === "visible" && Date.now() - lastEnter > 5000) enter();
    };
    window.addEventListener("focus", recheck);
    document.addEventListener("visibilitychange", recheck);

    $("#leave").addEventListener("click", async () => {
      try {
        leaving = true;
        await call(`/api/queue/leave/${encodeURIComponent(eventId)}`, { method: "POST" });
        sessionStorage.removeItem(startKey);
        location.href = "/";
      } catch (err) {
        leaving = false;
        showError("#error", err);
      }
    });
  }

  App.start(main);
})();
