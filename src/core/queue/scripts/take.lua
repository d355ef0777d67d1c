-- take: a reliable worker lane takes its next batch (src/worker/reliable_source.cpp; src/core/queue/scripts.hpp).
--
-- KEYS  1 <queue>:high  2 <queue>  3 <queue>:low   the priority lists, taken in that order
--       4 tempest:processing:<id>                   the lane's batch in flight
--       5 tempest:worker:<id>                       its heartbeat
--       6 tempest:workers                           the set of live reliable worker ids
--       7 <queue>:bell                              wake-up tokens
-- ARGV  1 batch (most jobs to take)  2 heartbeat ttl in ms  3 worker id  4 queue name
--
-- Replaces the processing list (the caller has handled the previous batch: this completes it)
-- with up to `batch` jobs from the head of the highest non-empty list, as
--   "\0<queue>\n<priority>"  job  job ...
-- a header, then the jobs exactly as they were queued (copied by Redis itself: SORT ... STORE,
-- then LTRIM; no job passes through Lua, which costs several times more). Registers the worker
-- when its heartbeat key is missing (the heartbeat thread refreshes it otherwise), and returns
-- how many jobs it took (0: every list was empty). The caller reads them with LRANGE
-- <processing> 1 -1, sent right behind, and drops the ones the front cancelled itself
-- (EXISTS tempest:cancelled, sent behind that, then HMGET: protocol.md 8.5).
-- The bell (one token per push from the front, so that a burst wakes one lane, not one per job):
-- a take that leaves the lists empty empties it too (no lane wakes for nothing); one that leaves
-- jobs behind leaves a token on it, so that the next idle lane wakes and takes the rest.
-- If you change this layout, change reap.lua and src/core/queue/entry.cpp together.
if redis.call('EXISTS', KEYS[5]) == 0 then
  redis.call('SET', KEYS[5], '1', 'PX', ARGV[2])
  redis.call('SADD', KEYS[6], ARGV[3])
end
if redis.call('EXISTS', KEYS[1], KEYS[2], KEYS[3]) == 0 then
  redis.call('DEL', KEYS[4], KEYS[7])
  return 0  -- unreachable: a list that exists is not empty
end
-- the bell after a take: empty when the lists are, else at least one token
local function ring()
  if redis.call('EXISTS', KEYS[1], KEYS[2], KEYS[3]) == 0 then
    redis.call('DEL', KEYS[7])
  elseif redis.call('LLEN', KEYS[7]) == 0 then
    redis.call('RPUSH', KEYS[7], '1')
  end
end
local names = {'high', 'normal', 'low'}
for i = 1, 3 do
  -- replaces KEYS[4] (deletes it when the list is empty)
  local n = redis.call('SORT', KEYS[i], 'BY', 'nosort', 'LIMIT', '0', ARGV[1], 'STORE', KEYS[4])
  if n > 0 then
    redis.call('LTRIM', KEYS[i], ARGV[1], '-1')
    redis.call('LPUSH', KEYS[4], '\0' .. ARGV[4] .. '\n' .. names[i])
    ring()
    return n
  end
end
return 0  -- unreachable: a list that exists is not empty
