// queue_watch: a reliable lane's wait for work (see queue_watch.hpp).
#include "worker/queue_watch.hpp"

#include <poll.h>

#include "core/log.hpp"
#include "worker/heartbeat.hpp"

namespace tempest::detail {
namespace {

using namespace std::chrono_literals;

constexpr const char* wait_seconds = "1";  // both blocking commands: how soon a stop is noticed
constexpr auto watch_io_timeout = 6s;      // must exceed wait_seconds
constexpr int poll_ms = 1500;              // a reply is due within wait_seconds; then look again
constexpr const char* wake_ttl_ms = "10000";

spdlog::logger& logger() {
  static const auto l = log::get("worker");
  return *l;
}

// True when bytes of a reply wait in c's reader buffer or its socket is readable.
bool readable(redisContext* c, int timeout_ms) {
  if (c->reader && c->reader->pos < c->reader->len) return true;
  pollfd p{c->fd, POLLIN, 0};
  return poll(&p, 1, timeout_ms) > 0;
}

}  // namespace

queue_watch::queue_watch(redis_endpoint ep, std::string queue, std::string bell, std::string wake, int lane)
    : ep_(std::move(ep)), queue_(std::move(queue)), bell_(std::move(bell)), wake_(std::move(wake)), lane_(lane) {}

void queue_watch::enable_watch() {
  if (enabled_) return;
  enabled_ = true;
  logger().info("[w{}] jobs arrive on '{}' without bell tokens (a front that rings no bell, such as the 2012 one): "
                "watching the list itself too",
                lane_, queue_);
}

queue_watch::woke queue_watch::wait(redisContext* main) {
  bool armed = arm();
  if (armed && readable(watch_.get(), 0)) {  // the reply of a BLMOVE sent at an earlier wait
    if (read_watch()) return woke::token;    // a job came meanwhile
    armed = arm();
  }
  append_command(main, {"BLPOP", bell_, wake_, wait_seconds});
  if (!flush_output(main)) return woke::error;
  armed = armed && pending_;
  while (armed) {  // else the blocking read below (the context's timeout bounds it)
    pollfd fds[2] = {{main->fd, POLLIN, 0}, {watch_->fd, POLLIN, 0}};
    int n = poll(fds, 2, poll_ms);
    if (n <= 0 || fds[0].revents) break;  // main's reply (or nothing in poll_ms: read and see)
    if (fds[1].revents) {
      armed = false;
      if (read_watch()) ring_wake();  // ends the BLPOP below at once
      else if (watch_ && !off_) armed = arm() && pending_;  // timed out empty: watch on
    }
  }
  void* raw = nullptr;
  if (redisGetReply(main, &raw) != REDIS_OK) return woke::error;
  reply_ptr r(static_cast<redisReply*>(raw));
  if (armed && readable(watch_.get(), 0)) read_watch();  // both fired: no stale reply left
  return r->type == REDIS_REPLY_ARRAY ? woke::token : woke::timeout;
}

bool queue_watch::arm() {
  if (!enabled_ || off_) return false;
  if (!watch_) {
    if (std::chrono::steady_clock::now() < retry_after_) return false;
    try {
      watch_ = connect_blocking(ep_, watch_io_timeout);
    } catch (const std::exception& e) {
      drop(e.what());
      return false;
    }
    pending_ = false;
  }
  if (pending_) return true;
  append_command(watch_.get(), {"BLMOVE", queue_, queue_, "LEFT", "LEFT", wait_seconds});
  if (!flush_output(watch_.get())) {
    drop(watch_->errstr);
    return false;
  }
  pending_ = true;
  return true;
}

bool queue_watch::read_watch() {
  void* raw = nullptr;
  if (redisGetReply(watch_.get(), &raw) != REDIS_OK) {
    drop(watch_->errstr);
    return false;
  }
  pending_ = false;
  reply_ptr r(static_cast<redisReply*>(raw));
  if (r->type == REDIS_REPLY_ERROR) {
    logger().info("[w{}] Redis refused BLMOVE ({}): jobs pushed without a bell token (the 2012 front) wait up "
                  "to 1 s for this worker",
                  lane_, reply_text(r.get()));
    off_ = true;
    watch_.reset();
    return false;
  }
  return r->type == REDIS_REPLY_STRING;  // nil: timed out with <queue> empty
}

void queue_watch::ring_wake() {
  append_command(watch_.get(), {"RPUSH", wake_, "1"});
  append_command(watch_.get(), {"PEXPIRE", wake_, wake_ttl_ms});
  if (!flush_output(watch_.get())) return drop(watch_->errstr);
  for (int i = 0; i < 2; ++i) {
    void* raw = nullptr;
    if (redisGetReply(watch_.get(), &raw) != REDIS_OK) return drop(watch_->errstr);
    freeReplyObject(raw);
  }
}

void queue_watch::drop(const char* why) {
  logger().debug("[w{}] queue watch connection lost ({}); the bell alone wakes this lane for now", lane_, why);
  watch_.reset();
  pending_ = false;
  retry_after_ = std::chrono::steady_clock::now() + 1s;
}

}  // namespace tempest::detail
