"""Typed application keys: everything the app holds, in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiopg
import redis.asyncio as aioredis
from aiohttp import web

from .auth import TokenSigner
from .config import Config

if TYPE_CHECKING:  # imported for types only: these modules import keys themselves
    from .ratelimit import RateLimiter
    from .realtime import Realtime
    from .waitingroom import WaitingRoom

config = web.AppKey("config", Config)
db = web.AppKey("db", aiopg.Pool)
redis = web.AppKey("redis", aioredis.Redis)
signer = web.AppKey("signer", TokenSigner)
realtime = web.AppKey("realtime", "Realtime")
waiting_room = web.AppKey("waiting_room", "WaitingRoom")
rate_limiter = web.AppKey("rate_limiter", "RateLimiter")
