"""How much of a push's CPU cost is ticketd's, and how much is the kernel's loopback send?

    .venv/bin/python benchmarks/write_floor.py [--clients 5000] [--rounds 40]

A reader process pinned to core 1 opens N loopback TCP connections and drains them with
epoll, like the fan-out harness's load generator. This process, pinned to core 0, accepts
them on uvloop and writes one announcement frame to all N per round, alternating between:

- ``hub``: ticketd's own fan-out (``write_all`` in ticketd/live/hub.py: one pre-built frame, one
  ``transport.write`` and one buffer check per socket);
- ``send``: a bare ``socket.send`` per socket, with no event-loop transport at all: the
  floor for any user-space server that writes one TCP segment per recipient.

It prints CPU per delivery (``getrusage`` around each round; the user/system split is the
kernel's tick-sampled estimate, the total is exact). On loopback the kernel also runs the
*receiver's* TCP input in the sender's context (softirq), so the system time includes the
clients' share of the work as well; the fan-out harness charges it to the server in the
same way, for ticketd and for the reference alike.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import selectors
import signal
import socket
import statistics

from ticketd.live import hub as ws

FRAME = ws.text_frame(b'{"op":"event","room":"event:1","event":"announcement","seq":1,'
                      b'"data":{"message":"Doors open at 19:00","at":"2026-11-26T23:00:00Z"}}')


def reader(port: int, clients: int) -> None:
    os.sched_setaffinity(0, {1})
    sel = selectors.EpollSelector()
    for _ in range(clients):
        conn = socket.create_connection(("127.0.0.1", port))
        conn.setblocking(False)
        sel.register(conn, selectors.EVENT_READ)
    while True:  # until SIGTERM
        for key, _ in sel.select():
            key.fileobj.recv(65536)


class _Collect(asyncio.Protocol):
    def __init__(self, transports: list, ready: asyncio.Event, clients: int):
        self.transports, self.ready, self.clients = transports, ready, clients

    def connection_made(self, transport):
        self.transports.append(transport)
        if len(self.transports) == self.clients:
            self.ready.set()


def _cpu() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


async def measure(clients: int, rounds: int) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4096)
    port = listener.getsockname()[1]
    child = os.fork()
    if child == 0:
        signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
        reader(port, clients)

    transports: list = []
    ready = asyncio.Event()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Collect(transports, ready, clients), sock=listener)
    await ready.wait()

    room = ws.Room("event:1", ws.RoomKind("event", None, None), 1)
    room.members.update(ws.Conn(None, transport, None) for transport in transports)
    # Sockets for the bare sends share the transports' descriptors; detached before closing.
    bare = [socket.socket(fileno=t.get_extra_info("socket").fileno()) for t in transports]

    def push_hub():
        ws.write_all(room, 1, FRAME, 1 << 30)

    def push_send():
        for sock in bare:
            sock.send(FRAME)

    ways = {"hub": push_hub, "send": push_send}
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
    for _ in range(rounds):
        for name, push in ways.items():
            user0, sys0 = _cpu()
            push()
            user1, sys1 = _cpu()
            results[name].append(((user1 - user0) / clients * 1e6, (sys1 - sys0) / clients * 1e6))
            # Let the reader drain before the next round, as between real pushes.
            await asyncio.sleep(0.05)

    print(f"{clients} sockets, {rounds} rounds each, one {len(FRAME)}-byte frame per socket per round")
    print("way    user µs  system µs  total µs/delivery (mean; median total)")
    for name, rows in results.items():
        user = statistics.fmean(r[0] for r in rows)
        system = statistics.fmean(r[1] for r in rows)
        median = statistics.median(r[0] + r[1] for r in rows)
        print(f"{name:5s}  {user:7.2f}  {system:9.2f}  {user + system:8.2f} ; {median:.2f}")

    for sock in bare:
        sock.detach()
    os.kill(child, signal.SIGTERM)
    os.waitpid(child, 0)
    for transport in transports:
        transport.close()
    server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < args.clients + 100:
        raise SystemExit(f"needs {args.clients + 100} open files; the hard limit is {hard}")
    os.sched_setaffinity(0, {0})
    import uvloop
    uvloop.run(measure(args.clients, args.rounds))


if __name__ == "__main__":
    main()
