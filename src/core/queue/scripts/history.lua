-- history: records and publishes one Server-Sent Event (src/core/history.hpp says the layout;
-- tempest publish and the worker libraries run it; src/core/queue/scripts.hpp).
--
-- KEYS  1 tempest:history:<channel> (a Redis Stream; fields e = event, d = data)
-- ARGV  1 channel  2 event ("" for none)  3 data  4 max count  5 max age in ms (0: keep)
--
-- XADD (MAXLEN ~ count), trim by age (MINID ~), PEXPIRE the key after the age, then PUBLISH
-- <channel> [event, data, id] with event "message" when none was given. Returns the entry id.
-- (The channel is a Pub/Sub channel, not a key.)
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[4], '*', 'e', ARGV[2], 'd', ARGV[3])
local age = tonumber(ARGV[5])
if age > 0 then
  local t = redis.call('TIME')
  local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('XTRIM', KEYS[1], 'MINID', '~', tostring(now_ms - age))
  redis.call('PEXPIRE', KEYS[1], age)
end
local event = 'message'
if ARGV[2] ~= '' then event = ARGV[2] end
redis.call('PUBLISH', ARGV[1], cjson.encode({event, ARGV[3], id}))
return id
