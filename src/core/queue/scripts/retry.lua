-- retry: re-queues dead letters of one queue (`tempest jobs retry`; src/core/queue/dead_letters.cpp).
--
-- KEYS  1 <queue>:dead  2 <queue>:high  3 <queue>  4 <queue>:low  5 <queue>:bell
-- ARGV  1 index (0-based; -1 = all)  2 bell_keep (tokens kept on the bell)  3 queue name
--
-- Re-queues the record(s) at the tail of their priority list (KEYS[3] for any priority but
-- high and low) with a bell token each, and removes them from KEYS[1]. Records that are not
-- JSON, or name another queue than ARGV[3] (the reaper never writes such), stay. Returns how
-- many were re-queued (0 when the index is past the end).
local idx = tonumber(ARGV[1])
local records, first = nil, 0
if idx < 0 then
  records = redis.call('LRANGE', KEYS[1], 0, -1)
else
  local r = redis.call('LINDEX', KEYS[1], idx)
  if not r then return 0 end
  records, first = {r}, idx
end
local tomb = '\0tempest:requeued'
local n = 0
for i, r in ipairs(records) do
  local ok, rec = pcall(cjson.decode, r)
  if ok and type(rec) == 'table' and type(rec.job) == 'string' and rec.queue == ARGV[3] then
    local p = rec.priority
    local list = KEYS[3]
    if p == 'high' then list = KEYS[2] elseif p == 'low' then list = KEYS[4] end
    redis.call('RPUSH', list, rec.job)
    redis.call('RPUSH', KEYS[5], '1')
    redis.call('LTRIM', KEYS[5], -tonumber(ARGV[2]), -1)
    redis.call('LSET', KEYS[1], first + i - 1, tomb)
    n = n + 1
  end
end
redis.call('LREM', KEYS[1], 0, tomb)
return n
