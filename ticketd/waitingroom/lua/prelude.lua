-- Helpers every waiting-room script shares: ticketd.luascripts prepends this file.
-- The keys of one event come in this order in KEYS (all share the hash tag {eventId}):
--   KEYS[1] settings  hash: mode, capacity, session (s), starts (sale start, ms; 0 none),
--                     prequeue (s), apm (admissions per minute; 0 none), bits (toll);
--                     copied from PostgreSQL
--   KEYS[2] state     hash: active (the auto-mode switch), quiet (under capacity since, ms),
--                     tick (last tick number decided), adm60, statsat, opened (the sale start
--                     whose opening was applied), credit/creditat (pacing), drawclaim,
--                     drawclaimat, drawpos (the draw)
--   KEYS[3] queue     zset: waiting shoppers by place (arrival number; drawn places below 0)
--   KEYS[4] admitted  zset: admitted shoppers by the end of their admission (ms)
--   KEYS[5] seen      zset: waiting shoppers by their last sign of life (ms)
--   KEYS[6] seq       counter: arrival numbers
--   KEYS[7] admsec    hash: admissions per unix second
--   KEYS[8] conns     hash: each instance's WebSocket connections on the event's rooms
--   KEYS[9] pre       zset: the pre-queue (shoppers waiting for the draw, by arrival)

-- Redis time in ms: instances' clocks may disagree; Redis's is the one they share.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- mode, capacity, session seconds, sale start ms (0: none), pre-queue seconds, admissions
-- per minute (0: no pacing), toll bits. Missing settings are an error (NOSETTINGS) that
-- the caller answers by copying them from PostgreSQL and calling again.
local function settings()
  local s = redis.call('HMGET', KEYS[1], 'mode', 'capacity', 'session', 'starts', 'prequeue', 'apm', 'bits')
  if not s[1] then error('NOSETTINGS') end
  return s[1], tonumber(s[2]), tonumber(s[3]), tonumber(s[4] or '0'), tonumber(s[5] or '0'),
         tonumber(s[6] or '0'), tonumber(s[7] or '0')
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

local function admitted_last_minute()
  return tonumber(redis.call('HGET', KEYS[2], 'adm60') or '0')
end

-- Admissions of the last 61 one-second buckets (older buckets are dropped) and of the
-- last 60.
local function recent_admissions(now)
  local sec = math.floor(now / 1000)
  local counts = redis.call('HGETALL', KEYS[7])
  local last61, last60 = 0, 0
  for i = 1, #counts, 2 do
    local s, n = tonumber(counts[i]), tonumber(counts[i + 1])
    if s <= sec - 61 then
      redis.call('HDEL', KEYS[7], counts[i])
    else
      last61 = last61 + n
      if s > sec - 60 then last60 = last60 + n end
    end
  end
  return last61, last60
end

-- Pacing (admitPerMinute): how many may be admitted now. A credit grows apm/61 a second, at
-- most one second's worth (never a burst), and the last 61 one-second buckets never hold
-- more than apm: at most apm admissions in any 60 seconds.
local function pacing_allowance(now, apm)
  if apm <= 0 then return math.huge end
  local cap = math.max(1, apm / 61)
  local s = redis.call('HMGET', KEYS[2], 'credit', 'creditat')
  local credit = cap
  -- Admissions with no queue (mode off) spend credit before any allowance was asked: a
  -- credit with no time yet starts full.
  if s[1] and s[2] then credit = math.min(cap, tonumber(s[1]) + (now - tonumber(s[2])) * apm / 61000) end
  redis.call('HSET', KEYS[2], 'credit', credit, 'creditat', now)
  local last61 = recent_admissions(now)
  return math.max(0, math.min(math.floor(credit), apm - last61))
end

-- Record n admissions: the observed rate, and the pacing credit they spend.
local function count_admissions(now, n, apm)
  redis.call('HINCRBY', KEYS[7], math.floor(now / 1000), n)
  if apm > 0 then redis.call('HINCRBYFLOAT', KEYS[2], 'credit', -n) end
end
