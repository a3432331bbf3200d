/* The seat map: sections and rows from the seats API, live statuses, select → hold → confirm. */
(function () {
  "use strict";
  const { $, h, call, session, getSocket, showError, showAnnouncement, fmtMoney, fmtDate } = App;
  const eventId = App.eventIdFromPath();
  let event = null;
  let panel = null;
  const seats = new Map();       // id -> seat
  const selected = new Set();    // ids the shopper picked
  let mine = new Set();          // ids in the shopper's pending reservation

  const STATUS_TEXT = { available: "available", held: "held", sold: "sold", mine: "held by you", selected: "selected" };

  function viewStatus(seat) {
    if (mine.has(seat.id) && seat.status !== "available") return "mine";
    if (selected.has(seat.id)) return "selected";
    return seat.status;
  }

  function paint(seat) {
    const el = seat.el;
    if (!el) return;
    const view = viewStatus(seat);
    el.dataset.status = seat.status;
    el.className = `seat seat-${view}`;
    el.disabled = !(seat.status === "available" || selected.has(seat.id));
    el.setAttribute("aria-pressed", selected.has(seat.id) ? "true" : "false");
    el.setAttribute("aria-label", `Section ${seat.section}, row ${seat.row}, seat ${seat.number}: ${STATUS_TEXT[view]}`);
  }

  function setStatus(id, status) {
    const seat = seats.get(String(id));
    if (!seat || !status) return;
    seat.status = status;
    if (status !== "available" && selected.has(seat.id) && !mine.has(seat.id)) {
      selected.delete(seat.id);   // someone else took it first
      renderSelection();
    }
    paint(seat);
  }

  /** {seatId: status}: the room's snapshot `seats` and every `seats-updated` push. */
  function applyStatuses(statuses) {
    for (const [id, status] of Object.entries(statuses)) setStatus(id, status);
  }

  function typeOf(seat) {
    return event.ticketTypes.find((t) => String(t.id) === String(seat.ticketTypeId));
  }

  function renderMap(list) {
    const bySection = new Map();
    for (const s of list) {
      const seat = { ...s, id: String(s.id) };
      seats.set(seat.id, seat);
      if (!bySection.has(seat.section)) bySection.set(seat.section, new Map());
      const rows = bySection.get(seat.section);
      if (!rows.has(seat.row)) rows.set(seat.row, []);
      rows.get(seat.row).push(seat);
    }
    const natural = (a, b) => String(a).localeCompare(String(b), undefined, { numeric: true });
    const map = $("#seat-map");
    map.replaceChildren(...[...bySection.keys()].sort(natural).map((section) => {
      const rows = bySection.get(section);
      return h("section", { class: "seat-section", "aria-label": `Section ${section}` },
        h("h3", {}, `Section ${section}`),
        ...[...rows.keys()].sort(natural).map((row) => h("div", { class: "seat-row", role: "group", "aria-label": `Row ${row}` },
          h("span", { class: "row-label", "aria-hidden": "true" }, row),
          ...rows.get(row).sort((a, b) => natural(a.number, b.number)).map((seat) => {
            const tt = typeOf(seat);
            seat.el = h("button", { type: "button", class: "seat", title: `${seat.label}${tt ? ` · ${tt.name} ${fmtMoney(tt.price)}` : ""}`,
              dataset: { seatId: seat.id, label: seat.label }, onclick: () => toggle(seat) }, String(seat.number));
            paint(seat);
            return seat.el;
          }))));
    }));
    if (!list.length) map.replaceChildren(h("p", { class: "muted" }, "This event has no reserved seating."));
  }

  function toggle(seat) {
    if (selected.has(seat.id)) selected.delete(seat.id);
    else if (seat.status === "available") selected.add(seat.id);
    paint(seat);
    renderSelection();
  }

  function renderSelection() {
    const ids = [...selected];
    const box = $("#selection");
    $("#hold").disabled = ids.length === 0;
    if (!ids.length) { box.textContent = "Select seats on the map."; box.className = "muted"; return; }
    const total = ids.reduce((sum, id) => sum + Number((typeOf(seats.get(id)) || { price: 0 }).price), 0);
    box.className = "";
    box.replaceChildren(
      h("span", { id: "selected-count" }, `${ids.length} seat${ids.length === 1 ? "" : "s"}: `),
      ids.map((id) => seats.get(id).label).join(", "), h("br"), h("strong", {}, `Total ${fmtMoney(total)}`));
  }

  async function onHold() {
    if (!session.token) { location.href = App.loginUrl(); return; }
    const ids = [...selected];
    $("#hold").disabled = true;
    const r = await panel.hold({ seatIds: ids }, "#buy-error");
    if (r) {
      selected.clear();
      renderSelection();
    } else {
      $("#hold").disabled = selected.size === 0;
      // The map may be stale (someone was faster): refresh the statuses.
      call(`/api/events/${encodeURIComponent(eventId)}/seats`).then((d) => d.seats.forEach((s) => setStatus(s.id, s.status))).catch(() => {});
    }
  }

  function onReservation(r) {
    const before = mine;
    mine = r.status === "pending" || r.status === "confirmed" ? new Set((r.seatIds || []).map(String)) : new Set();
    for (const id of r.seatIds || []) {
      const seat = seats.get(String(id));
      if (!seat) continue;
      if (r.status === "pending") seat.status = "held";
      else if (r.status === "confirmed") seat.status = "sold";
      else if (before.has(seat.id) && seat.status === "held") seat.status = "available";
      paint(seat);
    }
  }

  async function main() {
    try {
      const [{ event: ev }, { seats: list }] = await Promise.all([
        call(`/api/events/${encodeURIComponent(eventId)}`),
        call(`/api/events/${encodeURIComponent(eventId)}/seats`)]);
      event = ev;
      document.title = `Seats · ${event.name} · ticketd`;
      $("#event-head").replaceChildren(
        h("p", { class: "eyebrow" }, h("a", { href: `/events/${encodeURIComponent(eventId)}` }, `← ${event.name}`)),
        h("h1", {}, "Choose your seats"),
        h("p", { class: "muted" }, `${event.venue} · ${fmtDate(event.startsAt)}`));
      $("#event-head").setAttribute("aria-busy", "false");
      renderMap(list);
    } catch (err) {
      $("#event-head").replaceChildren(h("h1", {}, err.status === 404 ? "Event not found" : "Could not load the seats"));
      showError("#error", err);
      return;
    }
    panel = new Shop.ReservationPanel($("#reservation"), { event, next: "seats", onChange: onReservation,
      describe: (r) => (r.seatIds || []).map((id) => (seats.get(String(id)) || { label: id }).label) });
    $("#hold").addEventListener("click", onHold);
    if (!session.token) { $("#hold").textContent = "Sign in to hold seats"; }

    try {
      if ((await Shop.gate(event, "seats")) === false) return;
    } catch (err) { showError("#error", err); }

    const sock = getSocket();
    sock.join(`seats:${eventId}`, {
      snapshot: (data) => { applyStatuses(data.seats); $("#seat-map").dataset.live = "true"; },
      "seats-updated": applyStatuses,
    }).catch((err) => showError("#error", `Live updates are unavailable: ${err.message}`));
    sock.join(`event:${eventId}`, {
      announcement: showAnnouncement,
      "event-updated": (data) => {
        event.queue = data.queue;
        if (event.queue && event.queue.active) Shop.gate(event, "seats").catch((err) => showError("#error", err));
      },
    }).catch(() => {});
    panel.restore((r) => (r.seatIds || []).length > 0);
  }

  document.addEventListener("DOMContentLoaded", main);
})();
