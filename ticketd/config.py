"""Runtime configuration, read once from the environment."""

from __future__ import annotations

import dataclasses
import os


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


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

    @classmethod
    def from_env(cls, env: os._Environ | dict | None = None, **overrides) -> "Config":
        env = os.environ if env is None else env
        values = dict(
            database_url=env.get("TICKETD_DATABASE_URL", ""),
            redis_url=env.get("TICKETD_REDIS_URL", ""),
            secret=env.get("TICKETD_SECRET", ""),
            host=env.get("TICKETD_HOST", "127.0.0.1"),
            port=int(env.get("TICKETD_PORT", "8080")),
            hold_seconds=int(env.get("TICKETD_HOLD_SECONDS", "600")),
            token_ttl_seconds=int(env.get("TICKETD_TOKEN_TTL_SECONDS", "86400")),
            expiry_interval=float(env.get("TICKETD_EXPIRY_INTERVAL", "1")),
            allowed_origins=_csv(env.get("TICKETD_ALLOWED_ORIGINS", "")),
            push_interval_ms=int(env.get("TICKETD_PUSH_INTERVAL_MS", "100")),
            ws_heartbeat=float(env.get("TICKETD_WS_HEARTBEAT", "30")),
            ws_max_buffer=int(env.get("TICKETD_WS_MAX_BUFFER", str(256 * 1024))),
            admission_interval=float(env.get("TICKETD_ADMISSION_INTERVAL", "1")),
            queue_abandon_seconds=int(env.get("TICKETD_QUEUE_ABANDON_SECONDS", "60")),
            queue_quiet_seconds=int(env.get("TICKETD_QUEUE_QUIET_SECONDS", "30")),
            db_pool_size=int(env.get("TICKETD_DB_POOL_SIZE", "20")),
            instance_id=env.get("TICKETD_INSTANCE_ID", ""),
        )
        values.update(overrides)
        return cls(**values)
