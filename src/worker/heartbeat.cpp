// The heartbeat thread of reliable mode (see heartbeat.hpp).
#include "worker/heartbeat.hpp"

#include <string_view>
#include <vector>

#include "core/log.hpp"
#include "core/queue/keys.hpp"
#include "core/queue/reaper.hpp"
#include "core/queue/scripts.hpp"

namespace tempest::detail {
namespace {

using namespace std::chrono_literals;

spdlog::logger& logger() {
  static const auto l = log::get("reaper");
  return *l;
}

}  // namespace

heartbeat::heartbeat(redis_endpoint ep, std::vector<std::string> ids, std::chrono::milliseconds ttl, reap_options o)
    : ids_(std::move(ids)), ttl_(ttl), reap_options_(std::move(o)), redis_(std::move(ep), {2s, 5s}), goodbye_(queue::scripts::goodbye()) {
  thread_ = std::thread([this] { run(); });
}

void heartbeat::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stop_) return;
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void heartbeat::run() {
  auto next_reap = std::chrono::steady_clock::now();  // once at start: leftovers of earlier deaths
  std::unique_lock lock(mutex_);
  while (!stop_) {
    lock.unlock();
    if (ensure_connected()) {
      beat();
      if (redis_.connected() && std::chrono::steady_clock::now() >= next_reap) {
        reap();
        next_reap = std::chrono::steady_clock::now() + ttl_;
      }
    }
    lock.lock();
    wake_.wait_for(lock, ttl_ / 3, [this] { return stop_; });
  }
  lock.unlock();
  goodbye();
}

bool heartbeat::ensure_connected() {
  if (redis_.connected()) return true;
  try {
    redis_.connect();
    if (down_logged_) logger().info("heartbeat: connected to Redis at {} again", redis_.name());
    down_logged_ = false;
    return true;
  } catch (const std::runtime_error& e) {
    if (!down_logged_) logger().warn("heartbeat: {}; retrying", e.what());
    down_logged_ = true;
    return false;
  }
}

void heartbeat::lost(const std::exception& e) {
  if (!down_logged_) logger().warn("heartbeat: {}; retrying", e.what());
  down_logged_ = true;
  redis_.close();
}

void heartbeat::beat() {
  std::string px = std::to_string(ttl_.count());
  try {
    // The key and the registration together: the take script only registers a lane whose key is
    // missing, so a key this beat brings back (after a reaper dropped the id) must re-register.
    std::vector<std::string_view> add{"SADD", queue_keys::workers};
    for (const auto& id : ids_) {
      redis_.append({"SET", queue_keys::heartbeat(id), "1", "PX", px});
      add.push_back(id);
    }
    redis_.append(redis::blocking_client::args(add.data(), add.size()));
    redis_.flush();
    for (std::size_t i = 0; i <= ids_.size(); ++i) redis_.read_reply();
  } catch (const redis::io_error& e) {
    lost(e);
  }
}

void heartbeat::reap() {
  try {
    queue::reap_dead_workers(redis_, reap_options_);
  } catch (const redis::io_error& e) {
    logger().warn("reaping dead workers failed: {}", e.what());
    redis_.close();
  } catch (const std::runtime_error& e) {
    logger().warn("reaping dead workers failed: {}", e.what());
  }
}

void heartbeat::goodbye() {
  if (!ensure_connected()) return;
  for (const auto& id : ids_) {
    std::string processing = queue_keys::processing(id), hb = queue_keys::heartbeat(id);
    try {
      auto r = redis_.run(goodbye_, {processing, hb, queue_keys::workers}, {id});
      if (r->type == REDIS_REPLY_INTEGER && r->integer == 0)
        logger().warn("worker {} stops with jobs in flight; the next reaper hands them on", id);
    } catch (const redis::io_error& e) {
      logger().warn("worker {}: goodbye failed: {}", id, e.what());
      return;
    } catch (const std::runtime_error& e) {
      logger().warn("worker {}: goodbye failed: {}", id, e.what());
    }
  }
}

}  // namespace tempest::detail
