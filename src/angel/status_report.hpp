// What `tempest status` shows, and the Redis key through which the angel publishes its state.
//
//   tempest:angel:<host>:<pid>   a string: the angel's JSON state document, SET every second
//                                with a 3 s TTL (gone soon after the angel is)
//       {"host": "...", "pid": 123, "state": "running"|"draining", "config": "angel.toml",
//        "redis": "redis://127.0.0.1:6379/0" (no password), "updated_ms": unix ms,
//        "reaper": "running"|"unavailable",
//        "programs": {"web": {"command": "...", "count": 2, "restart": "always",
//           "instances": [{"instance": 0, "pid": 4242 (0 when not running), "state": "running",
//                          "restarts": 1, "last_exit": "killed by signal 9 (SIGKILL)",
//                          "uptime_ms": 1234, "next_start_ms": 0}]}}}
//
//   collect_status(redis, queues) -> the status document (boost::json):
//       {"angels": [<state documents>],
//        "queues": {"tempest": {"high": 1, "normal": 3, "low": 0, "dead": 2}},
//        "in_flight": {"total": 2, "workers": {"<worker id>": 2}}}
//   format_status(doc) -> the text table of `tempest status`
//
// If you change a key or a field here, change docs/angel.md and tests/integration/test_angel.py.
#pragma once
#include "core/redis/blocking_client.hpp"

#include <boost/json/value.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace tempest::angel {

inline constexpr std::string_view angel_key_prefix = "tempest:angel:";
inline constexpr int angel_key_ttl_ms = 3000;
inline std::string angel_key(std::string_view host, long pid) {
  return std::string(angel_key_prefix) + std::string(host) + ":" + std::to_string(pid);
}

// Throws std::runtime_error (redis::io_error) when Redis is unreachable.
boost::json::value collect_status(redis::blocking_client& redis, const std::vector<std::string>& queues);
std::string format_status(const boost::json::value& doc);

}  // namespace tempest::angel
