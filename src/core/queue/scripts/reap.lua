-- reap: hands on the jobs of one dead reliable worker (src/core/queue/reaper.cpp; scripts.hpp).
--
-- KEYS  1 tempest:processing:<id>  2 tempest:worker:<id> (heartbeat)  3 tempest:workers
--       then six per queue n = 0, 1, ... named in ARGV[4 + n]:
--       4+6n <q>:high  5+6n <q>  6+6n <q>:low  7+6n <q>:bell  8+6n <q>:attempts  9+6n <q>:dead
-- ARGV  1 worker id  2 max attempts  3 bell_keep (tokens kept on a bell)  4... queue names
--
-- Returns {-1} when the heartbeat is there (the worker is alive: nothing done).
-- Returns {-2, queue, ...} when an in-flight entry names a queue whose keys were not given
-- (nothing done): the caller runs the script again with those queues added. The first call
-- may give no queue at all; a script touches only the keys it is given (Redis Cluster).
-- The processing list is a batch as take.lua writes it, "\0<queue>\n<priority>" then the jobs;
-- a list written by an older worker holds entries "<queue>\n<priority>\n<job>" instead (an
-- entry of neither layout is dropped). Else, for each job (walked last to first, so that LPUSH
-- leaves them in their old order at the head):
--   retry-safe job, deaths (HINCRBY <q>:attempts "<respond_to>/<id>", or the whole job when its
--     tail is not a job's; the hash expires a day after) < max -> LPUSH on its priority list
--     (<q> for any priority but high and low) + a bell token (bell trimmed to bell_keep)
--   deaths reach max, or not JSON -> RPUSH {job, queue, priority, reason, time (unix ms),
--     attempts, worker} on <q>:dead, HDEL its attempts field
--   request "retry": false (not safe to retry) -> returned: the caller answers it
-- then DEL the processing list, SREM the id; returns {requeued, dead_lettered, unsafe job ...}.
-- If you change the batch layout, change take.lua and src/core/queue/entry.cpp together; if
-- you change the dead-letter record, change retry.lua and src/core/queue/dead_letters.cpp.
if redis.call('EXISTS', KEYS[2]) == 1 then return {-1} end
local entries = redis.call('LRANGE', KEYS[1], 0, -1)
-- jobs[i] with its queue and priority
local jobs, queues, priorities = {}, {}, {}
local hq, hp = nil, nil
if entries[1] then hq, hp = string.match(entries[1], '^%z([^\n]*)\n([^\n]*)$') end
if hq then
  for i = 2, #entries do
    jobs[i - 1], queues[i - 1], priorities[i - 1] = entries[i], hq, hp
  end
else
  for i = 1, #entries do
    local q, p, job = string.match(entries[i], '^([^\n]*)\n([^\n]*)\n(.*)$')
    if q then
      local k = #jobs + 1
      jobs[k], queues[k], priorities[k] = job, q, p
    end
  end
end
local base = {}  -- queue name -> index of its first key minus one
for n = 4, #ARGV do base[ARGV[n]] = 3 + 6 * (n - 4) end
local missing, seen = {-2}, {}
for i = 1, #jobs do
  local q = queues[i]
  if not base[q] and not seen[q] then
    seen[q] = true
    missing[#missing + 1] = q
  end
end
if #missing > 1 then return missing end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local max = tonumber(ARGV[2])
local out = {0, 0}
for i = #jobs, 1, -1 do
  local q, p, job = queues[i], priorities[i], jobs[i]
  local b = base[q]
  local list = KEYS[b + 2]
  if p == 'high' then list = KEYS[b + 1] elseif p == 'low' then list = KEYS[b + 3] end
  local bell, akey, dead = KEYS[b + 4], KEYS[b + 5], KEYS[b + 6]
  local ok, decoded = pcall(cjson.decode, job)
  local reason = nil
  local retry = true
  if not ok or type(decoded) ~= 'table' then
    reason = 'not a JSON job'
  elseif type(decoded[2]) == 'table' and type(decoded[2][1]) == 'table' and decoded[2][1].retry == false then
    retry = false
  end
  if not retry then
    out[#out + 1] = job
  else
    local rt, id = string.match(job, ',%s*"([^"]*)"%s*,%s*(%d+)%s*%]%s*$')
    if not id then
      id = string.match(job, ',%s*null%s*,%s*(%d+)%s*%]%s*$')
      rt = ''
    end
    local field = job
    if id then field = rt .. '/' .. id end
    local attempts = redis.call('HINCRBY', akey, field, 1)
    redis.call('PEXPIRE', akey, 86400000)
    if reason == nil and attempts < max then
      redis.call('LPUSH', list, job)
      redis.call('RPUSH', bell, '1')
      redis.call('LTRIM', bell, -tonumber(ARGV[3]), -1)
      out[1] = out[1] + 1
    else
      reason = reason or ('its worker died ' .. attempts .. ' times while handling it')
      redis.call('RPUSH', dead, cjson.encode({job = job, queue = q, priority = p,
        reason = reason, time = now, attempts = attempts, worker = ARGV[1]}))
      redis.call('HDEL', akey, field)
      out[2] = out[2] + 1
    end
  end
end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[3], ARGV[1])
return out
