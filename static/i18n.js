/*
 * i18n.js — the pages' one translation mechanism. No dependencies, no build step.
 * Exposes `window.I18n`. Load it first, in <head>, without `defer`: it marks the document
 * as pending (app.css keeps the body invisible meanwhile) so no page ever shows one
 * language and then swaps to another.
 *
 * Catalogues: /static/i18n/<lang>.json, one flat object of "dotted.key": "message".
 *   - "{name}" is replaced by args.name: numbers go through Intl.NumberFormat, functions are
 *     called (so a re-translation formats again, in the new language), Nodes are inserted
 *     as they are (I18n.nodes / I18n.bind only).
 *   - a plural message is an object of Intl.PluralRules categories:
 *     {"one": "{count} seat", "other": "{count} seats"} chosen by args.count.
 *
 * Elements: static HTML says data-i18n="key" (text) and data-i18n-attr="attr:key; attr:key";
 * code calls I18n.bind(el, key, args) / I18n.bindAttr(el, attr, key, args) / I18n.bindFn(el, fn).
 * Switching language re-translates every one of them in place: nothing is reloaded and no
 * state is lost.
 *
 * Language: localStorage "ticketd.lang" if set by the switch, else the first of
 * navigator.languages that we speak (ko, ko-KR → Korean), else English. <html lang> follows.
 *
 * Time zone: dates are shown in the zone of the event they belong to, with the zone named
 * (19:00 GMT+9), wherever the fan is. A page about one event says so once with
 * I18n.setTimeZone(event.timeZone); a page with several passes each event's zone to date().
 */
