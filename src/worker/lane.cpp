// worker_lane: one thread's job loop of tempest::worker (worker.cpp starts one per
// --concurrency; declared in lane.hpp). Each lane owns one redis::blocking_client connection,
// a job source chosen once by the mode (job_source.hpp: plain_source.cpp, reliable_source.cpp)
// and a pool of connections to the fronts' answer endpoints (core/answer/client.hpp), and loops:
//
//   next     source->next(batch, count): up to count jobs, waiting ~1 s when there are none;
//            count is sized from the lane's time per job (batch_size.hpp: --batch, --batch-time)
//   handle   for each job: parse it (Boost.JSON, into a per-job arena on a reused buffer),
//            drop it unhandled when its respond_to is neither announced in tempest:fronts nor
//            in --answer-allow (core/answer/targets.hpp; counted, logged at most every 10 s),
//            drop it unstarted when its "deadline" (unix ms) has passed (counted, logged at
//            debug), call the handler, encode the answer (job_codec.hpp) and write it to the
//            job's respond_to at once: `<action> <job id> <json>`; in a long batch, tell the
//            source each job is done (reliable: LREM from the processing list)
//   collect  write what is queued and read the +OK / -ERR replies of the answers pipelined
//            during the batch: one poll() over all answer connections, waiting for each at
//            most --answer-reply-wait (a hung front never stalls the others)
//
// Redis connection: lost -> logged once, reconnected with backoff 100 ms doubling to 500 ms;
// AUTH or SELECT refused (redis::refused) -> fatal (run() returns 1). A take or pop Redis
// refuses -> logged once, retried after the backoff.
//
// If you change the answer command, change src/front/answer_endpoint.cpp (and core/answer/client.cpp) too.
#include "worker/lane.hpp"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parser.hpp>

#include <algorithm>
#include <chrono>
#include <memory>
#include <thread>

#include "core/answer/client.hpp"
#include "core/answer/targets.hpp"
#include "core/log.hpp"
#include "core/queue/keys.hpp"
#include "core/redis/blocking_client.hpp"
#include "worker/batch_size.hpp"
#include "worker/job_codec.hpp"
#include "worker/job_source.hpp"

namespace tempest::detail {
namespace {

using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto redis_io_timeout = 6s;      // must exceed the 1 s a pop or wait blocks
constexpr auto connect_timeout = 2s;
constexpr auto backoff_min = 100ms;
constexpr auto backoff_max = 500ms;  // back to work within ~0.5 s of Redis returning
constexpr std::chrono::microseconds answer_flush_delay{500};  // see worker_lane::send_answer
constexpr std::size_t arena_size = 16 * 1024;     // first block of each job's JSON arena

std::int64_t unix_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

spdlog::logger& logger() {
  static const auto l = log::get("worker");
  return *l;
}

using answers::fetch_announced;

}  // namespace

// One thread's job loop (see the top of the file).
class worker_lane final : public answer_sink, public cancel_probe, public stream_sink {
 public:
  worker_lane(worker& w, int index, redis_endpoint ep, std::string id)
      : w_(w), index_(index), ep_(std::move(ep)), redis_(ep_, {connect_timeout, redis_io_timeout}),
        source_(make_source(std::move(id))),
        batch_size_(w.options_.batch, w.options_.batch_time), targets_(w.options_.answer_allow),
        answers_(w.options_.answer_password, index,
                 {w.options_.answer_connect_timeout, w.options_.answer_timeout, w.options_.answer_reply_wait,
                  w.options_.answer_buffer},
                 w.dropped_answers_),
        arena_(arena_size), parser_({}, {}, parser_temp_, sizeof parser_temp_), probe_redis_(ep_, {2s, 2s}) {}

  void run() {
    while (!w_.stopping()) {
      if (!redis_.connected() && !connect_redis()) break;
      if (!take_batch()) continue;
      batch_started_ = clock_type::now();
      // Jobs already taken are always handled and answered, even when a stop came meanwhile.
      for (std::size_t i = 0; i < batch_.size(); ++i) {
        handle(batch_[i]);
        if (i + 1 < batch_.size() && clock_type::now() - batch_started_ > answer_flush_delay)
          on_redis([&] { source_->handled(batch_[i], answers_); });  // a long batch: done with job i
      }
      batch_size_.record(static_cast<int>(batch_.size()), clock_type::now() - batch_started_);
      answers_.collect(false);
    }
    answers_.collect(true);  // at a stop: until answered, or down
    on_redis([&] { source_->stop(); });
  }

