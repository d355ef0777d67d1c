// tempest::worker: the job loop of the C++ worker library (API in include/tempest/worker.hpp).
//
// Each lane (one per --concurrency thread) owns one blocking hiredis connection to Redis and a
// cache of connections to the fronts' answer endpoints, and loops:
//
//   take     reliable mode (default; at-least-once): EVALSHA take_script moves up to <batch> jobs
//            from the highest non-empty of <queue>:high, <queue>, <queue>:low into
//            tempest:processing:<host:pid:lane>; when there are none, wait (BLPOP <queue>:bell
//            tempest:wake:<id> 1, while a second connection's BLMOVE <queue> <queue> LEFT LEFT
//            1 rings the wake for jobs pushed without a bell token: queue_watch.hpp) and take
//            again (details at "reliable mode" below; scripts in reliable_scripts.hpp; the
//            heartbeat thread and the reaper in reliable.cpp)
//   pop      plain mode (--mode plain; at-most-once): BLMPOP 1 3 <queue>:high <queue>
//            <queue>:low LEFT COUNT <batch> (blocks up to 1 s, so a stop is noticed; BLPOP over
//            the three + LPOP <list> <n> on a Redis without BLMPOP)
//   handle   for each job: parse it (Boost.JSON, into a per-job arena on a reused buffer),
//            drop it unhandled when its respond_to is neither announced in tempest:fronts nor
//            in --answer-allow (core/answer/targets.hpp; counted, logged at most every 10 s),
//            drop it unstarted when its "deadline" (unix ms) has passed (counted, logged at
//            debug), call the handler, encode the answer (json_writer) and write it to the job's
//            respond_to at once: `<action> <job id> <json>`, formatted by hiredis
//   collect  write what is queued and read the +OK / -ERR replies of the answers pipelined
//            during the batch: one poll() over all answer connections, waiting for each at
//            most --answer-reply-wait (core/answer/client.hpp: a hung front never stalls the others)
//
// Answer connections (an answers::pool of answers::client, core/answer/client.hpp, with their
// states): one per front per lane, cached.
// Redis connection: lost -> logged once, reconnected with backoff 100 ms doubling to 500 ms;
// AUTH or SELECT refused -> fatal (run() returns 1).
// worker::publisher(): a thread_local tempest::publisher on --redis (src/worker/publisher.cpp),
// its own connection, apart from the lane's.
//
// If you change the answer command, change src/front/answer_endpoint.cpp (and core/answer/client.cpp) too.
#include <hiredis/hiredis.h>

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parser.hpp>
#include <boost/json/serialize.hpp>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <memory>
#include <thread>

#include "core/log.hpp"
#include "core/queue/keys.hpp"
#include "core/redis_url.hpp"
#include "core/answer/client.hpp"
#include "core/answer/targets.hpp"
#include "worker/heartbeat.hpp"
#include "worker/job_codec.hpp"
#include "worker/queue_watch.hpp"
#include "worker/reliable_scripts.hpp"
#include "worker/stop_signals.hpp"

namespace tempest {
namespace {

using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr const char* pop_timeout = "1";   // seconds a pop blocks: how soon a stop is noticed
constexpr auto redis_io_timeout = 6s;      // must exceed the pop timeout
constexpr auto connect_timeout = 2s;
constexpr auto backoff_min = 100ms;
constexpr auto backoff_max = 500ms;  // back to work within ~0.5 s of Redis returning
constexpr std::chrono::microseconds answer_flush_delay{500};  // see worker_lane::send_answer
constexpr std::size_t arena_size = 16 * 1024;     // first block of each job's JSON arena

std::int64_t unix_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "localhost";
  return buf;
}

spdlog::logger& logger() {
  static const auto l = log::get("worker");
  return *l;
}

using detail::context_ptr;
using detail::reply_ptr;
using detail::reply_text;
using answers::fetch_announced;

timeval to_timeval(std::chrono::milliseconds d) {
  return {static_cast<time_t>(d.count() / 1000), static_cast<suseconds_t>(d.count() % 1000 * 1000)};
}

// A command through hiredis (blocking). nullptr on an I/O error (c->errstr says which).
reply_ptr command(redisContext* c, std::initializer_list<std::string_view> args) {
  const char* argv[12];
  std::size_t lens[12];
  int n = 0;
  for (auto a : args) { argv[n] = a.data(); lens[n] = a.size(); ++n; }
  return reply_ptr(static_cast<redisReply*>(redisCommandArgv(c, n, argv, lens)));
}

}  // namespace

