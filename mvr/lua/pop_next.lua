-- Take the completed ticket with the highest S (oldest first among equal S): it becomes taken.
-- Two callers never get the same one. KEYS/ARGV: see lifecycle.lua; no own keys or arguments.
local popped = redis.call("ZPOPMAX", READY)
if #popped == 0 then return false end
local id = id_of(popped[1])
local key = TICKET_PREFIX .. id
redis.call("ZREM", category_set(key, "completed"), popped[1])
redis.call("HSET", key, "status", "taken", "taken_at", NOW_ISO, "taken_ts", NOW_TS, "updated_at", NOW_ISO)
if LEASE_EXPIRES ~= "" then redis.call("HSET", key, "lease_expires_at", LEASE_EXPIRES) end
index(key, id, "taken", NOW_TS)
return redis.call("HGETALL", key)
