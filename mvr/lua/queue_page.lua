-- One page over a list of status sets, each in its own direction (after returning expired leases).
-- KEYS: see lifecycle.lua, then the sets to list, in order
-- ARGV: see lifecycle.lua, then offset, limit, then "desc" or "asc" for each listed set
-- Returns {total, {ticket_id, status, urgency_score, urgency_label, category, created_at, subject,
--   excerpt source, alert, corrected_category, corrected_urgency, corrected_at}...}
local offset, limit = tonumber(ARGV[7]), tonumber(ARGV[8])
local FIELDS = {"status", "urgency_score", "urgency_label", "category", "created_at", "subject", "body",
  "description", "alert", "corrected_category", "corrected_urgency", "corrected_at"}
-- Enough bytes for the store's excerpt (2 x 160 characters) of ASCII text, 160 of any text.
local EXCERPT_BYTES = 640
local total, page = 0, {}
for i = 5, #KEYS do
  local size = redis.call("ZCARD", KEYS[i])
  total = total + size
  if limit > #page and offset < size then
    local stop = offset + (limit - #page) - 1
    local members
    if ARGV[i + 4] == "desc" then members = redis.call("ZREVRANGE", KEYS[i], offset, stop)
    else members = redis.call("ZRANGE", KEYS[i], offset, stop) end
    for _, member in ipairs(members) do
      local id = id_of(member)
      local r = redis.call("HMGET", TICKET_PREFIX .. id, unpack(FIELDS))
      local text = r[7] or r[8] or ""
      table.insert(page, {id, r[1] or "", r[2] or "", r[3] or "", r[4] or "", r[5] or "", r[6] or "",
        string.sub(text, 1, EXCERPT_BYTES), r[9] or "", r[10] or "", r[11] or "", r[12] or ""})
    end
    offset = 0
  else
    offset = math.max(0, offset - size)
  end
end
return {total, page}
