/* The waiting room: position, people ahead, estimated wait, progress; moves on by itself when
 * admitted. Before the sale: a countdown to the pre-queue's opening, then the pre-queue (a
 * countdown to the draw, how many wait for it, no position). Entering pays the event's toll
 * while the page says it is checking the browser. All of that is waiting.js, shared with the
 * gate page; this page adds the signed-in shopper, the event, the turn (with its session
 * countdown and the way to the tickets) and leaving. In a background tab the admission push
 * itself flashes the title, plays a chime if the fan turned it on, and shows a system
 * notification if the fan allowed them (alerts.js). */
(function () {
  "use strict";
  const { $, call, getSocket, showError, showMessage, showAnnouncement, fmtDuration, fmtTime } = App;
  const eventId = App.eventIdFromPath();
  const params = new URLSearchParams(location.search);
  const next = params.get("next") === "seats" ? "seats" : "";
  let event = null;
  let alertRegion = null;
  let room = null;

  function purchaseUrl() {
    return `/events/${encodeURIComponent(eventId)}${next ? "/seats" : ""}`;
  }

  function go() {
    I18n.bind($("#queue-lead"), "queue.taking");
    location.replace(purchaseUrl());
  }

  const eventName = () => (event ? event.name : "");
  const title = {
    turn: () => I18n.t("title.yourTurn"),
    base: () => I18n.t("title.queueNamed", { name: eventName() }),
    steady: "title.yourTurnSteady",
  };

  function notification(expiresAt) {
    const seconds = expiresAt ? Math.max(0, (new Date(expiresAt).getTime() - Date.now()) / 1000) : null;
    const body = seconds === null ? I18n.t("queue.notify.bodyNoTime")
      : I18n.t("queue.notify.body", { time: fmtDuration(seconds), until: fmtTime(new Date(expiresAt)) });
    return { title: I18n.t("queue.notify.title", { event: event ? event.name : "ticketd" }), body,
      tag: `ticketd-turn-${eventId}` };
  }

  // ------------------------------------------------------------------ admission

  function admitted(data) {
    I18n.bind($("#queue-title"), "queue.yourTurn");
    I18n.bind($("#queue-lead"), "queue.admittedLead");
    $("#turn").hidden = false;
    $("#go-now").href = purchaseUrl();
    const expiresAt = data && data.expiresAt;
    if (expiresAt) {
      App.countdown(expiresAt, (s) => { $("#session-left").textContent = fmtDuration(s); }, expired);
    }
    alertRegion.textContent = I18n.t("queue.announce.admitted");
    Alerts.turn({ title, notification: notification(expiresAt), go });
  }

  /** The session ran out before the fan came back: take a place again. */
  function expired() {
    if (document.visibilityState === "visible" && location.pathname.endsWith("/queue")) {
      Alerts.stopFlash("title.yourTurnSteady");
      showMessage("#error", "queue.expired");
      $("#turn").hidden = true;
      room.resume();
    }
  }

  // ------------------------------------------------------------------ the page

  async function main() {
    if (!App.requireLogin("queue")) return;
    alertRegion = $("#queue-alert");
    Alerts.setUp();
    room = Waiting.create({
      eventId,
      token: () => App.session.token,
      socket: getSocket,
      onAdmitted: admitted,
      onUnauthorized: (err) => {
        location.replace(App.loginUrl(undefined, err.tokenRefused ? "expired" : "queue"));
        return false;
      },
    });
    document.addEventListener("ticketd:conn", (ev) => room.showConn(ev.detail));
    // A refused token: this page cannot work signed out.
    document.addEventListener("ticketd:signed-out", () => location.replace(App.loginUrl(undefined, "expired")));
    call(`/api/events/${encodeURIComponent(eventId)}`).then(({ event: ev }) => {
      event = ev;
      $("#event-name").textContent = event.name;
      if (!Alerts.flashing) I18n.title("title.queueNamed", { name: event.name });
      room.setEvent(ev);
    }).catch((err) => showError("#error", err));

    await room.start();
    if (room.stopped) return;
    getSocket().join(`event:${eventId}`, { announcement: showAnnouncement }).catch(() => {});

    $("#leave").addEventListener("click", async () => {
      try {
        room.stop();
        await call(`/api/queue/leave/${encodeURIComponent(eventId)}`, { method: "POST" });
        room.forgetStart();
        location.href = "/";
      } catch (err) {
        room.resume();
        showError("#error", err);
      }
    });
  }

  App.start(main);
})();
