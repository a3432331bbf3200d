"""The end of a run: the summary (``--json`` prints it as is), its exit code, and its rows
as the terminal and the HTML report show them."""

from __future__ import annotations

import resource
import sys
import time

from .crowd import RATE_LIMIT_NOTE
from .sampling import SERVER_GAUGES
from .state import DONE, GAVE_UP, NOT_ARRIVED, SHOPPING, WAITING


def build(c) -> dict:
    elapsed = (c.ended or time.monotonic()) - c.t0 if c.t0 else 0.0

    def rate(count, start, end):
        if not count or start is None or end is None:
            return 0.0
        return round(count / max(end - start, 1.0), 2)

    usage = resource.getrusage(resource.RUSAGE_SELF)
    confirmed = [h for h in c.ledger.values() if h.status == "confirmed"]
    sold = sum(h.tickets for h in confirmed)
    out = {
        "fans": len(c.fans) or c.opts.fans,
        "visitors": c.visitors,
        "admitted": c.admitted,
        "verified": c.verified,
        "verifyRefused": c.verify_refused,
        "verifyMs": c.verify_ms.summary(1, 1),
        "waitedIn": {kind: c.waited_in[kind] for kind in ("closed", "prequeue", "queued")},
        "done": c.counts[DONE],
        "gaveUp": c.counts[GAVE_UP],
        "unfinished": c.counts[WAITING] + c.counts[SHOPPING] + c.counts[NOT_ARRIVED],
        "sold": sold,
        "stock": c.stock,
        "purchases": len(confirmed),
        "oversold": None if c.oversell is None else c.oversell["oversold"],
        "purchasesPerSecond": rate(c.purchases, c.t0, c.last_purchase),
        # While it sold: from the first purchase to the last (the queue's forming left out).
        "sellingPurchasesPerSecond": rate(c.purchases, c.first_purchase, c.last_purchase),
        "peakPurchasesPerSecond": c.timeline.peak("purchases"),
        "admissionsPerSecond": rate(c.admitted, c.t0, c.last_admission),
        "peakAdmissionsPerSecond": c.timeline.peak("admissions"),
        "queueWaitSeconds": c.queue_wait.summary(1, 3),
        "purchaseMs": c.purchase_ms.summary(1, 1),
        "pushMs": c.push_ms.summary(1, 1),
        "errors": dict(sorted(c.api.errors.items(), key=lambda kv: (-kv[1], kv[0]))),
        "serverErrors": c.api.server_errors,
        "rateLimited": c.api.rate_limited,
        "giveUps": dict(c.give_ups.most_common()),
        "elapsedSeconds": round(elapsed, 2),
        "soldOutSeconds": round(c.sold_out_at - c.t0, 2) if c.sold_out_at and c.t0 else None,
        "accountsPath": c.accounts_path,
        "accountsSeconds": None if c.accounts_seconds is None else round(c.accounts_seconds, 2),
        "arrival": c.opts.arrival,
        "ticketsPerFan": c.opts.tickets_per_fan,
        "arrivalLagSeconds": c.arrival_lag.summary(1, 3),
        "wsConnectMs": c.api.ws_connect_seconds.summary(1000, 1),
        "pushSockets": c.push_sockets_joined,
        "socketsRefused": c.api.sockets_refused,
        "reconnects": c.reconnects,
        "seqGaps": c.seq_gaps,
        "powSolves": c.solver.solves if c.solver else 0,
        "requests": c.api.requests,
        "serverStats": c.server_stats_ok,
        "serverPeaks": {key: c.timeline.gauge_peak(f"server.{key}") for key in SERVER_GAUGES},
        "oversell": c.oversell,
        "timedOut": c.timed_out,
        "interrupted": c.interrupted,
        "toolCpuSeconds": round(usage.ru_utime + usage.ru_stime, 2),
        "toolCpuRunSeconds": None if c.cpu_run is None else round(c.cpu_run, 2),
        "toolMaxRssMB": round(usage.ru_maxrss / 1024, 1),
        "toolLoopLagMs": c.loop_lag.summary(1000, 1),
        "toolGcSeconds": round(c.gc.seconds, 3),
        "toolGcMaxPauseMs": round(c.gc.max_pause * 1000, 1),
        "openFiles": c.open_files,
        "event": {"id": c.event_id, "name": (c.event or {}).get("name")},
        "target": c.api.target.host,
        "runId": c.run_id,
        "startedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(c.started_wall)),
        "notes": c.notes,
        "warnings": c.warnings + ([f"{c.api.rate_limited} requests answered 429 rate_limited: "
                                   + RATE_LIMIT_NOTE] if c.api.rate_limited else []),
        "fatal": c.fatal,
    }
    lag = c.loop_lag.percentile(99)
    if lag is not None and lag > 0.2:
        out["warnings"].append(f"the tool itself was behind (event-loop lag p99 {lag * 1000:.0f} ms): the "
                               "latencies above include that much of its own delay; spread the arrival "
                               "(--arrival ramp:SECONDS), use fewer fans, or give the tool a core of its own")
    out["exitCode"] = exit_code(out)
    return out


