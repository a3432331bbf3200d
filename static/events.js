/* The events list. */
(function () {
  "use strict";
  const { $, h, call, showError, fmtMoney, fmtDate } = App;

  function card(e) {
    const types = e.ticketTypes || [];
    const left = types.reduce((n, t) => n + Math.max(0, t.available), 0);
    const from = types.length ? Math.min(...types.map((t) => Number(t.price))) : null;
    const badge = left <= 0 ? h("span", { class: "badge badge-muted" }, "Sold out")
      : e.queue && e.queue.active ? h("span", { class: "badge badge-warn" }, "Waiting room active")
      : h("span", { class: "badge badge-ok" }, "On sale");
    const url = `/events/${encodeURIComponent(e.id)}`;
    return h("li", { class: "event-card card" },
      h("div", { class: "event-date", "aria-hidden": "true" },
        h("span", { class: "day" }, new Date(e.startsAt).getDate()),
        h("span", { class: "month" }, new Date(e.startsAt).toLocaleString(undefined, { month: "short" }))),
      h("div", { class: "event-info" },
        h("h2", {}, h("a", { href: url }, e.name)),
        h("p", { class: "muted" }, `${e.venue} · `, h("time", { datetime: e.startsAt }, fmtDate(e.startsAt))),
        h("p", { class: "event-meta" }, badge,
          from !== null ? h("span", {}, `from ${fmtMoney(from)}`) : null,
          h("span", {}, `${left} tickets left`),
          e.hasSeats ? h("span", {}, "Reserved seating") : null)),
      h("a", { href: url, class: "btn btn-primary", "aria-label": `Get tickets for ${e.name}` }, "Get tickets"));
  }

  async function main() {
    const list = $("#events");
    try {
      const { events } = await call("/api/events");
      list.replaceChildren(...(events.length ? events.map(card) : [h("li", { class: "muted" }, "No events yet.")]));
    } catch (err) {
      list.replaceChildren();
      showError("#error", err);
    }
    list.setAttribute("aria-busy", "false");
  }

  document.addEventListener("DOMContentLoaded", main);
})();
