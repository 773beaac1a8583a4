-- Write a decision once, while the ticket is pending or processing: with a claim's token, only
-- for the holder of the latest claim; without one ("", a message that carried the text), the first
-- decision written wins. Acknowledge the triage message in the same call when asked, whatever the
-- outcome (Dramatiq's "ack": drop it from the consumer's unacked set and the queue's messages).
-- KEYS: ticket, lock, pending, processing, ready, category's completed set, alert queue list
--       ("" = none), alert queue msgs hash, alerts awaiting delivery, unacked set ("" = no ack),
--       triage msgs hash
-- ARGV: token ("" = unclaimed), now_iso, urgency_score, alert message id, alert message ("" = no
--       alert), alert queued ("1"/"0"), now_ts, triage message id, then field/value pairs of the decision
-- Ready members are "{rank}:{id}": rank is 2^53 - 1 minus the creation time in microseconds, 16
-- digits, so that among equal S the oldest ticket sorts last (ZPOPMAX and ZREVRANGE take it first).
if KEYS[10] ~= "" and redis.call("SREM", KEYS[10], ARGV[8]) == 1 then redis.call("HDEL", KEYS[11], ARGV[8]) end
local state = redis.call("HMGET", KEYS[1], "status", "lock_token", "created_ts")
if not state[1] then return "missing" end
if state[1] ~= "pending" and state[1] ~= "processing" then return "done" end
if ARGV[1] ~= "" and state[2] ~= ARGV[1] then return "stale" end
local ticket_id = string.match(KEYS[1], "[^:]+$")
local rank = string.format("%016d", 9007199254740991 - math.floor(tonumber(state[3]) * 1000000))
redis.call("HSET", KEYS[1], "status", "completed", "updated_at", ARGV[2], "rank", rank, unpack(ARGV, 9))
redis.call("HINCRBY", KEYS[1], "completions", 1)
redis.call("ZREM", KEYS[state[1] == "pending" and 3 or 4], ticket_id)
local member = rank .. ":" .. ticket_id
redis.call("ZADD", KEYS[5], ARGV[3], member)
redis.call("ZADD", KEYS[6], ARGV[3], member)
if state[1] == "processing" then redis.call("DEL", KEYS[2]) end
if ARGV[6] == "1" then redis.call("ZADD", KEYS[9], ARGV[7], ticket_id) end
if ARGV[5] ~= "" and KEYS[7] ~= "" then
  redis.call("HSET", KEYS[8], ARGV[4], ARGV[5])
  redis.call("RPUSH", KEYS[7], ARGV[4])
end
return "completed"
