-- Helpers every waiting-room script shares: ticketd.luascripts prepends this file.
-- The keys of one event come in this order in KEYS (all share the hash tag {eventId}):
--   KEYS[1] settings  hash: mode, capacity, session (seconds); copied from PostgreSQL
--   KEYS[2] state     hash: active (the auto-mode switch), quiet (under capacity since, ms),
--                     tick (last tick number decided), adm60, statsat, sig, pubat
--   KEYS[3] queue     zset: waiting shoppers by arrival number (FIFO at Redis)
--   KEYS[4] admitted  zset: admitted shoppers by the end of their admission (ms)
--   KEYS[5] seen      zset: waiting shoppers by their last sign of life (ms)
--   KEYS[6] seq       counter: arrival numbers
--   KEYS[7] admsec    hash: admissions per unix second
--   KEYS[8] conns     hash: each instance's WebSocket connections on the event's rooms

-- Redis time in ms: instances' clocks may disagree; Redis's is the one they share.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- mode, capacity, session seconds. Missing settings are an error reply (NOSETTINGS) that
-- the caller answers by copying them from PostgreSQL and calling again.
local function settings()
  local s = redis.call('HMGET', KEYS[1], 'mode', 'capacity', 'session')
  if not s[1] then error('NOSETTINGS') end
  return s[1], tonumber(s[2]), tonumber(s[3])
end

-- Whether the queue holds arrivals back.
local function queue_active(mode)
  return mode == 'on' or (mode == 'auto' and redis.call('HGET', KEYS[2], 'active') == '1')
end

-- auto mode: the queue becomes active.
local function switch_on()
  redis.call('HSET', KEYS[2], 'active', '1')
  redis.call('HDEL', KEYS[2], 'quiet')
end

local function admit(shopper, expires)
  redis.call('ZADD', KEYS[4], expires, shopper)
end

-- Admissions are counted per second for the observed rate.
local function count_admissions(now, n)
  redis.call('HINCRBY', KEYS[7], math.floor(now / 1000), n)
end

local function admitted_last_minute()
  return tonumber(redis.call('HGET', KEYS[2], 'adm60') or '0')
end
