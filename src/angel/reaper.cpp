// The reaper seam (see reaper.hpp): one call of the queue model's queue::reap_dead_workers
// (src/core/queue/reaper.hpp), turned into the angel's log lines.
#include "angel/reaper.hpp"

#include "core/queue/reaper.hpp"

#include <fmt/format.h>

namespace tempest::angel {

reap_report reap_once(const std::string& redis_url) {
  queue::reap_result res = queue::reap_dead_workers(redis_url);
  reap_report r;
  r.available = true;
  r.requeued = res.requeued;
  r.dead_lettered = res.dead_lettered;
  if (!res.workers.empty())
    r.lines.push_back(fmt::format("dead worker(s) {}: re-queued {} job(s), dead-lettered {}, answered {} unsafe to retry (502)",
                                  fmt::join(res.workers, ", "), res.requeued, res.dead_lettered, res.answered_unsafe));
  return r;
}

}  // namespace tempest::angel
