"""The waiting room: a fair FIFO queue per event, kept in Redis and shared by every instance.

The interface handlers rely on:
- ``await is_active(event_id, mode)``: whether the event's queue is holding shoppers back.
- ``await require_admission(event_id, user_id)``: raise QueueRequired unless admitted.
- ``await purchase_confirmed(event_id, user_id)``: the shopper's admission ends.
- ``await settings_changed(event_id)``: the event's queue settings changed in PostgreSQL.
and for the queue routes: ``check``, ``status``, ``leave`` and ``stats``.

State, per event (every key of one event shares the hash tag ``{eventId}``):
- ``settings``: mode, capacity, session seconds, cached from PostgreSQL.
- ``state``: the auto-mode switch (``active``), when the queue went quiet, the last tick
  number decided, admissions over the last minute, when stats were last pushed.
- ``queue``: waiting users, scored by an arrival number from INCR on ``seq``: FIFO by
  arrival at Redis, never by any instance's clock.
- ``admitted``: admitted users scored by the expiry of their admission (Redis time, ms).
- ``seen``: waiting users scored by when they last showed a sign of life (status poll,
  check, or an open socket on ``queue:{eventId}``); the silent ones are dropped.
- ``admsec``: admissions per second (field = unix second) for the observed rate.
- ``conns``: each instance's local WebSocket connections on the event's rooms.

Every state change is one Lua script call, so each is atomic across instances. The tick
script decides admissions only for a tick number (Redis time / interval) that no instance
has decided yet: exactly one admission decision per event per tick, whoever runs it.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import math
import time

import redis.exceptions

from . import db, errors, events, metrics

log = logging.getLogger(__name__)

REDIS_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)

# ---- Redis keys -------------------------------------------------------------------

EVENTS_KEY = "wr:events"            # set of event ids the admission task looks after
HEARTBEATS_KEY = "wr:instances"     # zset: instance id -> last heartbeat (Redis time, ms)
EVENT_KEY_NAMES = ("settings", "state", "queue", "admitted", "seen", "seq", "admsec", "conns")


def event_keys(event_id: str) -> list[str]:
    return [f"wr:{{{event_id}}}:{name}" for name in EVENT_KEY_NAMES]


# KEYS order in every script below: 1 settings, 2 state, 3 queue, 4 admitted, 5 seen,
# 6 seq, 7 admsec, 8 conns.
_LUA_NOW = """
local _t = redis.call('TIME')
local now = tonumber(_t[1]) * 1000 + math.floor(tonumber(_t[2]) / 1000)
"""

_LUA_SETTINGS = """
local _s = redis.call('HMGET', KEYS[1], 'mode', 'capacity', 'session')
if not _s[1] then return {'nosettings'} end
local mode, cap, session = _s[1], tonumber(_s[2]), tonumber(_s[3])
"""

_LUA_ADMIT = """
local function admit(user, now, session)
  local exp = now + session * 1000
  redis.call('ZADD', KEYS[4], exp, user)
  redis.call('HINCRBY', KEYS[7], math.floor(now / 1000), 1)
  return exp
end
"""

# ARGV: user, create ('1' check / '0' status).
# -> {'admitted', expiresMs, switched} | {'queued', rank, queueLength, adm60, cap, session, switched}
#    | {'none'} | {'nosettings'}
CHECK_SCRIPT = _LUA_NOW + _LUA_SETTINGS + _LUA_ADMIT + """
local user, create = ARGV[1], ARGV[2] == '1'
local exp = redis.call('ZSCORE', KEYS[4], user)
if exp then
  if tonumber(exp) > now then return {'admitted', exp, 0} end
  redis.call('ZREM', KEYS[4], user)
end
local switched = 0
local rank = redis.call('ZRANK', KEYS[3], user)
local function queued(r)
  redis.call('ZADD', KEYS[5], now, user)
  return {'queued', r, redis.call('ZCARD', KEYS[3]), redis.call('HGET', KEYS[2], 'adm60') or '0',
          cap, session, switched}
end
if rank and (mode ~= 'off' or not create) then return queued(rank) end
if not create then return {'none'} end
if mode == 'off' then
  if rank then
    redis.call('ZREM', KEYS[3], user)
    redis.call('ZREM', KEYS[5], user)
  end
  return {'admitted', tostring(admit(user, now, session)), 0}
