-- taken -> resolved. KEYS/ARGV: see lifecycle.lua; no own keys or arguments.
-- Returns {"ok", ticket hash} or {"missing"|"conflict", current status}.
local check = check_status({taken = true})
if check[1] ~= "ok" then return check end
local id = id_of(TICKET)
unindex(TICKET, id, "taken")
redis.call("HSET", TICKET, "status", "resolved", "resolved_at", NOW_ISO, "updated_at", NOW_ISO)
redis.call("HDEL", TICKET, "lease_expires_at")
index(TICKET, id, "resolved", NOW_TS)
return {"ok", redis.call("HGETALL", TICKET)}