(function (global) {
  "use strict";

  const SUPPORTED = ["en", "ko"];
  const DEFAULT = "en";
  const STORAGE_KEY = "ticketd.lang";
  const NAMES = { en: "English", ko: "한국어" };
  const root = document.documentElement;
  const script = document.currentScript;
  const BASE = script && script.src ? new URL("i18n/", script.src).href : "/static/i18n/";
  // Per-language tweaks to what Intl does by default.
  const DATE_EXTRA = { ko: { hourCycle: "h23" } };   // Korean ticket sites write 19:30, not 오후 7:30
  const CURRENCY_SUFFIX = { ko: { KRW: "원" } };       // 55,000원 rather than ₩55,000 in Korean

  root.classList.add("i18n-pending");

  let lang = DEFAULT;
  let messages = {};
  const catalogues = {};
  const listeners = [];

  // ---------------------------------------------------------------- language

  function supported(tag) {
    const primary = String(tag || "").toLowerCase().split(/[-_]/)[0];
    return SUPPORTED.includes(primary) ? primary : null;
  }

  function storedChoice() {
    try { return supported(localStorage.getItem(STORAGE_KEY)); } catch (_) { return null; }
  }

  /** The browser's preference: the first of navigator.languages we speak. */
  function browserChoice() {
    const prefs = (navigator.languages && navigator.languages.length) ? navigator.languages : [navigator.language];
    for (const tag of prefs) {
      const found = supported(tag);
      if (found) return found;
    }
    return DEFAULT;
  }

  function load(code) {
    if (!catalogues[code]) {
      catalogues[code] = fetch(`${BASE}${code}.json`, { cache: "no-cache", headers: { Accept: "application/json" } })
        .then((resp) => {
          if (!resp.ok) throw new Error(`${resp.status} for the ${code} catalogue`);
          return resp.json();
        })
        .catch((err) => { delete catalogues[code]; throw err; });
    }
    return catalogues[code];
  }

  // ---------------------------------------------------------------- formatting

  const cache = new Map();
  function intl(Kind, options) {
    const id = `${Kind.name}|${lang}|${JSON.stringify(options || {})}`;
    let f = cache.get(id);
    if (!f) { f = new Kind(lang, options); cache.set(id, f); }
    return f;
  }

  function number(n, options) { return intl(Intl.NumberFormat, options).format(Number(n)); }

  /** A price in its currency's own minor units: €55.00, ₩55,000 (55,000원 in Korean). */
  function money(amount, currency) {
    const code = /^[A-Z]{3}$/.test(currency || "") ? currency : "EUR";
    const f = intl(Intl.NumberFormat, { style: "currency", currency: code });
    const suffix = (CURRENCY_SUFFIX[lang] || {})[code];
    if (!suffix) return f.format(Number(amount));
    const digits = f.formatToParts(Number(amount)).filter((p) => p.type !== "currency" && p.type !== "literal");
    return `${digits.map((p) => p.value).join("")}${suffix}`;
  }

  /** The browser's own time zone. */
  function browserZone() {
    try { return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"; } catch (_) { return "UTC"; }
  }

  let pageZone = null;     // the zone of the event this page is about (null: the browser's)
  /** Show this page's dates in zone (the event's): those shown already follow at once. */
  function setTimeZone(zone) {
    zone = zone || null;
    if (zone === pageZone) return;
    pageZone = zone;
    apply(document);
  }

  const knownZones = new Map();
  /** The zone itself if this browser knows it, else UTC: its tz data may be older than the server's. */
  function usableZone(zone) {
    if (!knownZones.has(zone)) {
      let known = true;
      try { new Intl.DateTimeFormat("en", { timeZone: zone }); } catch (_) { known = false; }
      knownZones.set(zone, known);
    }
    return knownZones.get(zone) ? zone : "UTC";
  }

  const DATE_STYLES = {
    long: { weekday: "short", year: "numeric", month: "short", day: "numeric", hour: "numeric", minute: "2-digit", timeZoneName: "short" },
    time: { hour: "numeric", minute: "2-digit", timeZoneName: "short" },
    timeShort: { hour: "numeric", minute: "2-digit" },
    month: { month: "short" },
  };

  /**
   * A date in the given zone (default: the page's, see setTimeZone, else the browser's), with
   * the zone shown for the styles that carry a time: date(iso, "long", "Asia/Seoul").
   */
  function date(value, style = "long", timeZone) {
    const d = value instanceof Date ? value : new Date(value);
    if (Number.isNaN(d.getTime())) return "";
    const zone = usableZone(timeZone || pageZone || browserZone());
    if (style === "dayNumber") {     // the day of the month alone: "8", not "8일"
      const parts = intl(Intl.DateTimeFormat, { day: "numeric", timeZone: zone }).formatToParts(d);
      return (parts.find((p) => p.type === "day") || { value: "" }).value;
    }
    const options = { ...DATE_STYLES[style] || DATE_STYLES.long, timeZone: zone };
    if (options.hour) Object.assign(options, DATE_EXTRA[lang] || {});
    return intl(Intl.DateTimeFormat, options).format(d);
  }

  /** A countdown: 9:58, or 1 h 05 min past an hour, or 2 d 3 h past a day. */
  function duration(seconds) {
    seconds = Math.max(0, Math.round(Number(seconds) || 0));
    const m = Math.floor(seconds / 60), s = seconds % 60;
    if (m >= 24 * 60) return t("time.daysHours", { days: Math.floor(m / 1440), hours: Math.floor((m % 1440) / 60) });
    if (m >= 60) return t("time.hoursMinutes", { hours: Math.floor(m / 60), minutes: String(m % 60).padStart(2, "0") });
    return `${m}:${String(s).padStart(2, "0")}`;
  }

  /** An estimated wait in words: "less than a minute", "about 3 minutes". */
  function wait(seconds) {
    if (seconds === undefined || seconds === null || Number.isNaN(Number(seconds))) return "—";
    if (seconds < 60) return t("time.lessThanAMinute");
    const minutes = Math.round(seconds / 60);
    if (minutes < 60) return t("time.aboutMinutes", { count: minutes });
    return t("time.aboutHours", { hours: Math.floor(minutes / 60), minutes: minutes % 60 });
  }

  // ---------------------------------------------------------------- messages

  const missing = new Set();
  function lookup(key) {
    const entry = messages[key];
    if (entry === undefined) {
      if (!missing.has(`${lang}:${key}`)) {
        missing.add(`${lang}:${key}`);
        console.error(`i18n: missing key "${key}" in the ${lang} catalogue`);
      }
      return key;
    }
    return entry;
  }

  function template(key, args) {
    const entry = lookup(key);
    if (entry && typeof entry === "object") {
      const count = Number(args && args.count);
      const category = intl(Intl.PluralRules).select(Number.isNaN(count) ? 0 : count);
      return entry[category] ?? entry.other ?? key;
    }
    return String(entry);
  }

  function value(arg) {
    if (typeof arg === "function") arg = arg();
    if (typeof arg === "number") return number(arg);
    if (arg === undefined || arg === null) return "";
    return arg;
  }

  /** Split a message into text and its arguments' values (Nodes stay Nodes). */
  function parts(key, args = {}) {
    const out = [];
    const text = template(key, args);
    const re = /\{(\w+)\}/g;
    let last = 0, m;
    while ((m = re.exec(text))) {
      if (m.index > last) out.push(text.slice(last, m.index));
      out.push(m[1] in args ? value(args[m[1]]) : m[0]);
      last = re.lastIndex;
    }
    if (last < text.length) out.push(text.slice(last));
    return out;
  }

  /** The message for key as a string. */
  function t(key, args) {
    return parts(key, args).map((p) => (p instanceof Node ? p.textContent : String(p))).join("");
  }

  /** The message for key as nodes, for messages with elements inside ({time} → <strong>). */
  function nodes(key, args) {
    return parts(key, args).map((p) => (p instanceof Node ? p : document.createTextNode(String(p))));
  }

  // ---------------------------------------------------------------- field problems
  // A validation_error's details name each bad field with the server's (English) words for
  // what is wrong. The page says it in its own language: the field by its label on the
  // pages, the problem by the catalogue's message for it, or "check this field".

  const FIELD_LABELS = {
    email: "login.email", password: "login.password", name: "register.name",
    items: "event.tickets", quantity: "event.quantity", seatIds: "seats.selectionTitle",
    saleStartsAt: "admin.saleStartsAt", maxPerCustomer: "admin.maxPerCustomer",
    prequeueSeconds: "admin.prequeueSeconds", admitPerMinute: "admin.admitPerMinute",
    challengeBits: "admin.challengeBits", capacity: "admin.capacity", sessionSeconds: "admin.session",
    mode: "admin.modeLegend", message: "admin.announceLabel",
  };
  // The server's words for a problem (marshmallow's), its catalogue message, and the names of
  // the numbers in it.
  const PROBLEMS = [
    [/^(?:Missing data for required field|Field may not be null)/, "errors.field.required", []],
    [/^Not a valid email address/, "errors.field.email", []],
    [/^Length must be between (\d+) and (\d+)/, "errors.field.length", ["min", "max"]],
    [/^Shorter than minimum length (\d+)/, "errors.field.tooShort", ["count"]],
    [/^Longer than maximum length (\d+)/, "errors.field.tooLong", ["count"]],
    [/^Must be greater than or equal to (-?\d+) and less than or equal to (-?\d+)/, "errors.field.range", ["min", "max"]],
    [/^Not a valid (?:integer|number)/, "errors.field.number", []],
  ];

  function fieldProblem(field, words) {
    const label = FIELD_LABELS[field] ? t(FIELD_LABELS[field]) : t("errors.field.unnamed");
    for (const [pattern, key, names] of PROBLEMS) {
      const found = pattern.exec(words);
      if (!found) continue;
      const numbers = names.map((name, i) => [name, Number(found[i + 1])]);
      return t(key, { field: label, ...Object.fromEntries(numbers) });
    }
    return t("errors.field.check", { field: label });
  }

  /** Every problem in a validation_error's details, in the page's language, each said once. */
  function fieldProblems(details) {
    const said = new Set();
    const walk = (node, field) => {
      if (Array.isArray(node)) node.forEach((words) => said.add(fieldProblem(field, String(words))));
      else if (node && typeof node === "object") {
        // Indexes (items.0.quantity) and _schema/_body are where, not what: the field stays.
        for (const [key, inner] of Object.entries(node)) walk(inner, /^(\d+|_.*)$/.test(key) ? field : key);
      } else if (node !== undefined && node !== null) said.add(fieldProblem(field, String(node)));
    };
    walk(details, null);
    return [...said];
  }

  /** A message for an API or network error, in the page's language (the server speaks English). */
  function errorMessage(err) {
    if (!err) return "";
    if (typeof err === "string") return err;
    const code = err.code;
    const details = err.details || {};
    let text;
    if (code === "unauthorized" && err.tokenRefused) text = t("errors.session_expired");
    else if (code === "limit_exceeded" && details.maxPerCustomer) text = t("errors.limit_exceeded_max", { count: Number(details.maxPerCustomer) });
    else if (code === "sale_not_started" && details.saleStartsAt) text = t("errors.sale_not_started_at", { time: date(details.saleStartsAt) });
    else if (code === "challenge_required") text = t("errors.challenge_required");
    else if (code && messages[`errors.${code}`] !== undefined) text = t(`errors.${code}`);
    // A code the catalogue does not know, or an answer that is not ticketd's (a proxy's 502
    // page): its status, in the page's language.
    else if (err.status) text = t("errors.http_status", { status: String(err.status) });
    else text = t("errors.unknown");
    if (code === "validation_error") {
      const problems = fieldProblems(details);
      if (problems.length) text = `${text} (${problems.join("; ")})`;
    }
    if (err.retryAfter) text = `${text} ${t("errors.retryAfter", { count: Number(err.retryAfter) })}`;
    return text;
  }

  // ---------------------------------------------------------------- elements

  const bindings = new WeakMap();   // el -> {text: fn, attrs: {name: fn}}
  const BOUND = "data-i18n-bound";

  function record(el) {
    let b = bindings.get(el);
    if (!b) { b = { text: null, attrs: {} }; bindings.set(el, b); el.setAttribute(BOUND, ""); }
    return b;
  }

  function render(el, fn) {
    const out = fn();
    if (Array.isArray(out)) el.replaceChildren(...out);
    else el.textContent = out;
  }

  /** Let fn() produce el's content (a string or nodes), now and after every language switch. */
  function bindFn(el, fn) {
    el.removeAttribute("data-i18n");   // the binding takes over from the static key
    record(el).text = fn;
    render(el, fn);
    return el;
  }

  /** el shows the message key (with args); kept translated across language switches. */
  function bind(el, key, args) {
    return bindFn(el, () => (args && Object.values(args).some((a) => a instanceof Node) ? nodes(key, args) : t(key, args)));
  }

  function bindAttr(el, attr, key, args) {
    const fn = typeof key === "function" ? key : () => t(key, args);
    if (el.dataset.i18nAttr) {
      el.dataset.i18nAttr = el.dataset.i18nAttr.split(";").filter((pair) => pair.split(":")[0].trim() !== attr).join(";");
    }
    record(el).attrs[attr] = fn;
    el.setAttribute(attr, fn());
    return el;
  }

  function unbind(el) {
    bindings.delete(el);
    el.removeAttribute(BOUND);
  }

  let titleFn = null;
  /** document.title from a message, kept translated. */
  function title(key, args) {
    titleFn = typeof key === "function" ? key : () => t(key, args);
    document.title = titleFn();
  }

  /** Translate every marked element under node: static data-i18n ones and bound ones. */
  function apply(node = document) {
    const els = node.querySelectorAll ? [...node.querySelectorAll(`[data-i18n],[data-i18n-attr],[${BOUND}]`)] : [];
    if (node.nodeType === 1) els.unshift(node);
    for (const el of els) {
      if (el.dataset && el.dataset.i18n) el.textContent = t(el.dataset.i18n);
      if (el.dataset && el.dataset.i18nAttr) {
        for (const pair of el.dataset.i18nAttr.split(";")) {
          const [attr, key] = pair.split(":").map((s) => s.trim());
          if (attr && key) el.setAttribute(attr, t(key));
        }
      }
      const b = bindings.get(el);
      if (b) {
        if (b.text) render(el, b.text);
        for (const [attr, fn] of Object.entries(b.attrs)) el.setAttribute(attr, fn());
      } else if (el.hasAttribute && el.hasAttribute(BOUND)) {
        el.removeAttribute(BOUND);   // a copy of a bound element: nothing to re-run
      }
    }
    if (titleFn) document.title = titleFn();
  }

  function setDocumentLanguage() {
    root.lang = lang;
    root.dataset.lang = lang;
  }

  /** Switch language (and remember the choice). Resolves once the page is re-translated. */
  async function setLanguage(code, { remember = true } = {}) {
    code = supported(code) || DEFAULT;
    const catalogue = await load(code);
    lang = code;
    messages = catalogue;
    cache.clear();
    if (remember) { try { localStorage.setItem(STORAGE_KEY, code); } catch (_) { /* private mode */ } }
    setDocumentLanguage();
    apply(document);
    for (const fn of listeners.slice()) { try { fn(lang); } catch (err) { console.error(err); } }
    document.dispatchEvent(new CustomEvent("i18n:change", { detail: { lang } }));
    return lang;
  }

  function onChange(fn) { listeners.push(fn); }

  let revealed = false;
  /** Show the page (app.css hides it while .i18n-pending). */
  function reveal() {
    if (revealed) return;
    revealed = true;
    root.classList.remove("i18n-pending");
  }
  // Whatever happens, never leave a page invisible.
  setTimeout(reveal, 3000);

  const domReady = new Promise((resolve) => {
    if (document.readyState !== "loading") resolve();
    else document.addEventListener("DOMContentLoaded", resolve, { once: true });
  });

  const wanted = storedChoice() || browserChoice();
  lang = wanted;
  setDocumentLanguage();
  const ready = load(wanted).catch(() => { lang = DEFAULT; return load(DEFAULT); })
    .then((catalogue) => { messages = catalogue; setDocumentLanguage(); })
    .catch((err) => { console.error("i18n: no catalogue could be loaded", err); })
    .then(() => domReady)
    .then(() => { apply(document); return lang; });

  // Other tabs switching language: follow them.
  global.addEventListener("storage", (ev) => {
    if (ev.key === STORAGE_KEY && supported(ev.newValue) && supported(ev.newValue) !== lang) {
      setLanguage(ev.newValue, { remember: false });
    }
  });

  global.I18n = {
    get lang() { return lang; },
    languages: SUPPORTED.slice(),
    names: { ...NAMES },
    ready, reveal, setLanguage, onChange, browserChoice,
    t, nodes, has: (key) => messages[key] !== undefined,
    bind, bindAttr, bindFn, unbind, title, apply,
    number, money, date, duration, wait, browserZone, setTimeZone, usableZone, errorMessage,
  };
})(window);
