-- Count one request in a fixed window.
-- KEYS[1]  the window's counter
-- ARGV[1]  window length, ms
-- ARGV[2]  the limit
-- Reply: -1 while at or under the limit, else the milliseconds until the window ends.
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
if n > tonumber(ARGV[2]) then return redis.call('PTTL', KEYS[1]) end
return -1
