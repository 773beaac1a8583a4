-- Write a decision, only for the holder of the latest claim and only once.
-- KEYS: ticket, lock, processing, ready, alert queue list ("" = none), alert queue msgs hash,
--       alerts awaiting delivery
-- ARGV: token, now_iso, urgency_score, redis_message_id, alert message ("" = no alert),
--       alert queued ("1"/"0"), now_ts, category set prefix, then field/value pairs of the decision
-- Ready members are "{rank}:{id}": rank is 2^53 - 1 minus the creation time in microseconds, 16
-- digits, so that among equal S the oldest ticket sorts last (ZPOPMAX and ZREVRANGE take it first).
local state = redis.call("HMGET", KEYS[1], "status", "lock_token", "created_ts")
if state[1] ~= "pending" and state[1] ~= "processing" then return "done" end
if state[2] ~= ARGV[1] then return "stale" end
local ticket_id = string.match(KEYS[1], "[^:]+$")
local rank = string.format("%016d", 9007199254740991 - math.floor(tonumber(state[3]) * 1000000))
redis.call("HSET", KEYS[1], "status", "completed", "updated_at", ARGV[2], "rank", rank, unpack(ARGV, 9))
redis.call("HINCRBY", KEYS[1], "completions", 1)
redis.call("ZREM", KEYS[3], ticket_id)
local member = rank .. ":" .. ticket_id
redis.call("ZADD", KEYS[4], ARGV[3], member)
redis.call("ZADD", ARGV[8] .. "completed:" .. redis.call("HGET", KEYS[1], "category"), ARGV[3], member)
redis.call("DEL", KEYS[2])
if ARGV[6] == "1" then redis.call("ZADD", KEYS[7], ARGV[7], ticket_id) end
if ARGV[5] ~= "" and KEYS[5] ~= "" then
  redis.call("HSET", KEYS[6], ARGV[4], ARGV[5])
  redis.call("RPUSH", KEYS[5], ARGV[4])
end
return "completed"
