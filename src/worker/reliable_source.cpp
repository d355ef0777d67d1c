// reliable_source: a lane's jobs in reliable mode (the default; at-least-once; docs/protocol.md
// section 8; see job_source.hpp). Scripts in src/core/queue/scripts/; the heartbeat thread that
// keeps the lane's id alive is heartbeat.cpp, the reaper src/core/queue/reaper.cpp.
//
//   take      EVALSHA take.lua replaces tempest:processing:<host:pid:lane> (the previous
//             batch, all handled) with a header and up to <count> jobs (the lane's batch size) from the highest
//             non-empty of <queue>:high, <queue>, <queue>:low, and LRANGE <processing> 1 -1,
//             written behind it in the same round trip, reads the jobs (so no job is copied
//             through Lua: scripts/take.lua); nothing taken -> wait (BLPOP <queue>:bell tempest:wake:<id> 1, while a
//             second connection watches <queue> for jobs pushed without a bell token:
//             queue_watch.hpp), then take again
//   handled   a job finished while later jobs of a long batch wait (the batch has run over the
//             answer flush delay): its answers are flushed, then LREM processing 1 <entry> is
//             written (its reply read with the next take); any other job is completed by the
//             next take's DEL, in the same round trip
//   stop      DEL the processing list (everything in it was handled); the heartbeat thread
//             then unregisters the id
#include <algorithm>
#include <array>
#include <chrono>
#include <string>
#include <vector>

#include "core/queue/entry.hpp"

#include "core/answer/client.hpp"
#include "core/queue/keys.hpp"
#include "core/queue/scripts.hpp"
#include "worker/job_source.hpp"
#include "worker/queue_watch.hpp"

namespace tempest::detail {
namespace {

using redis::text;

class reliable_source final : public job_source {
 public:
  reliable_source(redis::blocking_client& redis, source_settings s, std::string id)
      : redis_(redis), s_(std::move(s)), lists_(queue_keys::lists(s_.queue)),
        id_(std::move(id)), processing_(queue_keys::processing(id_)), heartbeat_key_(queue_keys::heartbeat(id_)),
        bell_(queue_keys::bell(s_.queue)), ttl_text_(std::to_string(s_.heartbeat_ttl.count())),
        take_(queue::scripts::take()), watch_(redis_.endpoint(), s_.queue, bell_, queue_keys::wake(id_), s_.lane) {}

  void next(std::vector<std::string_view>& batch, int count) override {
    batch.clear();
    replies_.clear();
    const std::string count_text = std::to_string(count);
    if (!take_once(batch, count_text) || !batch.empty() || s_.stopping()) return;
    // Until a bell token, a job on <queue> without one (a front that rings no bell), or 1 s.
    auto woke = watch_.wait(redis_);
    if (s_.stopping() || !take_once(batch, count_text)) return;
    // No token, yet jobs: a front that rings no bell. Not in the lane's first seconds: a Tempest
    // front notices a new reliable worker within a second (job_dispatch's SCARD check) and
    // pushes no token before that, so a lane that joins a queue served by plain workers only
    // until then would take the front for a bell-less one, and watch the list for good.
    if (woke == queue_watch::woke::timeout && !batch.empty() &&
        std::chrono::steady_clock::now() - started_ > bell_grace)
      watch_.enable_watch();
  }

  void handled(std::string_view job, answers::pool& answers) override {
    if (!redis_.connected()) return;  // lost during the batch: the next take's DEL completes it
    answers.flush_out();              // the answer is out before the job leaves processing
    redis_.append({"LREM", processing_, "1", job});
    ++pending_replies_;
    redis_.flush();
  }

  void settle() override {
    for (; pending_replies_ > 0; --pending_replies_) redis_.read_reply();
  }

  void lost() override { pending_replies_ = 0; }

  void stop() override {
    if (!redis_.connected()) return;
    settle();
    redis_.command({"DEL", processing_});
  }

