// An asynchronous, pipelined Redis client on Asio: one connection, commands written as they
// come (coalesced while a write is in flight), replies matched in order. It reconnects by
// itself with backoff (100 ms doubling to 500 ms) and, while disconnected, fails new commands at
// once so that callers can answer 503 quickly instead of hanging.
//
//   async_client c(executor, endpoint, "front");  c.start();
//   c.send(format_command({"RPUSH", "q", "x"}), [](error_code ec, resp_value v) { ... });
//
// Single-threaded: every call and every handler runs on the executor given at construction.
// Handlers are called exactly once: with the reply (which may be a Redis error reply), or with
// an error_code when the connection failed before the reply came.
//
// Test seam: inject_faults(&fc) makes the fc.n-th I/O step (connect, write or read completion)
// fail as if the connection broke there (Beast's test::fail_count); see
// tests/unit/core/redis/async_client_test.cpp. Null in production: one pointer test per step.
#pragma once
#include "core/redis_url.hpp"
#include "core/resp.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace spdlog { class logger; }

namespace tempest::redis {

using reply_handler = std::function<void(boost::system::error_code, resp_value)>;

// Counts the client's I/O steps (of one kind, or all); step number n (1-based; 0: none)
// completes with `error` instead of its real outcome. It fires once: later steps go through.
struct fail_count {
  std::size_t n = 0;
  std::string_view kind;  // "connect", "write" or "read": count only these; empty: every step
  std::size_t steps = 0;  // steps counted so far
  boost::system::error_code error = boost::asio::error::connection_reset;

  bool fail(boost::system::error_code& ec, std::string_view where) {
    if (!kind.empty() && where != kind) return false;
    if (++steps != n) return false;
    ec = error;
    return true;
  }
  bool reached() const { return n != 0 && steps >= n; }
};

class async_client : public std::enable_shared_from_this<async_client> {
 public:
  async_client(boost::asio::any_io_executor ex, redis_endpoint ep, std::string name);
  ~async_client();

  void start();
  void stop();
  bool connected() const { return state_ == state::connected; }
  // Called (on the executor) each time a connection is established. AUTH and SELECT are
  // already queued (not yet answered), so commands sent from f go out after them.
  void on_connect(std::function<void()> f) { on_connect_ = std::move(f); }
  // Called (on the executor) when an established connection is lost.
  void on_disconnect(std::function<void()> f) { on_disconnect_ = std::move(f); }
  void send(std::string wire, reply_handler h);
  // Pub/sub mode: every value read (messages, subscribe confirmations, errors) goes to f, and
  // commands are sent with send_push, which expects no reply of its own. Set before start().
  void on_push(std::function<void(resp_value)> f) { push_ = std::move(f); }
  // Sends at once if connected; dropped otherwise (on_connect must then redo the state).
  void send_push(std::string wire);
  // Connections established so far (the on_connect calls).
  std::size_t reconnects() const { return reconnects_; }
  // Tests only: inject a failure (see fail_count). f must outlive the client's I/O.
  void inject_faults(fail_count* f) { faults_ = f; }

 private:
  enum class state { disconnected, connecting, connected, stopped };
  void do_connect();
  void on_connected();
  void do_write();
  void do_read();
  void fail(boost::system::error_code ec, const char* where);
  // True when the test seam turns this step's success into a failure (then sets ec).
  bool injected(boost::system::error_code& ec, std::string_view where) {
    return faults_ && !ec && faults_->fail(ec, where);
  }

  boost::asio::any_io_executor ex_;
  redis_endpoint ep_;
  std::string name_;
  std::shared_ptr<spdlog::logger> log_;
  boost::asio::generic::stream_protocol::socket socket_;
  boost::asio::steady_timer timer_;  // backoff between attempts, and the connect timeout
  state state_ = state::disconnected;
  std::chrono::milliseconds backoff_{100};
  std::string out_;      // formatted commands waiting to be written
  std::string writing_;  // the bytes of the write in flight
  bool write_in_flight_ = false;
  std::deque<reply_handler> waiting_;  // one per command written or queued, in order
  std::unique_ptr<resp_reader> reader_;
  unsigned gen_ = 0;  // connection generation: completions of an older socket are ignored
  std::unique_ptr<char[]> read_buf_;
  std::function<void()> on_connect_;
  std::function<void()> on_disconnect_;
  std::function<void(resp_value)> push_;
  std::size_t reconnects_ = 0;
  bool logged_down_ = false;
  fail_count* faults_ = nullptr;  // test seam, see inject_faults
};

}  // namespace tempest::redis
