// libtempest, the C++ worker library: takes jobs from the Redis queue the front fills, calls
// your handler, and answers the front directly on its answer endpoint (docs/protocol.md).
//
//   int main(int argc, char** argv) {
//     auto options = tempest::worker_options::from_args(argc, argv, "Says hello");
//     tempest::worker w(options);
//     w.on_request([](const tempest::request& req, tempest::response& res) {
//       res.set_header("Content-Type", "text/plain");
//       res.body = "Hello world!";
//     });
//     return w.run();   // until SIGTERM or SIGINT; 0 then, 1 on a fatal Redis error
//   }
//
// API summary
//   worker_options            --redis --queue --concurrency --batch --batch-time --log-level --answer-password
//                             --answer-allow --mode reliable|plain (--plain) --heartbeat-ttl
//                             --max-attempts
//                             (and --config FILE.toml with the same keys)
//     from_args(argc, argv, description[, extra_flags])   parse or exit with one clear line
//   worker(options)
//     on_request(fn)          fn(const request&, response&) for HTTP ("url") jobs
//     on(action, fn)          fn(const job&, answer&) for any other action
//     run()                   the loop; blocks; returns 0 after stop() or SIGTERM/SIGINT
//     stop()                  thread-safe and async-signal-safe; run() returns after the batch
//     publisher()             this thread's tempest::publisher on --redis (Server-Sent Events to
//                             the browsers at /sub/<channel>; include/tempest/publish.hpp)
//     expired_jobs()          jobs dropped unstarted: their "deadline" (unix ms) had passed
//     dropped_answers()       answers dropped because their endpoint was down or hung
//     untrusted_jobs()        jobs dropped unhandled: their respond_to was neither announced by
//                             a front nor in --answer-allow
//   response::stream()        a streamed body: write(bytes) blocking for room, end(); false
//                             once the client left or the front cut it (tempest/response.hpp);
//                             keep() holds it open past the handler for a tempest::fanout, which
//                             writes one chunk (or answer) to many in one command per front
//   job                       action(), id(), respond_to(), args() (a boost::json::array)
//   answer                    send(json_value), send_json("[1,2]"): the answer to a job (a Tempest front takes exactly one per job)
//
// Delivery: reliable by default (at-least-once; include/tempest/reliable.hpp says how, and how
// long a dead worker's jobs take to come back): a handler may see a job again after a worker
// died holding it, except a request the front marked "retry": false, which is answered 502.
// Jobs are always taken highest priority first (<queue>:high, <queue>, <queue>:low).
//
// Threads: with --concurrency 1 handlers run in the thread that called run(), one job after the
// other. With N > 1, N threads each take their own jobs with their own connections: handlers
// must then be thread-safe.
//
// Where answers go: only to a respond_to that a live front announces in Redis (tempest:fronts,
// docs/protocol.md 3.5) or that --answer-allow lists. A job naming any other address is dropped
// before its handler runs (counted, logged at most every 10 s): whoever can push to the queue
// cannot make a worker connect, or send its answer password, anywhere else (docs/security.md).
//
// Errors: a handler that throws is logged; an HTTP job is then answered 500, another action
// {"error":"internal error"} (unless the handler had already answered). A malformed job is
// logged and skipped. Redis going away is logged once and retried with backoff (100 ms
// doubling to 500 ms); an answer endpoint that breaks is reconnected once and the unacknowledged
// answers resent, then dropped with a log line if the front is gone; one that hangs is marked
// down for 1 s (its answers dropped, dropped_answers()) without delaying the other fronts'.
//
// Signals: SIGTERM and SIGINT are caught from the first thing a worker program does
// (worker_options::from_args, before it reads a flag; or catch_stop_signals()),
// so a stop asked at any moment is a clean one: before run(), run() returns 0 at once; during
// run(), the jobs already taken are finished and answered, then run() returns 0. The handlers
// are installed with SA_RESETHAND, so a second signal kills the process as usual; run()
// restores the earlier dispositions when it returns. SIGPIPE is ignored (a closed answer
// socket is an error value, not a death). SIGTERM and SIGINT are unblocked then, so a
// supervisor may spawn the program with them blocked (closing the window before main).
//
// args() and answer::send use Boost.JSON: include <boost/json.hpp> where you use them.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json/fwd.hpp>

