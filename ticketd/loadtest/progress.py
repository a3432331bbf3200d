"""Live progress while a run goes: a rich panel on a terminal, plain lines otherwise."""

from __future__ import annotations

import asyncio
import sys
import time

from .state import DONE, GAVE_UP, NOT_ARRIVED, SHOPPING, WAITING
from .summary import errors_text

PHASES = ("accounts", "sockets", "arrival", "selling", "draining", "checking")


def snapshot(c) -> dict:
    """The numbers the live views show, read once."""
    now = time.monotonic()
    tl = c.timeline
    stats = c.server_stats or {}
    return {
        "phase": c.phase,
        "elapsed": (now - c.t0) if c.t0 and now > c.t0 else 0.0,
        "accounts": c.accounts_done,
        "fans": len(c.fans) or c.opts.fans,
        "toCome": c.counts[NOT_ARRIVED], "waiting": c.counts[WAITING], "shopping": c.counts[SHOPPING],
        "done": c.counts[DONE], "gaveUp": c.counts[GAVE_UP],
        "sold": c.sold, "held": c.held_pending, "stock": c.stock,
        "admissionsPerSecond": tl.recent_rate("admissions", now) if c.t0 else 0.0,
        "purchasesPerSecond": tl.recent_rate("purchases", now) if c.t0 else 0.0,
        "queueLength": stats.get("queueLength"), "activeUsers": stats.get("activeUsers"),
        "errors": dict(c.api.errors), "serverErrors": c.api.server_errors, "rateLimited": c.api.rate_limited,
        "pushSockets": c.push_sockets_open,
    }


def plain_line(s: dict) -> str:
    if s["phase"] == "accounts":
        return f"[accounts] {s['accounts']:,} / {s['fans']:,} accounts"
    line = (f"[{s['elapsed']:7.1f}s {s['phase']}] waiting {s['waiting']:,} · admitted {s['shopping']:,} · "
            f"done {s['done']:,} · gave up {s['gaveUp']:,} · to come {s['toCome']:,} | sold {s['sold']:,}/{s['stock']:,} | "
            f"{s['admissionsPerSecond']:.1f} adm/s · {s['purchasesPerSecond']:.1f} buy/s | errors: {errors_text(s['errors'], 5)}")
    if s["rateLimited"]:
        line += f" | {s['rateLimited']} × 429: run the target with TICKETD_RATE_LIMITS=off"
    return line


class PlainUI:
    """No terminal or ``--json``: a line on stderr every ``interval`` seconds."""

    def __init__(self, stream=None, interval: float = 5.0):
        self.stream = stream or sys.stderr
        self.interval = interval
        self.task: asyncio.Task | None = None

    def start(self, c) -> None:
        self.c = c
        self.task = asyncio.ensure_future(self._loop())

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            if self.c.phase in PHASES:
                print(plain_line(snapshot(self.c)), file=self.stream, flush=True)

    def stop(self) -> None:
        if self.task:
            self.task.cancel()

    def note(self, text: str) -> None:
        print(text, file=self.stream, flush=True)


class RichUI:
    """A terminal: a live panel refreshed four times a second from the event loop (no
    refresh thread reading the crowd's state while fans change it)."""

    def __init__(self, console):
        self.console = console
        self.live = None
        self.task: asyncio.Task | None = None

    def start(self, c) -> None:
        from rich.live import Live
        self.c = c
        self.live = Live(console=self.console, auto_refresh=False, transient=False, redirect_stdout=False)
        self.live.start()
        self.task = asyncio.ensure_future(self._loop())

    async def _loop(self) -> None:
        while True:
            self.live.update(self.render(), refresh=True)
            await asyncio.sleep(0.25)

    def stop(self) -> None:
        if self.task:
            self.task.cancel()
        if self.live:
            self.live.update(self.render(), refresh=True)
            self.live.stop()

    def note(self, text: str) -> None:
        self.console.print(text)

    def render(self):
        from rich.panel import Panel
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        s = snapshot(self.c)
        phase = Text()
        for i, name in enumerate(PHASES):
            if i:
                phase.append(" → ", style="dim")
            phase.append(name, style="bold reverse" if name == s["phase"] else "dim")
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column()
        grid.add_row("Phase", phase)
        def bar(total, done, text):
            row = Table.grid(padding=(0, 1))
            row.add_row(ProgressBar(total=max(1, total), completed=min(done, max(1, total)), width=30), Text(text))
            return row

        if s["phase"] == "accounts":
            grid.add_row("Accounts", bar(s["fans"], s["accounts"], f"{s['accounts']:,} / {s['fans']:,}"))
        grid.add_row("Elapsed", f"{s['elapsed']:.1f} s")
        grid.add_row("Fans", f"{s['waiting']:,} waiting · {s['shopping']:,} admitted · {s['done']:,} done · "
                             f"{s['gaveUp']:,} gave up · {s['toCome']:,} to come")
        grid.add_row("Tickets", bar(s["stock"], s["sold"], f"{s['sold']:,} / {s['stock']:,} sold · {s['held']:,} held"))
        grid.add_row("Rates", f"{s['admissionsPerSecond']:.1f} admissions/s · {s['purchasesPerSecond']:.1f} purchases/s")
        if s["queueLength"] is not None:
            grid.add_row("Server", f"queue {s['queueLength']:,} · active shoppers {s['activeUsers']:,}")
        grid.add_row("Sockets", f"{s['pushSockets']:,} watching event:{self.c.event_id}")
        errors = Text(errors_text(s["errors"]))
        if s["serverErrors"]:
            errors.append(f"   {s['serverErrors']:,} server errors (5xx)", style="bold red")
        grid.add_row("Errors", errors)
        if s["rateLimited"]:
            grid.add_row(Text("429", style="bold red"),
                         Text(f"{s['rateLimited']:,} requests rate limited: start the target with "
                              "TICKETD_RATE_LIMITS=off", style="bold red"))
        return Panel(grid, title=f"ticketd loadtest → {self.c.api.target.host} · event {self.c.event_id}",
                     title_align="left")

