/* alerts.js — telling someone that their turn came while the tab was in the background:
 * the tab's title flashes, a chime plays if they turned it on, and a system notification
 * shows if they allowed them. Shared by the waiting room (queue.js) and the gate page
 * (gate.js). All of it runs from the admission push itself, not from a timer: background
 * timers are throttled.
 *
 * The controls are the page's own markup: a button #notify (asks for the permission: never
 * on load), its state #notify-state, and a checkbox #sound. Exposes `window.Alerts`.
 */
(function (global) {
  "use strict";
  const { $, showMessage } = global.App;
  const SOUND_KEY = "ticketd.sound";

  // ------------------------------------------------------------------ the title

  let flashTimer = null;
  /** Alternate the tab's title between turn() and base() until stopFlash(). */
  function flashTitle(turn, base) {
    if (flashTimer) return;
    let on = true;
    const show = () => { document.title = on ? turn() : base(); on = !on; };
    show();                                 // at once, from the push itself
    flashTimer = setInterval(show, 1000);   // the alternation may run late in the background: fine
  }

  /** Stop flashing; the title becomes steady() (kept translated). */
  function stopFlash(steady) {
    clearInterval(flashTimer);
    flashTimer = null;
    if (steady) I18n.title(steady);
  }

  // ------------------------------------------------------------------ the chime

  const soundOn = () => { try { return localStorage.getItem(SOUND_KEY) === "on"; } catch (_) { return false; } };
  let audioCtx = null;
  function audio() {
    const Ctx = global.AudioContext || global.webkitAudioContext;
    if (!Ctx) return null;
    if (!audioCtx) audioCtx = new Ctx();
    if (audioCtx.state === "suspended") audioCtx.resume().catch(() => {});
    return audioCtx;
  }

  /** Two short sine tones, generated: no audio file. */
  function chime(volume = 0.25) {
    const ctx = audio();
    if (!ctx) return;
    const t0 = ctx.currentTime + 0.02;
    for (const [freq, at] of [[880, 0], [1318.5, 0.18]]) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = "sine";
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, t0 + at);
      gain.gain.exponentialRampToValueAtTime(volume, t0 + at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t0 + at + 0.4);
      osc.connect(gain).connect(ctx.destination);
      osc.start(t0 + at);
      osc.stop(t0 + at + 0.45);
    }
  }

  // ------------------------------------------------------------------ notifications

  const canNotify = () => "Notification" in global;

  function renderNotifyState() {
    const button = $("#notify");
    if (!canNotify()) {
      button.hidden = true;
      showMessage("#notify-state", "queue.notify.unsupported");
      return;
    }
    const permission = Notification.permission;
    button.hidden = permission !== "default";
    showMessage("#notify-state", permission === "granted" ? "queue.notify.on"
      : permission === "denied" ? "queue.notify.denied" : null);
  }

  /** A system notification, if allowed: {title, body, tag, onClick}. */
  function notify({ title, body, tag, onClick }) {
    if (!canNotify() || Notification.permission !== "granted") return;
    try {
      const n = new Notification(title, { body, tag, requireInteraction: true, lang: I18n.lang,
        icon: "/static/favicon.svg" });
      n.onclick = () => { global.focus(); n.close(); if (onClick) onClick(); };
    } catch (err) {
      console.warn("ticketd: the notification could not be shown", err);   // e.g. Android wants a service worker
    }
  }

  /** Wire the page's controls: the notification button, the sound checkbox. */
  function setUp() {
    renderNotifyState();
    $("#notify").addEventListener("click", async () => {
      try { await Notification.requestPermission(); } catch (_) { /* old callback form: ignore */ }
      renderNotifyState();
      if (Notification.permission !== "default") $("#sound").focus();
    });
    const sound = $("#sound");
    sound.checked = soundOn();
    sound.addEventListener("change", () => {
      try { localStorage.setItem(SOUND_KEY, sound.checked ? "on" : "off"); } catch (_) { /* private mode */ }
      if (sound.checked) chime(0.12);      // a preview; also unlocks audio while we have a gesture
    });
    // Browsers only let a page play sound after an interaction with it: unlock on the first
    // one so that the chime can play later from a background tab.
    const unlock = () => { if (soundOn()) audio(); };
    document.addEventListener("pointerdown", unlock, { once: true });
    document.addEventListener("keydown", unlock, { once: true });
  }

  // ------------------------------------------------------------------ the turn

  const visible = () => document.visibilityState === "visible";

  /**
   * Someone's turn came. Seen: go() at once. In the background: all the alerts now, from
   * this push (the title alternates between title.turn() and title.base(), the chime if
   * turned on, the notification), then go() the moment the tab is seen again, the title
   * steady() by then.
   * @param {object} o  {title: {turn, base, steady}, notification: {title, body, tag}, go}
   */
  function turn(o) {
    if (visible()) { o.go(); return; }
    let gone = false;
    const go = () => {
      if (gone) return;
      gone = true;
      document.removeEventListener("visibilitychange", onVisible);
      stopFlash(o.title.steady);
      o.go();
    };
    const onVisible = () => { if (visible()) go(); };
    flashTitle(o.title.turn, o.title.base);
    if (soundOn()) chime();
    notify({ ...o.notification, onClick: go });
    document.addEventListener("visibilitychange", onVisible);
  }

  global.Alerts = {
    setUp, turn, flashTitle, stopFlash, chime, notify, soundOn,
    get flashing() { return flashTimer !== null; },
  };
})(window);
