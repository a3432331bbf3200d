-- Each listed shopper's own status, for the personalised queue pushes; a shopper still
-- waiting is marked seen (their socket is open).
-- KEYS     the event's keys (see prelude.lua)
-- ARGV     the shoppers
-- Reply    {queueLength, admittedLastMinute, capacity, session, mode, startsMs,
--           prequeueLength, apm, opensMs, status...}, a status per shopper: 'q<rank>',
--           'a<expiresMs>', 'p' (pre-queued), 'c' (not in it, and it has not opened yet)
--           or 'n' (neither)
local now = now_ms()
local mode, cap, session, starts, prequeue, apm = settings()
local opens = mode == 'off' and starts or starts - prequeue * 1000
local closed = starts > 0 and now < opens
local out = {redis.call('ZCARD', KEYS[3]), admitted_last_minute(), cap, session, mode, starts,
             redis.call('ZCARD', KEYS[9]), apm, opens}
for _, shopper in ipairs(ARGV) do
  local rank = redis.call('ZRANK', KEYS[3], shopper)
  if rank then
    redis.call('ZADD', KEYS[5], now, shopper)
    out[#out + 1] = 'q' .. rank
  elseif redis.call('ZSCORE', KEYS[9], shopper) then
    out[#out + 1] = 'p'
  else
    local expires = redis.call('ZSCORE', KEYS[4], shopper)
    if expires and tonumber(expires) > now then out[#out + 1] = 'a' .. expires
    elseif closed then out[#out + 1] = 'c'
    else out[#out + 1] = 'n' end
  end
end
return out