#include "tempest/fanout.hpp"
#include "tempest/publish.hpp"
#include "tempest/request.hpp"
#include "tempest/response.hpp"

namespace CLI {
class App;
}

namespace tempest {

namespace detail {
class worker_lane;
struct job_access;
}  // namespace detail

// Catches SIGTERM and SIGINT as stop requests from now on (see "Signals" above); idempotent,
// thread-safe. from_args and the worker constructor call it; call it first in main when a
// program uses worker_options::parse or does slow work before either.
void catch_stop_signals() noexcept;

// The standard worker settings: every example program takes these flags.
struct worker_options {
  // Redis holding the queue: redis://[[user]:password@]host[:port][/db] or unix:/path[?db=N].
  // Default: $TEMPEST_REDIS, else redis://127.0.0.1:6379/0.
  std::string redis;
  std::string queue;  // the Redis list the front pushes jobs on; set by the constructor ("tempest")
  int concurrency = 1;            // worker threads, each with its own connections
  // Jobs taken per round trip to Redis: at most batch, and about as many as the lane handles
  // in batch_time by its measured time per job (a slow handler takes one at a time, so jobs
  // do not wait behind it while another worker is idle; src/worker/batch_size.hpp).
  int batch = 128;
  std::chrono::milliseconds batch_time{1};
  std::string log_level;          // trace, debug, info, warn, error, off; set by the constructor ("info")
  // Sent with AUTH to every answer endpoint when not empty. Default: $TEMPEST_ANSWER_PASSWORD.
  std::string answer_password;
  // Answer endpoints ("host:port", exactly as jobs give respond_to) answered even though no
  // front announces them in tempest:fronts: fronts that announce nothing, such as the 2012
  // one. Any other respond_to that is not announced is dropped unhandled (docs/security.md).
  std::vector<std::string> answer_allow;
  // Answer connections never block a lane (src/core/answer/client.hpp): a connect not done in
  // answer_connect_timeout, or an answer unacknowledged (not written or no reply) after
  // answer_timeout, or more than answer_buffer bytes of answers queued for one endpoint, marks
  // that endpoint down for 1 s and drops its queued answers (dropped_answers()). After a batch
  // the lane waits for an endpoint's replies at most answer_reply_wait (the rest are read later).
  std::chrono::milliseconds answer_connect_timeout{500};
  std::chrono::milliseconds answer_timeout{5000};
  std::chrono::milliseconds answer_reply_wait{100};
  std::size_t answer_buffer = 8u << 20;
  // How jobs are taken (docs/protocol.md section 8):
  //   reliable  (default) at-least-once: each job taken is moved into tempest:processing:<id>
  //             by one script, a heartbeat thread keeps tempest:worker:<id> alive, and the jobs
  //             of workers that died are re-queued by the reaper (include/tempest/reliable.hpp)
  //   plain     at-most-once, the original way: one BLMPOP over the three priority lists
  enum class delivery { reliable, plain };
  delivery mode = delivery::reliable;
  // Reliable mode: the heartbeat key lives this long (refreshed every third of it); the jobs of
  // a worker killed at t are back on the queue by t + 2 * heartbeat_ttl.
  std::chrono::milliseconds heartbeat_ttl{3000};
  // Reliable mode: worker deaths after which a job goes to <queue>:dead instead of back.
  int max_attempts = 3;

  // Defaults, with the environment variables above applied.
  worker_options();

  // Parses the standard flags (and those extra_flags adds to the CLI11 app) and returns the
  // options. --help prints the help and exits 0; a bad flag or value prints one line
  // "program: what is wrong (see --help)" to stderr and exits 2.
  static worker_options from_args(int argc, char** argv, std::string description,
                                  const std::function<void(CLI::App&)>& extra_flags = {});
  // The same without exiting: adds the standard flags to app, parses, and throws
  // CLI::ParseError (CLI::CallForHelp for --help) or std::runtime_error naming the bad flag.
  static worker_options parse(CLI::App& app, int argc, const char* const* argv);
};

// A job of any action, as on(action, fn) handlers see it. Views are valid during the call.
class job {
 public:
  // The action name, the first item of the job: "url" for HTTP requests.
  std::string_view action() const noexcept { return action_; }
  // The job id given by the issuer, echoed in the answer.
  std::int64_t id() const noexcept { return id_; }
  // "host:port" of the answer endpoint; empty when the issuer wants no answer (null).
  std::string_view respond_to() const noexcept { return respond_to_; }
  // The arguments, the second item of the job.
  const boost::json::array& args() const noexcept { return *args_; }

