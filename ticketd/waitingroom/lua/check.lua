-- Check in (enter the queue or the pre-queue, or be let in), or read one's own status.
-- KEYS[1…9]  the event's keys (see prelude.lua)
-- KEYS[10]   the toll's single-use key for this challenge (any key when there is none)
-- ARGV[1]    shopper
-- ARGV[2]    '1': check in; '0': status only
-- ARGV[3]    the toll paid by this call: the bits of a solved challenge whose signature and
--            work are checked ('0': none)
-- ARGV[4]    that challenge's expiry, ms
-- Reply      {kind, expiresMs, rank, queueLength, admittedLastMinute, capacity, session,
--             switched, startsMs, opensMs, prequeueLength, bits, apm}
--            kind 'admitted' (expiresMs), 'queued' (rank 0-based, queueLength), 'prequeue'
--            (prequeueLength), 'closed' (opensMs: the pre-queue opens), 'challenge' (a toll
--            is due: bits) or 'none'; switched 1 when this call turned the auto queue on.
local now = now_ms()
local mode, cap, session, starts, prequeue, apm, bits = settings()
local shopper, create = ARGV[1], ARGV[2] == '1'
local switched = 0
-- With no queue there is no pre-queue: closed until the sale itself.
local opens = mode == 'off' and starts or starts - prequeue * 1000

local function reply(kind, expires, rank, length)
  return {kind, expires or 0, rank or 0, length or 0, admitted_last_minute(), cap, session, switched,
          starts, opens, redis.call('ZCARD', KEYS[9]), bits, apm}
end
local function queued(rank)
  redis.call('ZADD', KEYS[5], now, shopper)
  return reply('queued', 0, rank, redis.call('ZCARD', KEYS[3]))
end
local function let_in()
  local expires = now + session * 1000
  admit(shopper, expires)
  count_admissions(now, 1, apm)
  return reply('admitted', expires)
end
-- Entering the (pre-)queue pays the toll: a solved challenge, unexpired, used once.
local function toll_paid()
  if bits == 0 then return true end
  if tonumber(ARGV[3]) < bits or tonumber(ARGV[4]) <= now then return false end
  return redis.call('SET', KEYS[10], '1', 'NX', 'PX', tonumber(ARGV[4]) - now) ~= false
end

local expires = redis.call('ZSCORE', KEYS[4], shopper)
if expires then
  if tonumber(expires) > now then return reply('admitted', expires) end
  redis.call('ZREM', KEYS[4], shopper)
end
local rank = redis.call('ZRANK', KEYS[3], shopper)
if rank and (mode ~= 'off' or not create) then return queued(rank) end
-- Pre-queued: until the draw has given them a place (the draw runs once the sale starts).
if redis.call('ZSCORE', KEYS[9], shopper) then return reply('prequeue') end
local before_sale = starts > 0 and now < starts
if before_sale and (mode == 'off' or now < opens) then
  -- Before the pre-queue opens (with no queue: until the sale starts) nothing is stored.
  return reply('closed')
end
if not create then return reply('none') end
if before_sale then
  if not toll_paid() then return reply('challenge') end
  redis.call('ZADD', KEYS[9], 'NX', redis.call('INCR', KEYS[6]), shopper)
  return reply('prequeue')
end
if mode == 'off' then
  if rank then
    redis.call('ZREM', KEYS[3], shopper)
    redis.call('ZREM', KEYS[5], shopper)
  end
  return let_in()
end
if mode == 'auto' and not queue_active(mode) then
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
  local active = redis.call('ZCARD', KEYS[4])
  if active < cap and redis.call('ZCARD', KEYS[3]) == 0 and pacing_allowance(now, apm) >= 1 then
    local answer = let_in()
    if active + 1 >= cap then
      switch_on()
      switched = 1
      answer[8] = 1
    end
    return answer
  end
  switch_on()
  switched = 1
end
if not toll_paid() then return reply('challenge') end
redis.call('ZADD', KEYS[3], 'NX', redis.call('INCR', KEYS[6]), shopper)
return queued(redis.call('ZRANK', KEYS[3], shopper))
