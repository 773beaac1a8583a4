-- Accept a ticket: idempotency check, ticket hash, pending set and Dramatiq message, atomically.
-- KEYS: ticket, pending, idem ("" = none), queue list ("" = no enqueue), queue msgs hash
-- ARGV: ticket_id, created_ts, created_iso, body_hash, idem_ttl_s, redis_message_id, message,
--       then field/value pairs of the ticket text
if KEYS[3] ~= "" then
  local prior = redis.call("HMGET", KEYS[3], "ticket_id", "body_hash")
  if prior[1] then
    if prior[2] == ARGV[4] then return {"existing", prior[1]} end
    return {"conflict", prior[1]}
  end
end
if redis.call("EXISTS", KEYS[1]) == 1 then return {"exists", ARGV[1]} end
redis.call("HSET", KEYS[1], "ticket_id", ARGV[1], "status", "pending", "created_ts", ARGV[2],
  "created_at", ARGV[3], "updated_at", ARGV[3], "alert", "none", unpack(ARGV, 8))
redis.call("ZADD", KEYS[2], ARGV[2], ARGV[1])
if KEYS[3] ~= "" then
  redis.call("HSET", KEYS[3], "ticket_id", ARGV[1], "body_hash", ARGV[4])
  redis.call("EXPIRE", KEYS[3], ARGV[5])
end
if KEYS[4] ~= "" then
  redis.call("HSET", KEYS[5], ARGV[6], ARGV[7])
  redis.call("RPUSH", KEYS[4], ARGV[6])
end
return {"created", ARGV[1]}
