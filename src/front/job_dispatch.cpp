#include "front/job_dispatch.hpp"

#include "core/log.hpp"
#include "core/redis/async_client.hpp"
#include "core/resp.hpp"

#include <boost/asio/post.hpp>

namespace tempest::front {

job_dispatch::job_dispatch(boost::asio::any_io_executor ex, std::shared_ptr<redis::async_client> redis,
                           std::string queue, pending_jobs& pending, front_stats& stats)
    : ex_(ex), redis_(std::move(redis)), queue_(std::move(queue)), pending_(pending), stats_(stats) {}

void job_dispatch::push(std::uint64_t id, std::string job) {
  bytes_ += job.size();
  jobs_.push_back(std::move(job));
  ids_.push_back(id);
  if (jobs_.size() >= max_batch_jobs || bytes_ >= max_batch_bytes) return flush();
  if (!flush_posted_) {
    flush_posted_ = true;
    boost::asio::post(ex_, [this] {
      flush_posted_ = false;
      flush();
    });
  }
}

void job_dispatch::flush() {
  if (jobs_.empty()) return;
  std::vector<std::string_view> argv;
  argv.reserve(jobs_.size() + 2);
  argv.push_back("RPUSH");
  argv.push_back(queue_);
  for (auto& j : jobs_) argv.push_back(j);
  std::string wire = format_command(argv);
  jobs_.clear();
  bytes_ = 0;
  front_stats::inc(stats_.push_batches);
  redis_->send(std::move(wire), [this, ids = std::move(ids_)](boost::system::error_code ec, resp_value reply) {
    bool ok = !ec && !reply.is_error();
    if (ok) front_stats::inc(stats_.jobs_pushed, ids.size());
    else if (reply.is_error()) log::get("front")->error("RPUSH {} refused by Redis: {}", queue_, reply.str);
    for (auto id : ids) {
      job_slot* slot = pending_.find(id);
      if (!slot || slot->st != job_slot::state::pushing) continue;
      if (ok) slot->st = job_slot::state::queued;
      else slot->finish(errc::redis_unavailable);
    }
  });
  ids_ = {};
}

}  // namespace tempest::front
