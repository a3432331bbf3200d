-- Whether a window is already full, without counting.
-- KEYS[1]  the window's counter
-- ARGV[1]  the limit
-- Reply: -1 while under the limit, else the milliseconds until the window ends.
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[1]) then return redis.call('PTTL', KEYS[1]) end
return -1
