// Coalesces the jobs of one event-loop turn into one multi-value RPUSH. push() only queues;
// the flush runs once per turn (posted behind the I/O completions already due), and the Redis
// client pipelines flushes while a write is in flight. When the RPUSH reply comes, each job's
// slot moves to "queued", or is finished with redis_unavailable (-> 503).
#pragma once
#include "front/front_stats.hpp"
#include "front/pending_jobs.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <memory>
#include <string>
#include <vector>

namespace tempest::redis { class async_client; }

namespace tempest::front {

class job_dispatch {
 public:
  job_dispatch(boost::asio::any_io_executor ex, std::shared_ptr<redis::async_client> redis, std::string queue,
               pending_jobs& pending, front_stats& stats);
  // The job's slot must already be in `pending` (it is found again by id).
  void push(std::uint64_t id, std::string job);

 private:
  void flush();

  static constexpr std::size_t max_batch_jobs = 512;
  static constexpr std::size_t max_batch_bytes = 4 * 1024 * 1024;

  boost::asio::any_io_executor ex_;
  std::shared_ptr<redis::async_client> redis_;
  std::string queue_;
  pending_jobs& pending_;
  front_stats& stats_;
  std::vector<std::string> jobs_;
  std::vector<std::uint64_t> ids_;
  std::size_t bytes_ = 0;
  bool flush_posted_ = false;
};

}  // namespace tempest::front