def exit_code(summary: dict) -> int:
    books = summary.get("oversell") or {}
    if (summary["serverErrors"] or summary["oversold"] or summary["timedOut"] or books.get("ok") is False
            or summary["verifyRefused"]):
        return 1
    if summary.get("interrupted"):
        return 130
    if summary["fatal"]:
        return 2
    if summary["oversold"] is None:
        return 1        # the books could not be checked
    return 0


def fmt(value, unit: str = "", digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}{unit}"
    return f"{value:,}{unit}"


def errors_text(errors: dict, limit: int = 8) -> str:
    if not errors:
        return "none"
    items = sorted(errors.items(), key=lambda kv: (-kv[1], kv[0]))
    text = " · ".join(f"{code} {n:,}" for code, n in items[:limit])
    if len(items) > limit:
        text += f" · … {len(items) - limit} more"
    return text


VISITORS_LEAVE_OUT = {"Purchases/s", "Purchase p50 / p99", "Push latency p50 / p99", "Sold out after"}


def rows(s: dict) -> list[tuple[str, str]]:
    q, p, push, v = s["queueWaitSeconds"], s["purchaseMs"], s["pushMs"], s["verifyMs"]
    books = s.get("oversell") or {}
    if s["oversold"] is None:
        oversell = "NOT CHECKED: " + "; ".join(books.get("problems") or [s.get("fatal") or "no run"])
    elif books.get("ok"):
        oversell = f"OK: nothing oversold; the server's count matches the tool's {books.get('reservations', 0):,} reservations"
    else:
        oversell = f"FAILED: {s['oversold']:,} oversold; " + "; ".join(books.get("problems") or [])
    out = [
        ("Fans", f"{s['fans']:,} ({s['arrival']}, " + ("visitors of a gated site)" if s["visitors"] else
                                                      f"{s['ticketsPerFan']} tickets each)")),
        ("Admitted", f"{s['admitted']:,}"),
        ("Waited in", " · ".join(f"{kind} {n:,}" for kind, n in s["waitedIn"].items())
         + "  (fans told each at least once)"),
        ("Done / gave up", f"{s['done']:,} / {s['gaveUp']:,}" + (f" ({s['unfinished']:,} unfinished)" if s["unfinished"] else "")),
        ("Tickets sold", f"{s['sold']:,} of {s['stock']:,} in {s['purchases']:,} purchases"),
        ("Purchases/s", f"{s['purchasesPerSecond']:.2f} from the first arrival, "
                        f"{s['sellingPurchasesPerSecond']:.2f} while selling "
                        f"(peak {s['peakPurchasesPerSecond']} in one second)"),
        ("Admissions/s", f"{s['admissionsPerSecond']:.2f} (peak {s['peakAdmissionsPerSecond']})"),
        ("Queue wait p50 / p99", f"{fmt(q['p50'], ' s', 2)} / {fmt(q['p99'], ' s', 2)}  (first check → admission)"),
        ("Purchase p50 / p99", f"{fmt(p['p50'], ' ms')} / {fmt(p['p99'], ' ms')}  (hold + confirm HTTP)"),
        ("Push latency p50 / p99", f"{fmt(push['p50'], ' ms')} / {fmt(push['p99'], ' ms')}  "
                                   f"({push['samples']:,} deliveries on {s['pushSockets']} sockets)"),
        ("Server peaks", " · ".join(f"{key} {fmt(value)}" for key, value in s["serverPeaks"].items())
         if s["serverStats"] else "– (no admin credentials: no server stats)"),
        *([("Verified", f"{s['verified']:,} admission tokens let through, {s['verifyRefused']:,} refused; "
                        f"p50 / p99 {fmt(v['p50'], ' ms')} / {fmt(v['p99'], ' ms')}  (GET /api/queue/verify)")]
          if s["visitors"] else []),
        ("Sold out after", fmt(s["soldOutSeconds"], " s", 2)),
        ("Elapsed", f"{s['elapsedSeconds']:.2f} s (first arrival → last fan)"),
        ("Accounts", f"{s['accountsPath'] or '–'} in {fmt(s['accountsSeconds'], ' s', 2)}"),
        ("Errors by code", errors_text(s["errors"], 20)),
        ("Server errors (5xx)", f"{s['serverErrors']:,}"),
        ("Oversell check", oversell),
        ("Tool CPU", f"{s['toolCpuSeconds']:.1f} s in all, {fmt(s['toolCpuRunSeconds'], ' s')} while the fans ran; "
                     f"{s['toolMaxRssMB']:.0f} MB max RSS; event-loop lag p99 {fmt(s['toolLoopLagMs']['p99'], ' ms')}"),
    ]
    if s["visitors"]:       # they buy nothing: no purchases, pushes or sell-out to speak of
        out = [row for row in out if row[0] not in VISITORS_LEAVE_OUT]
    if s["rateLimited"]:
        out.append(("Rate limited (429)", f"{s['rateLimited']:,}: start the target with TICKETD_RATE_LIMITS=off"))
    return out


