// Unit tests for src/core/redis/async_client.*, against a real redis-server (redis_server.hpp)
// with a password and a database in its URL, so every connection sends AUTH and SELECT.
//
// The fault-injection test is Beast's fail_count loop: one scenario (connect, commands one by
// one, a pipelined batch, QUIT and the reconnect it forces, one more command) runs with the N-th
// I/O step failing (async_client::inject_faults), for N = 1, 2, ... until a run completes
// without reaching the failure; once for each kind of step (connect, write, read), so that a
// step keeps its number from run to run although replies coalesce into fewer reads at times.
// For each N: nothing hangs (each wait is bounded), every command gets exactly one outcome (a
// reply or an error, never both, never none), on_connect fires once per connection with the
// client connected, and after the failure the client reconnects (AUTH and SELECT again) and
// commands succeed.
#include "core/redis/async_client.hpp"
#include "core/redis/blocking_client.hpp"
#include "core/redis_url.hpp"
#include "redis_server.hpp"

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include <unistd.h>

using namespace tempest;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using boost::system::error_code;

namespace {

constexpr std::string_view password = "fault-pw";
constexpr int db = 3;

// Runs the io_context until pred() holds; false when `limit` passes first (a hang).
bool run_until(asio::io_context& ioc, const std::function<bool()>& pred, std::chrono::milliseconds limit = 5s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    if (ioc.stopped()) ioc.restart();
    ioc.run_one_for(10ms);
  }
  return true;
}

// Every command issued, and how many times its handler ran.
struct ledger {
  std::vector<int> calls;
  std::vector<resp_value> replies;  // by command; nil for an error outcome
  std::size_t errors = 0;

  redis::reply_handler expect_one() {
    std::size_t i = calls.size();
    calls.push_back(0);
    replies.emplace_back();
    return [this, i](error_code ec, resp_value v) {
      ++calls[i];
      if (ec) ++errors;
      else replies[i] = std::move(v);
    };
  }
  bool all_answered() const {
    for (int c : calls)
      if (c == 0) return false;
    return true;
  }
  void expect_each_exactly_once() const {
    for (std::size_t i = 0; i < calls.size(); ++i) EXPECT_EQ(calls[i], 1) << "command " << i;
  }
};

struct fixture {
  asio::io_context ioc;
  std::shared_ptr<redis::async_client> client;
  std::size_t connects = 0, disconnects = 0;

  explicit fixture(const test::redis_server& redis) {
    client = std::make_shared<redis::async_client>(ioc.get_executor(),
                                                   parse_redis_url(redis.url(password, db)), "test");
    client->on_connect([this] {
      ++connects;
      EXPECT_TRUE(client->connected()) << "on_connect while not connected";
    });
    client->on_disconnect([this] { ++disconnects; });
  }
  bool wait_connected() {
    return run_until(ioc, [this] { return client->connected(); });
  }
  // One command and its outcome, waited for.
  bool call(ledger& l, std::initializer_list<std::string_view> argv) {
    client->send(format_command(argv), l.expect_one());
    return run_until(ioc, [&] { return l.all_answered(); });
  }
  void stop() {
    client->stop();
    ioc.restart();
    ioc.run_for(50ms);  // lets late completions run: none may call a handler again
  }
};

// Connect, three commands one by one (a write and a read each), three in one write, then QUIT
// (Redis answers and hangs up) so that the client reconnects, and one more command.
void scenario(fixture& f, ledger& l) {
  ASSERT_TRUE(f.wait_connected());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(f.wait_connected()) << "no reconnect before command " << i;
    ASSERT_TRUE(f.call(l, {"INCR", "fault:n"})) << "command " << i << " hung";
  }
  ASSERT_TRUE(f.wait_connected());
  f.client->send(format_command({"SET", "fault:k", "v"}), l.expect_one());
  f.client->send(format_command({"INCR", "fault:n"}), l.expect_one());
  f.client->send(format_command({"GET", "fault:k"}), l.expect_one());
  ASSERT_TRUE(run_until(f.ioc, [&] { return l.all_answered(); })) << "batch hung";
  ASSERT_TRUE(f.wait_connected());
  std::size_t disconnects = f.disconnects;
  ASSERT_TRUE(f.call(l, {"QUIT"}));
  ASSERT_TRUE(run_until(f.ioc, [&] { return f.disconnects > disconnects; })) << "QUIT went unnoticed";
  ASSERT_TRUE(f.wait_connected()) << "no reconnect after QUIT";
  ASSERT_TRUE(f.call(l, {"INCR", "fault:n"})) << "command after the reconnect hung";
}

