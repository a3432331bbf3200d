/* Sign in / create account. */
(function () {
  "use strict";
  const { $, call, session, showError } = App;

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
      showError(errEl, `Please fill in: ${missing.join(", ")}.`);
      form.elements[missing[0]].focus();
      return;
    }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const { token, user } = await call(path, { method: "POST", body });
      session.save(token, user);
      location.replace(nextUrl());
    } catch (err) {
      showError(errEl, err);
      button.disabled = false;
    }
  }

  function main() {
    if (location.hash === "#register") selectTab("register");
    $("#tab-login").addEventListener("click", () => selectTab("login"));
    $("#tab-register").addEventListener("click", () => selectTab("register"));
    for (const tab of [$("#tab-login"), $("#tab-register")]) {
      tab.addEventListener("keydown", (ev) => {
        if (ev.key === "ArrowRight" || ev.key === "ArrowLeft") {
          selectTab(tab.id === "tab-login" ? "register" : "login", true);
        }
      });
    }
    $("#panel-login").addEventListener("submit", (ev) => {
      ev.preventDefault(); submit(ev.target, "/api/auth/login", ["email", "password"]);
    });
    $("#panel-register").addEventListener("submit", (ev) => {
      ev.preventDefault(); submit(ev.target, "/api/auth/register", ["name", "email", "password"]);
    });
    if (session.user) {
      const p = document.createElement("p");
      p.className = "muted";
      p.textContent = `You are signed in as ${session.user.email}.`;
      $(".auth").prepend(p);
    }
  }

  document.addEventListener("DOMContentLoaded", main);
})();
