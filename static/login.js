/* Sign in / create account. */
(function () {
  "use strict";
  const { $, h, api, session, showError, showMessage } = { ...App, api: Ticketd.api };

  const FIELD_KEYS = { name: "register.name", email: "login.email", password: "login.password" };
  const REASONS = { expired: "login.reason.expired", seats: "login.reason.seats", queue: "login.reason.queue",
    admin: "login.reason.admin", buy: "login.reason.buy" };

  function nextUrl() {
    const next = new URLSearchParams(location.search).get("next") || "/";
    return next.startsWith("/") && !next.startsWith("//") ? next : "/";   // same site only
  }

  function selectTab(which, focus) {
    for (const name of ["login", "register"]) {
      const on = name === which;
      const tab = $(`#tab-${name}`);
      tab.setAttribute("aria-selected", String(on));
      tab.tabIndex = on ? 0 : -1;
      $(`#panel-${name}`).hidden = !on;
      if (on && focus) tab.focus();
    }
  }

  async function submit(form, path, fields) {
    const errEl = form.querySelector(".error");
    showError(errEl, null);
    const body = Object.fromEntries(fields.map((f) => [f, form.elements[f].value.trim()]));
    body.password = form.elements.password.value;
    const missing = fields.filter((f) => !body[f]);
    if (missing.length) {
      showMessage(errEl, "login.fillIn", { fields: () => missing.map((f) => I18n.t(FIELD_KEYS[f])).join(", ") });
      form.elements[missing[0]].focus();
      return;
    }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      // No bearer token here: a failed sign-in must not cost the current one.
      const { token, user } = await api(path, { method: "POST", body });
      session.save(token, user);
      location.replace(nextUrl());
    } catch (err) {
      if (err.status === 401 && path.endsWith("/login")) showMessage(errEl, "login.badCredentials");
      else showError(errEl, err);
      button.disabled = false;
    }
  }

  function main() {
    if (location.hash === "#register") selectTab("register");
    $("#tab-login").addEventListener("click", () => selectTab("login"));
    $("#tab-register").addEventListener("click", () => selectTab("register"));
    for (const tab of [$("#tab-login"), $("#tab-register")]) {
      tab.addEventListener("keydown", (ev) => {
        if (["ArrowRight", "ArrowLeft", "Home", "End"].includes(ev.key)) {
          ev.preventDefault();
          const which = ev.key === "Home" ? "login" : ev.key === "End" ? "register"
            : tab.id === "tab-login" ? "register" : "login";
          selectTab(which, true);
        }
      });
    }
    $("#form-login").addEventListener("submit", (ev) => {
      ev.preventDefault(); submit(ev.target, "/api/auth/login", ["email", "password"]);
    });
    $("#form-register").addEventListener("submit", (ev) => {
      ev.preventDefault(); submit(ev.target, "/api/auth/register", ["name", "email", "password"]);
    });
    const reason = REASONS[new URLSearchParams(location.search).get("reason")];
    if (reason) showMessage("#login-notice", reason);
    if (session.user && session.token) {
      $(".auth").prepend(h("p", { class: "muted", id: "signed-in-as", i18n: ["login.signedInAs", { email: session.user.email }] }));
    }
  }

  App.start(main);
})();
