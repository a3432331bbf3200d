-- One shopper's admission as it stands: the verify endpoint's single round trip.
-- KEYS[1]  the event's admitted zset
-- ARGV[1]  shopper
-- Reply    {nowMs, expiresMs}: expiresMs -1 when the shopper holds no admission
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expires = redis.call('ZSCORE', KEYS[1], ARGV[1])
return {now, expires or -1}
