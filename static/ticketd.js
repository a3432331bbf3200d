/*
 * ticketd.js — a small browser client for the ticketd API and WebSocket protocol.
 * No dependencies, no build step. Exposes `window.Ticketd = {Socket, api, ApiError, session,
 * clock, solveChallenge, checkIn}`.
 *
 * A token the server refuses (401 on REST; an `unauthorized` reply or close on the socket)
 * is dropped from `Ticketd.session` if it is the stored one, and the socket carries on
 * anonymously: public rooms keep working, and the page decides where a sign-in is needed
 * (window event "ticketd:token-refused").
 *
 *   const sock = new Ticketd.Socket({token});
 *   const snapshot = await sock.join("event:1", {
 *     snapshot(data) { ... },                 // every (re)join, incl. resyncs after a seq gap
 *     "tickets-batch-updated"(data) { ... },  // one callback per push name
 *     "*"(name, data, seq) { ... },           // optional catch-all
 *   });
 *   await sock.leave("event:1");
 *
 *   const status = await Ticketd.checkIn("1", {token, onProgress});   // pays the toll if asked
 *   const left = new Date(status.saleStartsAt) - Ticketd.clock.now();  // the server's clock
 */
(function (global) {
  "use strict";

  // ---------------------------------------------------------------- session

  const TOKEN_KEY = "ticketd.token";
  const USER_KEY = "ticketd.user";

  function storage() {
    try { return global.localStorage || null; } catch (_) { return null; }
  }

  /** The signed-in user's token and profile, kept in localStorage. */
  const session = {
    get token() { const s = storage(); return s ? s.getItem(TOKEN_KEY) : null; },
    get user() {
      const s = storage();
      try { return s ? JSON.parse(s.getItem(USER_KEY)) : null; } catch (_) { return null; }
    },
    save(token, user) {
      const s = storage();
      if (!s) return;
      s.setItem(TOKEN_KEY, token);
      s.setItem(USER_KEY, JSON.stringify(user));
    },
    clear() {
      const s = storage();
      if (s) { s.removeItem(TOKEN_KEY); s.removeItem(USER_KEY); }
    },
    /**
     * The server refused `token`: forget it if it is the stored one, and tell everyone
     * (sockets using it go anonymous, pages re-render their sign-in state).
     */
    refuse(token) {
      if (!token) return;
      const stored = token === this.token;
      if (stored) this.clear();
      if (global.dispatchEvent && typeof CustomEvent === "function") {
        global.dispatchEvent(new CustomEvent("ticketd:token-refused", { detail: { token, stored } }));
      }
    },
  };

  // ---------------------------------------------------------------- REST

  class ApiError extends Error {
    constructor(status, code, message, details, retryAfter) {
      super(message);
      this.name = "ApiError";
      this.status = status;
      this.code = code;
      this.details = details || {};
      this.retryAfter = retryAfter;
    }
  }

  /** Turn the contract's error details into one readable sentence. */
  function describeDetails(details) {
    const parts = [];
    for (const [field, problems] of Object.entries(details || {})) {
      const text = Array.isArray(problems) ? problems.join(" ")
        : (problems && typeof problems === "object") ? describeDetails(problems)
        : String(problems);
      if (!text) continue;
      parts.push(field === "_schema" || field === "_body" ? text : `${field}: ${text}`);
    }
    return parts.join("; ");
  }

  // ---------------------------------------------------------------- the server's clock

  /**
   * The server's time, from the `Date` header of every API answer: sale starts, openings and
   * expiries are the server's, and a device clock may be minutes off. The header has whole
   * seconds, so each answer bounds the offset (server − device) to an interval:
   * [Date − received, Date + 1 s − sent]. The bounds of every answer are intersected, which
   * narrows it to well under a second after a few; an answer outside them means the device
   * clock was changed, and the estimate starts over from it.
   */
  const clock = {
    lo: -Infinity,
    hi: Infinity,
    samples: 0,
    /** server − device, in ms (0 until an answer was seen). */
    get offset() { return this.samples ? (this.lo + this.hi) / 2 : 0; },
    /** The server's time now, in ms since the epoch. */
    now() { return Date.now() + this.offset; },
    /**
     * The earliest the server's time can be now: a moment this has passed has surely passed
     * on the server, so an opening (a sale's start) waits for it rather than for now(),
     * which may run up to half a second ahead.
     */
    atLeast() { return Date.now() + (this.samples ? this.lo : 0); },
    /** Learn from one answer's Date header, sent and received at these device times. */
    sample(dateHeader, sentAt, receivedAt) {
      const at = Date.parse(dateHeader || "");
      if (Number.isNaN(at) || !(receivedAt >= sentAt)) return;
      const lo = at - receivedAt, hi = at + 1000 - sentAt;
      if (!this.samples || lo > this.hi || hi < this.lo) { this.lo = lo; this.hi = hi; }
      else { this.lo = Math.max(this.lo, lo); this.hi = Math.min(this.hi, hi); }
      this.samples += 1;
    },
  };

  /**
   * fetch() with the bearer token and JSON in and out. Resolves with the parsed body
   * (null for 204); rejects with an ApiError whose message is fit to show to a person.
   */
  async function api(path, { method = "GET", body, token, headers = {}, idempotencyKey, signal } = {}) {
    const h = { Accept: "application/json", ...headers };
    if (token) h.Authorization = `Bearer ${token}`;
    if (body !== undefined) h["Content-Type"] = "application/json";
    if (idempotencyKey) h["Idempotency-Key"] = idempotencyKey;
    let resp;
    const sentAt = Date.now();
    try {
      resp = await fetch(path, { method, headers: h, signal,
        body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (err) {
      if (err && err.name === "AbortError") throw err;
      throw new ApiError(0, "network_error", "Cannot reach the server. Check your connection and try again.");
    }
    clock.sample(resp.headers.get("Date"), sentAt, Date.now());
    // A refused token is dropped, whatever the route: the caller decides whether to ask
    // for a sign-in (a public page simply carries on without one).
    const refused = resp.status === 401 && Boolean(token);
    if (refused) session.refuse(token);
    if (resp.status === 204) return null;
    const type = resp.headers.get("Content-Type") || "";
    const data = type.includes("json") ? await resp.json().catch(() => null) : null;
    if (resp.ok) return data;
    const retryAfter = Number(resp.headers.get("Retry-After")) || undefined;
    const e = (data && data.error) || {};
    const serverMessage = e.message || `The server answered ${resp.status} ${resp.statusText}`.trim();
    let message = serverMessage;
    const extra = describeDetails(e.details);
    if (extra && e.code === "validation_error") message = `${message}: ${extra}`;
    if (retryAfter) message += ` (try again in ${retryAfter} s)`;
    const err = new ApiError(resp.status, e.code || "error", message, e.details, retryAfter);
    err.serverMessage = serverMessage;       // the server's own words, for a fallback
    err.tokenRefused = refused;
    throw err;
  }

  // ---------------------------------------------------------------- the toll

  const noop = () => {};

  // The worker's file sits beside this one (no inline or blob workers: the CSP forbids them).
  const here = typeof document !== "undefined" && document.currentScript && document.currentScript.src;
  const WORKER_URL = here ? new URL("toll-worker.js", here).href : "/static/toll-worker.js";

  /** How many workers share a solve: half the cores (the page and other tabs keep the rest), 1–4. */
  function defaultWorkers() {
    const cores = (global.navigator && global.navigator.hardwareConcurrency) || 2;
    return Math.max(1, Math.min(4, Math.floor(cores / 2)));
  }

  function abortError() {
    return typeof DOMException === "function" ? new DOMException("The solve was aborted", "AbortError")
      : Object.assign(new Error("The solve was aborted"), { name: "AbortError" });
  }

  /**
   * Solve a toll challenge off the main thread: resolves with a nonce such that SHA-256 of
   * `challenge + ":" + nonce` starts with `bits` zero bits. A browser without Web Workers
   * rejects at once, with an Error whose code is "workers_unavailable".
   * @param {object} [o]
   * @param {function} [o.onProgress] called about every 100 ms, and once at the end, with
   *   {tried, expected, fraction, done, impl, ms}: `expected` is 2^bits tries on average, and
   *   `fraction` the chance of having found one by now (1 − e^(−tried/expected)), fit for a
   *   progress bar
   * @param {AbortSignal} [o.signal]    stops the workers
   * @param {number} [o.workers]        how many (default: half the cores, 1–4)
   * @param {string} [o.impl]           "subtle" or "js" to force a hash (tests)
   * @param {string} [o.workerUrl]      where toll-worker.js is (default: beside ticketd.js)
   */
  function solveChallenge(challenge, bits, o = {}) {
    bits = Number(bits) || 0;
    const expected = 2 ** bits;
    const started = Date.now();
    const onProgress = o.onProgress || noop;
    return new Promise((resolve, reject) => {
      if (o.signal && o.signal.aborted) { reject(abortError()); return; }
      if (typeof Worker !== "function") {
        reject(Object.assign(new Error("This browser cannot run the check (no Web Workers)"), { code: "workers_unavailable" }));
        return;
      }
      const count = Math.max(1, Math.floor(o.workers || defaultWorkers()));
      const tried = new Array(count).fill(0);
      const workers = [];
      let settled = false;
      const finish = (fn, value) => {
        if (settled) return;
        settled = true;
        workers.forEach((w) => w.terminate());
        if (o.signal) o.signal.removeEventListener("abort", onAbort);
        fn(value);
      };
      const onAbort = () => finish(reject, abortError());
      if (o.signal) o.signal.addEventListener("abort", onAbort);
      const report = (done, impl) => {
        const total = tried.reduce((a, b) => a + b, 0);
        try {
          onProgress({ tried: total, expected, fraction: done ? 1 : 1 - Math.exp(-total / expected), done, impl,
            ms: Date.now() - started });
        } catch (err) { console.error(err); }
      };
      for (let i = 0; i < count; i++) {
        let worker;
        try {
          worker = new Worker(o.workerUrl || WORKER_URL);
        } catch (err) {
          finish(reject, err);
          return;
        }
        workers.push(worker);
        worker.onmessage = (ev) => {
          if (settled) return;
          const m = ev.data || {};
          if (m.error) { finish(reject, new Error(m.error)); return; }
          if (typeof m.progress === "number") { tried[i] = m.progress; report(false, m.impl); return; }
          if (typeof m.nonce === "string") {
            tried[i] = m.tried;
            report(true, m.impl);
            finish(resolve, m.nonce);
          }
        };
        worker.onerror = (ev) => {
          if (ev && ev.preventDefault) ev.preventDefault();
          finish(reject, new Error((ev && ev.message) || "The check could not run"));
        };
        worker.postMessage({ challenge, bits, start: i, stride: count, impl: o.impl, batch: o.batch });
      }
    });
  }

  /**
   * Check in to an event's waiting room, paying its toll if it asks for one: check; on
   * 403 `challenge_required` get a challenge, solve it, check again with {challenge, nonce};
   * a challenge refused then (used or expired meanwhile) is replaced by a fresh one once.
   * Resolves with the check's answer; rejects with the ApiError of a refusal.
   * @param {string} eventId
   * @param {object} [o]
   * @param {string} [o.token]
   * @param {function} [o.onChallenge] called with {bits} when solving starts
   * @param {function} [o.onProgress]  see solveChallenge
   * @param {AbortSignal} [o.signal]
   * @param {number} [o.workers]
   */
  async function checkIn(eventId, o = {}) {
    const id = encodeURIComponent(eventId);
    const check = (body) => api(`/api/queue/check/${id}`, { method: "POST", token: o.token, body, signal: o.signal });
    try {
      return await check();
    } catch (err) {
      if (!(err instanceof ApiError) || err.code !== "challenge_required") throw err;
    }
    for (let attempt = 0; ; attempt++) {
      const { challenge, bits } = await api(`/api/queue/challenge/${id}`, { token: o.token, signal: o.signal });
      if (o.onChallenge) o.onChallenge({ bits, attempt });
      const nonce = await solveChallenge(challenge, bits,
        { onProgress: o.onProgress, signal: o.signal, workers: o.workers, impl: o.impl });
      try {
        return await check({ challenge, nonce });
      } catch (err) {
        if (!(err instanceof ApiError) || err.code !== "challenge_required" || attempt >= 1) throw err;
      }
    }
  }

  // ---------------------------------------------------------------- WebSocket

  class Socket {
    /**
     * @param {object} o
     * @param {string} [o.token]           bearer token, sent in an `auth` op first thing after
     *                                     every (re)connect; refused, it is dropped (see above)
     * @param {string} [o.url]             defaults to ws(s)://<this host>/ws
     * @param {number} [o.heartbeatMs]     how often to ping (15 s)
     * @param {number} [o.pongTimeoutMs]   a ping unanswered this long means a dead connection (10 s)
     * @param {number} [o.minBackoffMs]    first reconnect delay (500 ms), doubled per failure,
     * @param {number} [o.maxBackoffMs]    up to this (15 s), each with full jitter
     * @param {number} [o.replyTimeoutMs]  a join/leave with no reply rejects after this (15 s)
     * @param {function} [o.onState]       called with "connecting" | "open" | "reconnecting" | "closed"
     * @param {function} [o.onTokenRefused] called with the token when the server refused it; the
     *                                     socket has gone on anonymously
     */
    constructor(o = {}) {
      const loc = global.location;
      this.url = o.url || `${loc.protocol === "https:" ? "wss" : "ws"}://${loc.host}/ws`;
      this.token = o.token || null;
      this.heartbeatMs = o.heartbeatMs ?? 15000;
      this.pongTimeoutMs = o.pongTimeoutMs ?? 10000;
      this.minBackoffMs = o.minBackoffMs ?? 500;
      this.maxBackoffMs = o.maxBackoffMs ?? 15000;
      this.replyTimeoutMs = o.replyTimeoutMs ?? 15000;
      this.onState = o.onState || noop;
      this.onTokenRefused = o.onTokenRefused || noop;
      this.state = "closed";
      this.ws = null;
      this.rooms = new Map();     // room -> {handlers, seq, joined, buffer, waiters}
      this.pending = new Map();   // ref -> {resolve, reject, timer}
      this.refs = 0;
      this.attempt = 0;
      this.stopped = true;
      this._timers = {};
      this._onOnline = () => { if (!this.stopped && this.state !== "open") this._reconnectNow(); };
      // The same token refused elsewhere (a REST call, another socket): go anonymous too.
      this._onRefused = (ev) => {
        const token = ev && ev.detail && ev.detail.token;
        if (token && token === this.token) this._tokenRefused();
      };
    }

    /** Open the connection (also done by the first join). */
    connect() {
      if (!this.stopped) return this;
      this.stopped = false;
      if (global.addEventListener) {
        global.addEventListener("online", this._onOnline);
        global.addEventListener("ticketd:token-refused", this._onRefused);
      }
      this._open();
      return this;
    }

    /** Close for good: no reconnect; pending replies reject. */
    close() {
      this.stopped = true;
      if (global.removeEventListener) {
        global.removeEventListener("online", this._onOnline);
        global.removeEventListener("ticketd:token-refused", this._onRefused);
      }
      this._clearTimers();
      if (this.ws) { try { this.ws.close(1000, "client closed"); } catch (_) { /* ignore */ } }
      this.ws = null;
      this._failPending("The connection was closed");
      this._setState("closed");
    }

    /**
     * Use another token (or none): the connection starts over with it, and every room is
     * joined again under the new identity.
     */
    setToken(token) {
      token = token || null;
      if (token === this.token) return;
      this.token = token;
      if (!this.stopped && this.ws) { this.attempt = 0; this._reconnectNow(); }
    }

    /**
     * Join a room. Resolves with the snapshot (the join reply's data). The room stays
     * joined across reconnects until leave(): every rejoin calls handlers.snapshot again.
     * A push whose seq is not the last one + 1 triggers a rejoin for a fresh snapshot.
     */
    join(room, handlers = {}) {
      let entry = this.rooms.get(room);
      if (entry) {
        entry.handlers = handlers;
      } else {
        entry = { handlers, seq: null, joined: false, buffer: [], waiters: [] };
        this.rooms.set(room, entry);
      }
      const promise = new Promise((resolve, reject) => entry.waiters.push({ resolve, reject }));
      if (this.stopped) this.connect();
      else if (this._isOpen() && !this.ws.authPending) this._sendJoin(room);   // else: sent after auth
      return promise;
    }

    /** Leave a room; resolves once the server acknowledges (or at once when offline). */
    leave(room) {
      const entry = this.rooms.get(room);
      this.rooms.delete(room);
      if (entry) entry.waiters.splice(0).forEach((w) => w.reject(new Error(`Left ${room}`)));
      if (!this._isOpen()) return Promise.resolve(null);
      return this._request({ op: "leave", room }).catch(() => null);
    }

    // -- internals ---------------------------------------------------

    _isOpen() { return this.ws && this.ws.readyState === WebSocket.OPEN; }

    _setState(state) {
      if (state === this.state) return;
      this.state = state;
      try { this.onState(state); } catch (err) { console.error(err); }
    }

    _open() {
      this._setState(this.attempt === 0 ? "connecting" : "reconnecting");
      // The token goes in an `auth` op, not in the URL: a refused one then gets a reply
      // that says so (a refused upgrade looks like any network failure), and it stays
      // out of access logs.
      let ws;
      try {
        ws = new WebSocket(this.url);
      } catch (err) {
        this._scheduleReconnect();
        return;
      }
      this.ws = ws;
      ws.onopen = () => {
        if (ws !== this.ws) return;
        this.attempt = 0;
        this._setState("open");
        this._startHeartbeat();
        this._authenticate(ws).then(() => {
          if (ws !== this.ws) return;
          for (const [room, entry] of this.rooms) {
            entry.joined = false;
            this._sendJoin(room);
          }
        });
      };
      ws.onmessage = (ev) => { if (ws === this.ws) this._onMessage(ev.data); };
      ws.onclose = (ev) => {
        if (ws !== this.ws) return;
        if (this.token && isAuthClose(ev)) {     // a server that closes on a bad token
          this._onDown();
          this._tokenRefused();
          return;
        }
        this._onDown();
      };
      ws.onerror = () => { /* onclose follows */ };
    }

    /** Send the token, if any; resolves when joins may follow (a refused token: anonymously). */
    _authenticate(ws) {
      const token = this.token;
      if (!token) return Promise.resolve();
      ws.authPending = true;
      return this._request({ op: "auth", token }).then(() => {
        ws.authPending = false;
      }, (err) => {
        ws.authPending = false;
        if (ws !== this.ws) return;
        if (err.code === "unauthorized") {   // refused: forget it, carry on anonymously
          this._dropToken(token);
        } else if (err.code) {               // some other refusal: carry on, token kept
          console.warn("ticketd: auth refused", err.code, err.message);
        } else if (this._isOpen()) {         // no reply in time: start over
          this._kill();
        }
      });
    }

    /** Forget a refused token here and in storage; tell the page. */
    _dropToken(token) {
      if (!token || token !== this.token) return false;
      this.token = null;
      session.refuse(token);
      try { this.onTokenRefused(token); } catch (err) { console.error(err); }
      return true;
    }

    /** The current token was refused: reconnect anonymously at once, rooms and all. */
    _tokenRefused() {
      if (!this._dropToken(this.token)) return;
      if (this.stopped) return;
      this.attempt = 0;
      this._reconnectNow();
    }

    _onDown() {
      this.ws = null;
      this._clearTimers();
      this._failPending("The connection was lost", true);
      for (const entry of this.rooms.values()) { entry.joined = false; entry.buffer = []; }
      if (!this.stopped) this._scheduleReconnect();
    }

    _scheduleReconnect() {
      this._setState("reconnecting");
      // Full jitter: a random delay up to the exponential cap, so a server restart
      // does not bring every client back in the same instant.
      const cap = Math.min(this.maxBackoffMs, this.minBackoffMs * 2 ** this.attempt);
      const delay = Math.max(100, Math.random() * cap);
      this.attempt += 1;
      clearTimeout(this._timers.reconnect);
      this._timers.reconnect = setTimeout(() => { if (!this.stopped) this._open(); }, delay);
    }

    _reconnectNow() {
      clearTimeout(this._timers.reconnect);
      if (this.ws) { try { this.ws.close(); } catch (_) { /* ignore */ } }
      this.ws = null;
      this._open();
    }

    /** Drop a connection that stopped answering and start over. */
    _kill() {
      const ws = this.ws;
      this._onDown();
      if (ws) { try { ws.close(4000, "heartbeat timeout"); } catch (_) { /* ignore */ } }
    }

    _startHeartbeat() {
      clearInterval(this._timers.heartbeat);
      this._timers.heartbeat = setInterval(() => {
        if (!this._isOpen()) return;
        const sent = this.ws;
        this._request({ op: "ping" }, this.pongTimeoutMs).catch(() => {
          if (sent === this.ws && !this.stopped) this._kill();
        });
      }, this.heartbeatMs);
    }

    _clearTimers() {
      clearInterval(this._timers.heartbeat);
      clearTimeout(this._timers.reconnect);
    }

    _request(msg, timeoutMs = this.replyTimeoutMs) {
      const ref = `r${++this.refs}`;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          this.pending.delete(ref);
          reject(new Error(`No reply to ${msg.op} within ${timeoutMs} ms`));
        }, timeoutMs);
        this.pending.set(ref, { resolve, reject, timer, op: msg.op });
        this.ws.send(JSON.stringify({ ...msg, ref }));
      });
    }

    _failPending(reason, keepJoins) {
      for (const [ref, p] of this.pending) {
        clearTimeout(p.timer);
        // A join cut off by a disconnect is retried by the rejoin after reconnect.
        if (!(keepJoins && p.op === "join")) p.reject(new Error(reason));
        this.pending.delete(ref);
      }
      if (!keepJoins) {
        for (const entry of this.rooms.values()) entry.waiters.splice(0).forEach((w) => w.reject(new Error(reason)));
      }
    }

    _sendJoin(room) {
      const entry = this.rooms.get(room);
      if (!entry || !this._isOpen()) return;
      entry.joined = false;
      entry.buffer = [];
      this._request({ op: "join", room }).then((reply) => {
        if (this.rooms.get(room) !== entry) return;
        const data = reply.data || {};
        entry.seq = typeof data.seq === "number" ? data.seq : null;
        entry.joined = true;
        this._call(entry, "snapshot", data);
        entry.waiters.splice(0).forEach((w) => w.resolve(data));
        // Pushes that raced the reply: apply those newer than the snapshot, in order.
        const buffered = entry.buffer.splice(0).sort((a, b) => a.seq - b.seq);
        for (const push of buffered) this._deliver(room, entry, push);
      }, (err) => {
        if (this.rooms.get(room) !== entry) return;
        if (err.code === "unauthorized" && this.token) {   // the token, not the room: retry without it
          this._tokenRefused();
          return;
        }
        if (err.code) {                 // the server refused: stop trying this room
          this.rooms.delete(room);
          entry.waiters.splice(0).forEach((w) => w.reject(err));
          this._call(entry, "error", err);
        } else if (this._isOpen()) {    // no reply in time: ask again
          this._sendJoin(room);
        }
      });
    }

    _onMessage(raw) {
      let msg;
      try { msg = JSON.parse(raw); } catch (_) { return; }
      if (msg.op === "reply" || msg.op === "pong") {
        const p = this.pending.get(msg.ref);
        if (!p) return;
        this.pending.delete(msg.ref);
        clearTimeout(p.timer);
        if (msg.op === "pong" || msg.ok) p.resolve(msg);
        else {
          const e = msg.error || {};
          const err = new Error(e.message || "Request refused");
          err.code = e.code || "error";
          p.reject(err);
        }
      } else if (msg.op === "event") {
        const entry = this.rooms.get(msg.room);
        if (!entry) return;
        if (!entry.joined) { entry.buffer.push(msg); return; }
        this._deliver(msg.room, entry, msg);
      } else if (msg.op === "error") {
        console.warn("ticketd: server error", msg.error);
      }
    }

    _deliver(room, entry, push) {
      if (typeof push.seq === "number" && entry.seq !== null) {
        if (push.seq <= entry.seq) return;            // already in the snapshot
        if (push.seq !== entry.seq + 1) {             // a gap: we missed something
          this._sendJoin(room);                       // rejoin for a fresh snapshot
          return;
        }
      }
      if (typeof push.seq === "number") entry.seq = push.seq;
      this._call(entry, push.event, push.data || {}, push.seq);
    }

    _call(entry, name, data, seq) {
      const h = entry.handlers;
      try {
        if (typeof h[name] === "function") h[name](data, seq);
        if (name !== "snapshot" && name !== "error" && typeof h["*"] === "function") h["*"](name, data, seq);
      } catch (err) {
        console.error(err);
      }
    }
  }

  /** A close that means "your token": 4001/4401 (the app range), or a policy close naming it. */
  function isAuthClose(ev) {
    if (!ev) return false;
    if (ev.code === 4001 || ev.code === 4401) return true;
    return ev.code === 1008 && /token|auth|unauthori[sz]ed/i.test(ev.reason || "");
  }

  global.Ticketd = { Socket, api, ApiError, describeDetails, session, clock, solveChallenge, checkIn };
})(typeof window !== "undefined" ? window : globalThis);
