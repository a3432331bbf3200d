-- Store the event's waiting-room settings, copied from PostgreSQL. An event put into `auto`
-- with people waiting or a full house starts with its queue active.
-- KEYS     the event's keys (see prelude.lua)
-- ARGV[1]  mode ('off', 'on' or 'auto'), ARGV[2] capacity, ARGV[3] session seconds,
-- ARGV[4]  sale start ms (0: none), ARGV[5] pre-queue seconds, ARGV[6] admissions per minute
--          (0: no pacing), ARGV[7] toll bits
-- Reply    {active}: the auto-mode switch, 0 or 1
redis.call('HSET', KEYS[1], 'mode', ARGV[1], 'capacity', ARGV[2], 'session', ARGV[3], 'starts', ARGV[4],
           'prequeue', ARGV[5], 'apm', ARGV[6], 'bits', ARGV[7])
if ARGV[1] == 'auto' and not queue_active('auto') and
   (redis.call('ZCARD', KEYS[3]) > 0 or redis.call('ZCARD', KEYS[4]) >= tonumber(ARGV[2])) then
  switch_on()
end
return {redis.call('HGET', KEYS[2], 'active') == '1' and 1 or 0}