  // request::cancelled(): is <respond_to>/<id> in tempest:cancelled? On a connection of its
  // own, made on first use: the lane's main connection may have replies pending.
  bool is_cancelled(std::string_view respond_to, std::int64_t id) const override {
    try {
      char buf[24];
      auto r = probe_redis_.command(
          {"HEXISTS", queue_keys::cancelled, queue_keys::cancel_field(respond_to, format_job_id(id, buf))});
      if (r->type == REDIS_REPLY_INTEGER) return r->integer == 1;
    } catch (const std::exception& e) {
      logger().debug("[w{}] cannot ask Redis whether job {} was cancelled: {}", index_, id, e.what());
    }
    probe_redis_.close();
    return false;
  }

  // Answers of a batch are written together (one write per front per batch) unless the batch
  // is a single job or has been running for more than answer_flush_delay: pipelining for
  // throughput, bounded added latency.
  void send_answer(const job& j, std::string_view json) override {
    char buf[24];
    bool flush_now = batch_.size() <= 1 || clock_type::now() - batch_started_ > answer_flush_delay;
    answers_.get(j.respond_to()).send(j.action(), format_job_id(j.id(), buf), json, j.id(), flush_now);
  }

  // response::stream()'s commands (docs/protocol.md 10): written at once, blocking for room.
  bool send_stream(std::string_view command, std::int64_t job_id, std::string_view respond_to,
                   std::string_view payload, std::string& why) override {
    char buf[24];
    return answers_.get(respond_to).send_stream(command, format_job_id(job_id, buf), payload, job_id, why);
  }
  bool sync_stream(std::int64_t job_id, std::string_view respond_to, std::string& why) override {
    return answers_.get(respond_to).sync_stream(job_id, why);
  }

 private:
  // ---- Redis ------------------------------------------------------------------------------

  // Connects (AUTH, SELECT) until it works or a stop; false at a stop or when Redis refused
  // AUTH or SELECT (fatal: run() returns 1).
  bool connect_redis() {
    while (!w_.stopping()) {
      try {
        redis_.connect();
        if (redis_down_logged_) logger().info("[w{}] connected to Redis at {} again", index_, redis_.name());
        else logger().debug("[w{}] connected to Redis at {}", index_, redis_.name());
        redis_down_logged_ = false;
        backoff_ = backoff_min;
        return true;
      } catch (const redis::refused& e) {
        logger().error("[w{}] {}", index_, e.what());
        w_.fatal_.store(true);
        w_.stop();
        return false;
      } catch (const redis::io_error& e) {
        if (!redis_down_logged_) logger().warn("[w{}] {}; retrying", index_, e.what());
        redis_down_logged_ = true;
      }
      sleep_backoff();
    }
    return false;
  }

  void redis_lost(const redis::io_error& e) {
    if (!redis_down_logged_) logger().warn("[w{}] {}; reconnecting", index_, e.what());
    redis_down_logged_ = true;
    redis_.close();
    source_->lost();
  }

  // Runs f, a use of the lane's connection; a lost Redis is logged once, and the lane goes on.
  template <class F>
  bool on_redis(F f) {
    try {
      f();
      return true;
    } catch (const redis::io_error& e) {
      redis_lost(e);
      return false;
    }
  }

  // The next batch into batch_; false when there is nothing to handle: Redis was lost or
  // refused the take (logged). A pop that Redis lost halfway leaves the jobs it took: handled.
  bool take_batch() {
    try {
      source_->next(batch_, batch_size_.next());
    } catch (const redis::io_error& e) {
      redis_lost(e);
      return !batch_.empty();
    } catch (const source_error& e) {
      batch_.clear();
      if (!pop_error_logged_)
        logger().error("[w{}] taking jobs from '{}' failed: {}; retrying", index_, w_.options_.queue, e.what());
      pop_error_logged_ = true;
      sleep_backoff();
      return false;
    }
    pop_error_logged_ = false;
    backoff_ = backoff_min;
    return true;
  }

