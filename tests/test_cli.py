"""The command line as a newcomer meets it: help without markup, one line for a busy
port, and an admin lifting a login lock."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from helpers import TEST_SECRET, USER_PASSWORD
from servers import ROOT


def _ticketd(*args, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ticketd", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


def test_help_is_plain_text_and_says_what_create_admin_does():
    for args in (["--help"], ["serve", "--help"], ["create-admin", "--help"], ["unlock", "--help"]):
        done = _ticketd(*args)
        assert done.returncode == 0 and "``" not in done.stdout and "usage: ticketd" in done.stdout
    assert "password" in _ticketd("create-admin", "--help").stdout.replace("\n", " ")
    assert "replaced" in _ticketd("create-admin", "--help").stdout.replace("\n", " ")


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
