"""Prometheus metrics, defined once per process (served at /metrics by api.health)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

WS_CONNECTIONS = Gauge("ticketd_ws_connections", "Open WebSocket connections on this instance")
WS_SLOW_CLIENTS_CUT = Counter("ticketd_ws_slow_clients_cut_total",
                              "WebSocket connections closed because their unsent output passed the bound")
PUSHES = Counter("ticketd_pushes_total", "Pushes delivered to local rooms", ["kind"])
PUSH_LATENCY = Histogram("ticketd_push_latency_seconds",
                         "From publishing a push to writing it to this instance's sockets",
                         buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5))
QUEUE_LENGTH = Gauge("ticketd_queue_length", "Shoppers waiting in the queue", ["event"])
ACTIVE_SHOPPERS = Gauge("ticketd_active_shoppers", "Admitted shoppers currently active", ["event"])
ADMISSIONS = Counter("ticketd_admissions_total", "Shoppers admitted from the queue", ["event"])
RESERVATIONS = Counter("ticketd_reservations_total",
                       "Reservations by what happened to them: held, confirmed, cancelled, expired",
                       ["outcome"])
