// Where a lane's jobs come from, chosen once per lane by the delivery mode (lane.cpp):
//
//   plain_source      --mode plain (at-most-once): BLMPOP (plain_source.cpp)
//   reliable_source   reliable (default; at-least-once): the take script, the bell/wake wait,
//                     the processing list (reliable_source.cpp)
//
//   auto src = make_reliable_source(redis, settings, id);
//   src->next(batch, count);     // up to count jobs, waits ~1 s when there are none
//   src->handled(job, answers);  // a job of a long batch (a view from next()) is answered
//   src->settle();               // before any other command on the lane's connection
//   src->lost();                 // the lane lost Redis (it reconnects)
//   src->stop();                 // at a stop, after the last answers
//
// All of them use the lane's connection and throw redis::io_error when Redis is lost (the lane
// logs it once and reconnects); a take or pop that Redis refuses throws source_error (the lane
// logs it once per outage and retries after a backoff).
#pragma once
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/redis/blocking_client.hpp"

namespace tempest::answers {
class pool;
}

namespace tempest::detail {

struct source_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct source_settings {
  std::string queue;                      // --queue
  std::chrono::milliseconds heartbeat_ttl{};  // reliable: --heartbeat-ttl
  int lane = 0;                           // "w<lane>" in logs
  std::function<bool()> stopping;         // the worker's stop
};

class job_source {
 public:
  virtual ~job_source() = default;
  // Replaces batch with up to count (>= 1) jobs (views valid until the next call), waiting
  // about 1 s when there are none (batch then empty). When it throws, batch holds only jobs taken
  // for good (a plain pop lost halfway): the lane handles them.
  virtual void next(std::vector<std::string_view>& batch, int count) = 0;
  // A job of the batch (one of next()'s views) is handled and the batch has run over the
  // answer flush delay.
  virtual void handled(std::string_view job, answers::pool& answers) {}
  // Reads the replies of commands written without waiting, so the connection is free.
  virtual void settle() {}
  // Redis was lost: what was written on the connection is gone.
  virtual void lost() {}
  // The lane stops; every job taken has been handled and answered.
  virtual void stop() {}
};

std::unique_ptr<job_source> make_plain_source(redis::blocking_client& redis, source_settings s);
std::unique_ptr<job_source> make_reliable_source(redis::blocking_client& redis, source_settings s, std::string id);

}  // namespace tempest::detail
