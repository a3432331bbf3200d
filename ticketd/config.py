"""Runtime configuration, read once from the environment."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import types
from typing import Mapping, NamedTuple

from .events import DEFAULT_TIME_ZONE, TIME_ZONES
from .gate.returns import allowed_origins


class ConfigError(ValueError):
    """A setting that cannot be used; the message names it."""


class Limit(NamedTuple):
    count: int
    seconds: int


# Abuse limits: name -> (count, window seconds); TICKETD_LIMIT_<NAME>=COUNT/SECONDS changes
# one, TICKETD_RATE_LIMITS=off turns them all off. Per-address limits are generous: a few
# hundred fans share one address behind a PC bang's or a mobile carrier's NAT.
DEFAULT_LIMITS: Mapping[str, Limit] = types.MappingProxyType({
    # Wrong passwords for one account from one address: that pair waits.
    "login_failures_per_account_address": Limit(10, 15 * 60),
    # Wrong passwords from one address, any account (credential stuffing): the address waits.
    "login_failures_per_address": Limit(100, 15 * 60),
    # Wrong passwords for one account from anywhere: until the window ends only addresses
    # that have logged in to it before may try (the owner is never locked out by others).
    "login_failures_per_account": Limit(50, 15 * 60),
    # Holds per shopper: far above what a person clicks, well below what a bot fires.
    "reservations_per_account": Limit(30, 60),
    # New visitor identities per address (the gate): a NAT's worth a minute, not a script's.
    "visitors_per_address": Limit(300, 60),
    # New accounts per address.
    "registrations_per_address": Limit(200, 600),
    # New WebSocket connections per address (each fan opens one or two, and reconnects).
    "ws_connections_per_address": Limit(1000, 60),
    # Queue checks, status polls and challenges per shopper: a browser polls every few seconds.
    "queue_calls_per_shopper": Limit(120, 60),
    # Announcements per admin.
    "announcements_per_admin": Limit(20, 60),
})


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _number(env, name: str, default: str, kind: type):
    raw = env.get(name, default)
    try:
        return kind(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number (got {raw!r})") from None


def _switch(env, name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in ("on", "off"):
        raise ConfigError(f"{name} must be on or off (got {raw!r})")
    return raw == "on"


def _origins(value: str) -> frozenset:
    try:
        return allowed_origins(_csv(value))
    except ValueError as exc:
        raise ConfigError(f"TICKETD_GATE_ORIGINS: {exc}") from None


def _currency(value: str) -> str:
    code = value.strip().upper()
    if not (len(code) == 3 and code.isascii() and code.isalpha()):
        raise ConfigError(f"TICKETD_CURRENCY must be an ISO 4217 code such as EUR or KRW, not {value!r}")
    return code


def _time_zone(value: str) -> str:
    zone = value.strip()
    if zone not in TIME_ZONES:
        raise ConfigError("TICKETD_TIME_ZONE must be an IANA time zone name such as Asia/Seoul or Europe/Berlin, "
                          f"not {value!r}")
    return zone


def _networks(value: str) -> tuple:
    try:
        return tuple(ipaddress.ip_network(part, strict=False) for part in _csv(value))
    except ValueError as exc:
        raise ConfigError(f"TICKETD_TRUSTED_PROXIES: {exc}") from None


def _limits(env) -> Mapping[str, Limit] | None:
    if env.get("TICKETD_RATE_LIMITS", "").strip().lower() == "off":
        return None
    limits = dict(DEFAULT_LIMITS)
    for name in limits:
        raw = env.get(f"TICKETD_LIMIT_{name.upper()}")
        if raw is None:
            continue
        count, _, seconds = raw.partition("/")
        try:
            limits[name] = Limit(int(count), int(seconds))
        except ValueError:
            raise ConfigError(f"TICKETD_LIMIT_{name.upper()} must be COUNT/SECONDS, e.g. 10/900") from None
    return types.MappingProxyType(limits)


@dataclasses.dataclass(frozen=True)
class Config:
    database_url: str
    redis_url: str
    secret: str
    host: str = "127.0.0.1"
    port: int = 8080
    # How long a pending reservation holds stock or seats.
    hold_seconds: int = 600
    token_ttl_seconds: int = 86400
    expiry_interval: float = 1.0
    # Real-time layer.
    allowed_origins: tuple[str, ...] = ()
    push_interval_ms: int = 100
    ws_heartbeat: float = 30.0
    ws_max_buffer: int = 256 * 1024
    # Waiting room.
    admission_interval: float = 1.0
    queue_abandon_seconds: int = 60
    queue_quiet_seconds: int = 30
    db_pool_size: int = 20
    instance_id: str = ""
    # Proxies whose X-Forwarded-For is believed (addresses or networks).
    trusted_proxies: tuple = ()
    # ISO 4217 code for events created without one.
    currency: str = "EUR"
    # IANA time zone of events created without one.
    time_zone: str = DEFAULT_TIME_ZONE
    # The gate: the admission tokens' issuer, the sites the gate page may send visitors back
    # to (exact origins), the admission cookie's Domain.
    issuer: str = "ticketd"
    gate_origins: frozenset = frozenset()
    gate_cookie_domain: str = ""
    # Demo data on a first start: True, False, or None (only on the embedded PostgreSQL).
    demo: bool | None = None
    # Logs: one JSON object a line; one line per request (default: with JSON only).
    log_json: bool = False
    access_log: bool = False
    # None: every abuse limit off (rehearsals and benchmarks from one machine).
    rate_limits: Mapping[str, Limit] | None = dataclasses.field(default_factory=lambda: DEFAULT_LIMITS)

    @classmethod
    def from_env(cls, env: os._Environ | dict | None = None, **overrides) -> "Config":
        env = os.environ if env is None else env
        values = dict(
            database_url=env.get("TICKETD_DATABASE_URL", ""),
            redis_url=env.get("TICKETD_REDIS_URL", ""),
            secret=env.get("TICKETD_SECRET", ""),
            host=env.get("TICKETD_HOST", "127.0.0.1"),
            port=_number(env, "TICKETD_PORT", "8080", int),
            hold_seconds=_number(env, "TICKETD_HOLD_SECONDS", "600", int),
            token_ttl_seconds=_number(env, "TICKETD_TOKEN_TTL_SECONDS", "86400", int),
            expiry_interval=_number(env, "TICKETD_EXPIRY_INTERVAL", "1", float),
            allowed_origins=_csv(env.get("TICKETD_ALLOWED_ORIGINS", "")),
            push_interval_ms=_number(env, "TICKETD_PUSH_INTERVAL_MS", "100", int),
            ws_heartbeat=_number(env, "TICKETD_WS_HEARTBEAT", "30", float),
            ws_max_buffer=_number(env, "TICKETD_WS_MAX_BUFFER", str(256 * 1024), int),
            admission_interval=_number(env, "TICKETD_ADMISSION_INTERVAL", "1", float),
            queue_abandon_seconds=_number(env, "TICKETD_QUEUE_ABANDON_SECONDS", "60", int),
            queue_quiet_seconds=_number(env, "TICKETD_QUEUE_QUIET_SECONDS", "30", int),
            db_pool_size=_number(env, "TICKETD_DB_POOL_SIZE", "20", int),
            instance_id=env.get("TICKETD_INSTANCE_ID", ""),
            trusted_proxies=_networks(env.get("TICKETD_TRUSTED_PROXIES", "")),
            currency=_currency(env.get("TICKETD_CURRENCY", "EUR")),
            time_zone=_time_zone(env.get("TICKETD_TIME_ZONE", DEFAULT_TIME_ZONE)),
            issuer=env.get("TICKETD_ISSUER", "ticketd"),
            gate_origins=_origins(env.get("TICKETD_GATE_ORIGINS", "")),
            gate_cookie_domain=env.get("TICKETD_GATE_COOKIE_DOMAIN", "").strip(),
            rate_limits=_limits(env),
            log_json=env.get("TICKETD_LOG_FORMAT", "").strip().lower() == "json",
            demo=_switch(env, "TICKETD_DEMO", None),
            access_log=_switch(env, "TICKETD_ACCESS_LOG", env.get("TICKETD_LOG_FORMAT", "").strip().lower() == "json"),
        )
        values.update(overrides)
        return cls(**values)
