/* Shared page helpers: session, header (with the language switch), errors, announcements,
 * formatting, and the throttled screen-reader announcer. Every visible string comes from
 * the I18n catalogues (static/i18n/*.json). */
(function (global) {
  "use strict";
  const { api, Socket, session } = global.Ticketd;
  const I18n = global.I18n;

  const $ = (sel, root = document) => root.querySelector(sel);

  /**
   * Create an element: h("p", {class: "x", onclick, i18n: [key, args], i18nAttr: {"aria-label": [key, args]}},
   * "text", child, ...). `i18n` binds the element's text to a catalogue message.
   */
  function h(tag, attrs = {}, ...children) {
    const el = document.createElement(tag);
    let bindText = null;
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "i18n") bindText = v;
      else if (k === "i18nAttr") for (const [attr, [key, args]] of Object.entries(v)) I18n.bindAttr(el, attr, key, args);
      else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
      else if (k === "class") el.className = v;
      else if (k === "dataset") Object.assign(el.dataset, v);
      else el.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    if (bindText) I18n.bind(el, bindText[0], bindText[1]);
    return el;
  }

  /** A <span> showing a catalogue message, kept translated. */
  const T = (key, args, attrs = {}) => h("span", { ...attrs, i18n: [key, args] });

  function loginUrl(next, reason) {
    const params = new URLSearchParams({ next: next || location.pathname + location.search });
    if (reason) params.set("reason", reason);
    return `/login?${params}`;
  }

  /**
   * The REST helper with the stored token. A refused token has already been dropped by
   * ticketd.js; the header follows (see the token-refused listener below).
   */
  function call(path, opts = {}) {
    return api(path, { token: session.token, ...opts });
  }

  /** Send to the sign-in page unless signed in; returns the user. */
  function requireLogin(reason) {
    if (!session.token) { location.replace(loginUrl(undefined, reason)); return null; }
    return session.user;
  }

  // ------------------------------------------------------------------ header

  function languageSwitch() {
    const select = h("select", { id: "lang-switch", class: "lang-switch",
      i18nAttr: { "aria-label": ["lang.label"], title: ["lang.label"] } },
    I18n.languages.map((code) => h("option", { value: code, lang: code }, I18n.names[code])));
    select.value = I18n.lang;
    select.addEventListener("change", () => {
      select.disabled = true;
      I18n.setLanguage(select.value).catch((err) => console.error(err)).finally(() => {
        select.disabled = false;
        select.value = I18n.lang;
        select.focus();
      });
    });
    I18n.onChange((lang) => { select.value = lang; });
    return h("span", { class: "lang" }, globe(), select);
  }

  /** A small globe, drawn (an emoji needs a font the system may not have). */
  function globe() {
    const NS = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(NS, "svg");
    for (const [k, v] of Object.entries({ class: "lang-icon", viewBox: "0 0 24 24", width: 18, height: 18,
      fill: "none", stroke: "currentColor", "stroke-width": 1.8, "aria-hidden": "true", focusable: "false" })) svg.setAttribute(k, v);
    for (const d of ["M12 3a9 9 0 1 0 0 18a9 9 0 1 0 0-18", "M3 12h18", "M12 3c2.5 2.6 3.8 5.6 3.8 9s-1.3 6.4-3.8 9",
      "M12 3c-2.5 2.6-3.8 5.6-3.8 9s1.3 6.4 3.8 9"]) {
      const path = document.createElementNS(NS, "path");
      path.setAttribute("d", d);
      svg.append(path);
    }
    return svg;
  }

  let langSwitch = null;
  /** The page's one language switch (the header's, or wherever a page puts it). */
  function pageLanguageSwitch() {
    langSwitch = langSwitch || languageSwitch();
    return langSwitch;
  }

  function renderHeader() {
    const header = $("#site-header");
    if (!header) return;
    const user = session.user && session.token ? session.user : null;
    const links = [h("a", { href: "/", class: "nav-link", i18n: ["nav.events"] })];
    if (user && user.role === "admin") links.push(h("a", { href: "/admin", class: "nav-link", i18n: ["nav.admin"] }));
    const account = user
      ? h("span", { class: "account" }, h("span", { class: "who", title: user.email }, user.name || user.email),
          h("button", { type: "button", class: "btn btn-link", id: "sign-out", i18n: ["account.signOut"], onclick: () => {
            session.clear(); location.href = "/";
          } }))
      : h("a", { href: loginUrl(), class: "btn btn-small", id: "sign-in", i18n: ["account.signIn"] });
    const conn = $("#conn") || h("span", { id: "conn", class: "conn", role: "status", hidden: true },
      h("span", { class: "conn-text" }));
    header.replaceChildren(
      h("a", { href: "/", class: "brand", i18nAttr: { "aria-label": ["nav.home"] } },
        h("img", { class: "logo", src: "/static/favicon.svg", alt: "", width: 28, height: 28 }),
        h("span", { class: "brand-name" }, "ticketd")),
      h("nav", { i18nAttr: { "aria-label": ["nav.main"] } }, links),
      conn, pageLanguageSwitch(), account);
  }

  function showConnState(state) {
    const el = $("#conn");
    if (!el) return;
    el.hidden = false;
    el.dataset.state = state;
    I18n.bind(el.firstElementChild, `conn.${state}`);
    I18n.bindAttr(el, "title", `conn.${state}`);
  }

  // A token refused anywhere (REST or socket): the header shows "Sign in" again, and the
  // page hears about it to ask for a sign-in where it needs one.
  global.addEventListener("ticketd:token-refused", (ev) => {
    if (!ev.detail || !ev.detail.stored) return;
    renderHeader();
    document.dispatchEvent(new CustomEvent("ticketd:signed-out"));
  });

  let socket = null;
  /** One WebSocket per page, with its state shown in the header. */
  function getSocket() {
    if (!socket) {
      socket = new Socket({ token: session.token, onState: (s) => {
        showConnState(s);
        document.dispatchEvent(new CustomEvent("ticketd:conn", { detail: s }));
      } });
      socket.connect();
    }
    return socket;
  }

  // ------------------------------------------------------------------ messages

  /** Show an error (ApiError, Error, or null to hide) in its live region, translated. */
  function showError(target, err) {
    const el = typeof target === "string" ? $(target) : target;
    if (!el) return;
    if (!err) { I18n.unbind(el); el.hidden = true; el.textContent = ""; return; }
    el.hidden = false;
    I18n.bindFn(el, () => I18n.errorMessage(err));
  }

  /** Show a catalogue message (key, args) in a message element; null hides it. */
  function showMessage(target, key, args) {
    const el = typeof target === "string" ? $(target) : target;
    if (!el) return;
    if (!key) { I18n.unbind(el); el.hidden = true; el.textContent = ""; return; }
    el.hidden = false;
    I18n.bind(el, key, args);
  }

  /** Announcements from the event room: a dismissible banner on top of the page. */
  function showAnnouncement(data) {
    const box = $("#announcements");
    if (!box) return;
    const when = data.at ? new Date(data.at) : new Date();
    const item = h("div", { class: "announcement", role: "alert" },
      h("span", { class: "announcement-icon", "aria-hidden": "true" }, "!"),
      h("div", {}, h("strong", { i18n: ["announce.title"] }), " ",
        h("time", { datetime: when.toISOString(), i18n: ["common.value", { value: () => fmtTime(when) }] }),
        h("p", { class: "announcement-text" }, data.message)),
      h("button", { type: "button", class: "btn btn-link", i18nAttr: { "aria-label": ["announce.dismiss"] },
        onclick: () => item.remove() }, "✕"));
    box.prepend(item);
  }

  /**
   * A screen-reader announcer that does not flood: say(key, args) speaks at most once per
   * `minGapMs` (later calls in the gap are dropped unless {force: true}).
   */
  function announcer(target, { minGapMs = 10000 } = {}) {
    const el = typeof target === "string" ? $(target) : target;
    let last = 0;
    return {
      get lastAt() { return last; },
      /** key (+ args) of a message, or a function returning the words. */
      say(key, args, { force = false } = {}) {
        if (!el) return false;
        const now = Date.now();
        if (!force && now - last < minGapMs) return false;
        last = now;
        el.textContent = "";                      // a change, even to the same words
        el.textContent = typeof key === "function" ? key() : I18n.t(key, args);
        return true;
      },
    };
  }

  // ------------------------------------------------------------------ formatting

  const fmtMoney = (n, currency) => I18n.money(n, currency || "EUR");
  // Times in an event's zone: the one given, else the page's (I18n.setTimeZone).
  const fmtDate = (iso, zone) => I18n.date(iso, "long", zone);
  const fmtTime = (d, zone) => I18n.date(d, "time", zone);
  const fmtDuration = (seconds) => I18n.duration(seconds);
  const fmtWait = (seconds) => I18n.wait(seconds);

  /** The server's time now (ms): its clock, not the device's (see Ticketd.clock). */
  const serverNow = () => global.Ticketd.clock.now();
  /** The earliest the server's time can be (ms): what openings wait for. */
  const serverAtLeast = () => global.Ticketd.clock.atLeast();

  /**
   * A countdown to an ISO time on the server's clock; calls onTick(secondsLeft) as each
   * whole second passes (secondsLeft rounded up, so 0 only at the end) and onEnd once.
   * ``now`` reads that clock (serverAtLeast for an opening). Returns stop().
   */
  function countdown(iso, onTick, onEnd, now = serverNow) {
    const end = new Date(iso).getTime();
    let done = false, timer = null;
    const tick = () => {
      clearTimeout(timer);
      const leftMs = end - now();
      onTick(Math.max(0, Math.ceil(leftMs / 1000)));
      if (leftMs <= 0) {
        if (!done) { done = true; stop(); if (onEnd) onEnd(); }
        return;
      }
      // The next whole second of what is left (a little after it, never before).
      timer = setTimeout(tick, (leftMs % 1000 || 1000) + 15);
    };
    // Background tabs run timers late: catch up the moment the tab is seen again.
    const onVisible = () => { if (document.visibilityState === "visible" && !done) tick(); };
    document.addEventListener("visibilitychange", onVisible);
    const stop = () => { done = true; clearTimeout(timer); document.removeEventListener("visibilitychange", onVisible); };
    tick();
    return stop;
  }

  /** The event id from /events/{id}/... (or the gate's /gate/{id}) */
  function eventIdFromPath() {
    const m = location.pathname.match(/^\/(?:events|gate)\/([^/]+)/);
    return m ? decodeURIComponent(m[1]) : null;
  }

  const uuid = () => (crypto.randomUUID ? crypto.randomUUID()
    : `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`);

  /**
   * Run a page's main once the DOM and the language are ready; the page shows only then,
   * after prepare() if given (what must be in place before anything is seen).
   */
  function start(main, prepare) {
    I18n.ready.then(() => {
      renderHeader();
      if (prepare) prepare();
      I18n.reveal();
      return main();
    }).catch((err) => { console.error(err); I18n.reveal(); });
  }

  global.App = { $, h, T, session, call, requireLogin, loginUrl, renderHeader, languageSwitch: pageLanguageSwitch,
    getSocket, showError, showMessage,
    showAnnouncement, announcer, fmtMoney, fmtDate, fmtTime, fmtDuration, fmtWait, countdown, serverNow,
    serverAtLeast, eventIdFromPath, uuid, start };
})(window);
