/* The admin dashboard: live stats and chart from admin:{id} (queue and pre-queue), queue
 * settings, the on-sale day's schedule and limits, announcements. */
(function () {
  "use strict";
  const { $, h, call, getSocket, showError, showMessage } = App;
  const WINDOW_MS = 5 * 60 * 1000;
  const SERIES = [
    { key: "connections", label: "admin.connections", color: "#4f46e5" },
    { key: "activeUsers", label: "admin.active", color: "#047857" },
    { key: "queueLength", label: "admin.queueLength", color: "#b45309" },
    { key: "prequeueLength", label: "admin.prequeueLength", color: "#0e7490" },
    { key: "admittedLastMinute", label: "admin.admitted", color: "#be185d" },
  ];
  let events = [];
  let current = null;       // event id
  let points = [];          // [{t, ...stats}]
  let savingMode = false;

  // ------------------------------------------------------------ chart (plain canvas)

  function drawChart() {
    const canvas = $("#chart");
    const dpr = window.devicePixelRatio || 1;
    const width = canvas.clientWidth, height = canvas.clientHeight;
    if (canvas.width !== Math.round(width * dpr) || canvas.height !== Math.round(height * dpr)) {
      canvas.width = Math.round(width * dpr);
      canvas.height = Math.round(height * dpr);
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const pad = { l: 40, r: 12, t: 10, b: 22 };
    const w = width - pad.l - pad.r, hgt = height - pad.t - pad.b;
    const now = Date.now();
    const max = niceMax(Math.max(1, ...points.flatMap((p) => SERIES.map((s) => Number(p[s.key]) || 0))));
    const x = (t) => pad.l + ((t - (now - WINDOW_MS)) / WINDOW_MS) * w;
    const y = (v) => pad.t + hgt - (v / max) * hgt;
    const styles = getComputedStyle(document.body);
    ctx.font = "11px system-ui, sans-serif";
    ctx.fillStyle = styles.getPropertyValue("--muted") || "#666";
    ctx.strokeStyle = styles.getPropertyValue("--line") || "#e5e7eb";
    ctx.lineWidth = 1;
    for (let i = 0; i <= 4; i++) {            // horizontal grid with values
      const v = (max / 4) * i, yy = Math.round(y(v)) + 0.5;
      ctx.beginPath(); ctx.moveTo(pad.l, yy); ctx.lineTo(pad.l + w, yy); ctx.stroke();
      ctx.textAlign = "right"; ctx.textBaseline = "middle";
      ctx.fillText(I18n.number(Math.round(v)), pad.l - 6, yy);
    }
    ctx.textAlign = "center"; ctx.textBaseline = "top";
    for (let m = 5; m >= 0; m--) {             // minutes ago
      ctx.fillText(m === 0 ? I18n.t("admin.chartNow") : I18n.t("admin.chartMinutesAgo", { count: m }), x(now - m * 60000), pad.t + hgt + 6);
    }
    for (const s of SERIES) {
      ctx.strokeStyle = s.color; ctx.lineWidth = 2; ctx.lineJoin = "round";
      ctx.beginPath();
      points.forEach((p, i) => {
        const xx = x(p.t), yy = y(Number(p[s.key]) || 0);
        if (i === 0) ctx.moveTo(xx, yy); else ctx.lineTo(xx, yy);
      });
      ctx.stroke();
    }
  }

  /** A round maximum whose quarters are round too (4 grid steps of 1, 2 or 5 × 10^n). */
  function niceMax(v) {
    const raw = Math.max(1, v / 4);
    const p = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw);
    return step * 4;
  }

  // ------------------------------------------------------------ stats

  function onStats(stats) {
    const set = (id, v) => { $(id).textContent = v === undefined || v === null ? "—" : I18n.number(v); };
    set("#s-connections", stats.connections);
    set("#s-active", stats.activeUsers);
    set("#s-queue", stats.queueLength);
    set("#s-prequeue", stats.prequeueLength);
    set("#s-admitted", stats.admittedLastMinute);
    I18n.bindFn($("#s-mode"), () => (stats.mode ? I18n.t(`admin.modeValue.${stats.mode}`) : "—")
      + (stats.queueActive ? I18n.t("admin.activeSuffix") : ""));
    set("#s-instances", stats.instances);
    if (!savingMode && stats.mode) setModeRadio(stats.mode);
    if (stats.capacity !== undefined && document.activeElement !== $("#capacity") && !$("#capacity").dataset.dirty) {
      $("#capacity").value = stats.capacity;
    }
    const now = Date.now();
    points.push({ t: now, ...stats });
    points = points.filter((p) => p.t >= now - WINDOW_MS);
    drawChart();
  }

  function setModeRadio(mode) {
    const radio = $(`#mode-${mode}`);
    if (radio) radio.checked = true;
  }

  // ------------------------------------------------------------ on-sale day
  // saleStartsAt is edited on the clocks where the event takes place (its zone, shown beside
  // it: an organiser in Berlin schedules a Seoul sale in Seoul time) and sent as UTC; an empty
  // field is null: no start (on sale now), the default pre-queue (900 s), no pacing, no
  // per-customer limit, no toll.

  const currentEvent = () => events.find((e) => String(e.id) === String(current));
  const eventZone = () => I18n.usableZone(currentEvent().timeZone);
  const pad = (n) => String(n).padStart(2, "0");

  /** A moment's date and time on zone's clocks: {year, month, day, hour, minute, second}. */
  function wallClock(ms, zone) {
    const f = new Intl.DateTimeFormat("en-US", { timeZone: zone, hourCycle: "h23", year: "numeric",
      month: "numeric", day: "numeric", hour: "numeric", minute: "numeric", second: "numeric" });
    return Object.fromEntries(f.formatToParts(new Date(ms)).filter((p) => p.type !== "literal")
      .map((p) => [p.type, Number(p.value)]));
  }

  /** zone's offset from UTC at a moment, in ms (Asia/Seoul: +9 h). */
  function zoneOffset(ms, zone) {
    const c = wallClock(ms, zone);
    return Date.UTC(c.year, c.month - 1, c.day, c.hour, c.minute, c.second) - Math.floor(ms / 1000) * 1000;
  }

  /** An ISO time as a datetime-local value on zone's clocks ("2027-05-01T20:30:00"). */
  function toZoneInput(iso, zone) {
    if (!iso) return "";
    const c = wallClock(new Date(iso).getTime(), zone);
    return `${c.year}-${pad(c.month)}-${pad(c.day)}T${pad(c.hour)}:${pad(c.minute)}:${pad(c.second)}`;
  }

  /** A datetime-local value read on zone's clocks, as a moment (ms; NaN if it is not one). */
  function fromZoneInput(value, zone) {
    const m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d)(?::(\d\d)(?:\.\d+)?)?$/.exec(value);
    if (!m) return NaN;
    const [year, month, day, hour, minute, second] = m.slice(1, 7).map((v) => Number(v || 0));
    const wall = Date.UTC(year, month - 1, day, hour, minute, second);
    // The offset at the first guess, then at the moment it gives: right across a clock change.
    const guess = wall - zoneOffset(wall, zone);
    return wall - zoneOffset(guess, zone);
  }

  /** The zone and its offset at that moment: "Asia/Seoul, GMT+9". */
  function zoneLabel(at) {
    const zone = eventZone();
    let offset = "";
    try {
      const parts = new Intl.DateTimeFormat(I18n.lang, { timeZoneName: "shortOffset", timeZone: zone }).formatToParts(at);
      offset = (parts.find((p) => p.type === "timeZoneName") || { value: "" }).value;
    } catch (_) { /* an old browser: the zone's name alone */ }
    return offset ? `${zone}, ${offset}` : zone;
  }

  const optionalInt = (el) => (el.value.trim() === "" ? null : Number(el.value));
  const saleInput = () => $("#sale-starts");

  /** The start as typed: an ISO string, null when empty, undefined when not a full date and time. */
  function typedStart() {
    const el = saleInput();
    if (el.validity && el.validity.badInput) return undefined;
    if (!el.value) return null;
    const at = fromZoneInput(el.value, eventZone());
    return Number.isNaN(at) ? undefined : new Date(at).toISOString();
  }

  function renderSchedulePreview() {
    const start = typedStart();
    const at = start ? new Date(start) : new Date();
    I18n.bind($("#zone-hint"), "admin.zoneHint", { zone: () => zoneLabel(at) });
    const preview = $("#sale-preview");
    if (start === undefined) { I18n.unbind(preview); preview.textContent = ""; return; }
    if (start === null) { I18n.bind(preview, "admin.noSale"); return; }
    const prequeue = optionalInt($("#prequeue-seconds"));
    const seconds = prequeue === null || !Number.isInteger(prequeue) || prequeue < 0 ? 900 : prequeue;
    const opens = new Date(at.getTime() - seconds * 1000);
    I18n.bind(preview, "admin.prequeuePreview", { time: () => App.fmtDate(opens.toISOString(), eventZone()) });
  }

  function fillSchedule(event) {
    saleInput().value = toZoneInput(event.saleStartsAt, I18n.usableZone(event.timeZone));
    $("#prequeue-seconds").value = event.queue.prequeueSeconds ?? "";
    $("#admit-per-minute").value = event.queue.admitPerMinute ?? "";
    $("#max-per-customer").value = event.maxPerCustomer ?? "";
    $("#challenge-bits").value = event.queue.challengeBits ?? "";
    renderSchedulePreview();
  }

  /** The form as a PATCH body, or a catalogue key naming what is wrong. */
  function scheduleBody() {
    const saleStartsAt = typedStart();
    if (saleStartsAt === undefined) return { problem: "admin.badStart", field: saleInput() };
    const fields = [
      ["#prequeue-seconds", 0, 7 * 86400], ["#admit-per-minute", 1, 1000000],
      ["#max-per-customer", 1, 10000], ["#challenge-bits", 0, 24],
    ];
    const values = {};
    for (const [sel, min, max] of fields) {
      const el = $(sel);
      if (el.validity && el.validity.badInput) return { problem: "admin.badNumbers", field: el };
      const v = optionalInt(el);
      if (v !== null && (!Number.isInteger(v) || v < min || v > max)) return { problem: "admin.badNumbers", field: el };
      values[sel] = v;
    }
    return { body: { saleStartsAt, maxPerCustomer: values["#max-per-customer"],
      queue: { prequeueSeconds: values["#prequeue-seconds"], admitPerMinute: values["#admit-per-minute"],
        challengeBits: values["#challenge-bits"] } } };
  }

  function setUpSchedule() {
    const form = $("#schedule");
    form.addEventListener("input", renderSchedulePreview);
    I18n.onChange(renderSchedulePreview);
    $("#sale-clear").addEventListener("click", () => {
      saleInput().value = "";
      renderSchedulePreview();
      saleInput().focus();
    });
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      showError("#schedule-error", null);
      const { body, problem, field } = scheduleBody();
      if (problem) {
        showMessage("#schedule-error", problem);
        field.focus();
        return;
      }
      try {
        const { event } = await call(`/api/events/${encodeURIComponent(current)}`, { method: "PATCH", body });
        events = events.map((e) => (String(e.id) === String(event.id) ? event : e));
        fillSchedule(event);
        flash($("#schedule-msg"), "admin.scheduleSaved");
      } catch (err) { showError("#schedule-error", err); }
    });
  }

  // ------------------------------------------------------------ event selection

  async function select(id) {
    const sock = getSocket();
    if (current) sock.leave(`admin:${current}`);
    current = id;
    points = [];
    drawChart();
    const url = new URL(location.href);
    url.searchParams.set("event", id);
    history.replaceState(null, "", url);
    const event = events.find((e) => String(e.id) === String(id));
    $("#event-open").href = `/events/${encodeURIComponent(id)}`;
    setModeRadio(event.queue.mode);
    $("#capacity").value = event.queue.capacity;
    $("#session").value = event.queue.sessionSeconds;
    delete $("#capacity").dataset.dirty;
    fillSchedule(event);
    showError("#schedule-error", null);
    call(`/api/admin/events/${encodeURIComponent(id)}/stats`).then((s) => { if (current === id) onStats(s); })
      .catch((err) => showError("#error", err));
    sock.join(`admin:${id}`, {
      snapshot: (data) => { if (current === id) onStats(data); },
      stats: (data) => { if (current === id) onStats(data); },
    }).catch((err) => showMessage("#error", "admin.liveUnavailable", { message: () => I18n.errorMessage(err) }));
  }

  async function patchQueue(queue) {
    const { event } = await call(`/api/events/${encodeURIComponent(current)}`, { method: "PATCH", body: { queue } });
    events = events.map((e) => (String(e.id) === String(event.id) ? event : e));
    return event;
  }

  function flash(el, key, args) {
    showMessage(el, key, args);
    clearTimeout(el._t);
    el._t = setTimeout(() => { el.hidden = true; }, 4000);
  }

  async function main() {
    if (!App.requireLogin("admin")) return;
    let me;
    try {
      ({ user: me } = await call("/api/me"));
    } catch (err) {
      if (err.status === 401) { location.replace(App.loginUrl(undefined, "expired")); return; }
      showError("#error", err);
      return;
    }
    if (me.role !== "admin") {
      showMessage("#error", "admin.onlyAdmins");
      return;
    }
    try {
      ({ events } = await call("/api/events"));
    } catch (err) { showError("#error", err); return; }
    $("#admin-body").hidden = false;
    $("#chart-legend").replaceChildren(...SERIES.map((s) => {
      const swatch = h("span", { class: "legend-swatch" });
      swatch.style.background = s.color;     // CSSOM, not a style attribute: the CSP allows no inline styles
      return h("span", { class: "legend-item" }, swatch, h("span", { i18n: [s.label] }));
    }));
    if (!events.length) { showMessage("#error", "admin.noEvents"); return; }
    const sel = $("#event-select");
    sel.replaceChildren(...events.map((e) => h("option", { value: e.id }, e.name)));
    const wanted = new URLSearchParams(location.search).get("event");
    sel.value = events.some((e) => String(e.id) === wanted) ? wanted : events[0].id;
    sel.addEventListener("change", () => select(sel.value));
    setUpSchedule();
    select(sel.value);

    $("#mode").addEventListener("change", async (ev) => {
      const mode = ev.target.value;
      savingMode = true;
      showError("#settings-error", null);
      try {
        await patchQueue({ mode });
        flash($("#settings-msg"), "admin.modeNow", { mode: () => I18n.t(`admin.modeValue.${mode}`) });
      } catch (err) {
        showError("#settings-error", err);
        setModeRadio(currentEvent().queue.mode);
      } finally { savingMode = false; }
    });
    $("#capacity").addEventListener("input", () => { $("#capacity").dataset.dirty = "1"; });
    $("#settings").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      showError("#settings-error", null);
      const capacity = Number($("#capacity").value), sessionSeconds = Number($("#session").value);
      if (!Number.isInteger(capacity) || capacity < 1 || !Number.isInteger(sessionSeconds) || sessionSeconds < 1) {
        showMessage("#settings-error", "admin.wholeNumbers");
        return;
      }
      try {
        await patchQueue({ capacity, sessionSeconds });
        delete $("#capacity").dataset.dirty;
        flash($("#settings-msg"), "admin.saved");
      } catch (err) { showError("#settings-error", err); }
    });
    $("#announce").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      showError("#announce-error", null);
      const message = $("#announce-text").value.trim();
      if (!message) { showMessage("#announce-error", "admin.writeFirst"); return; }
      try {
        await call(`/api/admin/events/${encodeURIComponent(current)}/announce`, { method: "POST", body: { message } });
        $("#announce-text").value = "";
        flash($("#announce-msg"), "admin.sent");
      } catch (err) { showError("#announce-error", err); }
    });
    // Without a live socket, poll the stats so the dashboard keeps moving.
    setInterval(() => {
      if (current && getSocket().state !== "open") {
        call(`/api/admin/events/${encodeURIComponent(current)}/stats`).then(onStats).catch(() => {});
      }
    }, 2000);
    setInterval(drawChart, 5000);
    window.addEventListener("resize", drawChart);
    I18n.onChange(drawChart);
  }

  App.start(main);
})();
