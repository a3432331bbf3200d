-- Leave the queue or the pre-queue, or give up an admission.
-- KEYS     the event's keys (see prelude.lua)
-- ARGV[1]  shopper
-- Reply    {leftQueue, endedAdmission}, each 0 or 1
settings()
local left = redis.call('ZREM', KEYS[3], ARGV[1]) + redis.call('ZREM', KEYS[9], ARGV[1])
redis.call('ZREM', KEYS[5], ARGV[1])
return {left, redis.call('ZREM', KEYS[4], ARGV[1])}
