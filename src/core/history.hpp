// Channel history for Server-Sent Events: the one place that says where history lives and how
// a publisher writes it, so that publishers (tempest publish, the worker libraries) and the
// front (which replays it on resume) agree. docs/protocol.md, section 7, is the prose.
//
//   key      tempest:history:<channel>, a Redis Stream; each entry has fields
//            e (event name, "" for none) and d (data)
//   publish  one EVAL of publish_script: XADD (MAXLEN ~ count), trim by age (MINID ~),
//            PEXPIRE the key after the age, then PUBLISH <channel> [event, data, id] with
//            event "message" when none was given; returns the entry id ("1732761600000-0")
//   live     a message of three items [event|null, data, id] is a recorded one; any other
//            payload (["data"], ["name","data"], ["$unsubscribe"], plain text) is live only
//
// Why "message" and never null: the 2012 front writes the first item of a message as the
// event name, and a null there made its process exit. "message" is the name EventSource gives
// an event without one, so both fronts deliver it to onmessage (the Tempest front omits the
// `event: message` line). The history keeps e "" for such entries.
//
// If you change the key or the script, change docs/protocol.md and the Python/Node clients.
#pragma once
#include <string>
#include <string_view>

namespace tempest::history {

inline constexpr std::string_view key_prefix = "tempest:history:";

inline std::string key(std::string_view channel) {
  std::string k(key_prefix);
  k.append(channel);
  return k;
}

// KEYS[1] = history key; ARGV = channel, event ("" for none), data, max count, max age in ms.
inline constexpr std::string_view publish_script = R"lua(
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
)lua";

inline constexpr long long default_count = 1000;      // entries kept per channel
inline constexpr long long default_age_ms = 3600000;  // one hour

}  // namespace tempest::history
