-- goodbye: a reliable worker lane that stops cleanly (src/worker/ heartbeat; src/core/queue/scripts.hpp).
--
-- KEYS  1 tempest:processing:<id>  2 tempest:worker:<id> (heartbeat)  3 tempest:workers
-- ARGV  1 worker id
--
-- With nothing in flight it unregisters; otherwise it only drops its heartbeat, so that the
-- next reaper hands its jobs on. Returns 1 (unregistered) or 0.
redis.call('DEL', KEYS[2])
local held = redis.call('LLEN', KEYS[1])
-- a batch whose jobs were all completed one by one (LREM) keeps only its header (take.lua)
if held == 1 and string.byte(redis.call('LINDEX', KEYS[1], 0)) == 0 then held = 0 end
if held == 0 then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[3], ARGV[1])
  return 1
end
return 0
