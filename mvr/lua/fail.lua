-- Mark a ticket failed with a reason, unless it already finished.
-- KEYS: ticket, lock, pending, processing, failed
-- ARGV: now_iso, reason, now_ts
local status = redis.call("HGET", KEYS[1], "status")
if status ~= "pending" and status ~= "processing" then return 0 end
local ticket_id = string.match(KEYS[1], "[^:]+$")
redis.call("HSET", KEYS[1], "status", "failed", "updated_at", ARGV[1], "failure_reason", ARGV[2])
redis.call("ZREM", KEYS[3], ticket_id)
redis.call("ZREM", KEYS[4], ticket_id)
redis.call("ZADD", KEYS[5], ARGV[3], ticket_id)
redis.call("DEL", KEYS[2])
return 1