  std::unique_ptr<job_source> make_source(std::string id) {
    source_settings s{w_.options_.queue, w_.options_.heartbeat_ttl, index_,
                      [this] { return w_.stopping(); }};
    if (id.empty()) return make_plain_source(redis_, std::move(s));
    return make_reliable_source(redis_, std::move(s), std::move(id));
  }

  void sleep_backoff() {
    auto until = clock_type::now() + backoff_;
    while (!w_.stopping() && clock_type::now() < until) std::this_thread::sleep_for(std::min<clock_type::duration>(50ms, until - clock_type::now()));
    backoff_ = std::min<std::chrono::milliseconds>(backoff_ * 2, backoff_max);
  }

  // ---- jobs -------------------------------------------------------------------------------

  void handle(std::string_view payload) {
    boost::json::monotonic_resource arena(arena_.data(), arena_.size());
    parser_.reset(&arena);
    boost::json::error_code ec;
    parser_.write(payload.data(), payload.size(), ec);
    if (ec) {
      logger().warn("[w{}] skipping a job that is not JSON ({}): {:.120}", index_, ec.message(), payload);
      return;
    }
    boost::json::value v = parser_.release();
    job j;
    if (const char* err = job_access::decode(v, j)) {
      logger().warn("[w{}] skipping a malformed job ({}): {:.120}", index_, err, payload);
      return;
    }
    if (!j.respond_to().empty() && !answer_trusted(j)) return;
    if (deadline_passed(j, unix_now_ms())) {
      w_.expired_.fetch_add(1, std::memory_order_relaxed);
      logger().debug("[w{} j{}] deadline passed before the job started; dropped", index_, j.id());
      return;
    }
    if (j.action() == "url" && w_.request_handler_) return handle_request(j);
    for (const auto& [action, fn] : w_.handlers_)
      if (action == j.action()) return handle_action(j, fn);
    if (j.action() == "url") {  // no HTTP handler at all
      res_.clear();
      res_.status = 501;
      res_.body = "Not Implemented\n";
      return answer_request(j);
    }
    if (std::find(unknown_actions_.begin(), unknown_actions_.end(), j.action()) == unknown_actions_.end()) {
      logger().warn("[w{} j{}] no handler for action '{}'; such jobs are skipped", index_, j.id(), j.action());
      unknown_actions_.emplace_back(j.action());
    }
  }

  void handle_request(const job& j) {
    res_.clear();
    response_access::bind(res_, this, j.id(), j.respond_to());
    request_access::set_probe(req_, this);
    if (const char* err = request_access::decode(j, req_, body_buf_)) {
      logger().warn("[w{} j{}] bad HTTP job: {}", index_, j.id(), err);
      res_.status = 400;
      res_.set_header("content-type", "text/plain");
      res_.body = "Bad Request\n";
      return answer_request(j);
    }
    bool failed = false;
    try {
      w_.request_handler_(req_, res_);
    } catch (const std::exception& e) {
      logger().error("[w{} j{}] handler failed on {} {}: {}", index_, j.id(), req_.method(), req_.url(), e.what());
      failed = true;
    } catch (...) {
      logger().error("[w{} j{}] handler failed on {} {}: unknown exception", index_, j.id(), req_.method(), req_.url());
      failed = true;
    }
    if (res_.streaming()) return finish_stream(j, failed);
    if (failed) internal_error();
    answer_request(j);
  }

  // A streamed response is ended when its handler returns, unless kept (a tempest::fanout
  // writes it later). One whose handler threw is aborted (protocol.md 10.9): the client gets
  // the cut body at once and never takes it for a whole one.
  void finish_stream(const job& j, bool failed) {
    body_stream& out = response_access::body(res_);
    if (failed && out.ok() && !out.ended()) out.abort();
    if (!failed && out.ok() && !out.ended() && !out.kept()) out.end();
    if (!out.ok()) logger().debug("[w{} j{}] stream ended early: {}", index_, j.id(), out.error());
  }

  void internal_error() {
    res_.clear();
    res_.status = 500;
    res_.set_header("content-type", "text/plain");
    res_.body = "Internal Server Error\n";
  }

