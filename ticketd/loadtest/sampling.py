"""What the run samples while the fans go: once a second the tool's own gauges and the
server's queue stats into the time series, how late the event loop wakes, and how long
the garbage collector pauses."""

from __future__ import annotations

import asyncio
import gc
import time

from .state import NOT_ARRIVED, WAITING

SERVER_GAUGES = ("queueLength", "prequeueLength", "activeUsers", "connections")   # from the admin stats


class CollectorTimer:
    """The cyclic collector off while the fans run, and the time it spends when it runs.

    Thousands of long-lived fans, sockets, tasks and timers: the cyclic collector rescans
    them again and again, in pauses of up to a second in a spike (measured), which every
    latency then includes. The crowd makes next to no cyclic garbage (a 6,000-fan run
    peaked at the same RSS with the collector off), so it is off while the fans run and
    back on afterwards."""

    def __init__(self):
        self.seconds = 0.0
        self.max_pause = 0.0
        self._started: float | None = None

    def pause(self) -> None:
        gc.collect()
        gc.freeze()
        gc.callbacks.append(self._timer)
        gc.disable()

    def resume(self) -> None:
        gc.enable()
        gc.unfreeze()

    def stop(self) -> None:
        gc.enable()
        if self._timer in gc.callbacks:
            gc.callbacks.remove(self._timer)

    def _timer(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif self._started is not None:
            pause = time.perf_counter() - self._started
            self.seconds += pause
            self.max_pause = max(self.max_pause, pause)
            self._started = None


async def watch_loop_lag(c) -> None:
    """How late a 100 ms sleep wakes: when this grows, the tool itself is the
    bottleneck and every latency it measures is inflated by as much."""
    while True:
        before = time.monotonic()
        await asyncio.sleep(0.1)
        c.loop_lag.add(max(0.0, time.monotonic() - before - 0.1))


async def every_second(c) -> None:
    """Once a second: the tool's own gauges, and a poll of the server's stats unless the
    previous one is still out (a slow server leaves gaps in its series, not in ours)."""
    poll: asyncio.Future | None = None
    while True:
        await asyncio.sleep(1.0 - (time.monotonic() - c.t0) % 1.0)
        gauges(c)
        if c.admin_token and (poll is None or poll.done()):
            poll = asyncio.ensure_future(poll_server_stats(c))
            c.tasks.append(poll)
            c.tasks = [t for t in c.tasks if not t.done()]


async def sample_once(c) -> None:
    gauges(c)
    if c.admin_token:
        await poll_server_stats(c)


def gauges(c) -> None:
    now = time.monotonic()
    if c.phase in ("arrival", "selling", "draining"):
        c.phase = ("draining" if c.sold_out else
                   "arrival" if c.counts[NOT_ARRIVED] else "selling")
    c.timeline.gauge("waiting", now, c.counts[WAITING])


async def poll_server_stats(c) -> None:
    r = await c.api.call("GET", f"/api/admin/events/{c.event_id}/stats", c.admin_token, timeout=5)
    now = time.monotonic()
    if r.ok and isinstance(r.data, dict):
        c.server_stats = r.data
        c.server_stats_ok = True
        for key in SERVER_GAUGES:
            if isinstance(r.data.get(key), (int, float)):
                c.timeline.gauge(f"server.{key}", now, r.data[key])
