-- Check in (enter the queue, or be let in), or read one's own status.
-- KEYS     the event's keys (see prelude.lua)
-- ARGV[1]  shopper
-- ARGV[2]  '1': check in (enter the queue if not in it); '0': status only
-- Reply    {kind, expiresMs, rank, queueLength, admittedLastMinute, capacity, session, switched}
--          kind 'admitted' (expiresMs set), 'queued' (rank 0-based, queueLength) or 'none';
--          switched 1 when this call turned the auto-mode queue on.
local now = now_ms()
local mode, cap, session = settings()
local shopper, create = ARGV[1], ARGV[2] == '1'
local switched = 0

local function admitted(expires)
  return {'admitted', expires, 0, 0, 0, cap, session, switched}
end
local function queued(rank)
  redis.call('ZADD', KEYS[5], now, shopper)
  return {'queued', 0, rank, redis.call('ZCARD', KEYS[3]), admitted_last_minute(), cap, session, switched}
end
local function let_in()
  local expires = now + session * 1000
  admit(shopper, expires)
  count_admissions(now, 1)
  return expires
end

local expires = redis.call('ZSCORE', KEYS[4], shopper)
if expires then
  if tonumber(expires) > now then return admitted(expires) end
  redis.call('ZREM', KEYS[4], shopper)
end
local rank = redis.call('ZRANK', KEYS[3], shopper)
if rank and (mode ~= 'off' or not create) then return queued(rank) end
if not create then return {'none', 0, 0, 0, 0, cap, session, 0} end
if mode == 'off' then
  if rank then
    redis.call('ZREM', KEYS[3], shopper)
    redis.call('ZREM', KEYS[5], shopper)
  end
  return admitted(let_in())
end
if mode == 'auto' and not queue_active(mode) then
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
  local active = redis.call('ZCARD', KEYS[4])
  if active < cap and redis.call('ZCARD', KEYS[3]) == 0 then
    local until_ms = let_in()
    if active + 1 >= cap then
      switch_on()
      switched = 1
    end
    return admitted(until_ms)
  end
  switch_on()
  switched = 1
end
redis.call('ZADD', KEYS[3], 'NX', redis.call('INCR', KEYS[6]), shopper)
return queued(redis.call('ZRANK', KEYS[3], shopper))
