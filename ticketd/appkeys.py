"""Typed application keys: everything the app holds, in one place. Only the web layer
(``app``, ``api``) reads them; the domain and the live layer get what they need when
they are built."""

from __future__ import annotations

import aiopg
import redis.asyncio as aioredis
from aiohttp import web

from .auth import TokenSigner
from .changes import ChangeFeed
from .config import Config
from .gate.tokens import AdmissionTokens
from .inventory import Inventory
from .live.hub import Hub
from .ratelimit import BackgroundLimit, LoginThrottle, RateLimiter
from .waitingroom import WaitingRoom

config = web.AppKey("config", Config)
feed = web.AppKey("feed", ChangeFeed)
signer = web.AppKey("signer", TokenSigner)
db = web.AppKey("db", aiopg.Pool)
redis = web.AppKey("redis", aioredis.Redis)
rate_limiter = web.AppKey("rate_limiter", RateLimiter)
login_throttle = web.AppKey("login_throttle", LoginThrottle)
upgrade_limit = web.AppKey("upgrade_limit", BackgroundLimit)
inventory = web.AppKey("inventory", Inventory)
admission_tokens = web.AppKey("admission_tokens", AdmissionTokens)
waiting_room = web.AppKey("waiting_room", WaitingRoom)
hub = web.AppKey("hub", Hub)
