"""A run from start to end, phase by phase: load the event, make the accounts, open the
sampled event sockets, let the fans arrive and watch them, then check the server's books
against the tool's own and sum it up."""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import time

import aiohttp

from . import accounts, books, eventwatch, sampling, summary
from .client import Api, Target
from .crowd import RATE_LIMIT_NOTE, Crowd, Fatal, Options
from .fan import run_fan
from .state import NOT_ARRIVED, Fan, Inventory
from .stats import ErrorCounts


async def prepare(c: Crowd) -> None:
    api = c.api
    r = await api.call("GET", f"/api/events/{c.event_id}")
    if not r.ok or not isinstance(r.data, dict) or "event" not in r.data:
        raise Fatal(f"cannot load event {c.event_id} from {api.target.base}: "
                    f"{r.status or 'no answer'} {r.code or ''}".strip())
    c.event = r.data["event"]
    queue = c.event.get("queue") or {}
    c.challenge_bits = int(queue.get("challengeBits") or 0)
    if c.challenge_bits:
        await c.toll_solver().start(c.challenge_bits)
    if not c.visitors and is_gate_event(c.event):
        c.visitors = True
        c.notes.append(f"event {c.event_id} has nothing of its own to sell (a gate event): the fans are "
                       "visitors of the site behind it")
    if c.opts.ticket_type and c.opts.ticket_type not in {str(t["id"]) for t in c.event["ticketTypes"]}:
        raise Fatal(f"event {c.event_id} has no ticket type {c.opts.ticket_type}")
    if c.opts.admin_email:
        r = await api.call("POST", "/api/auth/login",
                           body={"email": c.opts.admin_email, "password": c.opts.admin_password or ""})
        if not r.ok:
            raise Fatal(f"admin login failed: {r.status or 'no answer'} {r.code or ''}".strip())
        if ((r.data or {}).get("user") or {}).get("role") != "admin":
            raise Fatal(f"{c.opts.admin_email} is not an admin")
        c.admin_token = r.data["token"]

    c.phase = "accounts"
    started = time.monotonic()

    def accounts_progress(n):
        c.accounts_done = n

    users, c.accounts_path, notes = await accounts.create(c, c.opts.fans, accounts_progress)
    c.accounts_seconds = time.monotonic() - started
    c.notes.extend(notes)
    if len(users) < c.opts.fans:
        c.warnings.append(f"only {len(users)} of {c.opts.fans} accounts could be made")
    if not users:
        raise Fatal("no accounts could be made for the fans")
    c.fans = [Fan(i, token) for i, token in enumerate(users)]
    c.counts[NOT_ARRIVED] = len(c.fans)

    # The books before the crowd: what is sold already, and the seat map.
    r = await api.call("GET", f"/api/events/{c.event_id}")
    if not r.ok:
        raise Fatal(f"cannot load event {c.event_id}: {r.status or 'no answer'} {r.code or ''}".strip())
    c.event = r.data["event"]
    seats = None
    if c.event.get("hasSeats"):
        r = await api.call("GET", f"/api/events/{c.event_id}/seats")
        if not r.ok:
            raise Fatal(f"cannot load the seats of event {c.event_id}: {r.status} {r.code}")
        seats = r.data.get("seats") or []
    c.inventory = Inventory(c.event, seats)
    c.baseline_taken = {str(t["id"]): int(t["total"]) - int(t["available"]) for t in c.event["ticketTypes"]}
    c.stock = sum(max(0, int(t["available"])) for t in c.event["ticketTypes"])
    c.tracker = eventwatch.PushTracker({str(t["id"]): int(t["available"]) for t in c.event["ticketTypes"]})

    if c.visitors:
        return          # visitors hold nothing: no stock to watch, no push latency to take
    c.phase = "sockets"
    count = max(1, min(c.opts.push_sockets, len(c.fans))) if c.opts.push_sockets > 0 else 1
    joined = await eventwatch.open_sockets(c, count)
    if joined < count:
        c.warnings.append(f"only {joined} of {count} event-room sockets joined within 30 s")
        if joined == 0:
            raise Fatal("no socket could join the event room: is /ws reachable?")


def is_gate_event(event: dict) -> bool:
    """An event with nothing of its own to sell (every ticket type's quantity is 0) is only a
    waiting room, in front of another site: ticketd's events carry no other mark of it."""
    return all(int(t.get("total") or 0) == 0 for t in event.get("ticketTypes") or [])