// After the scenario: connected again, authenticated (no NOAUTH) and in the URL's database.
void expect_recovered(fixture& f) {
  ASSERT_TRUE(f.wait_connected()) << "never reconnected";
  ledger after;
  ASSERT_TRUE(f.call(after, {"PING"}));
  ASSERT_TRUE(f.call(after, {"CLIENT", "INFO"}));
  EXPECT_EQ(after.errors, 0u);
  EXPECT_EQ(after.replies[0].str, "PONG");
  EXPECT_NE(after.replies[1].str.find(" db=3 "), std::string::npos) << after.replies[1].str;
  after.expect_each_exactly_once();
}

}  // namespace

TEST(async_client, commands_and_pipelines_against_a_real_redis) {
  test::redis_server redis({"--requirepass", std::string(password)});
  ASSERT_TRUE(redis.running()) << "redis-server did not start (./run installs it)";
  fixture f(redis);
  f.client->start();
  ASSERT_TRUE(f.wait_connected());
  ledger l;
  ASSERT_TRUE(f.call(l, {"DEL", "n"}));
  for (int i = 0; i < 1000; ++i) f.client->send(format_command({"INCR", "n"}), l.expect_one());
  ASSERT_TRUE(run_until(f.ioc, [&] { return l.all_answered(); }));
  EXPECT_EQ(l.errors, 0u);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(l.replies[i + 1].integer, i + 1);  // in order
  expect_recovered(f);
  EXPECT_EQ(f.connects, 1u);
  EXPECT_EQ(f.client->reconnects(), 1u);
  f.stop();
  l.expect_each_exactly_once();
}

TEST(async_client, connects_over_a_unix_socket) {
  std::string path = "/tmp/tempest-unit-async-" + std::to_string(::getpid()) + ".sock";
  test::redis_server redis({"--unixsocket", path, "--unixsocketperm", "700"});
  ASSERT_TRUE(redis.running()) << "redis-server did not start (./run installs it)";
  asio::io_context ioc;
  auto client = std::make_shared<redis::async_client>(ioc.get_executor(), parse_redis_url("unix:" + path + "?db=4"), "unix");
  client->start();
  ASSERT_TRUE(run_until(ioc, [&] { return client->connected(); }));
  ledger l;
  client->send(format_command({"CLIENT", "INFO"}), l.expect_one());
  ASSERT_TRUE(run_until(ioc, [&] { return l.all_answered(); }));
  EXPECT_NE(l.replies[0].str.find(" db=4 "), std::string::npos) << l.replies[0].str;
  EXPECT_NE(l.replies[0].str.find("laddr=" + path), std::string::npos) << l.replies[0].str;
  client->stop();
}

TEST(async_client, fails_fast_while_disconnected_and_stop_aborts_the_waiting) {
  test::redis_server redis({"--requirepass", std::string(password)});
  ASSERT_TRUE(redis.running()) << "redis-server did not start (./run installs it)";
  fixture f(redis);
  ledger l;
  f.client->send(format_command({"PING"}), l.expect_one());  // not started: not_connected
  ASSERT_TRUE(run_until(f.ioc, [&] { return l.all_answered(); }, 1s));
  EXPECT_EQ(l.errors, 1u);
  f.client->start();
  ASSERT_TRUE(f.wait_connected());
  for (int i = 0; i < 10; ++i) f.client->send(format_command({"BLPOP", "nothing", "0"}), l.expect_one());
  f.stop();  // the BLPOPs never answer: stop must fail each of them, once
  EXPECT_EQ(l.errors, 11u);
  l.expect_each_exactly_once();
}