def is_bad(s: dict, name: str, value: str) -> bool:
    """Rows shown in red."""
    return ((name == "Oversell check" and not value.startswith("OK"))
            or (name == "Server errors (5xx)" and bool(s["serverErrors"])) or name.startswith("Rate limited")
            or (name == "Verified" and bool(s["verifyRefused"])))


def print_summary(s: dict, console=None, stream=None) -> None:
    table_rows = rows(s)
    if console is not None:
        from rich.table import Table
        table = Table(title="ticketd loadtest: summary", show_header=False, title_justify="left")
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        for name, value in table_rows:
            table.add_row(name, value, style="bold red" if is_bad(s, name, value) else None)
        console.print(table)
        for text in s["notes"]:
            console.print(f"[dim]note: {text}[/dim]")
        for text in s["warnings"]:
            console.print(f"[bold yellow]warning: {text}[/bold yellow]")
        if s["fatal"]:
            console.print(f"[bold red]error: {s['fatal']}[/bold red]")
        return
    stream = stream or sys.stdout
    width = max(len(name) for name, _ in table_rows)
    print("ticketd loadtest: summary", file=stream)
    for name, value in table_rows:
        print(f"  {name.ljust(width)}  {value}", file=stream)
    for text in s["notes"]:
        print(f"note: {text}", file=stream)
    for text in s["warnings"]:
        print(f"warning: {text}", file=stream)
    if s["fatal"]:
        print(f"error: {s['fatal']}", file=stream)
    stream.flush()
