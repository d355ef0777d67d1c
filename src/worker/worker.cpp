// tempest::worker and tempest::answer (API in include/tempest/worker.hpp): the handlers, the
// stop, and run(), which starts the lanes and, in reliable mode, the heartbeat thread.
//
//   run()    one lane per --concurrency (the calling thread for 1): detail::run_lane, lane.cpp
//            (the job loop; its jobs from a plain or reliable source, job_source.hpp); reliable
//            mode: ids host:pid:<lane> and a detail::heartbeat (heartbeat.cpp) that keeps them
//            alive, reaps dead workers and says goodbye after the lanes stop
//   fatal    AUTH or SELECT refused, or a lane stopped by an unexpected error: run() returns 1
//
// worker::publisher(): a thread_local tempest::publisher on --redis (src/worker/publisher.cpp),
// its own connection, apart from the lane's.
#include <boost/json/serialize.hpp>

#include <unistd.h>

#include <algorithm>
#include <memory>
#include <thread>

#include "core/log.hpp"
#include "core/redis_url.hpp"
#include "worker/heartbeat.hpp"
#include "worker/lane.hpp"
#include "core/queue/entry.hpp"
#include "worker/stop_signals.hpp"

namespace tempest {
namespace {

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "localhost";
  return buf;
}

spdlog::logger& logger() {
  static const auto l = log::get("worker");
  return *l;
}

}  // namespace


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
    for (int i = 0; i < options_.concurrency; ++i) ids.push_back(queue::make_worker_id(host, getpid(), i));
  }
  logger().info("taking jobs from '{}' at {} (concurrency {}, batch up to {} per {} ms of work, {})", options_.queue,
                ep.to_string(), options_.concurrency, options_.batch, options_.batch_time.count(),
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
      detail::run_lane(*this, index, ep, ids.empty() ? std::string() : ids[index]);
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
