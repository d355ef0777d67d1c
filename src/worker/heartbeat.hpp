// Blocking Redis helpers and the heartbeat thread of reliable mode (implemented in
// reliable.cpp; the job loop that uses them is worker.cpp; the public API is
// include/tempest/reliable.hpp).
//
//   auto c = connect_blocking(ep, 6s);                      // connect + AUTH + SELECT, or throw
//   auto r = command_argv(c.get(), {"GET", "k"});           // nullptr on an I/O error
//   append_command(c.get(), {"LREM", list, "1", entry});    // pipelined: no I/O yet
//   if (!flush_output(c.get())) ...                         // write what was appended
//   auto r = run_script(c.get(), take_script, sha, {keys...}, {args...});  // EVALSHA, loads on NOSCRIPT
//   heartbeat hb(ep, {"host:1:0", "host:1:1"}, 3s, reap_options{...});     // a thread
//   hb.stop();   // after the lanes: last goodbye per id, join
//
// heartbeat thread, every ttl/3: SET tempest:worker:<id> 1 PX <ttl> for each id (pipelined);
// every ttl (and once at start): reap_dead_workers. Redis trouble is logged once per outage and
// retried at the next tick. stop(): goodbye_script per id (unregisters the ids with nothing in
// flight; drops the heartbeat of the others so that a reaper hands their jobs on).
#pragma once
#include <hiredis/hiredis.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/hiredis_ptr.hpp"
#include "core/redis_url.hpp"
#include "tempest/reliable.hpp"

namespace tempest::detail {

using ::tempest::context_ptr;
using ::tempest::reply_ptr;

inline std::string_view reply_text(const redisReply* r) { return {r->str, r->len}; }

// Connects (2 s), sets the reply timeout, AUTH and SELECT from the endpoint. Throws
// std::runtime_error saying which Redis and what failed.
context_ptr connect_blocking(const redis_endpoint& ep, std::chrono::milliseconds io_timeout);

// One command; nullptr on an I/O error (c->errstr says which).
reply_ptr command_argv(redisContext* c, const std::vector<std::string_view>& args);

// Appends one command (at most max_appended_args words) to c's output buffer (no I/O); its
// reply is read later with redisGetReply.
inline constexpr std::size_t max_appended_args = 8;
void append_command(redisContext* c, std::initializer_list<std::string_view> args);
// Writes c's output buffer; false on an I/O error (c->errstr says which).
bool flush_output(redisContext* c);

// Appends EVALSHA <sha> <#keys> keys... args... to c's output buffer (no I/O).
void append_script(redisContext* c, std::string_view sha, const std::vector<std::string_view>& keys,
                   const std::vector<std::string_view>& args);
// SCRIPT LOAD; the sha, or "" when refused (the reply error goes to err).
std::string load_script(redisContext* c, std::string_view script, std::string& err);
// EVALSHA (SCRIPT LOAD first when sha is empty, again after NOSCRIPT). nullptr on I/O error.
reply_ptr run_script(redisContext* c, std::string_view script, std::string& sha,
                     const std::vector<std::string_view>& keys, const std::vector<std::string_view>& args);

// reap_dead_workers on an open connection (the heartbeat's). Throws std::runtime_error.
reap_result reap_dead_workers(redisContext* c, const reap_options& o);

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
  void beat();
  void reap();
  void goodbye();

  const redis_endpoint ep_;
  const std::vector<std::string> ids_;  // one per lane
  const std::chrono::milliseconds ttl_;
  const reap_options reap_options_;
  context_ptr redis_;
  bool down_logged_ = false;
  std::string reap_sha_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;  // guarded by mutex_
  std::thread thread_;
};

}  // namespace tempest::detail
