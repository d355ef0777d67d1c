-- take: a reliable worker lane takes its next batch (src/worker/reliable_source.cpp; src/core/queue/scripts.hpp).
--
-- KEYS  1 <queue>:high  2 <queue>  3 <queue>:low   the priority lists, taken in that order
--       4 tempest:processing:<id>                   the lane's in-flight entries
--       5 tempest:worker:<id>                       its heartbeat
--       6 tempest:workers                           the set of live reliable worker ids
--       7 <queue>:bell                              wake-up tokens
--       8 tempest:cancelled                         jobs nobody waits for (field <respond_to>/<id>)
-- ARGV  1 batch (most jobs to take)  2 heartbeat ttl in ms  3 worker id  4 queue name
--
-- Empties the processing list (the caller has handled the previous batch: this completes it),
-- moves up to `batch` jobs from the highest non-empty list into it as entries
-- "<queue>\n<priority>\n<job>" (jobs with a field in KEYS[8] are dropped, the field deleted),
-- beats, registers the worker, eats as many bell tokens as jobs taken (the bell then stays
-- close to "jobs waiting"), and returns the entries ({} when every list is empty).
-- If you change the entry layout, change reap.lua and src/core/queue/entry.cpp together.
redis.call('DEL', KEYS[4])
redis.call('SET', KEYS[5], '1', 'PX', ARGV[2])
redis.call('SADD', KEYS[6], ARGV[3])
local names = {'high', 'normal', 'low'}
for i = 1, 3 do
  local popped = redis.call('LPOP', KEYS[i], ARGV[1])
  if popped then
    -- jobs the front cancelled (client gone) are dropped here, unstarted; the per-job check
    -- only runs while some cancellation is pending
    local jobs = popped
    if redis.call('EXISTS', KEYS[8]) == 1 then
      jobs = {}
      for j = 1, #popped do
        local to, id = string.match(popped[j], ',"([^"]*)",(%d+)%]$')
        if not (to and redis.call('HDEL', KEYS[8], to .. '/' .. id) == 1) then
          jobs[#jobs + 1] = popped[j]
        end
      end
    end
    if #jobs > 0 then
      local prefix = ARGV[4] .. '\n' .. names[i] .. '\n'
      for j = 1, #jobs do jobs[j] = prefix .. jobs[j] end
      for j = 1, #jobs, 1000 do
        redis.call('RPUSH', KEYS[4], unpack(jobs, j, math.min(j + 999, #jobs)))
      end
      redis.call('LPOP', KEYS[7], #jobs)
      return jobs
    end
  end
end
return {}
