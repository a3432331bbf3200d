/* Shopping pieces shared by the event page and the seat map: the waiting-room gate,
 * the admission banner and the reservation panel (hold → confirm, countdown, cancel). */
(function (global) {
  "use strict";
  const { $, h, call, session, countdown, fmtDuration, showError } = global.App;

  function queueUrl(eventId, next) {
    return `/events/${encodeURIComponent(eventId)}/queue${next ? `?next=${encodeURIComponent(next)}` : ""}`;
  }

  function toQueue(eventId, next) {
    location.replace(queueUrl(eventId, next));
  }

  let stopAdmissionTimer = null;

  /**
   * When the event's queue is active, make sure the shopper holds an admission:
   * resolves with the admission ({status:"admitted",expiresAt}), with null when no
   * queue is in the way, or with false when the page is on its way to the waiting room.
   */
  async function gate(event, next) {
    if (!event.queue || !event.queue.active) return null;
    if (!session.token) { toQueue(event.id, next); return false; }
    let result;
    try {
      result = await call(`/api/queue/check/${encodeURIComponent(event.id)}`, { method: "POST" });
    } catch (err) {
      // The waiting room asks for a sign-in, and pays the toll (showing that it does).
      if (err.status === 401 || err.code === "challenge_required") { toQueue(event.id, next); return false; }
      throw err;
    }
    if (result && result.status === "admitted") {
      showAdmission(event, result, next);
      return result;
    }
    toQueue(event.id, next);
    return false;
  }

  function showAdmission(event, admission, next) {
    const box = $("#admission");
    if (!box || !admission.expiresAt) return;
    const left = h("strong", { id: "admission-left" }, "");
    box.replaceChildren(
      h("span", { class: "admission-icon", "aria-hidden": "true" }, "✓"),
      h("p", { i18n: ["admission.yourTurn", { time: left }] }),
      h("button", { type: "button", class: "btn btn-small", id: "leave-session", i18n: ["admission.leave"], onclick: async () => {
        try {
          await call(`/api/queue/leave/${encodeURIComponent(event.id)}`, { method: "POST" });
          location.href = "/";
        } catch (err) { showError("#error", err); }
      } }));
    box.hidden = false;
    if (stopAdmissionTimer) stopAdmissionTimer();
    stopAdmissionTimer = countdown(admission.expiresAt, (s) => { left.textContent = fmtDuration(s); },
      () => { gate(event, next).catch((err) => showError("#error", err)); });
  }

  const STATUS_TEXT = {
    confirmed: ["reservation.confirmed.title", "reservation.confirmed.body"],
    cancelled: ["reservation.cancelled.title", "reservation.cancelled.body"],
    expired: ["reservation.expired.title", "reservation.expired.body"],
  };

  /**
   * The reservation panel. `describe(reservation)` returns what is held, as one node
   * (or string) per line. `onChange(reservation)` is told about every status change.
   */
  class ReservationPanel {
    constructor(el, { event, next, describe, onChange, onSignIn, onRefused }) {
      this.el = el;
      // The token was refused mid-purchase: sign in again (the seat map keeps its selection first).
      this.onSignIn = onSignIn || (() => { location.href = App.loginUrl(undefined, "expired"); });
      this.event = event;
      this.next = next;
      this.describe = describe;
      this.onChange = onChange || (() => {});
      this.onRefused = onRefused || (() => {});     // told about a refused hold (e.g. sale_not_started)
      this.reservation = null;
      this.stopTimer = null;
    }

    get pending() { return this.reservation && this.reservation.status === "pending" ? this.reservation : null; }

    /** Hold: POST /api/reservations. Sends to the waiting room on 403 queue_required. */
    async hold(body, errorEl) {
      showError(errorEl, null);
      try {
        const { reservation } = await call("/api/reservations", { method: "POST", idempotencyKey: App.uuid(),
          body: { eventId: this.event.id, ...body } });
        this.show(reservation);
        return reservation;
      } catch (err) {
        if (err.code === "queue_required") { toQueue(this.event.id, this.next); return null; }
        if (err.status === 401) { this.onSignIn(); return null; }
        showError(errorEl, err);
        try { this.onRefused(err); } catch (e) { console.error(e); }
        return null;
      }
    }

    /** Put back a pending reservation for this event after a reload. */
    async restore(filter) {
      if (!session.token) return;
      try {
        const { reservations } = await call("/api/reservations");
        const found = reservations.find((r) => r.eventId === this.event.id && r.status === "pending"
          && new Date(r.expiresAt) > new Date() && filter(r));
        if (found) this.show(found);
      } catch (_) { /* not essential */ }
    }

    show(reservation) {
      this.reservation = reservation;
      if (this.stopTimer) { this.stopTimer(); this.stopTimer = null; }
      this.el.hidden = false;
      const r = reservation;
      const lines = h("ul", { class: "held-items" }, this.describe(r).map((t) => h("li", {}, t)));
      const err = h("p", { class: "error", role: "alert", hidden: true });
      if (r.status === "pending") {
        const left = h("strong", { class: "countdown", id: "countdown" }, "");
        const confirm = h("button", { type: "button", class: "btn btn-primary", id: "confirm", i18n: ["reservation.confirm"] });
        const cancel = h("button", { type: "button", class: "btn", id: "cancel", i18n: ["reservation.cancel"] });
        confirm.addEventListener("click", () => this.act("confirm", err, [confirm, cancel]));
        cancel.addEventListener("click", () => this.act("cancel", err, [confirm, cancel]));
        this.el.replaceChildren(
          h("h2", { i18n: ["reservation.heldTitle"] }), lines,
          h("p", { class: "hold-timer", i18n: ["reservation.completeWithin", { time: left }] }),
          err, h("div", { class: "actions" }, confirm, cancel));
        this.stopTimer = countdown(r.expiresAt, (s) => {
          left.textContent = fmtDuration(s);
          left.classList.toggle("urgent", s < 60);
        }, () => this.show({ ...r, status: "expired" }));
        confirm.focus();
      } else {
        const [title, body] = STATUS_TEXT[r.status] || [null, null];
        this.el.replaceChildren(
          title ? h("h2", { id: "reservation-status", dataset: { status: r.status }, i18n: [title] })
            : h("h2", { id: "reservation-status", dataset: { status: r.status } }, r.status),
          lines, body ? h("p", { class: "muted", i18n: [body] }) : null);
      }
      this.onChange(r);
    }

    async act(action, errEl, buttons) {
      buttons.forEach((b) => { b.disabled = true; });
      try {
        const { reservation } = await call(`/api/reservations/${encodeURIComponent(this.reservation.id)}/${action}`,
          { method: "POST" });
        this.show(reservation);
      } catch (err) {
        buttons.forEach((b) => { b.disabled = false; });
        if (err.code === "reservation_expired") this.show({ ...this.reservation, status: "expired" });
        else showError(errEl, err);
      }
    }
  }

  global.Shop = { gate, queueUrl, toQueue, ReservationPanel };
})(window);
