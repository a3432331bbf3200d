-- What a fresh toll challenge needs: Redis's time and the event's current toll.
-- KEYS     the event's keys (see prelude.lua)
-- Reply    {nowMs, bits}
local now = now_ms()
local _, _, _, _, _, _, bits = settings()
return {now, bits}