 private:
  friend struct detail::job_access;

  std::string_view action_;
  std::int64_t id_ = 0;
  std::string_view respond_to_;
  const boost::json::array* args_ = nullptr;
};

namespace detail {
// Where answers go (a worker thread); see src/worker/lane.cpp.
class answer_sink {
 public:
  virtual void send_answer(const job& j, std::string_view json) = 0;

 protected:
  ~answer_sink() = default;
};
}  // namespace detail

// The way an on(action, fn) handler answers its job: zero, one or several times (streams).
// Each call sends the command `<action> <job id> <json>` to the job's respond_to at once.
// When the job has no respond_to the calls do nothing. Valid during the handler call only:
// answering later, from another thread, is not supported (the lane owns the connection).
class answer {
 public:
  answer(detail::answer_sink& sink, const job& j) noexcept : sink_(sink), job_(j) {}

  // Sends any JSON value.
  void send(const boost::json::value& v);
  // Sends already-encoded JSON text as is (the front rejects invalid JSON with -ERR).
  void send_json(std::string_view json);
  // True when the job has a respond_to.
  bool wanted() const noexcept { return !job_.respond_to().empty(); }
  // How many answers were sent so far.
  std::size_t count() const noexcept { return count_; }

 private:
  detail::answer_sink& sink_;
  const job& job_;
  std::size_t count_ = 0;
};

class worker {
 public:
  using request_handler = std::function<void(const request&, response&)>;
  using job_handler = std::function<void(const job&, answer&)>;

  explicit worker(worker_options options = worker_options());
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;

  // Handler for HTTP requests (action "url"). Without one, HTTP jobs are answered 501.
  worker& on_request(request_handler fn);
  // Handler for another action (replaces an earlier one for the same action). A job whose
  // action has no handler is logged and skipped. For "url", on_request wins when both are set.
  worker& on(std::string action, job_handler fn);

  // Takes and handles jobs until stop(), SIGTERM or SIGINT. Returns 0 then, or 1 when it could
  // not start or hit a fatal error (bad Redis URL, Redis refusing AUTH or SELECT).
  int run();
  // Asks run() to return once the jobs already taken are answered. Thread-safe and
  // async-signal-safe.
  void stop() noexcept { stop_.store(true, std::memory_order_relaxed); }

  // A publisher on --redis for the calling thread, created (not yet connected) on the first
  // call in each thread: from a handler, `worker.publisher().publish("news", "hello")`. Default
  // history options; change them with set_options (they stay for that thread).
  tempest::publisher& publisher();

  const worker_options& options() const noexcept { return options_; }

  // Jobs dropped without being handled because their "deadline" (unix ms) had passed.
  std::uint64_t expired_jobs() const noexcept { return expired_.load(std::memory_order_relaxed); }
  // Jobs dropped without being handled because their respond_to was neither announced by a
  // front nor in --answer-allow.
  std::uint64_t untrusted_jobs() const noexcept { return untrusted_.load(std::memory_order_relaxed); }
  // Answers dropped because their endpoint was down, hung or not reading (--answer-timeout,
  // --answer-buffer, --answer-connect-timeout); their requests time out at the front.
  std::uint64_t dropped_answers() const noexcept { return dropped_answers_.load(std::memory_order_relaxed); }

 private:
  friend class detail::worker_lane;
  bool stopping() const noexcept;

  worker_options options_;
  request_handler request_handler_;
  std::vector<std::pair<std::string, job_handler>> handlers_;  // few actions: a linear scan
  std::atomic<bool> stop_{false};
  std::atomic<bool> fatal_{false};  // a lane hit an error that retrying cannot fix
  std::atomic<std::uint64_t> expired_{0};  // see expired_jobs()
  std::atomic<std::uint64_t> untrusted_{0};  // see untrusted_jobs()
  std::atomic<std::uint64_t> dropped_answers_{0};  // see dropped_answers()
};

}  // namespace tempest
