"""Embedded mode, as the README's first command runs it: ``ticketd serve`` with no URLs
starts PostgreSQL and Redis from wheels under its data directory, and a second
``ticketd serve --port …`` on the same directory joins the first one's servers."""

from __future__ import annotations

import json
import uuid

import aiohttp

from ticketd.embedded import process_running

from servers import TicketdProcess
from wsclient import connect


async def _buy(session, base_url: str, token: str, quantity: int) -> None:
    async with session.post(f"{base_url}/api/reservations",
                            json={"eventId": "1", "items": [{"ticketTypeId": "1", "quantity": quantity}]},
                            headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 201, await resp.text()


async def test_two_instances_on_one_data_dir_share_the_embedded_servers(tmp_path):
    a = TicketdProcess(None, None, None, "embedded-a", data_dir=tmp_path, own_session=True)
    b = TicketdProcess(None, None, None, "embedded-b", data_dir=tmp_path, own_session=True)
    try:
        a.start(timeout=120)
        b.start(timeout=120)
        redis_pid = json.loads((tmp_path / "redis" / "server.json").read_text())["pid"]
        postgres_pid = int((tmp_path / "postgres" / "postmaster.pid").read_text().split()[0])

        async with aiohttp.ClientSession() as session:
            async with session.post(f"{a.url}/api/auth/register",
                                    json={"email": f"fan-{uuid.uuid4().hex[:8]}@example.com",
                                          "password": "a-long-password", "name": "Fan"}) as resp:
                token = (await resp.json())["token"]
            # The demo event: a purchase through A reaches the sockets on both instances.
            on_a, on_b = await connect(session, a.ws_url), await connect(session, b.ws_url)
            before = (await on_a.join("event:1"))["availability"]["1"]
            assert (await on_b.join("event:1"))["availability"]["1"] == before
            await _buy(session, a.url, token, 2)
            for ws in (on_a, on_b):
                assert (await ws.push("tickets-batch-updated", timeout=2))["data"]["1"] == before - 2

            # Ctrl-C in A's terminal stops A only; B keeps both servers.
            assert a.interrupt() == 0
            async with session.get(f"{b.url}/readyz") as resp:
                assert resp.status == 200, await resp.text()
            await _buy(session, b.url, token, 1)
            assert (await on_b.push("tickets-batch-updated", timeout=2))["data"]["1"] == before - 3

        # The last one out stops them.
        assert b.interrupt() == 0
        for instance in (a, b):  # a clean start: no warnings about the runtime dir
            assert "XDG_RUNTIME_DIR" not in instance.log() and "Traceback" not in instance.log()
        assert not process_running(redis_pid) and not process_running(postgres_pid)
        assert not (tmp_path / "redis" / "server.json").exists()
    finally:
        a.stop()
        b.stop()
