// Channel history for Server-Sent Events: the one place that says where history lives and how
// a publisher writes it, so that publishers (tempest publish, the worker libraries) and the
// front (which replays it on resume) agree. docs/protocol.md, section 7, is the prose.
//
//   key      tempest:history:<channel>, a Redis Stream; each entry has fields
//            e (event name, "" for none) and d (data)
//   publish  one EVALSHA of history.lua (below): XADD (MAXLEN ~ count), trim by age (MINID ~),
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

// The publish script is src/core/queue/scripts/history.lua (queue::scripts::history()):
// KEYS[1] = history key; ARGV = channel, event ("" for none), data, max count, max age in ms.

inline constexpr long long default_count = 1000;      // entries kept per channel
inline constexpr long long default_age_ms = 3600000;  // one hour

}  // namespace tempest::history
