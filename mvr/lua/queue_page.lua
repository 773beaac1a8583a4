-- One page of the queue: completed by S desc, then processing, then pending (oldest first).
-- KEYS: ready, processing, pending; ARGV: offset, limit, ticket key prefix
-- Returns {total, {ticket_id, status, urgency_score, urgency_label, category, created_at, subject}...}
local offset, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local sizes = {redis.call("ZCARD", KEYS[1]), redis.call("ZCARD", KEYS[2]), redis.call("ZCARD", KEYS[3])}
local page = {}
for i = 1, 3 do
  if limit > #page and offset < sizes[i] then
    local stop = offset + (limit - #page) - 1
    local ids
    if i == 1 then ids = redis.call("ZREVRANGE", KEYS[i], offset, stop)
    else ids = redis.call("ZRANGE", KEYS[i], offset, stop) end
    for _, id in ipairs(ids) do
      local row = redis.call("HMGET", ARGV[3] .. id, "status", "urgency_score", "urgency_label",
        "category", "created_at", "subject")
      table.insert(page, {id, row[1] or "", row[2] or "", row[3] or "", row[4] or "", row[5] or "", row[6] or ""})
    end
    offset = 0
  else
    offset = math.max(0, offset - sizes[i])
  end
end
return {sizes[1] + sizes[2] + sizes[3], page}
