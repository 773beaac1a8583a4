-- taken -> completed: back into the ready queue at its place (by S, oldest first among equals).
-- KEYS/ARGV: see lifecycle.lua; no own keys or arguments.
-- Returns {"ok", ticket hash} or {"missing"|"conflict", current status}.
local check = check_status({taken = true})
if check[1] ~= "ok" then return check end
back_to_ready(TICKET, id_of(TICKET))
return {"ok", redis.call("HGETALL", TICKET)}
