-- Claim a ticket for processing: refuse finished tickets and live locks; issue a fencing token.
-- KEYS: ticket, lock, fence counter, pending, processing
-- ARGV: lock_ttl_ms, now_iso
local state = redis.call("HMGET", KEYS[1], "status", "created_ts", "subject", "body", "description")
if not state[1] then return {"missing"} end
if state[1] ~= "pending" and state[1] ~= "processing" then return {"done"} end
if redis.call("EXISTS", KEYS[2]) == 1 then return {"locked", redis.call("PTTL", KEYS[2])} end
local token = redis.call("INCR", KEYS[3])
redis.call("SET", KEYS[2], token, "PX", ARGV[1])
local ticket_id = string.match(KEYS[1], "[^:]+$")
redis.call("HSET", KEYS[1], "status", "processing", "updated_at", ARGV[2], "lock_token", token)
redis.call("ZREM", KEYS[4], ticket_id)
redis.call("ZADD", KEYS[5], state[2], ticket_id)
return {"claimed", token, state[3] or "", state[4] or "", state[5] or "", state[2]}
