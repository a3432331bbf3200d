/* The event page: live availability per ticket type and the buy flow. */
(function () {
  "use strict";
  const { $, h, call, session, getSocket, showError, showAnnouncement, fmtMoney, fmtDate } = App;
  const eventId = App.eventIdFromPath();
  let event = null;
  let panel = null;

  /** {ticketTypeId: available}, the shape of the room's snapshot and of its pushes. */
  function availabilityOf(ticketTypes) {
    return Object.fromEntries(ticketTypes.map((t) => [t.id, t.available]));
  }

  function applyAvailability(map) {
    for (const [id, available] of Object.entries(map)) {
      const tt = event.ticketTypes.find((t) => String(t.id) === id);
      if (!tt) continue;
      tt.available = available;
      const row = document.querySelector(`[data-ticket-type="${CSS.escape(id)}"]`);
      if (!row) continue;
      const el = row.querySelector(".available");
      const changed = el.dataset.count !== String(available);
      el.textContent = available > 0 ? `${available} left` : "Sold out";
      el.dataset.count = available;
      row.classList.toggle("sold-out", available <= 0);
      const qty = row.querySelector("input");
      if (qty) {
        qty.max = Math.max(0, Math.min(available, tt.maxPerOrder));
        qty.disabled = available <= 0;
      }
      if (changed) { el.classList.remove("flash"); void el.offsetWidth; el.classList.add("flash"); }
    }
  }

  function renderHead() {
    document.title = `${event.name} · ticketd`;
    const badges = [];
    if (event.queue && event.queue.active) badges.push(h("span", { class: "badge badge-warn" }, "Waiting room active"));
    $("#event-head").replaceChildren(
      h("p", { class: "eyebrow" }, `${event.venue} · `, h("time", { datetime: event.startsAt }, fmtDate(event.startsAt))),
      h("h1", {}, event.name), ...badges);
    $("#event-head").setAttribute("aria-busy", "false");
  }

  function renderTypes() {
    const list = $("#ticket-types");
    list.replaceChildren(...event.ticketTypes.map((tt) => {
      const id = String(tt.id);
      const inputId = `qty-${id}`;
      const seated = tt.seated;
      return h("li", { class: "ticket-type", dataset: { ticketType: id } },
        h("div", { class: "tt-info" },
          h("span", { class: "tt-name", id: `name-${id}` }, tt.name),
          h("span", { class: "tt-price" }, fmtMoney(tt.price)),
          h("span", { class: "available", "aria-live": "polite", dataset: { count: tt.available } },
            tt.available > 0 ? `${tt.available} left` : "Sold out")),
        seated
          ? h("a", { class: "btn btn-small", href: `/events/${encodeURIComponent(event.id)}/seats` }, "Pick seats")
          : h("div", { class: "qty" },
              h("label", { for: inputId }, `Quantity`, h("span", { class: "sr-only" }, ` of ${tt.name}`)),
              h("input", { id: inputId, type: "number", inputmode: "numeric", min: 0, value: 0,
                max: Math.min(tt.available, tt.maxPerOrder), disabled: tt.available <= 0,
                "aria-describedby": `name-${id}` })));
    }));
    const seatsLink = $("#seats-link");
    if (event.hasSeats) {
      seatsLink.hidden = false;
      seatsLink.href = `/events/${encodeURIComponent(event.id)}/seats`;
    }
  }


  function isSeated(id) {
    const tt = event.ticketTypes.find((t) => String(t.id) === String(id));
    return Boolean(tt && tt.seated);
  }

  function typeName(id) {
    const tt = event.ticketTypes.find((t) => String(t.id) === String(id));
    return tt ? tt.name : "Tickets";
  }

  async function onHold(ev) {
    ev.preventDefault();
    if (!session.token) { location.href = App.loginUrl(); return; }
    const items = [];
    for (const input of document.querySelectorAll("#ticket-types input")) {
      const quantity = Number(input.value);
      if (!Number.isInteger(quantity) || quantity < 0) {
        showError("#buy-error", "Quantities must be whole numbers."); input.focus(); return;
      }
      if (quantity > 0) items.push({ ticketTypeId: input.closest("[data-ticket-type]").dataset.ticketType, quantity });
    }
    if (!items.length) { showError("#buy-error", "Choose how many tickets you want first."); return; }
    const button = $("#hold");
    button.disabled = true;
    try {
      const r = await panel.hold({ items }, "#buy-error");
      if (r) document.querySelectorAll("#ticket-types input").forEach((i) => { i.value = 0; });
    } finally {
      button.disabled = false;
    }
  }

  async function onEventUpdated(data) {
    const updated = data;
    if (updated.ticketTypes) applyAvailability(availabilityOf(updated.ticketTypes));
    Object.assign(event, { ...updated, ticketTypes: event.ticketTypes });
    renderHead();
    if (event.queue && event.queue.active) await Shop.gate(event, null).catch((err) => showError("#error", err));
  }

  /** Our own hold/confirm/cancel changed the stock: show it at once, push or no push. */
  function refresh() {
    call(`/api/events/${encodeURIComponent(eventId)}`)
      .then(({ event: fresh }) => applyAvailability(availabilityOf(fresh.ticketTypes))).catch(() => {});
  }

  async function main() {
    try {
      ({ event } = await call(`/api/events/${encodeURIComponent(eventId)}`));
    } catch (err) {
      $("#event-head").replaceChildren(h("h1", {}, err.status === 404 ? "Event not found" : "Could not load the event"));
      showError("#error", err);
      $("#buy-form").closest("section").hidden = true;
      return;
    }
    renderHead();
    renderTypes();
    panel = new Shop.ReservationPanel($("#reservation"), { event, onChange: refresh, describe: (r) =>
      (r.items || []).filter((i) => !(r.seatIds && r.seatIds.length && isSeated(i.ticketTypeId)))
        .map((i) => `${i.quantity} × ${typeName(i.ticketTypeId)}`)
        .concat(r.seatIds && r.seatIds.length ? [`${r.seatIds.length} seat(s)`] : []) });
    $("#buy-form").addEventListener("submit", onHold);
    if (!session.token) $("#hold").textContent = "Sign in to buy";

    try {
      if ((await Shop.gate(event, null)) === false) return;
    } catch (err) { showError("#error", err); }

    getSocket().join(`event:${eventId}`, {
      snapshot: (data) => {
        applyAvailability(data.availability);
        $("#ticket-types").dataset.live = "true";
        onEventUpdated({ queue: data.event.queue });
      },
      "tickets-batch-updated": applyAvailability,
      "event-updated": onEventUpdated,
      announcement: showAnnouncement,
    }).catch((err) => showError("#error", `Live updates are unavailable: ${err.message}`));
    panel.restore((r) => (r.items || []).length > 0);
  }

  document.addEventListener("DOMContentLoaded", main);
})();
