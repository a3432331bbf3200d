"""``--report FILE.html``: one self-contained page (no external URL of any kind) with the
summary table and charts over time, drawn by matplotlib (Agg) and inlined as SVG."""

from __future__ import annotations

import html
import io
import re

from .summary import is_bad, rows

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:60rem;
color:#1f2328;padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem}
.meta{color:#59636e}table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.3rem .6rem;border-bottom:1px solid #d1d9e0;vertical-align:top}
th{width:14rem;font-weight:600}.bad{color:#b42318;font-weight:600}.good{color:#1a7f37;font-weight:600}
figure{margin:1.2rem 0}figcaption{color:#59636e;font-size:.9rem}svg{max-width:100%;height:auto}
ul{padding-left:1.2rem}
"""


def _text(value) -> str:
    """Escaped, and no ``scheme://`` left in it: the page must not hold any URL."""
    return html.escape(str(value)).replace("://", ":&#47;&#47;")


def _svg(fig, prefix: str) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight",
                metadata={"Creator": None, "Date": None, "Format": None, "Type": None})
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.S)
    # Inline SVG in HTML needs no namespace declarations (the parser knows <svg>), and
    # their values are the only URLs matplotlib writes.
    text = re.sub(r'\s+xmlns(?::\w+)?="[^"]*"', "", text)
    text = text.replace("xlink:href=", "href=")
    # Several charts on one page: keep their ids (clip paths, glyphs) apart.
    text = re.sub(r'(id="|href="#|url\(#)([^")]+)', lambda m: m.group(1) + prefix + m.group(2), text)
    return text


def _figure(title: str, ylabel: str):
    from matplotlib.figure import Figure
    fig = Figure(figsize=(9, 2.8), dpi=96)
    ax = fig.add_subplot()
    ax.set_title(title, loc="left", fontsize=11)
    ax.set_xlabel("seconds since the first arrival")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    return fig, ax


def _xlim(ax, n: int) -> None:
    ax.set_xlim(0, max(n, 1))


def charts(timeline, summary: dict) -> list[tuple[str, str]]:
    import matplotlib
    matplotlib.rcParams["svg.fonttype"] = "path"      # text as paths: no font to fetch
    matplotlib.rcParams["svg.hashsalt"] = "ticketd-loadtest"
    n = max(1, timeline.length())
    xs = list(range(n))
    out = []

    fig, ax = _figure("Queue length", "fans")
    server_q = timeline.gauge_series("server.queueLength")
    if any(v is not None for v in server_q):
        ax.plot(xs, [v if v is not None else float("nan") for v in server_q], label="server: queueLength",
                color="#d97706", marker=".")
    waiting = timeline.gauge_series("waiting")
    ax.plot(xs, [v if v is not None else float("nan") for v in waiting], label="tool: fans waiting", color="#2563eb",
            linestyle="--")
    ax.legend(loc="upper right", fontsize=8)
    _xlim(ax, n)
    out.append(("queue", _svg(fig, "q-"), "Waiting fans over time: the server's queue length from "
                "GET /api/admin/events/{id}/stats each second (with admin credentials), and the tool's own count."))

    fig, ax = _figure("Admissions per second", "admissions")
    ax.bar(xs, timeline.series("admissions"), width=0.9, align="edge", color="#7c3aed")
    _xlim(ax, n)
    out.append(("admissions", _svg(fig, "a-"), "Fans told they are admitted (push, snapshot or poll), per second."))

    fig, ax = _figure("Sales per second", "tickets")
    ax.bar(xs, timeline.series("tickets"), width=0.9, align="edge", color="#059669", label="tickets confirmed")
    _xlim(ax, n)
    ax2 = ax.twinx()
    sold, total = [], 0
    for n_sold in timeline.series("tickets"):
        total += n_sold
        sold.append(total)
    ax2.step([x + 1 for x in xs], sold, where="pre", color="#111827", label="sold so far")
    ax2.set_ylabel("sold so far")
    if summary.get("stock"):
        ax2.axhline(summary["stock"], color="#b42318", linestyle=":", linewidth=1)
    out.append(("sales", _svg(fig, "s-"), "Tickets confirmed per second (bars) and in total (line; dotted: the stock)."))

    fig, ax = _figure("Push latency", "ms")
    p50, p99 = timeline.latency_series(50), timeline.latency_series(99)
    ax.plot(xs, [v if v is not None else float("nan") for v in p50], marker=".", label="p50", color="#2563eb")
    ax.plot(xs, [v if v is not None else float("nan") for v in p99], marker=".", label="p99", color="#dc2626")
    ax.legend(loc="upper right", fontsize=8)
    _xlim(ax, n)
    out.append(("push", _svg(fig, "p-"), "From a hold's HTTP response to the tickets-batch-updated push carrying it "
                "on each sampled event-room socket, by the second the push arrived."))
    return out


def write(path: str, summary: dict, timeline) -> None:
    ok = summary["exitCode"] == 0
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>ticketd loadtest · event {_text(summary['event']['id'])}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>Rehearsal of event {_text(summary['event']['id'])}"
        + (f" · {_text(summary['event']['name'])}" if summary["event"].get("name") else "") + "</h1>",
        f'<p class="meta">Target {_text(summary["target"])} · started {_text(summary["startedAt"])} · '
        f'run {_text(summary["runId"])} · exit code <span class="{"good" if ok else "bad"}">'
        f'{summary["exitCode"]}</span></p>',
        "<h2>Summary</h2><table>",
    ]
    for name, value in rows(summary):
        bad = is_bad(summary, name, value)
        parts.append(f'<tr><th>{_text(name)}</th><td class="{"bad" if bad else ""}">{_text(value)}</td></tr>')
    parts.append("</table>")
    books = summary.get("oversell") or {}
    if books.get("types"):
        parts.append("<h2>Books per ticket type</h2><table><tr><th>type</th><td><b>total · available · sold before · "
                     "taken during the run · held by the tool</b></td></tr>")
        for t in books["types"]:
            parts.append(f"<tr><th>{_text(t['name'])} ({_text(t['id'])})</th><td>{t['total']:,} · {t['available']:,} · "
                         f"{t['soldBefore']:,} · {t['soldDuringRun']:,} · {t['heldByTool']:,}</td></tr>")
        parts.append("</table>")
    parts.append("<h2>Over time</h2>")
    for _, svg, caption in charts(timeline, summary):
        parts.append(f"<figure>{svg}<figcaption>{_text(caption)}</figcaption></figure>")
    notes = [*summary["notes"], *summary["warnings"]] + ([summary["fatal"]] if summary["fatal"] else [])
    if notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{_text(n)}</li>" for n in notes) + "</ul>")
    parts.append("</body></html>")
    page = "\n".join(parts)
    # Belt and braces: nothing on the page may point anywhere.
    page = re.sub(r"(?i)\b(https?|ftp|wss?):(//)", lambda m: m.group(1) + ":&#47;&#47;", page)
    with open(path, "w", encoding="utf-8") as f:
        f.write(page)
