#include "front/job_dispatch.hpp"

#include "core/log.hpp"
#include "core/redis/async_client.hpp"
#include "core/resp.hpp"

#include <boost/asio/post.hpp>

namespace tempest::front {

job_dispatch::job_dispatch(boost::asio::any_io_executor ex, std::shared_ptr<redis::async_client> redis,
                           std::string queue, pending_jobs& pending, front_stats& stats)
    : ex_(ex), redis_(std::move(redis)), queue_(std::move(queue)), lists_(queue_keys::lists(queue_)),
      bell_(queue_keys::bell(queue_)), pending_(pending), stats_(stats), check_timer_(ex) {}

void job_dispatch::start() { check_workers(); }

void job_dispatch::check_workers() {
  if (redis_->connected())
    redis_->send(format_command({"SCARD", queue_keys::workers}), [this](boost::system::error_code ec, resp_value v) {
      if (!ec && v.type == resp_value::kind::integer) bell_wanted_ = v.integer > 0;
    });
  check_timer_.expires_after(std::chrono::seconds(1));
  check_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) check_workers();
  });
}

void job_dispatch::push(std::uint64_t id, std::string job, queue_keys::priority p) {
  auto i = static_cast<std::size_t>(p);
  bytes_ += job.size();
  jobs_[i].push_back(std::move(job));
  ids_[i].push_back(id);
  if (++count_ >= max_batch_jobs || bytes_ >= max_batch_bytes) return flush();
  if (!flush_posted_) {
    flush_posted_ = true;
    boost::asio::post(ex_, [this] {
      flush_posted_ = false;
      flush();
    });
  }
}

void job_dispatch::flush() {
  if (count_ == 0) return;
  for (std::size_t p = 0; p < 3; ++p) {
    if (jobs_[p].empty()) continue;
    std::vector<std::string_view> argv;
    argv.reserve(jobs_[p].size() + 2);
    argv.push_back("RPUSH");
    argv.push_back(lists_[p]);
    for (auto& j : jobs_[p]) argv.push_back(j);
    std::string wire = format_command(argv);
    jobs_[p].clear();
    front_stats::inc(stats_.push_batches);
    redis_->send(std::move(wire), [this, ids = std::move(ids_[p]), p](boost::system::error_code ec, resp_value reply) {
      bool ok = !ec && !reply.is_error();
      if (ok) front_stats::inc(stats_.jobs_pushed, ids.size());
      else if (reply.is_error()) log::get("front")->error("RPUSH {} refused by Redis: {}", lists_[p], reply.str);
      for (auto id : ids) {
        job_slot* slot = pending_.find(id);
        if (!slot || slot->st != job_slot::state::pushing) continue;
        if (ok) slot->st = job_slot::state::queued;
        else slot->finish(errc::redis_unavailable);
      }
    });
    ids_[p] = {};
  }
  if (!bell_wanted_) {  // only plain (BLPOP/BLMPOP) workers: nobody listens to the bell
    count_ = 0;
    bytes_ = 0;
    return;
  }
  // A wake-up token for reliable workers blocked on the bell: one a flush, whatever its size.
  // One lane wakes and takes a batch; if it leaves jobs behind, the take script leaves a token
  // for the next idle lane (scripts/take.lua), so a burst wakes as many lanes as it needs and
  // a small one does not wake every lane for nothing. The reply is not needed.
  std::array<std::string_view, 3> bell{"RPUSH", bell_, "1"};
  // Trimmed only when it grew past bell_keep (queues served by plain workers only).
  redis_->send(format_command(bell), [this](boost::system::error_code ec, resp_value v) {
    if (!ec && v.type == resp_value::kind::integer && v.integer > queue_keys::bell_keep)
      redis_->send(format_command({"LTRIM", bell_, std::to_string(-queue_keys::bell_keep), "-1"}),
                   [](boost::system::error_code, resp_value) {});
  });
  count_ = 0;
  bytes_ = 0;
}

}  // namespace tempest::front
