// Announces one front thread's answer endpoint in Redis, so that workers answer only the
// endpoints of live fronts (docs/protocol.md 3.5; the key is queue_keys::fronts, read by
// src/core/answer/targets.cpp):
//
//   on each (re)connect of the thread's Redis connection, before any job it pushes (the
//   announcement is the first command on the new connection, so a worker that takes one of
//   its jobs finds the endpoint), and every --announce-interval:
//     EVAL announce_script 1 tempest:fronts <respond_to> <ttl ms>
//       ZADD tempest:fronts <Redis time + ttl> <respond_to>, prune members whose time passed
//     (ttl = interval x queue_keys::announce_ttl_factor: two lost refreshes do not matter)
//   withdraw() at a clean stop, after the drain: ZREM tempest:fronts <respond_to>, waiting for
//   the reply at most max_wait.
// Scores are Redis's clock (TIME inside the script), never the front's: machines need not agree.
//
// If you change the key or the score, change src/core/answer/targets.cpp too.
#pragma once
#include "core/redis/async_client.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace tempest::front {

class endpoint_announcer {
 public:
  endpoint_announcer(boost::asio::any_io_executor ex, std::shared_ptr<redis::async_client> redis, std::string respond_to,
                     std::chrono::milliseconds interval);
  ~endpoint_announcer();
  endpoint_announcer(const endpoint_announcer&) = delete;
  endpoint_announcer& operator=(const endpoint_announcer&) = delete;

  // Hooks the Redis connection's on_connect and starts the refresh timer. Call before
  // redis->start().
  void start();
  // Stops refreshing and removes the announcement (ZREM), waiting for Redis at most max_wait.
  boost::asio::awaitable<void> withdraw(std::chrono::milliseconds max_wait);

 private:
  void announce();
  void schedule();

  boost::asio::any_io_executor ex_;
  std::shared_ptr<redis::async_client> redis_;
  const std::string respond_to_;  // as written into this thread's jobs
  const std::chrono::milliseconds interval_;
  boost::asio::steady_timer timer_;
  bool stopped_ = false;
  bool refused_logged_ = false;  // a Redis error reply is logged once
};

}  // namespace tempest::front