  void answer_request(const job& j) {
    if (j.respond_to().empty()) return;
    if (res_.status < 200 || res_.status > 599)
      logger().warn("[w{} j{}] status {} is outside 200..599; sending 500", index_, j.id(), res_.status);
    out_.clear();
    if (int dropped = encode_url_answer(res_, out_))
      logger().warn("[w{} j{}] dropped {} invalid response headers", index_, j.id(), dropped);
    send_answer(j, out_);
  }

  void handle_action(const job& j, const worker::job_handler& fn) {
    answer a(*this, j);
    try {
      fn(j, a);
      return;
    } catch (const std::exception& e) {
      logger().error("[w{} j{}] handler for '{}' failed: {}", index_, j.id(), j.action(), e.what());
    } catch (...) {
      logger().error("[w{} j{}] handler for '{}' failed: unknown exception", index_, j.id(), j.action());
    }
    if (a.count() == 0 && a.wanted()) {
      out_.clear();
      encode_error_answer(out_);
      send_answer(j, out_);
    }
  }

  // ---- where answers may go (core/answer/targets.hpp; docs/protocol.md 3.5) ------------------

  // Announced in tempest:fronts or in --answer-allow; else the job is dropped unhandled,
  // counted, and logged at most every 10 s.
  bool answer_trusted(const job& j) {
    auto now = clock_type::now();
    auto v = targets_.check(j.respond_to(), now, batch_started_);
    if (v == answers::targets::verdict::ask_redis) {
      std::optional<std::vector<std::string>> announced;
      if (redis_.connected()) on_redis([&] {
        source_->settle();
        announced = fetch_announced(redis_);
      });
      targets_.update(std::move(announced), now);
      v = targets_.check(j.respond_to(), now, batch_started_);
    }
    if (v == answers::targets::verdict::allowed) return true;
    w_.untrusted_.fetch_add(1, std::memory_order_relaxed);
    ++untrusted_unlogged_;
    if (now - untrusted_logged_at_ >= 10s || untrusted_logged_at_ == clock_type::time_point{}) {
      logger().warn("[w{} j{}] respond_to '{:.100}' is neither announced by a front ({}) nor in --answer-allow: "
                    "job dropped unhandled ({} such job(s) since the last such line)",
                    index_, j.id(), j.respond_to(), queue_keys::fronts, untrusted_unlogged_);
      untrusted_logged_at_ = now;
      untrusted_unlogged_ = 0;
    }
    return false;
  }

  worker& w_;
  const int index_;                  // lane number, "w<index>" in logs
  const redis_endpoint ep_;
  redis::blocking_client redis_;     // the lane's connection (pops and takes block on it)
  std::unique_ptr<job_source> source_;  // plain or reliable, chosen once (job_source.hpp)
  std::chrono::milliseconds backoff_ = backoff_min;
  bool redis_down_logged_ = false;   // Redis trouble is logged once per outage
  bool pop_error_logged_ = false;
  std::vector<std::string_view> batch_;  // the current batch (views into the source's replies)
  clock_type::time_point batch_started_{};  // when the current batch was taken
  batch_size batch_size_;            // how many jobs the next take asks for
  std::vector<std::string> unknown_actions_;  // warned about once each
  answers::targets targets_;         // which respond_to this lane answers
  answers::pool answers_;            // one answer connection per front (--answer-connect-timeout ...)
  clock_type::time_point untrusted_logged_at_{};  // the last "neither announced nor allowed" line
  std::uint64_t untrusted_unlogged_ = 0;          // such drops since that line
  // Per-job scratch, reused so that a typical job costs no heap allocation.
  std::vector<unsigned char> arena_;
  unsigned char parser_temp_[4096];
  boost::json::parser parser_;
  mutable redis::blocking_client probe_redis_;  // request::cancelled()'s connection, made on first use
  request req_;
  response res_;
  std::string body_buf_;
  std::string out_;
};

void run_lane(worker& w, int index, redis_endpoint ep, std::string id) {
  auto lane = std::make_unique<worker_lane>(w, index, std::move(ep), std::move(id));
  lane->run();
}

}  // namespace tempest::detail
