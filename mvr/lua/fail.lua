-- Mark a ticket failed with a reason, unless it already finished.
-- KEYS: ticket, lock, pending, processing
-- ARGV: now_iso, reason
local status = redis.call("HGET", KEYS[1], "status")
if not status or status == "completed" or status == "failed" then return 0 end
local ticket_id = string.match(KEYS[1], "[^:]+$")
redis.call("HSET", KEYS[1], "status", "failed", "updated_at", ARGV[1], "failure_reason", ARGV[2])
redis.call("ZREM", KEYS[3], ticket_id)
redis.call("ZREM", KEYS[4], ticket_id)
redis.call("DEL", KEYS[2])
return 1
