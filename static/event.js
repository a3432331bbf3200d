/* The event page: live availability per ticket type and the buy flow. */
(function () {
  "use strict";
  const { $, h, T, call, session, getSocket, showError, showMessage, showAnnouncement, fmtMoney, fmtDate,
    fmtDuration } = App;
  const eventId = App.eventIdFromPath();
  const draftKey = `ticketd.draft.${eventId}`;      // quantities picked before signing in
  let event = null;
  let panel = null;
  let announcer = null;
  const stockBucket = new Map();   // ticketTypeId -> "out" | "few" | "some", for announcements

  const FEW = 10;
  const bucketOf = (n) => (n <= 0 ? "out" : n <= FEW ? "few" : "some");
  /** What is left of a ticket type, in its own words: seats (잔여석 12석) or tickets (잔여 12매). */
  const leftKey = (tt) => (tt.seated ? "event.seatsLeft" : "event.left");

  /** {ticketTypeId: available}, the shape of the room's snapshot and of its pushes. */
  function availabilityOf(ticketTypes) {
    return Object.fromEntries(ticketTypes.map((t) => [t.id, t.available]));
  }

  function applyAvailability(map) {
    const news = [];
    for (const [id, available] of Object.entries(map)) {
      const tt = event.ticketTypes.find((t) => String(t.id) === id);
      if (!tt) continue;
      tt.available = available;
      const row = document.querySelector(`[data-ticket-type="${CSS.escape(id)}"]`);
      if (!row) continue;
      const el = row.querySelector(".available");
      const changed = el.dataset.count !== String(available);
      if (available > 0) I18n.bind(el, leftKey(tt), { count: available });
      else I18n.bind(el, "event.soldOut");
      el.dataset.count = available;
      row.classList.toggle("sold-out", available <= 0);
      const qty = row.querySelector("input");
      if (qty) {
        qty.max = Math.max(0, Math.min(available, tt.maxPerOrder));
        qty.disabled = available <= 0 || !saleOpen();
      }
      if (changed) { el.classList.remove("flash"); void el.offsetWidth; el.classList.add("flash"); }
      // Tell screen readers about what matters (sold out, nearly gone, back), not every count.
      const before = stockBucket.get(id), now = bucketOf(available);
      stockBucket.set(id, now);
      if (before && before !== now) news.push({ name: tt.name, now, count: available });
    }
    if (news.length && announcer) {
      announcer.say(() => news.map((n) => I18n.t(
        n.now === "out" ? "event.announce.soldOut" : n.now === "few" ? "event.announce.few" : "event.announce.back",
        { name: n.name, count: n.count })).join(" "), undefined, { force: news.some((n) => n.now === "out") });
    }
  }

  // ------------------------------------------------------------------ before the sale
  // CONTRACT "On-sale day": before saleStartsAt nothing can be bought. The page counts down
  // (on the server's clock) and sends shoppers to the waiting room, whose pre-queue opens
  // queue.prequeueSeconds before the sale and draws every place in it at random.

  const startMs = () => (event.saleStartsAt ? new Date(event.saleStartsAt).getTime() : null);
  // Open only once the server's clock has surely passed the start: a hold any earlier would
  // be refused (sale_not_started).
  const saleOpen = () => !event || startMs() === null || startMs() <= App.serverAtLeast();
  const hasQueue = () => Boolean(event.queue && event.queue.mode !== "off");
  const prequeueOpensMs = () => startMs() - 1000 * ((event.queue && event.queue.prequeueSeconds) || 0);
  let sale = { key: null, stop: null, stage: null };

  function renderSale() {
    const open = saleOpen();
    const form = $("#buy-form");
    form.classList.toggle("sale-pending", !open);
    $("#hold").hidden = !open;
    $("#seats-link").hidden = !open || !event.hasSeats;
    for (const input of document.querySelectorAll("#ticket-types input")) {
      const tt = event.ticketTypes.find((t) => String(t.id) === input.closest("[data-ticket-type]").dataset.ticketType);
      input.disabled = !open || !tt || tt.available <= 0;
    }
    const box = $("#sale");
    if (open) {
      if (sale.stop) sale.stop();
      sale = { key: null, stop: null, stage: null };
      box.hidden = true;
      return;
    }
    box.hidden = false;
    I18n.bind($("#sale-at"), "sale.opensAt", { time: () => fmtDate(event.saleStartsAt) });
    const key = `${event.saleStartsAt}|${event.queue && event.queue.mode}|${event.queue && event.queue.prequeueSeconds}`;
    if (sale.key !== key) {
      if (sale.stop) sale.stop();
      sale = { key, stop: null, stage: null };
      const left = $("#sale-left");
      sale.stop = App.countdown(event.saleStartsAt, (s) => {
        left.textContent = fmtDuration(s);
        renderStage();
      }, saleOpens, App.serverAtLeast);
    }
    renderStage(true);
  }

  /** What the box offers: the waiting room (its pre-queue open or not yet), or buying here. */
  function renderStage(force) {
    const stage = !hasQueue() ? "here" : prequeueOpensMs() <= App.serverNow() ? "prequeue" : "waiting";
    if (stage === sale.stage && !force) return;
    sale.stage = stage;
    const how = $("#sale-how"), go = $("#sale-go");
    if (stage === "here") {
      I18n.bind(how, "sale.buyAtStart");
      go.hidden = true;
      return;
    }
    I18n.bind(how, stage === "prequeue" ? "sale.prequeueOpen" : "sale.prequeueOpensAt",
      { time: () => fmtDate(new Date(prequeueOpensMs()).toISOString()) });
    go.hidden = false;
    go.href = Shop.queueUrl(event.id);
    I18n.bind(go, stage === "prequeue" ? "sale.enterPrequeue" : "sale.toWaitingRoom");
    // The pre-queue just opened: say so once.
    if (!force && stage === "prequeue" && announcer) announcer.say("sale.prequeueOpen", undefined, { force: true });
  }

  /** The countdown reached the start: buy here, or go through the waiting room. */
  async function saleOpens() {
    sale = { key: null, stop: null, stage: null };
    if (announcer) announcer.say("sale.announce.open", undefined, { force: true });
    try {
      ({ event } = await call(`/api/events/${encodeURIComponent(eventId)}`));
    } catch (_) { /* keep what we have */ }
    renderHead();
    renderSale();
    if (!saleOpen()) return;        // our clock ran a little ahead: the countdown starts again
    try {
      await Shop.gate(event, null);
    } catch (err) { showError("#error", err); }
  }

  /** A refusal that tells us about the schedule: show it, and switch to the countdown. */
  function onRefused(err) {
    if (err.code === "sale_not_started" && err.details && err.details.saleStartsAt) {
      event.saleStartsAt = err.details.saleStartsAt;
      renderHead();
      renderSale();
    }
  }

  function renderHead() {
    I18n.title("title.named", { name: event.name });
    I18n.setTimeZone(event.timeZone);     // every time on the page is the event's
    const badges = [];
    if (event.queue && event.queue.active) badges.push(h("span", { class: "badge badge-warn", i18n: ["events.queueActive"] }));
    if (!saleOpen()) {
      badges.push(h("span", { class: "badge badge-muted", i18n: ["sale.startsAt", { time: () => fmtDate(event.saleStartsAt) }] }));
    }
    if (event.maxPerCustomer) badges.push(h("span", { class: "badge badge-muted", i18n: ["limit.perCustomer", { count: event.maxPerCustomer }] }));
    $("#event-head").replaceChildren(
      h("p", { class: "eyebrow" }, `${event.venue} · `,
        h("time", { datetime: event.startsAt, i18n: ["common.value", { value: () => fmtDate(event.startsAt) }] })),
      h("h1", {}, event.name),
      badges.length ? h("p", { class: "badges" }, badges) : null);
    $("#event-head").setAttribute("aria-busy", "false");
  }

  function renderTypes() {
    const list = $("#ticket-types");
    list.replaceChildren(...event.ticketTypes.map((tt) => {
      const id = String(tt.id);
      const inputId = `qty-${id}`;
      stockBucket.set(id, bucketOf(tt.available));
      return h("li", { class: "ticket-type", dataset: { ticketType: id } },
        h("div", { class: "tt-info" },
          h("span", { class: "tt-name", id: `name-${id}` }, tt.name),
          h("span", { class: "tt-price", i18n: ["common.value", { value: () => fmtMoney(tt.price, event.currency) }] }),
          h("span", { class: "available", dataset: { count: tt.available },
            i18n: tt.available > 0 ? [leftKey(tt), { count: tt.available }] : ["event.soldOut"] }),
          tt.seated ? null : h("span", { class: "hint", i18n: ["event.maxPerOrder", { count: tt.maxPerOrder }] })),
        tt.seated
          ? h("a", { class: "btn btn-small", href: `/events/${encodeURIComponent(event.id)}/seats`, i18n: ["event.pickSeats"],
              i18nAttr: { "aria-label": ["event.pickSeatsFor", { name: tt.name }] } })
          : h("div", { class: "qty" },
              h("label", { for: inputId, i18n: ["event.quantity"] }),
              h("input", { id: inputId, type: "number", inputmode: "numeric", min: 0, value: 0,
                max: Math.min(tt.available, tt.maxPerOrder), disabled: tt.available <= 0,
                i18nAttr: { "aria-label": ["event.quantityOf", { name: tt.name }] } })));
    }));
    const seatsLink = $("#seats-link");
    if (event.hasSeats) {
      seatsLink.hidden = false;
      seatsLink.href = `/events/${encodeURIComponent(event.id)}/seats`;
    }
  }

  function typeName(id) {
    const tt = event.ticketTypes.find((t) => String(t.id) === String(id));
    return tt ? tt.name : I18n.t("event.ticketsFallback");
  }

  function isSeated(id) {
    const tt = event.ticketTypes.find((t) => String(t.id) === String(id));
    return Boolean(tt && tt.seated);
  }

  function quantities() {
    return [...document.querySelectorAll("#ticket-types input")].map((input) => ({
      input, ticketTypeId: input.closest("[data-ticket-type]").dataset.ticketType, quantity: Number(input.value) }));
  }

  function renderHoldButton() {
    I18n.bind($("#hold"), session.token ? "event.hold" : "event.signInToBuy");
  }

  async function onHold(ev) {
    ev.preventDefault();
    const picked = quantities();
    for (const { input, quantity } of picked) {
      if (!Number.isInteger(quantity) || quantity < 0) {
        showMessage("#buy-error", "event.wholeNumbers"); input.focus(); return;
      }
    }
    const items = picked.filter((i) => i.quantity > 0).map(({ ticketTypeId, quantity }) => ({ ticketTypeId, quantity }));
    if (!session.token) {      // keep what was picked for after the sign-in
      if (items.length) sessionStorage.setItem(draftKey, JSON.stringify(items));
      location.href = App.loginUrl(undefined, "buy");
      return;
    }
    if (!items.length) { showMessage("#buy-error", "event.chooseFirst"); return; }
    const button = $("#hold");
    button.disabled = true;
    try {
      const r = await panel.hold({ items }, "#buy-error");
      if (r) document.querySelectorAll("#ticket-types input").forEach((i) => { i.value = 0; });
    } finally {
      button.disabled = false;
    }
  }

  /** Quantities picked before a sign-in come back. */
  function restoreDraft() {
    let items;
    try { items = JSON.parse(sessionStorage.getItem(draftKey)); } catch (_) { items = null; }
    if (!Array.isArray(items) || !session.token) return;
    sessionStorage.removeItem(draftKey);
    for (const { ticketTypeId, quantity } of items) {
      const input = document.querySelector(`[data-ticket-type="${CSS.escape(String(ticketTypeId))}"] input`);
      if (input && !input.disabled) input.value = Math.min(Number(quantity), Number(input.max) || 0);
    }
    $("#hold").focus();
  }

  async function onEventUpdated(data) {
    const updated = data;
    if (updated.ticketTypes) applyAvailability(availabilityOf(updated.ticketTypes));
    Object.assign(event, { ...updated, ticketTypes: event.ticketTypes });
    renderHead();
    renderSale();
    if (saleOpen() && event.queue && event.queue.active) await Shop.gate(event, null).catch((err) => showError("#error", err));
  }

  /** Our own hold/confirm/cancel changed the stock: show it at once, push or no push. */
  function refresh() {
    call(`/api/events/${encodeURIComponent(eventId)}`)
      .then(({ event: fresh }) => applyAvailability(availabilityOf(fresh.ticketTypes))).catch(() => {});
  }

  async function main() {
    announcer = App.announcer("#announcer", { minGapMs: 15000 });
    try {
      ({ event } = await call(`/api/events/${encodeURIComponent(eventId)}`));
    } catch (err) {
      $("#event-head").replaceChildren(h("h1", { i18n: [err.status === 404 ? "event.notFound" : "event.loadFailed"] }));
      $("#event-head").setAttribute("aria-busy", "false");
      showError("#error", err);
      $("#buy-form").closest("section").hidden = true;
      return;
    }
    renderHead();
    renderTypes();
    panel = new Shop.ReservationPanel($("#reservation"), { event, onChange: refresh, onRefused, describe: (r) =>
      (r.items || []).filter((i) => !(r.seatIds && r.seatIds.length && isSeated(i.ticketTypeId)))
        .map((i) => T("event.itemLine", { quantity: i.quantity, name: typeName(i.ticketTypeId) }))
        .concat(r.seatIds && r.seatIds.length ? [T("event.seatCount", { count: r.seatIds.length })] : []) });
    $("#buy-form").addEventListener("submit", onHold);
    renderHoldButton();
    document.addEventListener("ticketd:signed-out", renderHoldButton);
    renderSale();
    restoreDraft();

    // Before the sale nobody is let in: the page shows the countdown and the way to the
    // waiting room instead of checking in (which would enter the pre-queue).
    if (saleOpen()) {
      try {
        if ((await Shop.gate(event, null)) === false) return;
      } catch (err) { showError("#error", err); }
    }

    getSocket().join(`event:${eventId}`, {
      snapshot: (data) => {
        applyAvailability(data.availability);
        $("#ticket-types").dataset.live = "true";
        onEventUpdated(data.event);
      },
      "tickets-batch-updated": applyAvailability,
      "event-updated": onEventUpdated,
      announcement: showAnnouncement,
    }).catch((err) => showMessage("#error", "event.liveUnavailable", { message: () => I18n.errorMessage(err) }));
    panel.restore((r) => (r.items || []).length > 0);
  }

  App.start(main);
})();