namespace detail {

// One thread's job loop (see the top of the file).
class worker_lane final : public answer_sink, public cancel_probe {
 public:
  worker_lane(worker& w, int index, redis_endpoint ep, std::string id)
      : w_(w), index_(index), ep_(std::move(ep)), batch_text_(std::to_string(w.options_.batch)),
        lists_(queue_keys::lists(w.options_.queue)), reliable_(!id.empty()), id_(std::move(id)),
        processing_(queue_keys::processing(id_)), heartbeat_key_(queue_keys::heartbeat(id_)),
        bell_(queue_keys::bell(w.options_.queue)), ttl_text_(std::to_string(w.options_.heartbeat_ttl.count())),
        watch_(reliable_ ? std::make_unique<queue_watch>(ep_, w.options_.queue, bell_, queue_keys::wake(id_), index)
                         : nullptr),
        targets_(w.options_.answer_allow),
        answers_(w.options_.answer_password, index,
                 {w.options_.answer_connect_timeout, w.options_.answer_timeout, w.options_.answer_reply_wait,
                  w.options_.answer_buffer},
                 w.dropped_answers_),
        arena_(arena_size), parser_({}, {}, parser_temp_, sizeof parser_temp_) {}

  void run() {
    while (!w_.stopping()) {
      if (!redis_ && !connect_redis()) break;
      if (reliable_) take();
      else pop();
      batch_started_ = clock_type::now();
      // Jobs already taken are always handled and answered, even when a stop came meanwhile.
      for (std::size_t i = 0; i < batch_.size(); ++i) {
        handle(batch_[i]);
        if (reliable_) complete(i);
      }
      answers_.collect(false);
    }
    answers_.collect(true);  // at a stop: until answered, or down
    if (reliable_) release_processing();
  }

