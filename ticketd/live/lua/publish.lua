-- One push to a room on every instance: the room's next seq, and the frame with it spliced in.
-- KEYS[1]  the room's seq counter
-- KEYS[2]  the room's channel
-- ARGV[1]  floor: the publisher's last known seq, so a Redis that lost its data never hands
--          out a seq below what clients already saw
-- ARGV[2]  frame head (up to `"seq":`), ARGV[3] frame tail, ARGV[4] header (time|event)
-- Reply    the seq. The channel gets "<seq> <header> <head><seq><tail>".
local s = redis.call('INCR', KEYS[1])
local floor = tonumber(ARGV[1])
if s <= floor then
  s = floor + 1
  redis.call('SET', KEYS[1], s)
end
redis.call('PUBLISH', KEYS[2], s .. ' ' .. ARGV[4] .. ' ' .. ARGV[2] .. s .. ARGV[3])
return s
