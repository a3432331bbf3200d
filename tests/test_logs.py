"""Structured logs: TICKETD_LOG_FORMAT=json writes one JSON object a line with the request id,
route, status and latency; no line holds a password, a token or a cookie; a malformed HTTP
request is one warning line, not a traceback."""

from __future__ import annotations

import json
import socket

import aiohttp

from helpers import USER_PASSWORD, queue_event, until
from wsclient import connect


async def test_json_lines_and_no_secret_in_any(ticketd_processes, api, admin_token):
    server = ticketd_processes(1, TICKETD_LOG_FORMAT="json", TICKETD_ADMISSION_INTERVAL=0.2)[0]
    eid = (await api.create_event(admin_token, queue=queue_event(capacity=5)))["id"]
    secrets: list[str] = [USER_PASSWORD, "s3cret-Passw0rd!", admin_token]
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{server.url}/api/auth/register", json={
                "email": "logged@example.com", "password": "s3cret-Passw0rd!", "name": "L"}) as resp:
            token = (await resp.json())["token"]
        async with http.post(f"{server.url}/api/auth/login", json={
                "email": "logged@example.com", "password": "wrong-password-9"}) as resp:
            assert resp.status == 401
        secrets += [token, "wrong-password-9"]
        ws = await connect(http, f"{server.ws_url}?token={token}")
        await ws.join(f"queue:{eid}")
        await ws.close()
        async with http.post(f"{server.url}/api/visitors") as resp:
            visitor = (await resp.json())["token"]
        secrets.append(visitor)

        async def admitted():
            async with http.post(f"{server.url}/api/queue/check/{eid}", headers={"Authorization": f"Bearer {visitor}"}) as r:
                return (await r.json()).get("admissionToken")
        admission = await until(admitted)
        secrets.append(admission)
        async with http.post(f"{server.url}/api/gate/{eid}/pass", json={"admissionToken": admission, "return": "/"}) as r:
            assert r.status == 200
        async with http.get(f"{server.url}/api/queue/verify/{eid}",
                            headers={"Cookie": f"ticketd_admission_{eid}={admission}", "X-Request-Id": "trace-42"}) as r:
            assert r.status == 204
        async with http.get(f"{server.url}/api/me", headers={"Authorization": f"Bearer {token}"}) as r:
            assert r.status == 200

        async def logged() -> list[dict]:
            lines = [json.loads(line) for line in server.log_path.read_text().splitlines() if line.startswith("{")]
            return lines if any(line.get("request_id") == "trace-42" for line in lines) else None
        lines = await until(logged)
    text = server.log_path.read_text()
    for line in text.splitlines():
        if line.strip() and not line.startswith(("ticketd ", "\n", "First start", "  admin")):
            json.loads(line)  # every log line is one JSON object
    for secret in secrets:
        assert secret not in text
    verify = next(line for line in lines if line.get("request_id") == "trace-42")
    assert verify["route"] == "/api/queue/verify/{eventId}" and verify["status"] == 204
    assert verify["latency_ms"] >= 0 and verify["level"] == "info"


def test_a_malformed_request_is_one_warning_line(ticketd_processes):
    server = ticketd_processes(1)[0]
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.")
    with socket.create_connection(("127.0.0.1", server.port)) as sock:  # still serving
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert b" 200 " in sock.recv(200)
    log = server.log()
    assert "Traceback" not in log
    warnings = [line for line in log.splitlines() if "WARNING aiohttp.server" in line]
    assert len(warnings) == 1 and "Content-Length" in warnings[0]
