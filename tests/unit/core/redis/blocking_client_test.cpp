// Unit tests for src/core/redis/blocking_client.*, against a real redis-server (redis_server.hpp):
// AUTH and SELECT from the URL, the two error kinds (refused, io_error) and their timeouts,
// pipelining, and EVALSHA's reload after NOSCRIPT.
#include "core/redis/blocking_client.hpp"
#include "core/redis_url.hpp"
#include "redis_server.hpp"

#include <gtest/gtest.h>

#include <chrono>

#include <unistd.h>

using namespace tempest;
using namespace std::chrono_literals;
using redis::blocking_client;

namespace {

constexpr std::string_view password = "blocking-pw";

std::string str(const reply_ptr& r) { return std::string(redis::text(r.get())); }

std::chrono::milliseconds since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
}

#define REQUIRE_REDIS(server) \
  ASSERT_TRUE((server).running()) << "redis-server did not start (./run installs it)"

}  // namespace

TEST(blocking_client, auth_and_select_from_the_url) {
  test::redis_server redis({"--requirepass", std::string(password)});
  REQUIRE_REDIS(redis);
  blocking_client r(parse_redis_url(redis.url(password, 5)));
  r.connect();
  EXPECT_TRUE(r.connected());
  EXPECT_EQ(str(r.command({"SET", "k", "v"})), "OK");
  auto info = r.command({"CLIENT", "INFO"});
  EXPECT_NE(str(info).find(" db=5 "), std::string::npos) << str(info);
  // The key is in database 5, not 0.
  blocking_client zero(parse_redis_url(redis.url(password)));
  EXPECT_EQ(zero.command({"EXISTS", "k"})->integer, 0);
  EXPECT_EQ(r.command({"EXISTS", "k"})->integer, 1);
  EXPECT_EQ(r.name().find(password), std::string::npos) << "the name shows the password";
}

TEST(blocking_client, unix_socket_with_db_in_the_query) {
  std::string path = "/tmp/tempest-unit-" + std::to_string(::getpid()) + ".sock";
  test::redis_server redis({"--unixsocket", path, "--unixsocketperm", "700"});
  REQUIRE_REDIS(redis);
  blocking_client r(parse_redis_url("unix:" + path + "?db=2"));
  auto info = r.command({"CLIENT", "INFO"});
  EXPECT_NE(str(info).find(" db=2 "), std::string::npos) << str(info);
  EXPECT_NE(str(info).find("laddr=" + path), std::string::npos) << str(info);
}

TEST(blocking_client, refused_auth_or_select_throws_refused) {
  test::redis_server redis({"--requirepass", std::string(password)});
  REQUIRE_REDIS(redis);
  blocking_client wrong(parse_redis_url(redis.url("not-the-password")));
  EXPECT_THROW(wrong.connect(), redis::refused);
  EXPECT_FALSE(wrong.connected());
  blocking_client no_such_db(parse_redis_url(redis.url(password, 99)));  // 16 databases
  EXPECT_THROW(no_such_db.connect(), redis::refused);
  try {
    wrong.command({"PING"});  // connects first, so refused again
    ADD_FAILURE() << "no exception";
  } catch (const redis::refused& e) {
    EXPECT_EQ(std::string(e.what()).find("not-the-password"), std::string::npos) << e.what();
  }
}

TEST(blocking_client, unreachable_is_an_io_error_within_the_connect_timeout) {
  auto port = test::free_loopback_port();  // nothing listens there
  blocking_client r(parse_redis_url("127.0.0.1:" + std::to_string(port)), {.connect_timeout = 500ms});
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(r.connect(), redis::io_error);
  EXPECT_THROW(r.command({"PING"}), redis::io_error);
  EXPECT_LT(since(t0), 1500ms);
  EXPECT_FALSE(r.connected());
}

TEST(blocking_client, pipelines_in_order) {
  test::redis_server redis;
  REQUIRE_REDIS(redis);
  blocking_client r(parse_redis_url(redis.url()));
  auto replies = r.pipeline({{"SET", "a", "1"}, {"INCR", "a"}, {"GET", "a"}, {"LPUSH", "a", "x"}});
  ASSERT_EQ(replies.size(), 4u);
  EXPECT_EQ(str(replies[0]), "OK");
  EXPECT_EQ(replies[1]->integer, 2);
  EXPECT_EQ(str(replies[2]), "2");
  EXPECT_EQ(replies[3]->type, REDIS_REPLY_ERROR);  // an error reply is a reply: no throw
  for (int i = 0; i < 100; ++i) r.append({"INCR", "b"});
  r.flush();
  for (int i = 0; i < 100; ++i) EXPECT_EQ(r.read_reply()->integer, i + 1);
  EXPECT_TRUE(r.pipeline({}).empty());
}

TEST(blocking_client, run_reloads_the_script_after_noscript) {
  test::redis_server redis;
  REQUIRE_REDIS(redis);
  blocking_client r(parse_redis_url(redis.url()));
  redis::script s{.name = "echo", .source = "return ARGV[1]", .sha = ""};
  EXPECT_EQ(str(r.run(s, {}, {"one"})), "one");
  ASSERT_FALSE(s.sha.empty());
  std::string sha = s.sha;
  EXPECT_EQ(str(r.command({"SCRIPT", "FLUSH"})), "OK");
  EXPECT_EQ(str(r.run(s, {}, {"two"})), "two");  // NOSCRIPT, SCRIPT LOAD, EVALSHA again
  EXPECT_EQ(s.sha, sha);
  // A script Redis refuses to compile is an error, not a loop.
  redis::script bad{.name = "bad", .source = "this is not lua", .sha = ""};
  EXPECT_THROW(r.run(bad, {}, {}), std::runtime_error);
}

TEST(blocking_client, a_reply_later_than_io_timeout_is_an_io_error) {
  test::redis_server redis;
  REQUIRE_REDIS(redis);
  blocking_client r(parse_redis_url(redis.url()), {.io_timeout = 200ms});
  r.connect();
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(r.command({"BLPOP", "nothing", "0"}), redis::io_error);
  EXPECT_GE(since(t0), 150ms);
  EXPECT_LT(since(t0), 2000ms);
  EXPECT_FALSE(r.connected()) << "the connection with a reply still due must be closed";
  EXPECT_EQ(str(r.command({"PING"})), "PONG");  // connects again
  // io_timeout 0 waits: a BLPOP with its own timeout returns nil.
  r.set_io_timeout(0ms);
  EXPECT_EQ(r.command({"BLPOP", "nothing", "0.3"})->type, REDIS_REPLY_NIL);
}
