// Coalesces the jobs of one event-loop turn into one multi-value RPUSH per priority list
// (<queue>:high, <queue>, <queue>:low), followed by one wake-up token on <queue>:bell for
// reliable workers (src/core/queue/keys.hpp; protocol.md 8.3), all in one write. push() only queues;
// the flush runs once per turn (posted behind the I/O completions already due), and the Redis
// client pipelines flushes while a write is in flight. When the RPUSH reply comes, each job's
// slot moves to "queued", or is finished with redis_unavailable (-> 503).
#pragma once
#include "core/queue/keys.hpp"
#include "front/front_stats.hpp"
#include "front/pending_jobs.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <array>
#include <memory>
#include <string>
#include <vector>

namespace tempest::redis { class async_client; }

namespace tempest::front {

class job_dispatch {
 public:
  job_dispatch(boost::asio::any_io_executor ex, std::shared_ptr<redis::async_client> redis, std::string queue,
               pending_jobs& pending, front_stats& stats);
  // Starts the once-a-second check for reliable workers (no bell tokens when there are none).
  void start();
  // The job's slot must already be in `pending` (it is found again by id).
  void push(std::uint64_t id, std::string job, queue_keys::priority p = queue_keys::priority::normal);

 private:
  void flush();

  static constexpr std::size_t max_batch_jobs = 512;
  static constexpr std::size_t max_batch_bytes = 4 * 1024 * 1024;

  boost::asio::any_io_executor ex_;
  std::shared_ptr<redis::async_client> redis_;
  std::string queue_;
  std::array<std::string, 3> lists_;  // by priority, highest first
  std::string bell_;
  pending_jobs& pending_;
  front_stats& stats_;
  std::array<std::vector<std::string>, 3> jobs_;  // by priority
  std::array<std::vector<std::uint64_t>, 3> ids_;
  std::size_t count_ = 0;
  std::size_t bytes_ = 0;
  bool flush_posted_ = false;
  // Whether tempest:workers has members: bell tokens are only pushed for reliable workers. Starts
  // true, so that a worker is never left waiting while the first check is in flight.
  bool bell_wanted_ = true;
  boost::asio::steady_timer check_timer_;
  void check_workers();
};

}  // namespace tempest::front