end
if mode == 'auto' and redis.call('HGET', KEYS[2], 'active') ~= '1' then
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
  local n = redis.call('ZCARD', KEYS[4])
  if n < cap and redis.call('ZCARD', KEYS[3]) == 0 then
    local e = admit(user, now, session)
    if n + 1 >= cap then
      redis.call('HSET', KEYS[2], 'active', '1')
      redis.call('HDEL', KEYS[2], 'quiet')
      switched = 1
    end
    return {'admitted', tostring(e), switched}
  end
  redis.call('HSET', KEYS[2], 'active', '1')
  redis.call('HDEL', KEYS[2], 'quiet')
  switched = 1
end
local seq = redis.call('INCR', KEYS[6])
redis.call('ZADD', KEYS[3], 'NX', seq, user)
return queued(redis.call('ZRANK', KEYS[3], user))
"""

# ARGV: user. -> {'nosettings'} | {removedFromQueue, removedAdmission}
LEAVE_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {'nosettings'} end
local q = redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[5], ARGV[1])
local a = redis.call('ZREM', KEYS[4], ARGV[1])
return {q, a}
"""

# ARGV: user. -> {'nosettings'} | {queueActive, admitted}
REQUIRE_SCRIPT = _LUA_NOW + _LUA_SETTINGS + """
local active = mode == 'on' or (mode == 'auto' and redis.call('HGET', KEYS[2], 'active') == '1')
if not active then return {0, 0} end
local exp = redis.call('ZSCORE', KEYS[4], ARGV[1])
if exp and tonumber(exp) > now then return {1, 1} end
return {1, 0}
"""

# ARGV: mode, capacity, session. Store the settings; an event put into `auto` with people
# waiting or a full house starts with its queue active. -> auto-mode active flag.
SETTINGS_SCRIPT = """
redis.call('HSET', KEYS[1], 'mode', ARGV[1], 'capacity', ARGV[2], 'session', ARGV[3])
if ARGV[1] == 'auto' and redis.call('HGET', KEYS[2], 'active') ~= '1' and
   (redis.call('ZCARD', KEYS[3]) > 0 or redis.call('ZCARD', KEYS[4]) >= tonumber(ARGV[2])) then
  redis.call('HSET', KEYS[2], 'active', '1')
end
return redis.call('HGET', KEYS[2], 'active') or '0'
"""