  // request::cancelled(): is <respond_to>/<id> in tempest:cancelled? On a connection of its
  // own, made on first use: the lane's main connection may have replies pending.
  bool is_cancelled(std::string_view respond_to, std::int64_t id) const override {
    try {
      if (!probe_redis_) probe_redis_ = detail::connect_blocking(ep_, std::chrono::seconds(2));
      char buf[24];
      auto r = command(probe_redis_.get(),
                       {"HEXISTS", queue_keys::cancelled, queue_keys::cancel_field(respond_to, format_job_id(id, buf))});
      if (r && r->type == REDIS_REPLY_INTEGER) return r->integer == 1;
    } catch (const std::exception& e) {
      logger().debug("[w{}] cannot ask Redis whether job {} was cancelled: {}", index_, id, e.what());
    }
    probe_redis_.reset();
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

 private:
  // ---- Redis ------------------------------------------------------------------------------

  bool connect_redis() {
    while (!w_.stopping()) {
      context_ptr c(ep_.is_unix() ? redisConnectUnixWithTimeout(ep_.unix_path.c_str(), to_timeval(connect_timeout))
                                  : redisConnectWithTimeout(ep_.host.c_str(), ep_.port, to_timeval(connect_timeout)));
      const char* why = !c ? "out of memory" : c->errstr;
      if (c && !c->err) {
        redisSetTimeout(c.get(), to_timeval(redis_io_timeout));
        int setup = setup_redis(c.get());
        if (setup < 0) {
          w_.fatal_.store(true);
          w_.stop();
          return false;
        }
        if (setup > 0) {
          redis_ = std::move(c);
          if (redis_down_logged_) logger().info("[w{}] connected to Redis at {} again", index_, ep_.to_string());
          else logger().debug("[w{}] connected to Redis at {}", index_, ep_.to_string());
          redis_down_logged_ = false;
          backoff_ = backoff_min;
          return true;
        }
      }
      if (!redis_down_logged_) logger().warn("[w{}] cannot reach Redis at {}: {}; retrying", index_, ep_.to_string(), why);
      redis_down_logged_ = true;
      sleep_backoff();
    }
    return false;
  }

  // AUTH and SELECT from the URL. 1: ready, 0: I/O error (retry), -1: refused (fatal).
  int setup_redis(redisContext* c) {
    reply_ptr r;
    if (!ep_.password.empty()) {
      r = ep_.user.empty() ? command(c, {"AUTH", ep_.password}) : command(c, {"AUTH", ep_.user, ep_.password});
      if (!r) return 0;
      if (r->type == REDIS_REPLY_ERROR) {
        logger().error("[w{}] Redis at {} refused AUTH: {}", index_, ep_.to_string(), reply_text(r.get()));
        return -1;
      }
    }
    if (ep_.db != 0) {
      r = command(c, {"SELECT", std::to_string(ep_.db)});
      if (!r) return 0;
      if (r->type == REDIS_REPLY_ERROR) {
        logger().error("[w{}] Redis at {} refused SELECT {}: {}", index_, ep_.to_string(), ep_.db, reply_text(r.get()));
        return -1;
      }
    }
    return 1;
  }

  void redis_lost() {
    if (!redis_down_logged_)
      logger().warn("[w{}] lost the connection to Redis at {}: {}; reconnecting", index_, ep_.to_string(), redis_->errstr);
    redis_down_logged_ = true;
    redis_.reset();
    pending_replies_ = 0;
  }

  void sleep_backoff() {
    auto until = clock_type::now() + backoff_;
    while (!w_.stopping() && clock_type::now() < until) std::this_thread::sleep_for(std::min<clock_type::duration>(50ms, until - clock_type::now()));
    backoff_ = std::min<std::chrono::milliseconds>(backoff_ * 2, backoff_max);
  }

  // ---- plain mode (at-most-once) -----------------------------------------------------------

  // Takes up to --batch jobs into batch_ (views into replies_), waiting up to 1 s for one; from
  // the first non-empty of <queue>:high, <queue>, <queue>:low (BLMPOP and BLPOP check their keys
  // in order).
  void pop() {
    batch_.clear();
    replies_.clear();
    reply_ptr r = use_blmpop_ ? command(redis_.get(), {"BLMPOP", pop_timeout, "3", lists_[0], lists_[1], lists_[2], "LEFT", "COUNT", batch_text_})
                              : command(redis_.get(), {"BLPOP", lists_[0], lists_[1], lists_[2], pop_timeout});
    if (!r) return redis_lost();
    if (r->type == REDIS_REPLY_ERROR) {
      if (use_blmpop_ && reply_text(r.get()).starts_with("ERR unknown command")) {
        logger().info("[w{}] Redis has no BLMPOP (before 7.0): using BLPOP", index_);
        use_blmpop_ = false;
        return;
      }
      return pop_failed(reply_text(r.get()));
    }
    // BLMPOP: [queue, [job...]]; BLPOP: [queue, job]; nil after the timeout.
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
      const redisReply* jobs = r->element[1];
      if (jobs->type == REDIS_REPLY_ARRAY) {
        for (std::size_t i = 0; i < jobs->elements; ++i)
          if (jobs->element[i]->type == REDIS_REPLY_STRING) batch_.push_back(reply_text(jobs->element[i]));
      } else if (jobs->type == REDIS_REPLY_STRING) {
        batch_.push_back(reply_text(jobs));
      }
    }
    std::string from = r->type == REDIS_REPLY_ARRAY && r->elements == 2 ? std::string(reply_text(r->element[0])) : "";
    replies_.push_back(std::move(r));
    if (!use_blmpop_ && !batch_.empty() && w_.options_.batch > 1 && use_lpop_count_) pop_more(from);
    pop_error_logged_ = false;
    backoff_ = backoff_min;
  }

