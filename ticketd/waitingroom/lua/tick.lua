-- The admission decision: once per event per tick number (Redis time / interval), by
-- whichever instance calls first; later calls for the same tick only read.
-- KEYS     the event's keys (see prelude.lua)
-- ARGV[1]  tick interval, ms
-- ARGV[2]  abandon after, ms: waiting shoppers silent this long are dropped
-- ARGV[3]  quiet for, ms: an auto-mode queue empty and under capacity this long switches off
-- ARGV[4]  most admissions per tick in `off` mode
-- ARGV[5]  most silent shoppers dropped per tick
-- ARGV[6]  longest gap between queue pushes, ms
-- Reply    {decided, queueLength, active, queueActive, switched, admittedLastMinute,
--           statsDue, expiresMs, dropped, publish, shopper...}
--          decided 0: another call decided this tick (only queueLength, active and
--          queueActive are set). The shoppers are the ones admitted now. publish 1: the
--          waiting room changed (admissions, drops, length, rate) or the last queue push
--          is older than the longest gap (open sockets mark their shoppers seen on a push).
local now = now_ms()
local interval, abandon, quiet = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local mode, cap, session = settings()
local tickno = math.floor(now / interval)
if tickno <= tonumber(redis.call('HGET', KEYS[2], 'tick') or '-1') then
  return {0, redis.call('ZCARD', KEYS[3]), redis.call('ZCARD', KEYS[4]), queue_active(mode) and 1 or 0}
end
redis.call('HSET', KEYS[2], 'tick', tickno)
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
local stale = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', now - abandon, 'LIMIT', 0, tonumber(ARGV[5]))
for _, shopper in ipairs(stale) do
  redis.call('ZREM', KEYS[3], shopper)
  redis.call('ZREM', KEYS[5], shopper)
end

local active = redis.call('ZCARD', KEYS[4])
local waiting = redis.call('ZCARD', KEYS[3])
local switched = 0
if mode == 'auto' then
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

local room = 0
if mode == 'off' then room = math.min(waiting, tonumber(ARGV[4]))
elseif queue_active(mode) then room = math.min(cap - active, waiting) end
local expires = now + session * 1000
local out = {1, 0, 0, 0, switched, 0, 0, expires, #stale, 0}
if room > 0 then
  local popped = redis.call('ZPOPMIN', KEYS[3], room)
  for i = 1, #popped, 2 do
    admit(popped[i], expires)
    redis.call('ZREM', KEYS[5], popped[i])
    out[#out + 1] = popped[i]
  end
  count_admissions(now, #popped / 2)
end

local sec = math.floor(now / 1000)
local counts = redis.call('HGETALL', KEYS[7])
local adm60 = 0
for i = 1, #counts, 2 do
  if tonumber(counts[i]) <= sec - 60 then redis.call('HDEL', KEYS[7], counts[i])
  else adm60 = adm60 + tonumber(counts[i + 1]) end
end
redis.call('HSET', KEYS[2], 'adm60', adm60)
if now - tonumber(redis.call('HGET', KEYS[2], 'statsat') or '0') >= 900 then
  redis.call('HSET', KEYS[2], 'statsat', now)
  out[7] = 1
end
out[2] = redis.call('ZCARD', KEYS[3])
out[3] = redis.call('ZCARD', KEYS[4])
out[4] = queue_active(mode) and 1 or 0
out[6] = adm60
local sig = out[2] .. ':' .. adm60
if #out > 10 or #stale > 0 or redis.call('HGET', KEYS[2], 'sig') ~= sig
   or (out[2] > 0 and now - tonumber(redis.call('HGET', KEYS[2], 'pubat') or '0') >= tonumber(ARGV[6])) then
  redis.call('HSET', KEYS[2], 'sig', sig, 'pubat', now)
  out[10] = 1
end
return out