# The admission decision. ARGV: interval ms, abandon ms, quiet ms, max admissions per tick
# in `off` mode, max abandoned users dropped per tick, longest gap between queue pushes ms.
# -> {'nosettings'}
#  | {0, queueLength, active, queueActive}                          (tick already decided)
#  | {1, queueLength, active, queueActive, switched, adm60, statsDue, expiresMs, dropped,
#     publish, user, user, ...}                                      (this call decided)
# publish: the waiting room changed (admissions, drops, length, rate) or the last queue
# push is older than the longest gap (open sockets mark their users seen on each push).
TICK_SCRIPT = _LUA_NOW + """
local interval, abandon, quiet = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tickno = math.floor(now / interval)
local last = tonumber(redis.call('HGET', KEYS[2], 'tick') or '-1')
local s = redis.call('HMGET', KEYS[1], 'mode', 'capacity', 'session')
if not s[1] then return {'nosettings'} end
local mode, cap, session = s[1], tonumber(s[2]), tonumber(s[3])
local flag = redis.call('HGET', KEYS[2], 'active') == '1'
local function qactive() return (mode == 'on' or (mode == 'auto' and flag)) and 1 or 0 end
if tickno <= last then
  return {0, redis.call('ZCARD', KEYS[3]), redis.call('ZCARD', KEYS[4]), qactive()}
end
redis.call('HSET', KEYS[2], 'tick', tickno)
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
local stale = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', now - abandon, 'LIMIT', 0, tonumber(ARGV[5]))
for _, u in ipairs(stale) do
  redis.call('ZREM', KEYS[3], u)
  redis.call('ZREM', KEYS[5], u)
end
local active = redis.call('ZCARD', KEYS[4])
local qlen = redis.call('ZCARD', KEYS[3])
local switched = 0
if mode == 'auto' then
  if not flag then
    if qlen > 0 or active >= cap then
      flag = true
      redis.call('HSET', KEYS[2], 'active', '1')
      redis.call('HDEL', KEYS[2], 'quiet')
      switched = 1
    end
  elseif qlen == 0 and active < cap then
    local since = redis.call('HGET', KEYS[2], 'quiet')
    if not since then
      redis.call('HSET', KEYS[2], 'quiet', now)
    elseif now - tonumber(since) >= quiet then
      flag = false
      redis.call('HSET', KEYS[2], 'active', '0')
      redis.call('HDEL', KEYS[2], 'quiet')
      switched = 1
    end
  else
    redis.call('HDEL', KEYS[2], 'quiet')
  end
end
local room = 0
if mode == 'off' then room = math.min(qlen, tonumber(ARGV[4]))
elseif qactive() == 1 then room = math.min(cap - active, qlen) end
local exp = now + session * 1000
local out = {1, 0, 0, 0, switched, 0, 0, exp, #stale, 0}
if room > 0 then
  local popped = redis.call('ZPOPMIN', KEYS[3], room)
  for i = 1, #popped, 2 do
    local u = popped[i]
    redis.call('ZADD', KEYS[4], exp, u)
    redis.call('ZREM', KEYS[5], u)
    out[#out + 1] = u
  end
  redis.call('HINCRBY', KEYS[7], math.floor(now / 1000), #popped / 2)
end
local sec = math.floor(now / 1000)
local counts = redis.call('HGETALL', KEYS[7])
local adm60 = 0
for i = 1, #counts, 2 do
  if tonumber(counts[i]) <= sec - 60 then redis.call('HDEL', KEYS[7], counts[i])
  else adm60 = adm60 + tonumber(counts[i + 1]) end
end
redis.call('HSET', KEYS[2], 'adm60', adm60)
local stats_at = tonumber(redis.call('HGET', KEYS[2], 'statsat') or '0')
if now - stats_at >= 900 then
  redis.call('HSET', KEYS[2], 'statsat', now)
  out[7] = 1
end
out[2] = redis.call('ZCARD', KEYS[3])
out[3] = redis.call('ZCARD', KEYS[4])
out[4] = qactive()
out[6] = adm60
local sig = out[2] .. ':' .. adm60
local pub_at = tonumber(redis.call('HGET', KEYS[2], 'pubat') or '0')
if #out > 10 or #stale > 0 or redis.call('HGET', KEYS[2], 'sig') ~= sig
   or (out[2] > 0 and now - pub_at >= tonumber(ARGV[6])) then
  redis.call('HSET', KEYS[2], 'sig', sig, 'pubat', now)
  out[10] = 1
end
return out
"""

# Each local member's own status in one call; a member still waiting is marked as seen
# (its socket is open). ARGV: users. -> {queueLength, adm60, cap, session, mode, s1, s2, ...}
# with each s 'q<rank>', 'a<expiresMs>' or 'n'.
POSITIONS_SCRIPT = _LUA_NOW + _LUA_SETTINGS + """
local out = {redis.call('ZCARD', KEYS[3]), redis.call('HGET', KEYS[2], 'adm60') or '0', cap, session, mode}
for _, u in ipairs(ARGV) do
  local r = redis.call('ZRANK', KEYS[3], u)
  if r then
    redis.call('ZADD', KEYS[5], now, u)
    out[#out + 1] = 'q' .. r
  else
    local e = redis.call('ZSCORE', KEYS[4], u)
    if e and tonumber(e) > now then out[#out + 1] = 'a' .. e else out[#out + 1] = 'n' end
  end
end
return out
"""

# ARGV: instance id, ttl ms, then event id, count pairs. KEYS: heartbeats, then one
# conns key per pair.
HEARTBEAT_SCRIPT = _LUA_NOW + """
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 100 * ttl)
for i = 2, #KEYS do
  redis.call('HSET', KEYS[i], ARGV[1], ARGV[i + 1])
  redis.call('PEXPIRE', KEYS[i], 100 * ttl)
end
return now
"""

# KEYS: the event's keys, then heartbeats. ARGV: ttl ms.
# -> {'nosettings'} | {mode, cap, queueActive, adm60, queueLength, active, instances, connections}
STATS_SCRIPT = _LUA_NOW + _LUA_SETTINGS + """
local qactive = mode == 'on' or (mode == 'auto' and redis.call('HGET', KEYS[2], 'active') == '1')
local live = redis.call('ZRANGEBYSCORE', KEYS[9], now - tonumber(ARGV[1]), '+inf')
local conns = 0
for _, id in ipairs(live) do conns = conns + tonumber(redis.call('HGET', KEYS[8], id) or '0') end
return {mode, cap, qactive and 1 or 0, redis.call('HGET', KEYS[2], 'adm60') or '0',
        redis.call('ZCARD', KEYS[3]), redis.call('ZCOUNT', KEYS[4], '(' .. now, '+inf'), #live, conns}
"""

