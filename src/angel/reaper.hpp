// The seam between the angel and the queue model's reaper (src/core/queue/reaper.hpp): every reap-interval the angel
// calls reap_once(), which re-queues the jobs held by workers whose heartbeat
// (tempest:worker:<id>) expired, and moves the jobs that kept killing workers to <queue>:dead
// (src/core/queue/keys.hpp). The work itself belongs to the queue model
// (queue::reap_dead_workers, the same the worker libraries run); this file only adapts it for
// the angel's logs and counters, so the angel never touches processing lists by itself.
//
// reap_once() reports available = false when no reaper can run (the seam's state before the
// library had one; the angel then logs once that jobs of dead workers are not re-queued).
#pragma once
#include <string>
#include <vector>

namespace tempest::angel {

struct reap_report {
  bool available = false;              // false: no reaper (the angel logs it once)
  std::vector<std::string> lines;      // log lines: which dead workers, what was re-queued
  long long requeued = 0;              // jobs put back on their queue this round
  long long dead_lettered = 0;         // jobs moved to <queue>:dead this round
};

// One reaper pass against the Redis at redis_url. Throws std::runtime_error when Redis is
// unreachable (the angel logs it and tries again at the next interval).
reap_report reap_once(const std::string& redis_url);

}  // namespace tempest::angel