// The fail_count loop for one kind of step: returns how many runs reached their failure (the
// run after them completed the scenario untouched).
std::size_t fail_each_step(const test::redis_server& redis, std::string_view kind) {
  for (std::size_t n = 1; n < 100; ++n) {
    SCOPED_TRACE("failing " + std::string(kind) + " number " + std::to_string(n));
    redis::fail_count fc{.n = n, .kind = kind};
    fixture f(redis);
    f.client->inject_faults(&fc);
    f.client->start();
    ledger l;
    scenario(f, l);
    bool completed = !fc.reached();
    fc.n = 0;  // spent or never reached: the checks below run without faults
    if (!testing::Test::HasFatalFailure()) expect_recovered(f);
    EXPECT_GE(f.connects, 2u);  // QUIT: at least one reconnect
    EXPECT_EQ(f.client->reconnects(), f.connects);
    EXPECT_EQ(f.disconnects, f.connects - 1);
    if (completed) {
      EXPECT_EQ(l.errors, 0u);
    }
    f.stop();
    l.expect_each_exactly_once();
    if (completed || testing::Test::HasFailure()) return n - 1;
  }
  ADD_FAILURE() << "the scenario never ran to its end";
  return 0;
}

TEST(async_client, survives_a_failure_at_every_io_step) {
  test::redis_server redis({"--requirepass", std::string(password)});
  ASSERT_TRUE(redis.running()) << "redis-server did not start (./run installs it)";
  EXPECT_EQ(fail_each_step(redis, "connect"), 2u) << "the first connect and the reconnect after QUIT";
  EXPECT_GE(fail_each_step(redis, "write"), 7u);  // AUTH+SELECT twice, 3 INCR, the batch, QUIT, INCR
  EXPECT_GE(fail_each_step(redis, "read"), 5u);   // replies coalesce: the count varies a little
}

// Pub/sub mode: on_connect subscribes again after each connection, so messages published after a
// reconnect arrive; the AUTH reply goes to the push handler like everything else.
TEST(async_client, pubsub_resubscribes_from_on_connect_after_a_reconnect) {
  test::redis_server redis({"--requirepass", std::string(password)});
  ASSERT_TRUE(redis.running()) << "redis-server did not start (./run installs it)";
  fixture f(redis);
  std::vector<std::string> messages;
  std::size_t subscribed = 0;
  f.client->on_push([&](resp_value v) {
    if (v.elements.size() != 3) return;  // +OK of AUTH
    if (v.elements[0].str == "subscribe") ++subscribed;
    if (v.elements[0].str == "message") messages.push_back(v.elements[2].str);
  });
  f.client->on_connect([&] {
    ++f.connects;
    f.client->send_push(format_command({"SUBSCRIBE", "news"}));
  });
  f.client->start();
  redis::blocking_client publisher(parse_redis_url(redis.url(password)));
  ASSERT_TRUE(run_until(f.ioc, [&] { return subscribed == 1; }));
  publisher.command({"PUBLISH", "news", "one"});
  ASSERT_TRUE(run_until(f.ioc, [&] { return messages.size() == 1; }));
  EXPECT_EQ(publisher.command({"CLIENT", "KILL", "TYPE", "pubsub"})->integer, 1);
  ASSERT_TRUE(run_until(f.ioc, [&] { return subscribed == 2; })) << "not subscribed again";
  publisher.command({"PUBLISH", "news", "two"});
  ASSERT_TRUE(run_until(f.ioc, [&] { return messages.size() == 2; }));
  EXPECT_EQ(messages, (std::vector<std::string>{"one", "two"}));
  EXPECT_EQ(f.connects, 2u);
  EXPECT_EQ(f.disconnects, 1u);
  f.stop();
}