SELECT_QUEUED_EVENTS = """
SELECT id, queue_mode AS mode, queue_capacity AS capacity, queue_session_seconds AS session_seconds
FROM events WHERE queue_mode <> 'off' OR id = ANY(%s)
"""

ROOM_KINDS = ("event", "seats", "queue", "admin")
SETTINGS_REFRESH_SECONDS = 5.0
OFF_MODE_BATCH = 1000
DROP_BATCH = 5000


def _iso(ms) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(int(float(ms)) / 1000, datetime.timezone.utc)


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def wait_estimate(position: int, admitted_last_minute: int, capacity: int, session_seconds: int) -> int:
    """Seconds until ``position`` is admitted at the rate observed over the last minute,
    or at ``capacity / sessionSeconds`` before any admission was observed."""
    if admitted_last_minute > 0:
        rate = admitted_last_minute / 60
    else:
        rate = capacity / max(session_seconds, 1)
    return max(0, math.ceil(position / rate))


def queued_view(rank: int, queue_length: int, adm60: int, capacity: int, session: int) -> dict:
    return {"status": "queued", "position": rank + 1, "ahead": rank, "queueLength": queue_length,
            "estimatedWaitSeconds": wait_estimate(rank + 1, adm60, capacity, session)}


class WaitingRoom:
    """One per process. ``attach`` gives it Redis, PostgreSQL and the real-time layer."""

    def __init__(self, config):
        self.config = config
        self.redis = None
        self.pool = None
        self.realtime = None
        self._scripts: dict[str, object] = {}
        self._active_cache: dict[str, tuple[bool, float]] = {}
        self._dirty: set[str] = set()
        self._told_admitted: dict[str, set[str]] = {}
        self._reported_conns: set[str] = set()
        self._settings_refreshed = 0.0
        self._redis_warned = 0.0

    # ---- wiring ------------------------------------------------------------------

    def attach(self, redis_client, pool, realtime) -> None:
        self.redis, self.pool, self.realtime = redis_client, pool, realtime
        for name, source in (("check", CHECK_SCRIPT), ("leave", LEAVE_SCRIPT),
                             ("require", REQUIRE_SCRIPT), ("settings", SETTINGS_SCRIPT),
                             ("tick", TICK_SCRIPT), ("positions", POSITIONS_SCRIPT),
                             ("heartbeat", HEARTBEAT_SCRIPT), ("stats", STATS_SCRIPT)):
            self._scripts[name] = redis_client.register_script(source)

    def register_rooms(self) -> None:
        self.realtime.register_room("queue", authorize=self._authorize_queue,
                                    snapshot=self._queue_snapshot, personalize=self._personalize)
        self.realtime.register_room("admin", authorize=self._authorize_admin,
                                    snapshot=self._admin_snapshot)

    @property
    def _interval(self) -> float:
        return self.config.admission_interval

    async def _run(self, name: str, event_id: str, args=(), extra_keys=(), client=None):
        return await self._scripts[name](keys=[*event_keys(event_id), *extra_keys], args=list(args),
                                         client=client)

    async def _with_settings(self, name: str, event_id: str, args=(), extra_keys=()):
        """Run a script that needs the event's settings in Redis, loading them on a miss."""
        result = await self._run(name, event_id, args, extra_keys)
        if result and _text(result[0]) == "nosettings":
            await self.load_settings(event_id)
            result = await self._run(name, event_id, args, extra_keys)
        return result

    # ---- settings ----------------------------------------------------------------

    async def load_settings(self, event_id: str) -> dict:
        """Copy the event's queue settings from PostgreSQL into Redis; NotFound if no event."""
        row = await events.queue_settings(self.pool, int(event_id))
        if row is None:
            raise errors.NotFound("No such event")
        await self._store_settings(event_id, row)
        return row

    async def _store_settings(self, event_id: str, row: dict, client=None) -> None:
        flag = await self._run("settings", event_id, (row["mode"], row["capacity"], row["session_seconds"]),
                               client=client)
        if client is None:
            await self.redis.sadd(EVENTS_KEY, event_id)
            self._active_cache[event_id] = (_text(flag) == "1", time.monotonic())

    async def settings_changed(self, event_id: str) -> None:
        self._active_cache.pop(event_id, None)
        try:
            await self.load_settings(event_id)
        except REDIS_DOWN:
            # The admission task copies them once Redis answers again.
            self._dirty.add(event_id)
            log.warning("Redis unavailable: queue settings of event %s will be copied later", event_id)

    async def _refresh_settings(self) -> None:
        """Every few seconds: settings of every queued event (and any missed change) from
        PostgreSQL into Redis, so a restarted Redis or a missed update heals itself."""
        dirty = list(self._dirty)
        rows = await db.fetch_all(self.pool, SELECT_QUEUED_EVENTS, ([int(e) for e in dirty],))
        known = {_text(e) for e in await self.redis.smembers(EVENTS_KEY)}
        pipe = self.redis.pipeline(transaction=False)
        fresh = []
        for row in rows:
            event_id = str(row["id"])
            # Existing settings are left alone (PATCH writes them directly) unless the
            # event is new to Redis or a change was missed.
            if event_id in known and event_id not in self._dirty:
                continue
            await self._store_settings(event_id, row, client=pipe)
            pipe.sadd(EVENTS_KEY, event_id)
            fresh.append(event_id)
        if fresh:
            await pipe.execute()
        self._dirty.difference_update(dirty)
        self._settings_refreshed = time.monotonic()

    # ---- what handlers call --------------------------------------------------------

    async def is_active(self, event_id: str, mode: str) -> bool:
        """Cheap: `on`/`off` from the mode itself; `auto` from this instance's view of the
        shared switch, refreshed every tick (Redis only when that view is stale)."""
        if mode != "auto":
            return mode == "on"
        cached = self._active_cache.get(event_id)
        if cached and time.monotonic() - cached[1] < max(3 * self._interval, 2.0):
            return cached[0]
        if self.redis is None:
            return False
        try:
            flag = await self.redis.hget(event_keys(event_id)[1], "active")
        except REDIS_DOWN:
            return cached[0] if cached else False
        active = _text(flag) == "1" if flag is not None else False
        self._active_cache[event_id] = (active, time.monotonic())
        return active

    async def require_admission(self, event_id: str, user_id: str) -> None:
        try:
            active, admitted = await self._with_settings("require", event_id, (user_id,))
        except REDIS_DOWN:
            # Without Redis nobody's admission can be checked: a forced-on queue answers
            # 503 (try again), anything else lets shoppers through.
            row = await events.queue_settings(self.pool, int(event_id))
            if row is not None and row["mode"] == "on":
                raise errors.Unavailable("The waiting room is unavailable; try again shortly",
                                         {"redis": "down"}) from None
            return
        if active and not admitted:
            raise errors.QueueRequired()

    async def purchase_confirmed(self, event_id: str, user_id: str) -> None:
        try:
            await self.redis.zrem(event_keys(event_id)[3], user_id)
        except REDIS_DOWN:
            log.warning("Redis unavailable: admission of user %s to event %s ends at expiry",
                        user_id, event_id)

    async def check(self, event_id: str, user_id: str) -> dict:
        """Enter the queue or be let in; calling again keeps the place."""
        return await self._status(event_id, user_id, create=True)

    async def status(self, event_id: str, user_id: str) -> dict:
        """Own status; polling it counts as being present."""
        return await self._status(event_id, user_id, create=False)

    async def _status(self, event_id: str, user_id: str, create: bool) -> dict:
        result = await self._with_settings("check", event_id, (user_id, "1" if create else "0"))
        kind = _text(result[0])
        if kind == "admitted":
            if int(result[2]):
                await self._switched(event_id, True)
            return {"status": "admitted", "expiresAt": _iso(_text(result[1]))}
        if kind == "queued":
            _, rank, length, adm60, cap, session, switched = result
            if int(switched):
                await self._switched(event_id, True)
            return queued_view(int(rank), int(length), int(_text(adm60)), int(cap), int(session))
        return {"status": "none"}

    async def leave(self, event_id: str, user_id: str) -> None:
        result = await self._run("leave", event_id, (user_id,))
        if result and _text(result[0]) == "nosettings":
            await self.load_settings(event_id)

    async def stats(self, event_id: str) -> dict:
        ttl = self._heartbeat_ttl_ms()
        result = await self._with_settings("stats", event_id, (ttl,), (HEARTBEATS_KEY,))
        mode, cap, qactive, adm60, qlen, active, instances, conns = result
        return {"connections": int(conns), "activeUsers": int(active), "queueLength": int(qlen),
                "admittedLastMinute": int(_text(adm60)), "queueActive": bool(int(qactive)),
                "mode": _text(mode), "capacity": int(cap), "instances": int(instances)}

    # ---- admission task --------------------------------------------------------------

    async def run_admissions(self) -> None:
        """Every instance runs this; the tick script makes one decision per tick in total.
        Ticking twice per interval means no interval goes undecided whatever the phase."""
        loop = asyncio.get_running_loop()
        period = self._interval / 2
        next_at = loop.time()
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except REDIS_DOWN:
                if time.monotonic() - self._redis_warned > 10:
                    self._redis_warned = time.monotonic()
                    log.warning("Redis unavailable: the waiting room pauses until it is back")
            except Exception:
                log.exception("admission tick failed; retrying")
            next_at = max(next_at + period, loop.time())
            await asyncio.sleep(next_at - loop.time())

    async def tick(self) -> list[dict]:
        """One pass over every event: admission (if no instance decided this tick yet),
        local caches and metrics, pushes, this instance's heartbeat."""
        if self._dirty or time.monotonic() - self._settings_refreshed > SETTINGS_REFRESH_SECONDS:
            await self._refresh_settings()
        event_ids = sorted(_text(e) for e in await self.redis.smembers(EVENTS_KEY))
        pipe = self.redis.pipeline(transaction=False)
        abandon_ms = int(self.config.queue_abandon_seconds * 1000)
        args = (max(1, int(self._interval * 1000)), abandon_ms,
                int(self.config.queue_quiet_seconds * 1000), OFF_MODE_BATCH, DROP_BATCH,
                max(int(self._interval * 1000), abandon_ms // 4))
        for event_id in event_ids:
            await self._run("tick", event_id, args, client=pipe)
        results = await pipe.execute() if event_ids else []
        decided = []
        for event_id, result in zip(event_ids, results):
            if _text(result[0]) == "nosettings":
                self._dirty.add(event_id)
                continue
            qlen, active, qactive = int(result[1]), int(result[2]), bool(int(result[3]))
            self._active_cache[event_id] = (qactive, time.monotonic())
            metrics.QUEUE_LENGTH.labels(event=event_id).set(qlen)
            metrics.ACTIVE_SHOPPERS.labels(event=event_id).set(active)
            if int(result[0]) != 1:
                continue
            admitted = [_text(u) for u in result[10:]]
            decision = {"eventId": event_id, "queueLength": qlen, "active": active,
                        "queueActive": qactive, "switched": bool(int(result[4])),
                        "admittedLastMinute": int(result[5]), "statsDue": bool(int(result[6])),
                        "expiresMs": int(result[7]), "dropped": int(result[8]),
                        "publish": bool(int(result[9])), "admitted": admitted}
            decided.append(decision)
            if admitted:
                metrics.ADMISSIONS.labels(event=event_id).inc(len(admitted))
        await self._heartbeat()
        for decision in decided:
            await self._after_decision(decision)
        return decided

    async def _after_decision(self, d: dict) -> None:
        event_id = d["eventId"]
        if self.realtime is None:
            return
        try:
            if d["switched"]:
                await self._switched(event_id, d["queueActive"])
            if d["publish"]:
                await self.realtime.publish(f"queue:{event_id}", "tick", {"admitted": d["admitted"]})
            if d["statsDue"]:
                await self.realtime.publish(f"admin:{event_id}", "stats", await self.stats(event_id))
        except REDIS_DOWN:
            raise
        except Exception:
            log.exception("queue pushes for event %s failed", event_id)

    async def _switched(self, event_id: str, active: bool) -> None:
        """The auto queue turned on or off: tell the event's room."""
        self._active_cache[event_id] = (active, time.monotonic())
        log.info("queue of event %s is now %s", event_id, "active" if active else "inactive")
        if self.realtime is None:
            return
        try:
            event = await events.get_event(self.pool, int(event_id), self.is_active)
            await self.realtime.event_updated(event)
        except errors.NotFound:
            pass
        except Exception:
            log.exception("event-updated push for event %s failed", event_id)

    # ---- heartbeat: live instances and their connections --------------------------------

    def _heartbeat_ttl_ms(self) -> int:
        return int(max(5 * self._interval, 5.0) * 1000)

    def local_connections(self) -> dict[str, int]:
        """This instance's WebSocket connections on each event's rooms."""
        rt = self.realtime
        counts: dict[str, int] = {}
        live_rooms = getattr(rt, "live_rooms", None)
        count = getattr(rt, "local_connection_count", None)
        if live_rooms is None or count is None:
            return counts
        for room in live_rooms():
            kind, _, event_id = room.partition(":")
            if kind in ROOM_KINDS and event_id:
                counts[event_id] = counts.get(event_id, 0) + count(room)
        return counts

    async def _heartbeat(self) -> None:
        counts = self.local_connections()
        for gone in self._reported_conns - counts.keys():
            counts[gone] = 0
        ids = sorted(counts)
        keys = [HEARTBEATS_KEY, *(event_keys(e)[7] for e in ids)]
        args = [self.instance_id, self._heartbeat_ttl_ms(), *(counts[e] for e in ids)]
        await self._scripts["heartbeat"](keys=keys, args=args)
        self._reported_conns = {e for e, n in counts.items() if n}

    @property
    def instance_id(self) -> str:
        import os
        import socket
        return self.config.instance_id or f"{socket.gethostname()}-{os.getpid()}"

    # ---- WebSocket rooms -----------------------------------------------------------------

    async def _event_exists(self, event_id: str) -> None:
        try:
            number = int(event_id)
        except ValueError:
            raise errors.NotFound("No such event") from None
        if not 0 < number < 2**63 or await events.queue_settings(self.pool, number) is None:
            raise errors.NotFound("No such event")

    async def _authorize_queue(self, identity, key: str) -> None:
        if identity is None:
            raise errors.Unauthorized("Sign in to follow your place in the queue")
        await self._event_exists(key)

    async def _queue_snapshot(self, identity, key: str) -> dict:
        status = await self.status(key, identity.user_id)
        if status["status"] == "admitted":
            self._told_admitted.setdefault(key, set()).add(identity.user_id)
        return status

    async def _authorize_admin(self, identity, key: str) -> None:
        if identity is None:
            raise errors.Unauthorized()
        if not identity.is_admin:
            raise errors.Forbidden("Administrators only")
        await self._event_exists(key)

    async def _admin_snapshot(self, identity, key: str) -> dict:
        return await self.stats(key)

    async def _personalize(self, key: str, event: str, data: dict, identities: list) -> list:
        """One tick message → each local member's own `queue-admitted` (the first push after
        its admission) or `queue-update`, from one Redis round trip for all local members.

        The tick publishes only when the waiting room changed (or, rarely, to keep open
        sockets counted as present), and then every member gets its own status: skipping
        the unchanged ones would leave gaps in the room's seq, which clients must treat as
        missed pushes and rejoin for."""
        if event != "tick":
            return [(event, data)] * len(identities)
        users = sorted({i.user_id for i in identities if i is not None})
        if not users:
            return [None] * len(identities)
        try:
            result = await self._with_settings("positions", key, users)
        except REDIS_DOWN:
            return [None] * len(identities)
        qlen, adm60, cap, session = int(result[0]), int(_text(result[1])), int(result[2]), int(result[3])
        admitted_now = set(data.get("admitted") or ())
        told_admitted = self._told_admitted.get(key, set())
        still_admitted: set[str] = set()
        rendered: dict[str, tuple] = {}
        for user, raw in zip(users, result[5:]):
            raw = _text(raw)
            if raw.startswith("a"):
                expires = _iso(raw[1:])
                still_admitted.add(user)
                if user in admitted_now or user not in told_admitted:
                    rendered[user] = ("queue-admitted", {"expiresAt": expires})
                else:
                    rendered[user] = ("queue-update", {"status": "admitted", "expiresAt": expires})
            elif raw.startswith("q"):
                rendered[user] = ("queue-update", queued_view(int(raw[1:]), qlen, adm60, cap, session))
            else:
                rendered[user] = ("queue-update", {"status": "none"})
        self._told_admitted[key] = still_admitted
        return [rendered.get(i.user_id) if i is not None else None for i in identities]
