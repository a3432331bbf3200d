-- Whether a shopper may reserve now: the sale has started, and the queue holds nobody back
-- or they are admitted.
-- KEYS     the event's keys (see prelude.lua)
-- ARGV[1]  shopper
-- Reply    {saleStarted, queueActive, admitted, startsMs}, the first three 0 or 1
local now = now_ms()
local mode, _, _, starts = settings()
if starts > 0 and now < starts then return {0, 0, 0, starts} end
if not queue_active(mode) then return {1, 0, 0, starts} end
local expires = redis.call('ZSCORE', KEYS[4], ARGV[1])
return {1, 1, (expires and tonumber(expires) > now) and 1 or 0, starts}
