/* The events list. */
(function () {
  "use strict";
  const { $, h, T, call, showError, fmtMoney, fmtDate } = App;

  function card(e) {
    const types = e.ticketTypes || [];
    const left = types.reduce((n, t) => n + Math.max(0, t.available), 0);
    const from = types.length ? Math.min(...types.map((t) => Number(t.price))) : null;
    const zone = e.timeZone;      // each event's times where it takes place
    const badge = left <= 0 ? h("span", { class: "badge badge-muted", i18n: ["events.soldOut"] })
      : e.queue && e.queue.active ? h("span", { class: "badge badge-warn", i18n: ["events.queueActive"] })
      : h("span", { class: "badge badge-ok", i18n: ["events.onSale"] });
    const url = `/events/${encodeURIComponent(e.id)}`;
    return h("li", { class: "event-card card", dataset: { eventId: e.id } },
      h("div", { class: "event-date", "aria-hidden": "true" },
        T("common.value", { value: () => I18n.date(e.startsAt, "dayNumber", zone) }, { class: "day" }),
        T("common.value", { value: () => I18n.date(e.startsAt, "month", zone) }, { class: "month" })),
      h("div", { class: "event-info" },
        h("h2", {}, h("a", { href: url }, e.name)),
        h("p", { class: "muted" }, `${e.venue} · `,
          h("time", { datetime: e.startsAt, i18n: ["common.value", { value: () => fmtDate(e.startsAt, zone) }] })),
        h("p", { class: "event-meta" }, badge,
          from !== null ? T("events.from", { price: () => fmtMoney(from, e.currency) }, { class: "price-from" }) : null,
          T("events.left", { count: left }),
          e.hasSeats ? T("events.seated") : null)),
      h("a", { href: url, class: "btn btn-primary", i18n: ["events.getTickets"],
        i18nAttr: { "aria-label": ["events.getTicketsFor", { name: e.name }] } }));
  }

  async function main() {
    const list = $("#events");
    try {
      const { events } = await call("/api/events");
      list.replaceChildren(...(events.length ? events.map(card) : [h("li", { class: "muted", i18n: ["events.none"] })]));
    } catch (err) {
      list.replaceChildren();
      showError("#error", err);
    }
    list.setAttribute("aria-busy", "false");
  }

  App.start(main);
})();
