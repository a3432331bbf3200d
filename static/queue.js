/* The waiting room: position, people ahead, estimated wait, progress; leaves by itself when admitted. */
(function () {
  "use strict";
  const { $, call, getSocket, showError, showAnnouncement, fmtWait } = App;
  const eventId = App.eventIdFromPath();
  const params = new URLSearchParams(location.search);
  const next = params.get("next") === "seats" ? "seats" : "";
  const startKey = `ticketd.queue.${eventId}.start`;
  let leaving = false;

  function purchaseUrl() {
    return `/events/${encodeURIComponent(eventId)}${next ? "/seats" : ""}`;
  }

  function admitted() {
    if (leaving) return;
    leaving = true;
    sessionStorage.removeItem(startKey);
    setProgress(100);
    $("#queue-title").textContent = "It's your turn!";
    location.replace(purchaseUrl());
  }

  function setProgress(pct) {
    const bar = $("#progress");
    pct = Math.max(0, Math.min(100, Math.round(pct)));
    bar.setAttribute("aria-valuenow", pct);
    bar.setAttribute("aria-valuetext", `${pct}% of the way to the front`);
    bar.firstElementChild.style.width = `${pct}%`;
  }

  function render(status) {
    if (!status) return;
    if (status.status === "admitted") { admitted(); return; }
    if (status.status === "none") { enter(); return; }   // dropped or expired: take a place again
    if (status.status !== "queued") return;
    const position = Number(status.position);
    const ahead = status.ahead ?? Math.max(0, position - 1);
    $("#position").textContent = position;
    $("#ahead").textContent = ahead;
    $("#wait").textContent = fmtWait(status.estimatedWaitSeconds);
    if (status.queueLength !== undefined) $("#queue-length").textContent = status.queueLength;
    // Progress from where this shopper first stood (kept across reloads).
    let start = Number(sessionStorage.getItem(startKey));
    if (!start || position > start) { start = position; sessionStorage.setItem(startKey, String(start)); }
    setProgress(start > 0 ? ((start - position) / start) * 100 : 0);
  }

  let entering = null;
  function enter() {
    if (!entering) {
      entering = call(`/api/queue/check/${encodeURIComponent(eventId)}`, { method: "POST" })
        .then((status) => { showError("#error", null); render(status); })
        .catch((err) => {
          if (err.status === 401) location.replace(App.loginUrl());
          else showError("#error", err);
        })
        .finally(() => { entering = null; });
    }
    return entering;
  }

  const CONN_TEXT = { connecting: "Connecting…", open: "Live", reconnecting: "Reconnecting…", closed: "Offline" };

  async function main() {
    if (!App.requireLogin()) return;
    document.addEventListener("ticketd:conn", (ev) => {
      const el = $("#queue-conn");
      el.dataset.state = ev.detail;
      el.textContent = CONN_TEXT[ev.detail] || ev.detail;
    });
    call(`/api/events/${encodeURIComponent(eventId)}`).then(({ event }) => {
      $("#event-name").textContent = event.name;
      document.title = `Waiting room · ${event.name} · ticketd`;
    }).catch((err) => showError("#error", err));

    await enter();
    if (leaving) return;
    const sock = getSocket();
    sock.join(`queue:${eventId}`, {
      snapshot: render,
      "queue-update": render,
      "queue-admitted": admitted,
    }).catch((err) => showError("#error", `Live updates are unavailable (${err.message}); checking every few seconds instead.`));
    sock.join(`event:${eventId}`, { announcement: showAnnouncement }).catch(() => {});

    // A status poll keeps the place and catches the admission even when the socket is down.
    let lastPoll = Date.now();
    setInterval(() => {
      if (leaving) return;
      const fast = sock.state !== "open";
      if (fast || Date.now() - lastPoll > 20000) poll();
    }, 3000);
    function poll() {
      lastPoll = Date.now();
      call(`/api/queue/status/${encodeURIComponent(eventId)}`).then(render).catch(() => {});
    }

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

  document.addEventListener("DOMContentLoaded", main);
})();
