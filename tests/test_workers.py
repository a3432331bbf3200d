"""``ticketd serve --workers 2``: two processes on one port, each a full instance: both take
connections, pushes cross between them, SIGTERM stops both with 1001 to every socket."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import aiohttp

from helpers import TEST_SECRET, queue_event, until
from servers import TicketdProcess
from wsclient import connect


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def _listening_inodes(port: int) -> set[int]:
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "0A":  # LISTEN
            inodes.add(int(fields[9]))
    return inodes


def _server_side_inode(server_port: int, client_port: int) -> int | None:
    """The inode of the server's end of the loopback connection from ``client_port``."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = fields[1].split(":")[1], fields[2].split(":")[1]
        if int(local, 16) == server_port and int(remote, 16) == client_port:
            return int(fields[9])
    return None


async def test_two_workers_share_the_port_and_the_rooms(database_url, redis_url, clean_state, api, admin_token):
    server = TicketdProcess(database_url, redis_url, TEST_SECRET, "workers", own_session=True,
                            args=("--workers", "2"), TICKETD_ADMISSION_INTERVAL=0.2)
    try:
        server.start(timeout=60)
        workers = await until(lambda: _two_children(server.process.pid), timeout=30)

        async def both_listening():  # each worker with its own listening socket on the port
            listening = _listening_inodes(server.port)
            return all(_socket_inodes(pid) & listening for pid in workers)
        await until(both_listening, timeout=60)
        eid = (await api.create_event(admin_token, queue=queue_event(capacity=5)))["id"]
        async with aiohttp.ClientSession() as http:
            sockets = [await connect(http, server.ws_url) for _ in range(24)]
            for ws in sockets:
                await ws.join(f"event:{eid}")
            owners = set()
            for ws in sockets:
                inode = _server_side_inode(server.port, ws.ws.get_extra_info("sockname")[1])
                owners |= {pid for pid in workers if inode in _socket_inodes(pid)}
            assert owners == set(workers), "one worker took every connection"

            # A push published through any worker reaches the sockets on both.
            async with http.post(f"{server.url}/api/admin/events/{eid}/announce", json={"message": "hello"},
                                 headers={"Authorization": f"Bearer {admin_token}"}) as resp:
                assert resp.status == 202
            for ws in sockets:
                assert (await ws.push("announcement", timeout=5))["data"]["message"] == "hello"

            # Both are instances of the cluster.
            async def two_instances():
                async with http.get(f"{server.url}/api/admin/events/{eid}/stats",
                                    headers={"Authorization": f"Bearer {admin_token}"}) as resp:
                    return (await resp.json())["instances"] >= 2
            await until(two_instances, timeout=10)

            # SIGTERM to the parent: every socket is closed with 1001, then everyone is gone.
            os.kill(server.process.pid, signal.SIGTERM)
            codes = await asyncio.gather(*[_close_code(ws) for ws in sockets])
            assert set(codes) == {1001}, codes
        # Polled, not waited on: this process's own loop (the in-process app of the `api`
        # fixture) keeps running meanwhile.
        async def exited():
            return server.process.poll() is not None
        try:
            await until(exited, timeout=20)
        except AssertionError:
            raise AssertionError(f"still running 20 s after SIGTERM:\n{server.log()}") from None
        assert server.process.returncode == 0, server.log()
        for pid in workers:
            assert not Path(f"/proc/{pid}").exists()
    finally:
        server.stop()


async def _two_children(pid: int):
    children = _children(pid)
    return children if len(children) == 2 else None


async def _close_code(ws) -> int:
    while True:
        msg = await asyncio.wait_for(ws.ws.receive(), 10)
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
            return ws.ws.close_code
