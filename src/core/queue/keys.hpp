// Where jobs live in Redis, for the front (which pushes) and every worker library (which takes,
// records in-flight work, and re-queues the jobs of dead workers); the scripts that move them
// are core/queue/scripts/*.lua (scripts.hpp). docs/protocol.md section 8 is the prose. If you change a name here, change the Python/Node clients and the docs too.
//
//   <queue>:high, <queue>, <queue>:low   the priority lists, taken in that order; <queue> itself
//                                         is the normal list, so original BLPOP workers keep
//                                         receiving normal-priority jobs
//   <queue>:bell                          wake-up tokens: the front RPUSHes one per push (trimmed
//                                         to the last 1024), reliable workers block on it, then
//                                         take jobs with a script, which leaves one token when
//                                         jobs remain and empties it when none do
//   <queue>:dead                          dead letters (jobs that kept killing workers)
//   <queue>:attempts                      hash "<respond_to>/<job id>" -> worker deaths while
//                                         holding that job (core/queue/scripts/reap.lua)
//   tempest:workers                       set of live reliable worker ids
//   tempest:worker:<id>                   heartbeat key of a worker (expires when it stops beating)
//   tempest:processing:<id>               the jobs a worker holds right now
//   tempest:wake:<id>                     wake-up token for one lane blocked on its bell, pushed
//                                         by its own queue watch (src/worker/queue_watch.hpp)
//                                         when a job arrives without a bell; expires in 10 s
//   tempest:cancelled                     hash of jobs nobody waits for any more (the client
//                                         went away), field <respond_to>/<job_id>: workers skip
//                                         them, a running handler can ask (request::cancelled());
//                                         the whole hash expires after the front's timeout
//   tempest:fronts                        sorted set of the answer endpoints the fronts announce
//                                         (docs/protocol.md 3.5): member = respond_to exactly as
//                                         the front writes it into jobs, score = Redis time (ms)
//                                         until which it holds. Each front thread ZADDs its own
//                                         on every Redis (re)connect and every
//                                         --announce-interval, valid announce_ttl_factor times
//                                         that, prunes expired members, ZREMs its own at a clean
//                                         stop. Worker libraries answer only these (and their
//                                         --answer-allow list): a job cannot send a worker, or
//                                         its answer password, anywhere else.
//
// Request fields the front adds for the reliability layer (inside the "url" request object):
//   "priority": "high"|"normal"|"low", "deadline": unix time in ms after which nobody waits,
//   "retry": whether re-delivering after a worker death is safe (idempotent method/route).
#pragma once
#include <array>
#include <string>
#include <string_view>

namespace tempest::queue_keys {

enum class priority { high = 0, normal = 1, low = 2 };

inline std::string list(std::string_view queue, priority p) {
  std::string k(queue);
  if (p == priority::high) k += ":high";
  if (p == priority::low) k += ":low";
  return k;
}
// Highest first: the order workers take from.
inline std::array<std::string, 3> lists(std::string_view queue) {
  return {list(queue, priority::high), list(queue, priority::normal), list(queue, priority::low)};
}
inline std::string bell(std::string_view queue) { return std::string(queue) + ":bell"; }
inline std::string dead(std::string_view queue) { return std::string(queue) + ":dead"; }
inline std::string attempts(std::string_view queue) { return std::string(queue) + ":attempts"; }
inline constexpr std::string_view workers = "tempest:workers";
inline std::string heartbeat(std::string_view worker_id) { return "tempest:worker:" + std::string(worker_id); }
inline std::string processing(std::string_view worker_id) { return "tempest:processing:" + std::string(worker_id); }
inline std::string wake(std::string_view worker_id) { return "tempest:wake:" + std::string(worker_id); }
inline constexpr long long bell_keep = 1024;
inline constexpr std::string_view cancelled = "tempest:cancelled";
inline constexpr std::string_view fronts = "tempest:fronts";
inline constexpr int announce_ttl_factor = 3;  // an announcement holds 3 intervals
inline std::string cancel_field(std::string_view respond_to, std::string_view job_id) {
  std::string f(respond_to);
  f.append("/").append(job_id);
  return f;
}

inline std::string_view name(priority p) {
  return p == priority::high ? "high" : p == priority::low ? "low" : "normal";
}
// "high", "normal", "low" -> priority; false for anything else.
inline bool parse(std::string_view s, priority& p) {
  if (s == "high") p = priority::high;
  else if (s == "normal") p = priority::normal;
  else if (s == "low") p = priority::low;
  else return false;
  return true;
}

}  // namespace tempest::queue_keys
