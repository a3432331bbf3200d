-- The admission decision: once per event per tick number (Redis time / interval), by
-- whichever instance calls first; later calls for the same tick only read.
-- KEYS     the event's keys (see prelude.lua)
-- ARGV[1]  tick interval, ms
-- ARGV[2]  abandon after, ms: waiting shoppers silent this long are dropped
-- ARGV[3]  quiet for, ms: an auto-mode queue empty and under capacity this long switches off
-- ARGV[4]  most admissions per tick in `off` mode
-- ARGV[5]  most silent shoppers dropped per tick
-- ARGV[6]  a claim on the draw older than this (ms) is taken over: its instance died
-- Reply    {decided, queueLength, active, queueActive, prequeueLength, switched,
--           admittedLastMinute, statsDue, expiresMs, dropped, publish, drawClaim,
--           shopper...}
--          decided 0: another call decided this tick (only the next four are set). The
--          shoppers are the ones admitted now. publish 1: anyone waits, or the room changed.
--          drawClaim: nonzero when this call claimed the draw (the sale has started and the
--          pre-queue is not empty): the caller draws, then no admission until it is done.
local now = now_ms()
local interval, abandon, quiet = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local mode, cap, session, starts, _, apm = settings()
local tickno = math.floor(now / interval)
local function counts(active_flag)
  return redis.call('ZCARD', KEYS[3]), redis.call('ZCARD', KEYS[4]), active_flag and 1 or 0,
         redis.call('ZCARD', KEYS[9])
end
if tickno <= tonumber(redis.call('HGET', KEYS[2], 'tick') or '-1') then
  local waiting, active, flag, pre = counts(queue_active(mode))
  return {0, waiting, active, flag, pre}
end
redis.call('HSET', KEYS[2], 'tick', tickno)
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
local stale = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', now - abandon, 'LIMIT', 0, tonumber(ARGV[5]))
for _, shopper in ipairs(stale) do
  redis.call('ZREM', KEYS[3], shopper)
  redis.call('ZREM', KEYS[5], shopper)
end

local switched = 0
local started = starts == 0 or now >= starts
-- At the sale's start the queue is active, in auto mode too.
if started and starts > 0 and mode == 'auto' and redis.call('HGET', KEYS[2], 'opened') ~= tostring(starts) then
  redis.call('HSET', KEYS[2], 'opened', tostring(starts))
  if not queue_active(mode) then
    switch_on()
    switched = 1
  end
end
-- The draw: once the sale has started, everyone pre-queued gets a random place. One instance
-- claims it; a claim that stopped moving is taken over.
local claim = 0
local drawing = started and redis.call('ZCARD', KEYS[9]) > 0
if drawing then
  local c = redis.call('HMGET', KEYS[2], 'drawclaim', 'drawclaimat')
  if not c[1] or now - tonumber(c[2]) > tonumber(ARGV[6]) then
    claim = tickno
    redis.call('HSET', KEYS[2], 'drawclaim', claim, 'drawclaimat', now)
  end
end

local active = redis.call('ZCARD', KEYS[4])
local waiting = redis.call('ZCARD', KEYS[3])
if mode == 'auto' and not drawing then
  if not queue_active(mode) then
    if waiting > 0 or active >= cap then
      switch_on()
      switched = 1
    end
  elseif waiting == 0 and active < cap then
    local since = redis.call('HGET', KEYS[2], 'quiet')
    if not since then
      redis.call('HSET', KEYS[2], 'quiet', now)
    elseif now - tonumber(since) >= quiet then
      redis.call('HSET', KEYS[2], 'active', '0')
      redis.call('HDEL', KEYS[2], 'quiet')
      switched = 1
    end
  else
    redis.call('HDEL', KEYS[2], 'quiet')
  end
end

-- Nobody is let in before the sale, nor before the draw has placed the pre-queue.
local room = 0
if not started or drawing then room = 0
elseif mode == 'off' then room = math.min(waiting, tonumber(ARGV[4]))
elseif queue_active(mode) then room = math.min(cap - active, waiting, pacing_allowance(now, apm)) end
local expires = now + session * 1000
local out = {1, 0, 0, 0, 0, switched, 0, 0, expires, #stale, 0, claim}
if room > 0 then
  local popped = redis.call('ZPOPMIN', KEYS[3], room)
  for i = 1, #popped, 2 do
    admit(popped[i], expires)
    redis.call('ZREM', KEYS[5], popped[i])
    out[#out + 1] = popped[i]
  end
  count_admissions(now, #popped / 2, apm)
end

local _, adm60 = recent_admissions(now)
redis.call('HSET', KEYS[2], 'adm60', adm60)
if now - tonumber(redis.call('HGET', KEYS[2], 'statsat') or '0') >= 900 then
  redis.call('HSET', KEYS[2], 'statsat', now)
  out[8] = 1
end
out[2], out[3], out[4], out[5] = counts(queue_active(mode))
out[7] = adm60
-- Every tick while anyone waits (each instance refreshes its members a slice at a time),
-- and whenever the room changed.
local sig = out[2] .. ':' .. out[5] .. ':' .. adm60
if out[2] > 0 or out[5] > 0 or #out > 12 or #stale > 0 or redis.call('HGET', KEYS[2], 'sig') ~= sig then
  redis.call('HSET', KEYS[2], 'sig', sig)
  out[11] = 1
end
return out
