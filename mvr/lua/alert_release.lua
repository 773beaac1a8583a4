-- Give back an alert reservation before a retry, keeping its repeat flag, if still ours.
-- KEYS: alert key; ARGV: due_ms (when the retry runs), message_id
-- Returns 1 when released, 0 when another delivery took the reservation over.
local value = redis.call("GET", KEYS[1])
if not value then return 0 end
local state, _, repeat_flag, owner = string.match(value, "^(%a+):(%d+):?(%d?):?(.*)$")
if state ~= "sending" or owner ~= ARGV[2] then return 0 end
if repeat_flag == "" then repeat_flag = "0" end
redis.call("SET", KEYS[1], "waiting:" .. ARGV[1] .. ":" .. repeat_flag .. ":" .. ARGV[2])
return 1
