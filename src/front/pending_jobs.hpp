// Jobs waiting for an answer, per front thread (no locks: only that thread's io_context
// touches them). A job_slot is owned by the HTTP session that waits on it; the table only
// points at it, and the session removes its entry before the slot dies.
//
// Job lifecycle (the one place its transitions are listed):
//   idle --push--> pushing --RPUSH ok--> queued --answer--> done(none)
//                     |                     |---bad answer--> done(bad_answer)
//                     |--Redis error------> done(redis_unavailable)
//   pushing/queued --deadline--> the session answers 503 (still pushing) or 504 (queued)
// A later answer for a job no longer in the table gets "-ERR unknown job".
#pragma once
#include "core/errors.hpp"
#include "front/answer.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cstdint>
#include <unordered_map>

namespace tempest::front {

struct job_slot {
  enum class state { idle, pushing, queued, done };

  explicit job_slot(boost::asio::any_io_executor ex) : wake(ex) {}

  void finish(errc e) {
    error = e;
    st = state::done;
    wake.cancel();
  }

  std::uint64_t id = 0;
  state st = state::idle;
  errc error = errc::none;
  http_answer answer;               // the worker's answer once st == done with error none; then the response sent
  boost::asio::steady_timer wake;   // the session waits on it until the deadline; cancel() wakes it
};

class pending_jobs {
 public:
  void add(job_slot& s) { map_[s.id] = &s; }
  job_slot* find(std::uint64_t id) const {
    auto it = map_.find(id);
    return it == map_.end() ? nullptr : it->second;
  }
  void remove(std::uint64_t id) { map_.erase(id); }
  std::size_t size() const { return map_.size(); }

 private:
  std::unordered_map<std::uint64_t, job_slot*> map_;
};

// Job ids: unique per answer endpoint across restarts, and telling which thread issued them.
// base = milliseconds since the epoch * 1024 at start-up (rounded to a multiple of the thread
// count): a restarted front starts above every id the previous run could have issued unless
// that run issued more than 1,024,000 jobs a second. Ids stay below 2^53 (exact in JSON
// doubles) until the year 2255. id % threads == the issuing thread.
class job_id_source {
 public:
  job_id_source(std::uint64_t base, int thread, int threads) : next_(base + thread), step_(threads) {}
  std::uint64_t next() {
    auto id = next_;
    next_ += step_;
    return id;
  }

 private:
  std::uint64_t next_;
  std::uint64_t step_;
};

}  // namespace tempest::front
