-- Reserve the right to post a ticket's alert, just before the POST.
-- The alert key holds "sent" | "mock" | "failed" (final), or
--   "sending:<since_ms>:<repeat>:<message_id>"  a delivery is posting (since then), or
--   "waiting:<due_ms>:<repeat>:<message_id>"    that message's retry is due then.
-- <repeat> is 1 once an earlier post may have reached Slack (a worker died while posting).
-- KEYS: alert key
-- ARGV: now_ms, hold_ms (a post lasting longer was interrupted), grace_ms (a retry this late
--       was lost), message_id, at_least_once ("1": repeat an interrupted post; "0": give it up)
-- Returns {"reserved", repeat} | {"held", ms_left} | {"scheduled"} | {"abandoned"} | {"final"}
local now, hold, grace = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local value = redis.call("GET", KEYS[1])
local function reserve(repeat_flag)
  redis.call("SET", KEYS[1], "sending:" .. ARGV[1] .. ":" .. repeat_flag .. ":" .. ARGV[4])
  return {"reserved", repeat_flag}
end
if not value then return reserve("0") end
local state, at, repeat_flag, owner = string.match(value, "^(%a+):(%d+):?(%d?):?(.*)$")
if not state then return {"final"} end
at = tonumber(at)
if repeat_flag == "" then repeat_flag = "0" end
if state == "sending" then
  if now - at <= hold then return {"held", hold - (now - at)} end
  if ARGV[5] ~= "1" then return {"abandoned"} end
  return reserve("1")
end
-- waiting: only the message that owns the retry chain posts, unless that chain was lost
if owner ~= ARGV[4] and now < at + grace then return {"scheduled"} end
return reserve(repeat_flag)
