"""The command line as a newcomer meets it: help without markup, one line for a busy
port, and an admin lifting a login lock."""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys

from helpers import TEST_SECRET, USER_PASSWORD
from servers import ROOT


def _ticketd(*args, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ticketd", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


COMMANDS = ("serve", "migrate", "create-admin", "unlock", "rotate-keys", "loadtest")


def test_help_is_plain_text_and_says_what_create_admin_does():
    """Every --help is written for users: no reStructuredText markup, no notes meant for
    developers (such as a module docstring), and a description of what the command does."""
    from ticketd import cli

    subparsers = next(a for a in cli._parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert sorted(subparsers.choices) == sorted(COMMANDS)  # a new command joins the list above
    helps = {}
    for command in ("", *COMMANDS):
        done = _ticketd(*command.split(), "--help")
        assert done.returncode == 0, (command, done.stderr)
        helps[command] = text = done.stdout
        assert text.startswith(" ".join(["usage: ticketd", *command.split()]) + " "), (command, text[:80])
        description = text.split("\n\n")[1]  # after the usage lines
        assert len(description.split()) >= 5, (command, description)
        for markup in ("``", ":class:", ":func:", ":meth:", ".. ", "\\n"):
            assert markup not in text, (command, markup)
        for note in ("This module", "developer", "argparse", "docstring", "TODO"):
            assert note not in text, (command, note)
    loadtest = " ".join(helps["loadtest"].split())
    assert "Rehearse an on-sale" in loadtest and "Only the server given with --url" in loadtest
    create_admin = " ".join(helps["create-admin"].split())
    assert "password" in create_admin and "replaced" in create_admin


def test_a_busy_port_is_one_line(database_url, redis_url):
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        done = _ticketd("serve", "--port", str(port), env={
            "TICKETD_DATABASE_URL": database_url, "TICKETD_REDIS_URL": redis_url,
            "TICKETD_SECRET": TEST_SECRET})
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == f"ticketd: port {port} is in use on 127.0.0.1; pass --port"
    assert "Traceback" not in done.stderr


async def test_unlock_lifts_a_login_lock(api, database_url, redis_url):
    token = await api.register("forgetful")
    email = (await api.call("GET", "/api/me", token, expect=200))[1]["user"]["email"]
    wrong = {"email": email, "password": "wrong-guess"}
    while (await api.call("POST", "/api/auth/login", json=wrong))[0] != 429:
        pass
    assert (await api.call("POST", "/api/auth/login", json={**wrong, "password": USER_PASSWORD}))[0] == 429
    done = _ticketd("unlock", email.upper(), env={"TICKETD_DATABASE_URL": database_url,
                                                   "TICKETD_REDIS_URL": redis_url, "TICKETD_SECRET": TEST_SECRET})
    assert done.returncode == 0, done.stderr
    assert "cleared" in done.stdout
    await api.call("POST", "/api/auth/login", expect=200, json={**wrong, "password": USER_PASSWORD})
