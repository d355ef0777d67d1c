// The heartbeat thread of reliable mode (implemented in heartbeat.cpp, started by
// tempest::worker::run() in worker.cpp; the public reliable API is include/tempest/reliable.hpp).
//
//   heartbeat hb(ep, {"host:1:0", "host:1:1"}, 3s, reap_options{...});     // a thread
//   hb.stop();   // after the lanes: last goodbye per id, join
//
// Every ttl/3: SET tempest:worker:<id> 1 PX <ttl> for each id (pipelined); every ttl (and once
// at start): reap_dead_workers (reliable.hpp). Redis trouble is logged once per outage and
// retried at the next tick. stop(): the goodbye script per id (unregisters the ids with nothing
// in flight; drops the heartbeat of the others so that a reaper hands their jobs on).
#pragma once
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/redis/blocking_client.hpp"
#include "tempest/reliable.hpp"

namespace tempest::detail {

class heartbeat {
 public:
  heartbeat(redis_endpoint ep, std::vector<std::string> ids, std::chrono::milliseconds ttl, reap_options o);
  ~heartbeat() { stop(); }
  heartbeat(const heartbeat&) = delete;
  heartbeat& operator=(const heartbeat&) = delete;

  void stop();

 private:
  void run();
  bool ensure_connected();
  void lost(const std::exception& e);
  void beat();
  void reap();
  void goodbye();

  const std::vector<std::string> ids_;  // one per lane
  const std::chrono::milliseconds ttl_;
  const reap_options reap_options_;
  redis::blocking_client redis_;
  redis::script goodbye_;
  bool down_logged_ = false;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;  // guarded by mutex_
  std::thread thread_;
};

}  // namespace tempest::detail
