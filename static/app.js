/* Shared page helpers: session, header, errors, announcements, formatting. */
(function (global) {
  "use strict";
  const { api, Socket } = global.Ticketd;
  const TOKEN_KEY = "ticketd.token";
  const USER_KEY = "ticketd.user";

  const $ = (sel, root = document) => root.querySelector(sel);

  /** Create an element: h("p", {class: "x", onclick}, "text", child, ...) */
  function h(tag, attrs = {}, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
      else if (k === "class") el.className = v;
      else if (k === "dataset") Object.assign(el.dataset, v);
      else el.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  const session = {
    get token() { return localStorage.getItem(TOKEN_KEY); },
    get user() { try { return JSON.parse(localStorage.getItem(USER_KEY)); } catch (_) { return null; } },
    save(token, user) {
      localStorage.setItem(TOKEN_KEY, token);
      localStorage.setItem(USER_KEY, JSON.stringify(user));
    },
    clear() { localStorage.removeItem(TOKEN_KEY); localStorage.removeItem(USER_KEY); },
  };

  function loginUrl(next) {
    return `/login?next=${encodeURIComponent(next || location.pathname + location.search)}`;
  }

  /** The REST helper with the stored token; a rejected token signs the user out. */
  async function call(path, opts = {}) {
    try {
      return await api(path, { token: session.token, ...opts });
    } catch (err) {
      if (err.status === 401 && session.token) {
        session.clear();
        renderHeader();
        err.message = "Your session has expired. Please sign in again.";
      }
      throw err;
    }
  }

  /** Send to the sign-in page unless signed in; returns the user. */
  function requireLogin() {
    if (!session.token) { location.replace(loginUrl()); return null; }
    return session.user;
  }

  function renderHeader() {
    const header = $("#site-header");
    if (!header) return;
    const user = session.user;
    const links = [h("a", { href: "/", class: "nav-link" }, "Events")];
    if (user && user.role === "admin") links.push(h("a", { href: "/admin", class: "nav-link" }, "Admin"));
    const account = user
      ? h("span", { class: "account" }, h("span", { class: "who", title: user.email }, user.name || user.email),
          h("button", { type: "button", class: "btn btn-link", id: "sign-out", onclick: () => {
            session.clear(); location.href = "/";
          } }, "Sign out"))
      : h("a", { href: loginUrl(), class: "btn btn-small" }, "Sign in");
    header.replaceChildren(
      h("a", { href: "/", class: "brand", "aria-label": "ticketd home" }, h("img", { class: "logo", src: "/static/favicon.svg", alt: "", width: 28, height: 28 }), "ticketd"),
      h("nav", { "aria-label": "Main" }, links),
      h("span", { id: "conn", class: "conn", role: "status", "aria-live": "polite", hidden: true }),
      account);
  }

  const STATE_TEXT = { connecting: "Connecting…", open: "Live", reconnecting: "Reconnecting…", closed: "Offline" };

  function showConnState(state) {
    const el = $("#conn");
    if (!el) return;
    el.hidden = false;
    el.dataset.state = state;
    el.textContent = STATE_TEXT[state] || state;
  }

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

  /** Show an error (ApiError or string) in a live region. */
  function showError(target, err) {
    const el = typeof target === "string" ? $(target) : target;
    if (!el) return;
    if (!err) { el.hidden = true; el.textContent = ""; return; }
    el.hidden = false;
    el.textContent = typeof err === "string" ? err : (err.message || "Something went wrong.");
  }

  /** Announcements from the event room: a dismissible banner on top of the page. */
  function showAnnouncement(data) {
    const box = $("#announcements");
    if (!box) return;
    const when = data.at ? new Date(data.at) : new Date();
    const item = h("div", { class: "announcement", role: "alert" },
      h("span", { class: "announcement-icon", "aria-hidden": "true" }, "!"),
      h("div", {}, h("strong", {}, "Announcement "), h("time", { datetime: when.toISOString() }, fmtTime(when)),
        h("p", { class: "announcement-text" }, data.message)),
      h("button", { type: "button", class: "btn btn-link", "aria-label": "Dismiss announcement",
        onclick: () => item.remove() }, "✕"));
    box.prepend(item);
  }

  const money = new Intl.NumberFormat(undefined, { style: "currency", currency: "EUR" });
  const fmtMoney = (n) => money.format(Number(n));
  const fmtDate = (iso) => new Date(iso).toLocaleString(undefined, { weekday: "short", day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit" });
  const fmtTime = (d) => d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  function fmtDuration(seconds) {
    seconds = Math.max(0, Math.round(seconds));
    const m = Math.floor(seconds / 60), s = seconds % 60;
    if (m >= 60) return `${Math.floor(m / 60)} h ${m % 60} min`;
    return `${m}:${String(s).padStart(2, "0")}`;
  }
  function fmtWait(seconds) {
    if (seconds === undefined || seconds === null) return "—";
    if (seconds < 60) return "less than a minute";
    const m = Math.round(seconds / 60);
    return m < 60 ? `about ${m} minute${m === 1 ? "" : "s"}` : `about ${fmtDuration(seconds)}`;
  }

  /** A countdown to an ISO time; calls onTick(secondsLeft) every second and onEnd once. */
  function countdown(iso, onTick, onEnd) {
    const end = new Date(iso).getTime();
    let done = false;
    const tick = () => {
      const left = (end - Date.now()) / 1000;
      onTick(Math.max(0, left));
      if (left <= 0 && !done) { done = true; clearInterval(timer); onEnd && onEnd(); }
    };
    const timer = setInterval(tick, 1000);
    tick();
    return () => clearInterval(timer);
  }

  /** The event id from /events/{id}/... */
  function eventIdFromPath() {
    const m = location.pathname.match(/^\/events\/([^/]+)/);
    return m ? decodeURIComponent(m[1]) : null;
  }

  const uuid = () => (crypto.randomUUID ? crypto.randomUUID()
    : `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`);

  document.addEventListener("DOMContentLoaded", renderHeader);

  global.App = { $, h, session, call, requireLogin, loginUrl, renderHeader, getSocket, showError,
    showAnnouncement, fmtMoney, fmtDate, fmtTime, fmtDuration, fmtWait, countdown, eventIdFromPath, uuid };
})(window);
