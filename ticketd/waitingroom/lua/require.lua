-- Whether a shopper may reserve now: the queue holds nobody back, or they are admitted.
-- KEYS     the event's keys (see prelude.lua)
-- ARGV[1]  shopper
-- Reply    {queueActive, admitted}, each 0 or 1
local now = now_ms()
local mode = settings()
if not queue_active(mode) then return {0, 0} end
local expires = redis.call('ZSCORE', KEYS[4], ARGV[1])
return {1, (expires and tonumber(expires) > now) and 1 or 0}