async def play(c: Crowd) -> None:
    loop = asyncio.get_running_loop()
    n = len(c.fans)
    spread = c.opts.ramp_seconds
    c.phase = "arrival"
    c.loop_t0 = loop.time() + 0.05
    c.t0 = time.monotonic() + 0.05
    c.timeline.t0 = c.t0
    c.cpu_at_start = _cpu()
    c.check_sold_out()
    for fan in c.fans:
        fan.arrive_at = c.loop_t0 + (fan.index * spread / n)
    c.gc.pause()
    c.tasks.append(asyncio.ensure_future(sampling.every_second(c)))
    c.tasks.append(asyncio.ensure_future(sampling.watch_loop_lag(c)))
    tasks = [asyncio.ensure_future(run_fan(c, fan)) for fan in c.fans]
    try:
        done, pending = await asyncio.wait(tasks, timeout=c.opts.timeout)
    except asyncio.CancelledError:
        # Ctrl-C: stop the fans, but still check the books and print the summary
        # (a second Ctrl-C stops everything).
        asyncio.current_task().uncancel()
        c.interrupted = True
        c.warnings.append("interrupted (Ctrl-C): the fans were stopped where they were")
        done = {t for t in tasks if t.done()}
        pending = {t for t in tasks if not t.done()}
    if pending and not c.interrupted:
        c.timed_out = True
        c.warnings.append(f"{len(pending)} fans had not finished after --timeout {c.opts.timeout:g} s")
    if pending:
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            c.tool_error()
    c.ended = time.monotonic()
    c.cpu_run = _cpu() - c.cpu_at_start
    c.gc.resume()
    c.phase = "checking"
    await sampling.sample_once(c)


async def shutdown(c: Crowd) -> None:
    c.stopping = True
    c.gc.stop()
    for task in c.tasks:
        task.cancel()
    await asyncio.gather(*c.tasks, return_exceptions=True)
    if c.solver is not None:
        c.solver.shutdown()


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _stop_on_sigterm() -> None:
    """SIGTERM does what Ctrl-C does (asyncio.run's own handler): the first one stops the
    fans and still checks the books and prints the summary; a second one exits at once."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    count = 0

    def handler():
        nonlocal count
        count += 1
        if count > 1:
            os._exit(143)
        task.cancel()
    try:
        loop.add_signal_handler(signal.SIGTERM, handler)
    except (NotImplementedError, RuntimeError, ValueError):
        pass


# Keep-alive connections for the crowd's requests: each takes milliseconds, so a few
# hundred serve tens of thousands of fans.
HTTP_CONNECTIONS = 256


def raise_open_files(needed: int) -> dict:
    """Lift RLIMIT_NOFILE to what the run needs (the hard limit too, when allowed)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    info = {"needed": needed, "before": soft, "limit": soft}
    if soft >= needed:
        return info
    target_hard = hard if hard == resource.RLIM_INFINITY or hard >= needed else needed
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, target_hard))
    except (ValueError, OSError):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass
    info["limit"] = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return info


async def run(opts: Options, ui) -> tuple[dict, Crowd]:
    """The whole run: its summary, and the crowd (its timeline feeds the report)."""
    target = Target(opts.url)
    # Each fan holds a queue socket; the sampled sockets, the requests' pool and the
    # process's own files come on top.
    needed = opts.fans + opts.push_sockets + HTTP_CONNECTIONS + 128
    open_files = raise_open_files(needed)
    session_options = dict(trust_env=False, cookie_jar=aiohttp.DummyCookieJar(),
                           timeout=aiohttp.ClientTimeout(total=opts.http_timeout))
    requests = aiohttp.TCPConnector(limit=HTTP_CONNECTIONS, limit_per_host=0, ttl_dns_cache=300,
                                    keepalive_timeout=60, enable_cleanup_closed=False)
    sockets = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, enable_cleanup_closed=False)
    async with aiohttp.ClientSession(connector=requests, **session_options) as session, \
            aiohttp.ClientSession(connector=sockets, **session_options) as ws_session:
        api = Api(session, ws_session, target, ErrorCounts(), opts.http_timeout)
        api.socket_budget = open_files["limit"] - HTTP_CONNECTIONS - 128
        c = Crowd(opts, api)
        c.open_files = open_files
        c.notes.append(RATE_LIMIT_NOTE)
        if open_files["limit"] < needed:
            c.warnings.append(f"the open-files limit is {open_files['limit']:,} and could not be raised to the "
                              f"{needed:,} this run needs (a socket per fan, {opts.push_sockets} watching sockets "
                              f"and {HTTP_CONNECTIONS} for requests): at most {api.socket_budget:,} sockets are "
                              "open at once and the fans past that poll their status instead (socketsRefused); "
                              "raise the hard limit (ulimit -Hn) or use fewer --fans")
        ui.start(c)
        ui.note(f"note: {RATE_LIMIT_NOTE}")
        _stop_on_sigterm()
        try:
            try:
                await prepare(c)
                await play(c)
            except Fatal as exc:
                c.fatal = str(exc)
            except asyncio.CancelledError:      # Ctrl-C or SIGTERM before the fans came
                asyncio.current_task().uncancel()
                c.interrupted = True
                c.warnings.append("interrupted before the crowd arrived")
            if c.inventory is not None and c.t0 is not None:
                c.phase = "checking"
                c.oversell = await books.check(c)
            c.phase = "done"
        finally:
            ui.stop()
            await shutdown(c)
        return summary.build(c), c
