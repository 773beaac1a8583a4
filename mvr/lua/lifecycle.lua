-- Shared head of the people-side scripts (pop_next, resolve, requeue, correct, queue_page):
-- TicketStore prepends it. It moves a ticket between the status sets and their per-category
-- companions and returns expired leases to the ready queue, all inside the calling script.
-- KEYS: ticket ("" when none), ready, taken, resolved, then the script's own keys
-- ARGV: ticket key prefix, category set prefix, now_ts, now_iso, lease cutoff_ts ("" = leases off),
--       lease_expires_iso ("" = leases off), then the script's own arguments
local TICKET, READY, TAKEN, RESOLVED = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local TICKET_PREFIX, BY_CATEGORY, NOW_TS, NOW_ISO = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local LEASE_CUTOFF, LEASE_EXPIRES = ARGV[5], ARGV[6]
local SETS = {completed = READY, taken = TAKEN, resolved = RESOLVED}

local function id_of(name) return string.match(name, "[^:]+$") end

-- Ready members are "{rank}:{id}" (rank orders equal S oldest first); the others are bare ids.
local function member_of(key, id, status)
  if status == "completed" then return redis.call("HGET", key, "rank") .. ":" .. id end
  return id
end

local function category_set(key, status)
  local c = redis.call("HMGET", key, "corrected_category", "category")
  return BY_CATEGORY .. status .. ":" .. (c[1] or c[2])
end

local function unindex(key, id, status)
  local member = member_of(key, id, status)
  redis.call("ZREM", SETS[status], member)
  redis.call("ZREM", category_set(key, status), member)
end

local function index(key, id, status, score)
  local member = member_of(key, id, status)
  redis.call("ZADD", SETS[status], score, member)
  redis.call("ZADD", category_set(key, status), score, member)
end

local function back_to_ready(key, id)
  unindex(key, id, "taken")
  redis.call("HSET", key, "status", "completed", "updated_at", NOW_ISO)
  redis.call("HDEL", key, "taken_at", "taken_ts", "lease_expires_at")
  index(key, id, "completed", redis.call("HGET", key, "urgency_score"))
end

-- Bounded per call: a backlog of expired leases drains over the next calls.
local function reclaim_expired()
  if LEASE_CUTOFF == "" then return end
  for _, id in ipairs(redis.call("ZRANGEBYSCORE", TAKEN, "-inf", LEASE_CUTOFF, "LIMIT", 0, 100)) do
    back_to_ready(TICKET_PREFIX .. id, id)
  end
end

-- The ticket of KEYS[1] in one of the statuses of ``allowed``: {"ok", status}, or why not.
local function check_status(allowed)
  local status = redis.call("HGET", TICKET, "status")
  if not status then return {"missing", ""} end
  if not allowed[status] then return {"conflict", status} end
  return {"ok", status}
end

reclaim_expired()
