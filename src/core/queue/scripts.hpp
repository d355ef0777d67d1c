// The Lua scripts of the queue model, one .lua file each in src/core/queue/scripts/ (the Python,
// Node and Ruby clients load the very same files), embedded at build time by
// embed_scripts.cmake. Each file's header comment lists its KEYS and ARGV; every key a script
// touches comes in KEYS (Redis Cluster).
//
//   take     a lane's next batch: priority lists -> processing list   (src/worker/reliable_source.cpp)
//   goodbye  a lane that stops: unregister, or leave its jobs to the reaper (the heartbeat)
//   reap     a dead worker's jobs: back on their lists, to <queue>:dead, or answered 502 (reaper.cpp)
//   retry    dead letters back on their lists (dead_letters.cpp, `tempest jobs retry`)
//   history  record and publish one SSE event (src/core/history.hpp; publisher, tempest publish)
//
//   redis::script s = queue::scripts::reap();   // a fresh script: its sha is learnt on first run
//   client.run(s, {keys...}, {args...});
// A redis::script learns its sha as it runs: keep one per thread (or per connection), not shared.
#pragma once
#include <string_view>

#include "core/redis/blocking_client.hpp"

namespace tempest::queue::scripts {

// The files' text, exactly (defined in the generated scripts_embedded.cpp).
extern const std::string_view take_source;
extern const std::string_view goodbye_source;
extern const std::string_view reap_source;
extern const std::string_view retry_source;
extern const std::string_view history_source;

inline redis::script take() { return {"take", take_source, {}}; }
inline redis::script goodbye() { return {"goodbye", goodbye_source, {}}; }
inline redis::script reap() { return {"reap", reap_source, {}}; }
inline redis::script retry() { return {"retry", retry_source, {}}; }
inline redis::script history() { return {"history", history_source, {}}; }

}  // namespace tempest::queue::scripts
