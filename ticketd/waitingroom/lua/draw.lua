-- One chunk of the draw: pre-queued shoppers, in the order the claimer drew at random, take
-- the next places ahead of everyone who arrived after the start.
-- KEYS     the event's keys (see prelude.lua)
-- ARGV[1]  the claim (from the tick that claimed the draw)
-- ARGV[2…] shoppers, in their drawn order
-- Reply    {claimed, moved, remaining}: claimed 0 when the claim is no longer this caller's
--          (it stalled and another instance took over); remaining: still pre-queued.
local now = now_ms()
if redis.call('HGET', KEYS[2], 'drawclaim') ~= ARGV[1] then
  return {0, 0, redis.call('ZCARD', KEYS[9])}
end
local moved = 0
for i = 2, #ARGV do
  local shopper = ARGV[i]
  if redis.call('ZREM', KEYS[9], shopper) == 1 then
    local place = redis.call('HINCRBY', KEYS[2], 'drawpos', 1)
    redis.call('ZADD', KEYS[3], place - 1e12, shopper)  -- arrival numbers are positive
    redis.call('ZADD', KEYS[5], now, shopper)          -- presence counts from the start on
    moved = moved + 1
  end
end
local remaining = redis.call('ZCARD', KEYS[9])
if remaining == 0 then
  redis.call('HDEL', KEYS[2], 'drawclaim', 'drawclaimat')
else
  redis.call('HSET', KEYS[2], 'drawclaimat', now)
end
return {1, moved, remaining}
