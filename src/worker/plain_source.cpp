// plain_source: a lane's jobs in plain mode (--mode plain; at-most-once; see job_source.hpp).
//
//   BLMPOP 1 3 <queue>:high <queue> <queue>:low LEFT COUNT <count>   (blocks up to 1 s, so a
//   stop is noticed; BLMPOP checks its keys in order). On a Redis without BLMPOP (before 7.0):
//   BLPOP over the three, then LPOP <list> <count - 1> (6.2+; else one job per pop).
#include <array>

#include "core/log.hpp"
#include "core/queue/keys.hpp"
#include "worker/job_source.hpp"

namespace tempest::detail {
namespace {

using redis::text;

constexpr const char* pop_timeout = "1";  // seconds a pop blocks: how soon a stop is noticed

spdlog::logger& logger() {
  static const auto l = log::get("worker");
  return *l;
}

class plain_source final : public job_source {
 public:
  plain_source(redis::blocking_client& redis, source_settings s)
      : redis_(redis), s_(std::move(s)), lists_(queue_keys::lists(s_.queue)) {}

  void next(std::vector<std::string_view>& batch, int count) override {
    batch.clear();
    replies_.clear();
    const std::string count_text = std::to_string(count);
    reply_ptr r = use_blmpop_ ? redis_.command({"BLMPOP", pop_timeout, "3", lists_[0], lists_[1], lists_[2], "LEFT",
                                                "COUNT", count_text})
                              : redis_.command({"BLPOP", lists_[0], lists_[1], lists_[2], pop_timeout});
    if (r->type == REDIS_REPLY_ERROR) {
      if (use_blmpop_ && text(r.get()).starts_with("ERR unknown command")) {
        logger().info("[w{}] Redis has no BLMPOP (before 7.0): using BLPOP", s_.lane);
        use_blmpop_ = false;
        return;
      }
      throw source_error(std::string(text(r.get())));
    }
    // BLMPOP: [queue, [job...]]; BLPOP: [queue, job]; nil after the timeout.
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
      const redisReply* jobs = r->element[1];
      if (jobs->type == REDIS_REPLY_ARRAY) {
        for (std::size_t i = 0; i < jobs->elements; ++i)
          if (jobs->element[i]->type == REDIS_REPLY_STRING) batch.push_back(text(jobs->element[i]));
      } else if (jobs->type == REDIS_REPLY_STRING) {
        batch.push_back(text(jobs));
      }
    }
    std::string from = r->type == REDIS_REPLY_ARRAY && r->elements == 2 ? std::string(text(r->element[0])) : "";
    replies_.push_back(std::move(r));
    if (!use_blmpop_ && !batch.empty() && count > 1 && use_lpop_count_) pop_more(from, count - 1, batch);
  }

 private:
  // After BLPOP: LPOP <queue> <more> (Redis 6.2+) takes the rest of a batch.
  void pop_more(const std::string& queue, int more, std::vector<std::string_view>& batch) {
    reply_ptr r = redis_.command({"LPOP", queue, std::to_string(more)});
    if (r->type == REDIS_REPLY_ERROR) {
      logger().debug("[w{}] LPOP with a count failed ({}): one job per pop", s_.lane, text(r.get()));
      use_lpop_count_ = false;
      return;
    }
    if (r->type == REDIS_REPLY_ARRAY)
      for (std::size_t i = 0; i < r->elements; ++i)
        if (r->element[i]->type == REDIS_REPLY_STRING) batch.push_back(text(r->element[i]));
    replies_.push_back(std::move(r));
  }

  redis::blocking_client& redis_;
  const source_settings s_;
  const std::array<std::string, 3> lists_;  // <queue>:high, <queue>, <queue>:low
  bool use_blmpop_ = true;                  // false on a Redis before 7.0
  bool use_lpop_count_ = true;              // false on a Redis before 6.2
  std::vector<reply_ptr> replies_;          // the replies that hold the current batch
};

}  // namespace

std::unique_ptr<job_source> make_plain_source(redis::blocking_client& redis, source_settings s) {
  return std::make_unique<plain_source>(redis, std::move(s));
}

}  // namespace tempest::detail
