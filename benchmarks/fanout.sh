#!/usr/bin/env bash
# Fan-out benchmark of ticketd with the shared harness (../shared/bench, see its README).
#
#   benchmarks/fanout.sh single|cross        (CLIENTS, MESSAGES, INTERVAL_MS, ... pass through)
#
# Starts a throwaway PostgreSQL + Redis and one (single) or two (cross) `ticketd serve` on
# 127.0.0.1:18080/18081, all pinned to core 0 like the reference servers, creates an admin
# and a token, finds the demo event, runs `fanout.sh external <scenario>` and stops
# everything it started (by PID).
set -euo pipefail

SCENARIO=${1:-single}
case "$SCENARIO" in single|cross) ;; *) echo "usage: $0 single|cross" >&2; exit 64 ;; esac
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PYTHON:-$ROOT/.venv/bin/python}
HARNESS=${HARNESS:-$ROOT/../shared/bench/fanout.sh}
SERVER_CPU=${SERVER_CPU:-0}
BASE_PORT=${BASE_PORT:-18080}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ticketd-fanout.XXXXXX")
PIDS=()

log() { echo "[ticketd-fanout] $*" >&2; }
cleanup() {
  local i
  trap - EXIT INT TERM
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do kill -TERM "${PIDS[i]}" 2>/dev/null || true; done
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do wait "${PIDS[i]}" 2>/dev/null || true; done
  [ -n "${KEEP_LOGS:-}" ] && log "logs in $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

wait_for() { # file-or-url, pid, what
  local i
  for i in $(seq 1 600); do
    if [[ "$1" == http* ]]; then curl -fs "$1" >/dev/null 2>&1 && return 0
    else grep -q REDIS "$1" 2>/dev/null && return 0; fi
    kill -0 "$2" 2>/dev/null || { log "$3 exited"; tail -30 "$WORK"/*.log >&2; exit 1; }
    sleep 0.1
  done
  log "$3 did not come up"; exit 1
}

taskset -c "$SERVER_CPU" "$PY" "$ROOT/benchmarks/services.py" "$WORK/data" >"$WORK/services.env" 2>"$WORK/services.log" &
PIDS+=($!)
wait_for "$WORK/services.env" "${PIDS[0]}" "PostgreSQL/Redis"
# shellcheck disable=SC1091
source "$WORK/services.env"
export TICKETD_SECRET="bench-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
# The demo event is the benchmark's room; one machine's crowd would trip the per-address limits.
export TICKETD_DEMO=on TICKETD_RATE_LIMITS=off
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"

INSTANCES=1; [ "$SCENARIO" = cross ] && INSTANCES=2
WS=""; SERVER_PIDS=""
for ((i = 0; i < INSTANCES; i++)); do
  port=$((BASE_PORT + i))
  # One at a time: the first start creates the demo data.
  TICKETD_INSTANCE_ID="bench-$i" taskset -c "$SERVER_CPU" "$PY" -m ticketd serve --port "$port" \
    >"$WORK/ticketd-$i.log" 2>&1 &
  pid=$!; PIDS+=("$pid")
  wait_for "http://127.0.0.1:$port/healthz" "$pid" "ticketd $i"
  WS+="${WS:+,}ws://127.0.0.1:$port/ws"; SERVER_PIDS+="${SERVER_PIDS:+,}$pid"
done
HTTP="http://127.0.0.1:$BASE_PORT"

"$PY" -m ticketd create-admin bench-admin@example.com --password bench-admin-password >/dev/null
TOKEN=$(curl -fs "$HTTP/api/auth/login" -H 'Content-Type: application/json' \
  -d '{"email":"bench-admin@example.com","password":"bench-admin-password"}' |
  "$PY" -c 'import json,sys; print(json.load(sys.stdin)["token"])')
EVENT=$(curl -fs "$HTTP/api/events" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["events"][0]["id"])')
log "ticketd x$INSTANCES (pids $SERVER_PIDS), event $EVENT"

TICKETD_WS=$WS TICKETD_HTTP=$HTTP TICKETD_TOKEN=$TOKEN EVENT_ID=$EVENT TICKETD_PIDS=$SERVER_PIDS \
  bash "$HARNESS" external "$SCENARIO"
