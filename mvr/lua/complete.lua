-- Write a decision, only for the holder of the latest claim and only once.
-- KEYS: ticket, lock, processing, ready, alert queue list ("" = none), alert queue msgs hash,
--       alerts awaiting delivery
-- ARGV: token, now_iso, urgency_score, redis_message_id, alert message ("" = no alert),
--       alert queued ("1"/"0"), now_ts, then field/value pairs of the decision
local state = redis.call("HMGET", KEYS[1], "status", "lock_token")
if state[1] == "completed" then return "done" end
if state[2] ~= ARGV[1] then return "stale" end
local ticket_id = string.match(KEYS[1], "[^:]+$")
redis.call("HSET", KEYS[1], "status", "completed", "updated_at", ARGV[2], unpack(ARGV, 8))
redis.call("HINCRBY", KEYS[1], "completions", 1)
redis.call("ZREM", KEYS[3], ticket_id)
redis.call("ZADD", KEYS[4], ARGV[3], ticket_id)
redis.call("DEL", KEYS[2])
if ARGV[6] == "1" then redis.call("ZADD", KEYS[7], ARGV[7], ticket_id) end
if ARGV[5] ~= "" and KEYS[5] ~= "" then
  redis.call("HSET", KEYS[6], ARGV[4], ARGV[5])
  redis.call("RPUSH", KEYS[5], ARGV[4])
end
return "completed"