  // After BLPOP: LPOP <queue> <batch - 1> (Redis 6.2+) takes the rest of a batch.
  void pop_more(const std::string& queue) {
    reply_ptr r = command(redis_.get(), {"LPOP", queue, std::to_string(w_.options_.batch - 1)});
    if (!r) return redis_lost();
    if (r->type == REDIS_REPLY_ERROR) {
      logger().debug("[w{}] LPOP with a count failed ({}): one job per pop", index_, reply_text(r.get()));
      use_lpop_count_ = false;
      return;
    }
    if (r->type == REDIS_REPLY_ARRAY)
      for (std::size_t i = 0; i < r->elements; ++i)
        if (r->element[i]->type == REDIS_REPLY_STRING) batch_.push_back(reply_text(r->element[i]));
    replies_.push_back(std::move(r));
  }

  // ---- reliable mode (at-least-once; docs/protocol.md section 8) -----------------------------
  //
  //   take      EVALSHA take_script: DEL what the processing list still holds (the previous
  //             batch, all handled), move up to --batch jobs from the highest non-empty list
  //             into it, beat; nothing taken -> BLPOP <queue>:bell 1, then take again
  //   complete  a job finished while later jobs of a long batch wait (the batch has run over
  //             answer_flush_delay): its answers are flushed, then LREM processing 1 <entry>
  //             is written (its reply read with the next take); any other job is completed by
  //             the next take's DEL, in the same round trip
  //   stop      DEL the processing list (everything in it was handled); the heartbeat thread
  //             then unregisters the id

  void take() {
    batch_.clear();
    entries_.clear();
    replies_.clear();
    if (!take_once() || !batch_.empty() || w_.stopping()) return;
    // Until a bell token, a job on <queue> without one (a front that rings no bell), or 1 s.
    auto woke = watch_->wait(redis_.get());
    if (woke == queue_watch::woke::error) return redis_lost();
    if (w_.stopping() || !take_once()) return;
    if (woke == queue_watch::woke::timeout && !batch_.empty()) watch_->enable_watch();  // no token, yet jobs
  }

  bool take_once() {
    if (take_sha_.empty()) {
      std::string err;
      take_sha_ = load_script(redis_.get(), queue::scripts::take_source, err);
      if (take_sha_.empty()) {
        if (redis_->err) redis_lost();
        else pop_failed("SCRIPT LOAD: " + err);
        return false;
      }
    }
    append_script(redis_.get(), take_sha_,
                  {lists_[0], lists_[1], lists_[2], processing_, heartbeat_key_, queue_keys::workers, bell_,
                   queue_keys::cancelled},
                  {batch_text_, ttl_text_, id_, w_.options_.queue});
    if (!drain_replies()) return false;  // the LREMs written before
    void* raw = nullptr;
    if (redisGetReply(redis_.get(), &raw) != REDIS_OK) {
      redis_lost();
      return false;
    }
    reply_ptr r(static_cast<redisReply*>(raw));
    if (r->type == REDIS_REPLY_ERROR) {
      if (reply_text(r.get()).starts_with("NOSCRIPT")) take_sha_.clear();  // SCRIPT FLUSH: load again
      else pop_failed(reply_text(r.get()));
      return false;
    }
    for (std::size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; ++i) {
      std::string_view entry = reply_text(r->element[i]);
      entry_parts parts;
      entries_.push_back(entry);
      batch_.push_back(split_entry(entry, parts) ? parts.payload : entry);
    }
    replies_.push_back(std::move(r));
    pop_error_logged_ = false;
    backoff_ = backoff_min;
    return true;
  }

  void complete(std::size_t i) {
    if (i + 1 >= batch_.size() || clock_type::now() - batch_started_ <= answer_flush_delay) return;
    answers_.flush_out();  // the answer is out before the job leaves processing
    detail::append_command(redis_.get(), {"LREM", processing_, "1", entries_[i]});
    ++pending_replies_;
    if (!detail::flush_output(redis_.get())) return redis_lost();
  }

