"""The ``ticketd loadtest`` subcommand: its arguments and entry point.

This module stays light (argparse only) so that the other subcommands do not pay for it;
the crowd, the client and the report are imported by ``run`` only."""

from __future__ import annotations

import argparse

HELP = "rehearse an on-sale: drive a crowd of fans against a running ticketd"

DESCRIPTION = """Rehearse an on-sale against a running ticketd.

A crowd of fans arrives, all within one second or spread over a ramp. Each fan
does what a fan does in the browser: checks in to the waiting room (solving the
proof of work when the event asks for one), waits to be admitted, thinks, holds
tickets, pays and leaves. Some extra connections watch the event the way its
page does, to measure how long stock updates take to arrive. At the end, the
server's remaining stock is checked against the tickets the fans hold and
bought: nothing may be sold beyond what exists, and no seat twice.

Accounts for the fans are made for the run, unless --tokens names existing
ones; with --visitors the fans are anonymous visitors of a gated site instead.

Only the server given with --url is ever contacted."""


def _range(text: str) -> tuple[float, float]:
    try:
        lo, _, hi = text.partition("-")
        lo_f = float(lo)
        hi_f = float(hi) if hi else lo_f
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected SECONDS or MIN-MAX, not {text!r}") from None
    if lo_f < 0 or hi_f < lo_f:
        raise argparse.ArgumentTypeError(f"expected 0 <= MIN <= MAX, not {text!r}")
    return lo_f, hi_f


def _arrival(text: str) -> tuple[str, float]:
    if text == "spike":
        return "spike", 1.0
    kind, _, seconds = text.partition(":")
    try:
        value = float(seconds)
    except ValueError:
        value = -1
    if kind != "ramp" or value <= 0:
        raise argparse.ArgumentTypeError("expected spike or ramp:SECONDS")
    return f"ramp:{value:g}", value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("loadtest", help=HELP, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", required=True, help="the ticketd to rehearse against, e.g. http://127.0.0.1:8080 "
                                                "(start it with TICKETD_RATE_LIMITS=off)")
    p.add_argument("--event", required=True, help="event id")
    p.add_argument("--fans", required=True, type=_positive, help="how many fans arrive")
    p.add_argument("--admin-email", help="an admin: bulk accounts and the server's queue stats")
    p.add_argument("--admin-password")
    p.add_argument("--arrival", type=_arrival, default=("spike", 1.0),
                   help="spike (everyone within one second, the default) or ramp:SECONDS (evenly spread)")
    p.add_argument("--tickets-per-fan", type=_positive, default=2, help="tickets each fan tries for (default 2)")
    p.add_argument("--ticket-type", help="only this ticket type id (default: any with stock left)")
    p.add_argument("--think", type=_range, default=(0.5, 2.0),
                   help="seconds between admission and the hold, MIN-MAX uniform (default 0.5-2)")
    p.add_argument("--pay", type=_range, default=(0.2, 1.0),
                   help="seconds between the hold and the confirm (default 0.2-1)")
    p.add_argument("--push-sockets", type=int, default=200,
                   help="event-room sockets that measure push latency (default 200, at most --fans)")
    p.add_argument("--seat-retries", type=int, default=2, help="other seats tried after seat_unavailable (default 2)")
    p.add_argument("--poll-seconds", type=float, default=60.0,
                   help="status poll interval while the queue socket is up (default 60; 3 s while it is down)")
    p.add_argument("--stay", action="store_true",
                   help="fans keep waiting after it sold out (default: waiting fans give up and leave)")
    p.add_argument("--visitors", action="store_true",
                   help="fans are anonymous visitors of a gated site (POST /api/visitors): they queue, have "
                        "their admission token checked with /api/queue/verify and leave, buying nothing "
                        "(the default for an event with nothing to sell)")
    p.add_argument("--tokens", metavar="FILE",
                   help="bearer tokens of existing accounts, one per line: no accounts are made")
    p.add_argument("--register-concurrency", type=_positive, default=16,
                   help="registrations in flight when the bulk route is missing (default 16)")
    p.add_argument("--http-timeout", type=float, default=30.0, help="seconds per HTTP request (default 30)")
    p.add_argument("--timeout", type=float, default=900.0,
                   help="seconds from the first arrival until unfinished fans are stopped (default 900; exit 1)")
    p.add_argument("--report", metavar="FILE.html", help="write a self-contained HTML report with charts")
    p.add_argument("--json", action="store_true",
                   help="print the summary as one JSON object on the last line of stdout (progress goes to stderr)")
    p.add_argument("--run-id", default="", help="names the accounts (loadtest-RUNID-…); random by default")
    return p


def run(args: argparse.Namespace) -> int:
    import asyncio
    import contextlib
    import logging
    import os
    import sys

    import orjson

    from . import client, crowd, progress, rehearsal, summary

    if args.report:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            print("ticketd loadtest: --report needs matplotlib: pip install 'ticketd[loadtest]'", file=sys.stderr)
            return 2
    if args.tokens and not os.path.isfile(args.tokens):
        print(f"ticketd loadtest: no such file: {args.tokens}", file=sys.stderr)
        return 2
    if bool(args.admin_email) != bool(args.admin_password):
        print("ticketd loadtest: give both --admin-email and --admin-password, or neither", file=sys.stderr)
        return 2
    arrival, spread = args.arrival
    opts = crowd.Options(
        url=args.url, event_id=str(args.event), fans=args.fans, admin_email=args.admin_email,
        admin_password=args.admin_password, arrival=arrival, ramp_seconds=spread,
        tickets_per_fan=args.tickets_per_fan, think=args.think,
        pay=args.pay, push_sockets=max(0, args.push_sockets), seat_retries=max(0, args.seat_retries),
        register_concurrency=args.register_concurrency, http_timeout=args.http_timeout,
        timeout=args.timeout, poll_seconds=max(1.0, args.poll_seconds), stay=args.stay,
        ticket_type=args.ticket_type, run_id=args.run_id, tokens_file=args.tokens,
        visitors=args.visitors)
    try:
        client.Target(opts.url)
    except ValueError as exc:
        print(f"ticketd loadtest: {exc}", file=sys.stderr)
        return 2

    logging.getLogger("asyncio").setLevel(logging.CRITICAL)   # closed sockets of gone fans
    console = None
    if sys.stdout.isatty() and not args.json:
        from rich.console import Console
        console = Console()
        ui = progress.RichUI(console)
    else:
        ui = progress.PlainUI(sys.stderr)
    with contextlib.suppress(ImportError):
        import uvloop
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())

    try:
        result, c = asyncio.run(rehearsal.run(opts, ui))
    except KeyboardInterrupt:
        print("ticketd loadtest: interrupted", file=sys.stderr)
        return 130
    if args.report:
        from . import report
        report.write(args.report, result, c.timeline)
    if args.json:
        summary.print_summary(result, stream=sys.stderr)
        if args.report:
            print(f"report: {args.report}", file=sys.stderr)
        sys.stdout.write(orjson.dumps(result).decode() + "\n")
        sys.stdout.flush()
    else:
        summary.print_summary(result, console=console)
        if args.report:
            print(f"report: {args.report}")
    return result["exitCode"]

