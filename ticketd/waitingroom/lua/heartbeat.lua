-- This instance is alive, with these WebSocket connection counts per event.
-- KEYS[1]  wr:instances (zset: instance id -> last heartbeat, ms)
-- KEYS[2…] one event's conns key per counted event
-- ARGV[1]  instance id, ARGV[2] heartbeat ttl ms, ARGV[3…] a count per conns key
-- Reply    {nowMs}
local now = now_ms()
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 100 * ttl)
for i = 2, #KEYS do
  redis.call('HSET', KEYS[i], ARGV[1], ARGV[i + 1])
  redis.call('PEXPIRE', KEYS[i], 100 * ttl)
end
return {now}