  // Reads the replies of the commands written without waiting (LREMs).
  bool drain_replies() {
    for (; pending_replies_ > 0; --pending_replies_) {
      void* raw = nullptr;
      if (redisGetReply(redis_.get(), &raw) != REDIS_OK) {
        redis_lost();
        return false;
      }
      freeReplyObject(raw);
    }
    return true;
  }

  void release_processing() {
    if (!redis_ || !drain_replies()) return;
    if (!command(redis_.get(), {"DEL", processing_})) redis_lost();
  }

  void pop_failed(std::string_view err) {
    if (!pop_error_logged_) logger().error("[w{}] taking jobs from '{}' failed: {}; retrying", index_, w_.options_.queue, err);
    pop_error_logged_ = true;
    sleep_backoff();
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
    request_access::set_probe(req_, this);
    if (const char* err = request_access::decode(j, req_, body_buf_)) {
      logger().warn("[w{} j{}] bad HTTP job: {}", index_, j.id(), err);
      res_.status = 400;
      res_.set_header("content-type", "text/plain");
      res_.body = "Bad Request\n";
      return answer_request(j);
    }
    try {
      w_.request_handler_(req_, res_);
    } catch (const std::exception& e) {
      logger().error("[w{} j{}] handler failed on {} {}: {}", index_, j.id(), req_.method(), req_.url(), e.what());
      internal_error();
    } catch (...) {
      logger().error("[w{} j{}] handler failed on {} {}: unknown exception", index_, j.id(), req_.method(), req_.url());
      internal_error();
    }
    answer_request(j);
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
      if (redis_ && drain_replies()) {
        announced = fetch_announced(redis_.get());
        if (!announced && redis_->err) redis_lost();
      }
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
  context_ptr redis_;
  std::string batch_text_;           // --batch as the COUNT argument
  const std::array<std::string, 3> lists_;  // <queue>:high, <queue>, <queue>:low
  // Reliable mode (all empty in plain mode).
  const bool reliable_;
  const std::string id_;             // host:pid:lane
  const std::string processing_;     // tempest:processing:<id>
  const std::string heartbeat_key_;  // tempest:worker:<id>
  const std::string bell_;           // <queue>:bell
  const std::string ttl_text_;       // --heartbeat-ttl in ms
  std::string take_sha_;             // of take_script, once loaded
  int pending_replies_ = 0;          // LREMs written, replies not read yet
  std::vector<std::string_view> entries_;  // reliable: the in-flight entry of each batch_ job
  bool use_blmpop_ = true;           // false on a Redis before 7.0
  bool use_lpop_count_ = true;       // false on a Redis before 6.2
  std::chrono::milliseconds backoff_ = backoff_min;
  bool redis_down_logged_ = false;   // Redis trouble is logged once per outage
  bool pop_error_logged_ = false;
  std::vector<reply_ptr> replies_;   // the replies that hold the current batch
  std::vector<std::string_view> batch_;
  clock_type::time_point batch_started_{};  // when the current batch was taken
  std::vector<std::string> unknown_actions_;  // warned about once each
  std::unique_ptr<queue_watch> watch_;  // reliable mode: the wait when no job is there
  answers::targets targets_;         // which respond_to this lane answers
  answers::pool answers_;            // one answer connection per front (--answer-connect-timeout ...)
  clock_type::time_point untrusted_logged_at_{};  // the last "neither announced nor allowed" line
  std::uint64_t untrusted_unlogged_ = 0;          // such drops since that line
  // Per-job scratch, reused so that a typical job costs no heap allocation.
  std::vector<unsigned char> arena_;
  unsigned char parser_temp_[4096];
  boost::json::parser parser_;
  mutable context_ptr probe_redis_;  // request::cancelled()'s connection, made on first use
  request req_;
  response res_;
  std::string body_buf_;
  std::string out_;
};

}  // namespace detail

// ---- tempest::answer and tempest::worker --------------------------------------------------

void answer::send(const boost::json::value& v) { send_json(boost::json::serialize(v)); }

void answer::send_json(std::string_view json) {
  if (!wanted()) return;
  sink_.send_answer(job_, json);
  ++count_;
}

worker::worker(worker_options options) : options_(std::move(options)) {
  catch_stop_signals();  // (again: a program may build its options without from_args)
  log::init(options_.log_level);
}

worker& worker::on_request(request_handler fn) {
  request_handler_ = std::move(fn);
  return *this;
}

worker& worker::on(std::string action, job_handler fn) {
  for (auto& [a, f] : handlers_)
    if (a == action) {
      f = std::move(fn);
      return *this;
    }
  handlers_.emplace_back(std::move(action), std::move(fn));
  return *this;
}

// One per thread: handlers of different lanes run in different threads, and a publisher is not
// thread-safe. Kept until the thread ends (for --concurrency 1, the thread that called run()).
tempest::publisher& worker::publisher() {
  thread_local std::string url;
  thread_local std::unique_ptr<tempest::publisher> pub;
  if (!pub || url != options_.redis) {
    pub = std::make_unique<tempest::publisher>(options_.redis);
    url = options_.redis;
  }
  return *pub;
}

bool worker::stopping() const noexcept {
  return stop_.load(std::memory_order_relaxed) || detail::stop_signalled();
}

int worker::run() {
  catch_stop_signals();  // already done by from_args and the constructor, unless released
  struct release {
    ~release() { detail::release_stop_signals(); }
  } release_at_return;
  if (stopping()) {  // SIGTERM during start-up: a clean stop, before any connection
    stop_.store(false);
    logger().info("stopped before taking jobs (a stop was asked during start-up)");
    return 0;
  }
  redis_endpoint ep;
  try {
    ep = parse_redis_url(options_.redis);
  } catch (const std::invalid_argument& e) {
    logger().error("{}", e.what());
    return 1;
  }
  fatal_.store(false);
  const bool reliable = options_.mode == worker_options::delivery::reliable;
  std::vector<std::string> ids;  // one per lane, reliable mode only
  if (reliable) {
    std::string host = host_name();
    for (int i = 0; i < options_.concurrency; ++i) ids.push_back(detail::make_worker_id(host, getpid(), i));
  }
  logger().info("taking jobs from '{}' at {} (concurrency {}, batch {}, {})", options_.queue, ep.to_string(),
                options_.concurrency, options_.batch,
                reliable ? fmt::format("reliable: ids {}:0.., heartbeat {} ms, {} attempts", ids[0].substr(0, ids[0].rfind(':')),
                                       options_.heartbeat_ttl.count(), options_.max_attempts)
                         : std::string("plain"));
  std::unique_ptr<detail::heartbeat> beats;
  if (reliable)
    beats = std::make_unique<detail::heartbeat>(ep, ids, options_.heartbeat_ttl,
                                                reap_options{options_.max_attempts, options_.answer_password, options_.answer_allow,
                                                             options_.answer_connect_timeout,
                                                             std::min(options_.answer_timeout, options_.heartbeat_ttl / 3)});
  auto run_lane = [this, &ep, &ids](int index) {
    try {
      auto lane = std::make_unique<detail::worker_lane>(*this, index, ep, ids.empty() ? std::string() : ids[index]);
      lane->run();
    } catch (const std::exception& e) {
      logger().critical("[w{}] stopped by an unexpected error: {}", index, e.what());
      fatal_.store(true);
      stop();
    }
  };
  if (options_.concurrency <= 1) {
    run_lane(0);
  } else {
    std::vector<std::thread> threads;
    for (int i = 0; i < options_.concurrency; ++i) threads.emplace_back(run_lane, i);
    for (auto& t : threads) t.join();
  }
  if (beats) beats->stop();  // after the lanes: their jobs are answered; unregister
  stop_.store(false);  // run() may be called again
  logger().info("stopped");
  return fatal_.load() ? 1 : 0;
}

}  // namespace tempest
