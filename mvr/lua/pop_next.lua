-- Take the completed ticket with the highest S (two callers never get the same one).
-- KEYS: ready; ARGV: ticket key prefix, now_iso
local popped = redis.call("ZPOPMAX", KEYS[1])
if #popped == 0 then return false end
local key = ARGV[1] .. popped[1]
redis.call("HSET", key, "taken_at", ARGV[2])
return redis.call("HGETALL", key)
