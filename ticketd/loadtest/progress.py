"""Live progress while a run goes (rich on a terminal, plain lines otherwise) and the
summary table at the end."""

from __future__ import annotations

import asyncio
import sys
import time

from .state import DONE, GAVE_UP, NOT_ARRIVED, SHOPPING, WAITING

PHASES = ("accounts", "sockets", "arrival", "selling", "draining", "checking")


def _fmt(value, unit: str = "", digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}{unit}"
    return f"{value:,}{unit}"


def _errors_text(errors: dict, limit: int = 8) -> str:
    if not errors:
        return "none"
    items = sorted(errors.items(), key=lambda kv: (-kv[1], kv[0]))
    text = " · ".join(f"{code} {n:,}" for code, n in items[:limit])
    if len(items) > limit:
        text += f" · … {len(items) - limit} more"
    return text


def snapshot(c) -> dict:
    """The numbers the live views show, read once."""
    now = time.monotonic()
    tl = c.timeline
    stats = c.server_stats or {}
    return {
        "phase": c.phase,
        "elapsed": (now - c.t0) if c.t0 and now > c.t0 else 0.0,
        "accounts": c.accounts_done, "accountsPath": c.accounts_path,
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
            f"{s['admissionsPerSecond']:.1f} adm/s · {s['purchasesPerSecond']:.1f} buy/s | errors: {_errors_text(s['errors'], 5)}")
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
        errors = Text(_errors_text(s["errors"]))
        if s["serverErrors"]:
            errors.append(f"   {s['serverErrors']:,} server errors (5xx)", style="bold red")
        grid.add_row("Errors", errors)
        if s["rateLimited"]:
            grid.add_row(Text("429", style="bold red"),
                         Text(f"{s['rateLimited']:,} requests rate limited: start the target with "
                              "TICKETD_RATE_LIMITS=off", style="bold red"))
        return Panel(grid, title=f"ticketd loadtest → {self.c.api.target.host} · event {self.c.event_id}",
                     title_align="left")


def summary_rows(s: dict) -> list[tuple[str, str]]:
    q, p, push = s["queueWaitSeconds"], s["purchaseMs"], s["pushMs"]
    books = s.get("oversell") or {}
    if s["oversold"] is None:
        oversell = "NOT CHECKED: " + "; ".join(books.get("problems") or [s.get("fatal") or "no run"])
    elif books.get("ok"):
        oversell = f"OK: nothing oversold; the server's count matches the tool's {books.get('reservations', 0):,} reservations"
    else:
        oversell = f"FAILED: {s['oversold']:,} oversold; " + "; ".join(books.get("problems") or [])
    rows = [
        ("Fans", f"{s['fans']:,} ({s['arrival']}, {s['ticketsPerFan']} tickets each)"),
        ("Admitted", f"{s['admitted']:,}"),
        ("Done / gave up", f"{s['done']:,} / {s['gaveUp']:,}" + (f" ({s['unfinished']:,} unfinished)" if s["unfinished"] else "")),
        ("Tickets sold", f"{s['sold']:,} of {s['stock']:,} in {s['purchases']:,} purchases"),
        ("Purchases/s", f"{s['purchasesPerSecond']:.2f} (peak {s['peakPurchasesPerSecond']} in one second)"),
        ("Admissions/s", f"{s['admissionsPerSecond']:.2f} (peak {s['peakAdmissionsPerSecond']})"),
        ("Queue wait p50 / p99", f"{_fmt(q['p50'], ' s', 2)} / {_fmt(q['p99'], ' s', 2)}  (first check → admission)"),
        ("Purchase p50 / p99", f"{_fmt(p['p50'], ' ms')} / {_fmt(p['p99'], ' ms')}  (hold + confirm HTTP)"),
        ("Push latency p50 / p99", f"{_fmt(push['p50'], ' ms')} / {_fmt(push['p99'], ' ms')}  "
                                   f"({push['samples']:,} deliveries on {s['pushSockets']} sockets)"),
        ("Sold out after", _fmt(s["soldOutSeconds"], " s", 2)),
        ("Elapsed", f"{s['elapsedSeconds']:.2f} s (first arrival → last fan)"),
        ("Accounts", f"{s['accountsPath'] or '–'} in {_fmt(s['accountsSeconds'], ' s', 2)}"),
        ("Errors by code", _errors_text(s["errors"], 20)),
        ("Server errors (5xx)", f"{s['serverErrors']:,}"),
        ("Oversell check", oversell),
        ("Tool CPU", f"{s['toolCpuSeconds']:.1f} s in all, {_fmt(s['toolCpuRunSeconds'], ' s')} while the fans ran; "
                     f"{s['toolMaxRssMB']:.0f} MB max RSS; event-loop lag p99 {_fmt(s['toolLoopLagMs']['p99'], ' ms')}"),
    ]
    if s["rateLimited"]:
        rows.append(("Rate limited (429)", f"{s['rateLimited']:,}: start the target with TICKETD_RATE_LIMITS=off"))
    return rows


def print_summary(s: dict, console=None, stream=None) -> None:
    rows = summary_rows(s)
    if console is not None:
        from rich.table import Table
        table = Table(title="ticketd loadtest: summary", show_header=False, title_justify="left")
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        for name, value in rows:
            style = "bold red" if (name == "Oversell check" and not value.startswith("OK")) or \
                (name == "Server errors (5xx)" and s["serverErrors"]) or name.startswith("Rate limited") else None
            table.add_row(name, value, style=style)
        console.print(table)
        for text in s["notes"]:
            console.print(f"[dim]note: {text}[/dim]")
        for text in s["warnings"]:
            console.print(f"[bold yellow]warning: {text}[/bold yellow]")
        if s["fatal"]:
            console.print(f"[bold red]error: {s['fatal']}[/bold red]")
        return
    stream = stream or sys.stdout
    width = max(len(name) for name, _ in rows)
    print("ticketd loadtest: summary", file=stream)
    for name, value in rows:
        print(f"  {name.ljust(width)}  {value}", file=stream)
    for text in s["notes"]:
        print(f"note: {text}", file=stream)
    for text in s["warnings"]:
        print(f"warning: {text}", file=stream)
    if s["fatal"]:
        print(f"error: {s['fatal']}", file=stream)
    stream.flush()
