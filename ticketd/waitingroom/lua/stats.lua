-- The event's live stats across every instance.
-- KEYS[1…9] the event's keys (see prelude.lua), KEYS[10] wr:instances
-- ARGV[1]   heartbeat ttl ms: instances heard from within it are live
-- Reply     {mode, capacity, queueActive, admittedLastMinute, queueLength, activeUsers,
--            instances, connections, prequeueLength}
local now = now_ms()
local mode, cap = settings()
local live = redis.call('ZRANGEBYSCORE', KEYS[10], now - tonumber(ARGV[1]), '+inf')
local connections = 0
for _, id in ipairs(live) do connections = connections + tonumber(redis.call('HGET', KEYS[8], id) or '0') end
return {mode, cap, queue_active(mode) and 1 or 0, admitted_last_minute(), redis.call('ZCARD', KEYS[3]),
        redis.call('ZCOUNT', KEYS[4], '(' .. now, '+inf'), #live, connections, redis.call('ZCARD', KEYS[9])}
