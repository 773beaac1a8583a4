-- Record a person's category (and optionally urgency) next to MVR's decision.
-- KEYS: see lifecycle.lua, then the corrections zset (by time of correction)
-- ARGV: see lifecycle.lua, then category, urgency_score ("" = none)
-- Returns {"ok", ticket hash} or {"missing"|"conflict", current status}.
local check = check_status({completed = true, taken = true, resolved = true})
if check[1] ~= "ok" then return check end
local status, id = check[2], id_of(TICKET)
local member = member_of(TICKET, id, status)
local score = redis.call("ZSCORE", SETS[status], member)
redis.call("ZREM", category_set(TICKET, status), member)
redis.call("HSET", TICKET, "corrected_category", ARGV[7], "corrected_at", NOW_ISO, "updated_at", NOW_ISO)
if ARGV[8] ~= "" then redis.call("HSET", TICKET, "corrected_urgency", ARGV[8])
else redis.call("HDEL", TICKET, "corrected_urgency") end
if score then redis.call("ZADD", category_set(TICKET, status), score, member) end
redis.call("ZADD", KEYS[5], NOW_TS, id)
return {"ok", redis.call("HGETALL", TICKET)}