 private:
  // One take: its EVALSHA goes out before the replies of the LREMs written meanwhile are read.
  // false when the script is to be loaded again (NOSCRIPT after a SCRIPT FLUSH).
  bool take_once(std::vector<std::string_view>& batch, std::string_view count) {
    try {
      redis_.load(take_);
    } catch (const redis::io_error&) {
      throw;
    } catch (const std::runtime_error& e) {
      throw source_error(e.what());
    }
    const std::array<std::string_view, 7> keys{lists_[0], lists_[1], lists_[2], processing_, heartbeat_key_,
                                               queue_keys::workers, bell_};
    const std::array<std::string_view, 4> argv{count, ttl_text_, id_, s_.queue};
    redis_.append(take_, keys, argv);
    redis_.append({"LRANGE", processing_, "1", "-1"});  // the jobs after the header
    redis_.append({"EXISTS", queue_keys::cancelled});
    redis_.flush();
    settle();  // the LREMs written before
    reply_ptr taken = redis_.read_reply();
    reply_ptr jobs = redis_.read_reply();
    reply_ptr cancellations = redis_.read_reply();
    if (taken->type == REDIS_REPLY_ERROR) {
      if (!text(taken.get()).starts_with("NOSCRIPT")) throw source_error(std::string(text(taken.get())));
      take_.sha.clear();  // SCRIPT FLUSH: load again
      return false;
    }
    if (taken->type != REDIS_REPLY_INTEGER || jobs->type != REDIS_REPLY_ARRAY)
      throw source_error("unexpected reply to the take script");
    for (std::size_t i = 0; i < jobs->elements; ++i) batch.push_back(text(jobs->element[i]));
    replies_.push_back(std::move(jobs));
    if (cancellations->type == REDIS_REPLY_INTEGER && cancellations->integer == 1 && !batch.empty())
      drop_cancelled(batch);
    return true;
  }

  // Some front has cancelled jobs (clients gone, protocol.md 8.5): the batch's jobs with a field
  // in tempest:cancelled are dropped unstarted, and their fields deleted. One HMGET, only while
  // the hash exists; in C++ here rather than in the take script, where each job would have to
  // be copied into Lua and matched there (several times the cost of the take itself).
  void drop_cancelled(std::vector<std::string_view>& batch) {
    std::vector<std::pair<std::string, const char*>> marks;  // a job's field, the job
    for (auto job : batch) {
      std::string respond_to;
      std::int64_t id = 0;
      if (queue::parse_job_tail(job, respond_to, id) && !respond_to.empty())
        marks.emplace_back(queue_keys::cancel_field(respond_to, std::to_string(id)), job.data());
    }
    if (marks.empty()) return;
    std::vector<std::string_view> hmget{"HMGET", queue_keys::cancelled};
    for (const auto& m : marks) hmget.push_back(m.first);
    reply_ptr found = redis_.command(redis::blocking_client::args(hmget.data(), hmget.size()));
    if (found->type != REDIS_REPLY_ARRAY || found->elements != marks.size()) return;
    std::vector<std::string_view> hdel{"HDEL", queue_keys::cancelled};
    std::vector<const char*> dropped;
    for (std::size_t k = 0; k < marks.size(); ++k) {
      if (found->element[k]->type == REDIS_REPLY_NIL) continue;
      hdel.push_back(marks[k].first);
      dropped.push_back(marks[k].second);
    }
    if (dropped.empty()) return;
    redis_.append(redis::blocking_client::args(hdel.data(), hdel.size()));  // its reply: settle()
    ++pending_replies_;
    redis_.flush();
    std::erase_if(batch, [&](std::string_view job) {
      return std::find(dropped.begin(), dropped.end(), job.data()) != dropped.end();
    });
  }

  // Longer than the front's once-a-second check of tempest:workers.
  static constexpr std::chrono::seconds bell_grace{3};

  redis::blocking_client& redis_;
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  const source_settings s_;
  const std::array<std::string, 3> lists_;  // <queue>:high, <queue>, <queue>:low
  const std::string id_;                    // host:pid:lane
  const std::string processing_;            // tempest:processing:<id>
  const std::string heartbeat_key_;         // tempest:worker:<id>
  const std::string bell_;                  // <queue>:bell
  const std::string ttl_text_;              // --heartbeat-ttl in ms
  redis::script take_;                      // take.lua (its sha once loaded)
  queue_watch watch_;                       // the wait when no job is there
  int pending_replies_ = 0;                 // LREMs written, replies not read yet
  std::vector<reply_ptr> replies_;          // the replies that hold the current batch
};

}  // namespace

std::unique_ptr<job_source> make_reliable_source(redis::blocking_client& redis, source_settings s, std::string id) {
  return std::make_unique<reliable_source>(redis, std::move(s), std::move(id));
}

}  // namespace tempest::detail
