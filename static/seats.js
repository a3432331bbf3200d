/* The seat map: sections and rows from the seats API, live statuses, select → hold → confirm.
 * Keyboard: one seat is in the tab order at a time (roving tabindex); the arrow keys move
 * between seats, Home/End to a row's ends, Enter or Space selects. Seats picked while
 * signed out survive the sign-in. */
(function () {
  "use strict";
  const { $, h, T, call, session, getSocket, showError, showAnnouncement, fmtMoney, fmtDate } = App;
  const eventId = App.eventIdFromPath();
  const keepKey = `ticketd.seats.${eventId}`;      // the selection, kept across a sign-in
  let event = null;
  let panel = null;
  let announcer = null;
  const seats = new Map();       // id -> seat
  const selected = new Set();    // ids the shopper picked
  let mine = new Set();          // ids in the shopper's pending reservation
  let rows = [];                 // [[seat, ...], ...] in reading order, for the arrow keys
  let current = null;            // the seat in the tab order

  function viewStatus(seat) {
    if (mine.has(seat.id) && seat.status !== "available") return "mine";
    if (selected.has(seat.id)) return "selected";
    return seat.status;
  }

  const selectable = (seat) => seat.status === "available" || selected.has(seat.id);
  const typeOf = (seat) => event.ticketTypes.find((t) => String(t.id) === String(seat.ticketTypeId));

  /** "Section A · Row B · Seat 3" in the page's language. */
  const seatLabel = (seat) => I18n.t("seats.label", { section: seat.section, row: seat.row, number: seat.number });

  function paint(seat) {
    const el = seat.el;
    if (!el) return;
    const view = viewStatus(seat);
    el.dataset.status = seat.status;
    el.className = `seat seat-${view}`;
    // aria-disabled, not disabled: unavailable seats stay reachable with the arrow keys
    // and are announced as such.
    if (selectable(seat)) el.removeAttribute("aria-disabled");
    else el.setAttribute("aria-disabled", "true");
    el.setAttribute("aria-pressed", selected.has(seat.id) ? "true" : "false");
    I18n.bindAttr(el, "aria-label", () => {
      const tt = typeOf(seat);
      return I18n.t(tt ? "seats.seatAria" : "seats.seatAriaNoType", { label: seatLabel(seat),
        status: I18n.t(`seats.status.${view}`), type: tt ? tt.name : "", price: tt ? fmtMoney(tt.price, event.currency) : "" });
    });
  }

  function setStatus(id, status) {
    const seat = seats.get(String(id));
    if (!seat || !status) return;
    seat.status = status;
    if (status !== "available" && selected.has(seat.id) && !mine.has(seat.id)) {
      selected.delete(seat.id);   // someone else took it first
      renderSelection();
      announcer.say("seats.taken", { label: seatLabel(seat) }, { force: true });
    }
    paint(seat);
  }

  /** {seatId: status}: the room's snapshot `seats` and every `seats-updated` push. */
  function applyStatuses(statuses) {
    for (const [id, status] of Object.entries(statuses)) setStatus(id, status);
  }

  // ------------------------------------------------------------------ the map

  function renderMap(list) {
    const bySection = new Map();
    for (const s of list) {
      const seat = { ...s, id: String(s.id) };
      seats.set(seat.id, seat);
      if (!bySection.has(seat.section)) bySection.set(seat.section, new Map());
      const sectionRows = bySection.get(seat.section);
      if (!sectionRows.has(seat.row)) sectionRows.set(seat.row, []);
      sectionRows.get(seat.row).push(seat);
    }
    const natural = (a, b) => String(a).localeCompare(String(b), undefined, { numeric: true });
    const map = $("#seat-map");
    rows = [];
    map.replaceChildren(...[...bySection.keys()].sort(natural).map((section) => {
      const sectionRows = bySection.get(section);
      return h("section", { class: "seat-section", i18nAttr: { "aria-label": ["seats.section", { section }] } },
        h("h3", { i18n: ["seats.section", { section }] }),
        ...[...sectionRows.keys()].sort(natural).map((row) => {
          const rowSeats = sectionRows.get(row).sort((a, b) => natural(a.number, b.number));
          rows.push(rowSeats);
          return h("div", { class: "seat-row", role: "group", i18nAttr: { "aria-label": ["seats.row", { row }] } },
            h("span", { class: "row-label", "aria-hidden": "true" }, row),
            ...rowSeats.map((seat) => {
              seat.el = h("button", { type: "button", class: "seat", tabindex: "-1",
                i18nAttr: { title: ["seats.title", { label: () => seatLabel(seat),
                  price: () => { const tt = typeOf(seat); return tt ? `${tt.name} ${fmtMoney(tt.price, event.currency)}` : ""; } }] },
                // The number on show comes from CSS (data-number): the name is the aria-label, which
                // holds the number as the language says it ("Seat 1", "1번").
                dataset: { seatId: seat.id, label: seat.label, number: seat.number }, onclick: () => toggle(seat) });
              seat.el.addEventListener("focus", () => makeCurrent(seat));
              paint(seat);
              return seat.el;
            }));
        }));
    }));
    if (!list.length) { map.replaceChildren(h("p", { class: "muted", i18n: ["seats.none"] })); return; }
    makeCurrent([...seats.values()].find((s) => s.status === "available") || rows[0][0]);
    map.addEventListener("keydown", onKey);
    watchOverflow(map);
  }

  function makeCurrent(seat) {
    if (!seat || seat === current) return;
    if (current && current.el) current.el.tabIndex = -1;
    current = seat;
    seat.el.tabIndex = 0;
  }

  function position(seat) {
    for (let r = 0; r < rows.length; r++) {
      const c = rows[r].indexOf(seat);
      if (c >= 0) return [r, c];
    }
    return [0, 0];
  }

  /** The seat in row r whose centre is nearest to x (rows are centred and differ in length). */
  function nearestIn(r, x) {
    let best = null, dist = Infinity;
    for (const seat of rows[r]) {
      const box = seat.el.getBoundingClientRect();
      const d = Math.abs(box.left + box.width / 2 - x);
      if (d < dist) { best = seat; dist = d; }
    }
    return best;
  }

  function onKey(ev) {
    const seat = current;
    if (!seat || !ev.target.classList.contains("seat")) return;
    const [r, c] = position(seat);
    const box = seat.el.getBoundingClientRect();
    const x = box.left + box.width / 2;
    let target = null;
    switch (ev.key) {
      case "ArrowRight": target = rows[r][c + 1]; break;
      case "ArrowLeft": target = rows[r][c - 1]; break;
      case "ArrowDown": if (r + 1 < rows.length) target = nearestIn(r + 1, x); break;
      case "ArrowUp": if (r > 0) target = nearestIn(r - 1, x); break;
      case "Home": target = ev.ctrlKey ? rows[0][0] : rows[r][0]; break;
      case "End": target = ev.ctrlKey ? rows[rows.length - 1].at(-1) : rows[r].at(-1); break;
      default: return;   // Enter and Space: the button's own click
    }
    ev.preventDefault();
    if (target) {
      makeCurrent(target);
      target.el.focus();
      target.el.scrollIntoView({ block: "nearest", inline: "nearest" });
    }
  }

  /** On a narrow screen the map scrolls sideways: say so, and shade the edge that hides seats. */
  function watchOverflow(map) {
    const hint = $("#scroll-hint");
    const update = () => {
      const overflow = map.scrollWidth > map.clientWidth + 1;
      hint.hidden = !overflow;
      map.classList.toggle("scrolls", overflow);
      map.classList.toggle("more-left", overflow && map.scrollLeft > 2);
      map.classList.toggle("more-right", overflow && map.scrollLeft + map.clientWidth < map.scrollWidth - 2);
    };
    map.addEventListener("scroll", update, { passive: true });
    if (window.ResizeObserver) new ResizeObserver(update).observe(map);
    window.addEventListener("resize", update);
    update();
  }

  function toggle(seat) {
    if (selected.has(seat.id)) selected.delete(seat.id);
    else if (seat.status === "available") selected.add(seat.id);
    else return;
    makeCurrent(seat);
    paint(seat);
    renderSelection();
  }

  function renderHoldButton() {
    const button = $("#hold");
    if (session.token) {
      I18n.bind(button, "seats.hold");
      button.disabled = selected.size === 0;
    } else {
      // Signed out, the button signs in: it is never disabled, selection or not.
      I18n.bind(button, "seats.signIn");
      button.disabled = false;
    }
  }

  function renderSelection() {
    const ids = [...selected];
    const box = $("#selection");
    renderHoldButton();
    if (!ids.length) { I18n.bind(box, "seats.pick"); box.className = "muted"; return; }
    const total = ids.reduce((sum, id) => sum + Number((typeOf(seats.get(id)) || { price: 0 }).price), 0);
    box.className = "";
    I18n.unbind(box);
    box.replaceChildren(
      T("seats.count", { count: ids.length }, { id: "selected-count" }),
      h("ul", { class: "selected-seats" }, ids.map((id) => h("li", { i18n: ["common.value", { value: () => seatLabel(seats.get(id)) }] }))),
      h("strong", { i18n: ["seats.total", { price: () => fmtMoney(total, event.currency) }] }));
  }

  /** Keep the selection and go to the sign-in page; it comes back here. */
  function signInKeepingSelection(reason) {
    sessionStorage.setItem(keepKey, JSON.stringify([...selected]));
    location.href = App.loginUrl(location.pathname, reason);
  }

  /** After a sign-in: the seats picked before it, those still free. */
  function restoreSelection() {
    let ids;
    try { ids = JSON.parse(sessionStorage.getItem(keepKey)); } catch (_) { ids = null; }
    sessionStorage.removeItem(keepKey);
    if (!Array.isArray(ids) || !ids.length) return;
    const kept = ids.map(String).filter((id) => seats.has(id) && seats.get(id).status === "available");
    kept.forEach((id) => { selected.add(id); paint(seats.get(id)); });
    renderSelection();
    if (kept.length) {
      announcer.say("seats.restored", { count: kept.length }, { force: true });
      if (kept.length < ids.length) App.showMessage("#buy-error", "seats.lost");
      $("#hold").focus();
    } else {
      App.showMessage("#buy-error", "seats.lost");
    }
  }

  async function onHold() {
    if (!session.token) { signInKeepingSelection("seats"); return; }
    const ids = [...selected];
    if (!ids.length) return;
    $("#hold").disabled = true;
    const r = await panel.hold({ seatIds: ids }, "#buy-error");
    if (r) {
      selected.clear();
      renderSelection();
    } else {
      renderHoldButton();
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
    announcer = App.announcer("#announcer", { minGapMs: 5000 });
    try {
      const [{ event: ev }, { seats: list }] = await Promise.all([
        call(`/api/events/${encodeURIComponent(eventId)}`),
        call(`/api/events/${encodeURIComponent(eventId)}/seats`)]);
      event = ev;
      I18n.title("title.seatsNamed", { name: event.name });
      I18n.setTimeZone(event.timeZone);     // every time on the page is the event's
      $("#event-head").replaceChildren(
        h("p", { class: "eyebrow" }, h("a", { href: `/events/${encodeURIComponent(eventId)}` }, `← ${event.name}`)),
        h("h1", { i18n: ["seats.heading"] }),
        h("p", { class: "muted" }, `${event.venue} · `,
          h("time", { datetime: event.startsAt, i18n: ["common.value", { value: () => fmtDate(event.startsAt) }] })));
      $("#event-head").setAttribute("aria-busy", "false");
      renderMap(list);
    } catch (err) {
      $("#event-head").replaceChildren(h("h1", { i18n: [err.status === 404 ? "event.notFound" : "seats.loadFailed"] }));
      $("#event-head").setAttribute("aria-busy", "false");
      showError("#error", err);
      return;
    }
    panel = new Shop.ReservationPanel($("#reservation"), { event, next: "seats", onChange: onReservation,
      onSignIn: () => signInKeepingSelection("expired"),
      describe: (r) => (r.seatIds || []).map((id) => {
        const seat = seats.get(String(id));
        return seat ? T("common.value", { value: () => seatLabel(seat) }) : String(id);
      }) });
    $("#hold").addEventListener("click", onHold);
    renderSelection();
    document.addEventListener("ticketd:signed-out", renderHoldButton);

    try {
      if ((await Shop.gate(event, "seats")) === false) return;   // the kept selection waits for the way back
    } catch (err) { showError("#error", err); }
    if (session.token) restoreSelection();

    const sock = getSocket();
    sock.join(`seats:${eventId}`, {
      snapshot: (data) => { applyStatuses(data.seats); $("#seat-map").dataset.live = "true"; },
      "seats-updated": applyStatuses,
    }).catch((err) => App.showMessage("#error", "event.liveUnavailable", { message: () => I18n.errorMessage(err) }));
    sock.join(`event:${eventId}`, {
      announcement: showAnnouncement,
      "event-updated": (data) => {
        event.queue = data.queue;
        if (event.queue && event.queue.active) Shop.gate(event, "seats").catch((err) => showError("#error", err));
      },
    }).catch(() => {});
    panel.restore((r) => (r.seatIds || []).length > 0);
  }

  App.start(main);
})();
