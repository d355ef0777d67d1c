// Jobs waiting for an answer, per front thread (no locks: only that thread's io_context
// touches them). A job_slot is owned by the HTTP session that waits on it; the table only
// points at it, and the session removes its entry before the slot dies.
//
// Job lifecycle (the one place its transitions are listed):
//   idle --push--> pushing --RPUSH ok--> queued --answer--> done(none)
//                     |                     |---bad answer--> done(bad_answer)
//                     |--Redis error------> done(redis_unavailable)
//                     |                     |---stream head--> streaming --end / cut--> (removed)
//   pushing/queued --deadline--> the session answers 503 (still pushing) or 504 (queued)
// A streaming job (docs/protocol.md 10) stays in the table, and its session in the job's
// stream loop, until the end, a cut (10.3, 10.5) or the client leaving.
// A later answer for a job no longer in the table gets "-ERR unknown job".
#pragma once
#include "core/errors.hpp"
#include "front/answer.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <unordered_map>
#include <vector>

namespace tempest::front {

// A streamed answer's state between the answer endpoint (which appends) and the HTTP session
// (which writes): protocol.md 10.
struct answer_stream {
  static constexpr std::uint64_t no_length = std::numeric_limits<std::uint64_t>::max();

  std::string bytes;                    // received, not yet handed to the client's socket
  std::uint64_t declared = no_length;   // the head's Content-Length, if it gave one
  std::uint64_t received = 0;           // body bytes accepted so far
  bool ended = false;                   // `end` arrived
  bool cut = false;                     // 10.3 / 10.8: send what is buffered, then close
  bool aborted = false;                 // the cut is the worker's `abort` (10.9)
  // Answer connections that stopped reading until `bytes` shrinks (10.4); woken and forgotten
  // by wake_writers(). An answer connection that ends first takes itself off (forget_writer).
  std::vector<boost::asio::steady_timer*> writers;

  void add_writer(boost::asio::steady_timer* t) {
    if (std::find(writers.begin(), writers.end(), t) == writers.end()) writers.push_back(t);
  }
  void forget_writer(boost::asio::steady_timer* t) { std::erase(writers, t); }
  void wake_writers() {
    for (auto* t : writers) t->cancel();
    writers.clear();
  }
  // Back to no stream, keeping a small buffer's capacity for the next one.
  void reset() {
    wake_writers();
    if (bytes.capacity() > 64 * 1024) std::string().swap(bytes);
    bytes.clear();
    declared = no_length;
    received = 0;
    ended = cut = aborted = false;
  }
};

struct job_slot {
  enum class state { idle, pushing, queued, streaming, done };

  explicit job_slot(boost::asio::any_io_executor ex) : wake(ex) {}
  ~job_slot() { stream.wake_writers(); }
  job_slot(const job_slot&) = delete;
  job_slot& operator=(const job_slot&) = delete;

  // Still waiting for its answer (url, stream, murl may complete it).
  bool waiting() const { return st == state::pushing || st == state::queued; }
  // A streamed answer that takes chunks.
  bool open_stream() const { return st == state::streaming && !stream.ended && !stream.cut; }

  void finish(errc e) {
    error = e;
    st = state::done;
    wake.cancel();
  }

  std::uint64_t id = 0;
  state st = state::idle;
  errc error = errc::none;
  http_answer answer;               // the worker's answer once st == done with error none (or a stream's head); then the response sent
  answer_stream stream;             // st == streaming
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
