// queue_watch: a reliable lane's wait for work (see queue_watch.hpp).
#include "worker/queue_watch.hpp"

#include <poll.h>

#include "core/log.hpp"

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
bool readable(const redis::blocking_client& r, int timeout_ms) {
  redisContext* c = r.context();
  if (!c) return false;
  if (c->reader && c->reader->pos < c->reader->len) return true;
  pollfd p{c->fd, POLLIN, 0};
  return poll(&p, 1, timeout_ms) > 0;
}

}  // namespace

queue_watch::queue_watch(redis_endpoint ep, std::string queue, std::string bell, std::string wake, int lane)
    : queue_(std::move(queue)), bell_(std::move(bell)), wake_(std::move(wake)), lane_(lane),
      watch_(std::move(ep), {2s, watch_io_timeout}) {}

void queue_watch::enable_watch() {
  if (enabled_) return;
  enabled_ = true;
  logger().info("[w{}] jobs arrive on '{}' without bell tokens (a front that rings no bell, such as the 2012 one): "
                "watching the list itself too",
                lane_, queue_);
}

queue_watch::woke queue_watch::wait(redis::blocking_client& main) {
  bool armed = arm();
  if (armed && readable(watch_, 0)) {    // the reply of a BLMOVE sent at an earlier wait
    if (read_watch()) return woke::token;  // a job came meanwhile
    armed = arm();
  }
  main.append({"BLPOP", bell_, wake_, wait_seconds});
  main.flush();
  armed = armed && pending_;
  while (armed) {  // else the blocking read below (the context's timeout bounds it)
    pollfd fds[2] = {{main.context()->fd, POLLIN, 0}, {watch_.context()->fd, POLLIN, 0}};
    int n = poll(fds, 2, poll_ms);
    if (n <= 0 || fds[0].revents) break;  // main's reply (or nothing in poll_ms: read and see)
    if (fds[1].revents) {
      armed = false;
      if (read_watch()) ring_wake();  // ends the BLPOP below at once
      else if (watch_.connected() && !off_) armed = arm() && pending_;  // timed out empty: watch on
    }
  }
  auto r = main.read_reply();
  if (armed && readable(watch_, 0)) read_watch();  // both fired: no stale reply left
  return r->type == REDIS_REPLY_ARRAY ? woke::token : woke::timeout;
}

bool queue_watch::arm() {
  if (!enabled_ || off_) return false;
  try {
    if (!watch_.connected()) {
      if (std::chrono::steady_clock::now() < retry_after_) return false;
      watch_.connect();
      pending_ = false;
    }
    if (pending_) return true;
    watch_.append({"BLMOVE", queue_, queue_, "LEFT", "LEFT", wait_seconds});
    watch_.flush();
  } catch (const std::exception& e) {
    drop(e.what());
    return false;
  }
  pending_ = true;
  return true;
}

bool queue_watch::read_watch() {
  reply_ptr r;
  try {
    r = watch_.read_reply();
  } catch (const redis::io_error& e) {
    drop(e.what());
    return false;
  }
  pending_ = false;
  if (r->type == REDIS_REPLY_ERROR) {
    logger().info("[w{}] Redis refused BLMOVE ({}): jobs pushed without a bell token (the 2012 front) wait up "
                  "to 1 s for this worker",
                  lane_, redis::text(r.get()));
    off_ = true;
    watch_.close();
    return false;
  }
  return r->type == REDIS_REPLY_STRING;  // nil: timed out with <queue> empty
}

void queue_watch::ring_wake() {
  try {
    watch_.append({"RPUSH", wake_, "1"});
    watch_.append({"PEXPIRE", wake_, wake_ttl_ms});
    watch_.flush();
    for (int i = 0; i < 2; ++i) watch_.read_reply();
  } catch (const redis::io_error& e) {
    drop(e.what());
  }
}

void queue_watch::drop(std::string_view why) {
  logger().debug("[w{}] queue watch connection lost ({}); the bell alone wakes this lane for now", lane_, why);
  watch_.close();
  pending_ = false;
  retry_after_ = std::chrono::steady_clock::now() + 1s;
}

}  // namespace tempest::detail
