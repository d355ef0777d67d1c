// Unit tests of src/core/answer/client.*: answers::client and answers::pool against a real
// loopback socket (an answer endpoint on resp_server.hpp): answers pipelined and
// acknowledged, AUTH first, a refused answer, a hung endpoint, a refused connect, a bad address,
// an idle connection the endpoint closed.
#include "core/answer/client.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "resp_server.hpp"

namespace tempest {
namespace {

using namespace std::chrono_literals;

// An answer endpoint on a resp_server. reply: +OK to each (-ERR unknown job to id "0");
// silent: reads, never replies (a hung front); close_after_reply: replies, then closes the
// connection (a front dropping idle ones).
class endpoint : public test::resp_server {
 public:
  enum class mode { reply, silent, close_after_reply };
  explicit endpoint(mode m) : resp_server([m](const std::vector<std::string>& argv) { return reply(m, argv); }) {}

 private:
  static test::resp_reply reply(mode m, const std::vector<std::string>& argv) {
    if (m == mode::silent) return {};
    bool unknown = argv.size() == 3 && argv[1] == "0";
    return {unknown ? "-ERR unknown job\r\n" : "+OK\r\n", m == mode::close_after_reply};
  }
};

// A port nothing listens on: bound, then closed.
std::string closed_address() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
}

struct AnswerClient : ::testing::Test {
  answers::limits limits{500ms, 500ms, 50ms, 1u << 20};
  std::string password;
  std::atomic<std::uint64_t> dropped{0};
  std::optional<answers::pool> clients;

  // The pool, made on first use with the limits and password set until then.
  answers::pool& pool() {
    if (!clients) clients.emplace(password, 0, limits, dropped);
    return *clients;
  }
};

TEST_F(AnswerClient, ThePoolKeepsOneClientPerRespondTo) {
  auto& a = pool().get("127.0.0.1:1");
  EXPECT_EQ(&pool().get("127.0.0.1:1"), &a);
  auto& b = pool().get("127.0.0.1:2");
  EXPECT_NE(&b, &a);
  EXPECT_EQ(b.key(), "127.0.0.1:2");
  EXPECT_EQ(&pool().get("127.0.0.1:1"), &a);
}

TEST_F(AnswerClient, PipelinesAnswersAndReadsTheirReplies) {
  endpoint e(endpoint::mode::reply);
  auto& c = pool().get(e.address());
  c.send("url", "41", "[200,{},\"a\"]", 41, true);
  c.send("url", "42", "[200,{},\"b\"]", 42, false);  // leaves with collect
  c.send("sse", "43", "[\"x\"]", 43, false);
  EXPECT_EQ(c.pending(), 3u);
  pool().collect(true);
  EXPECT_EQ(c.pending(), 0u);
  EXPECT_EQ(dropped, 0u);
  using cmd = std::vector<std::string>;
  EXPECT_EQ(e.commands(), (std::vector<cmd>{{"url", "41", "[200,{},\"a\"]"}, {"url", "42", "[200,{},\"b\"]"},
                                            {"sse", "43", "[\"x\"]"}}));
  EXPECT_EQ(e.connections(), 1);
}

TEST_F(AnswerClient, SendsAuthFirstWithAPassword) {
  endpoint e(endpoint::mode::reply);
  password = "s3cret";
  auto& c = pool().get(e.address());
  c.send("url", "7", "[204,{},\"\"]", 7, true);
  pool().collect(true);
  EXPECT_EQ(c.pending(), 0u);
  auto got = e.commands();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], (std::vector<std::string>{"AUTH", "s3cret"}));
  EXPECT_EQ(got[1][1], "7");
}

TEST_F(AnswerClient, ARefusedAnswerIsAcknowledgedNotDropped) {
  endpoint e(endpoint::mode::reply);
  auto& c = pool().get(e.address());
  c.send("url", "0", "[200,{},\"late\"]", 0, true);  // the endpoint answers -ERR unknown job
  c.send("url", "5", "[200,{},\"ok\"]", 5, true);
  pool().collect(true);
  EXPECT_EQ(c.pending(), 0u);
  EXPECT_EQ(dropped, 0u);
}

TEST_F(AnswerClient, AHungEndpointIsDownAfterTheTimeout) {
  endpoint e(endpoint::mode::silent);
  auto& c = pool().get(e.address());
  c.send("url", "1", "[200,{},\"a\"]", 1, true);
  c.send("url", "2", "[200,{},\"b\"]", 2, true);
  auto t0 = std::chrono::steady_clock::now();
  pool().collect(false);  // waits at most the reply wait, then leaves them
  EXPECT_LT(std::chrono::steady_clock::now() - t0, limits.timeout);
  EXPECT_EQ(c.pending(), 2u);
  pool().collect(true);  // at a stop: until done or down
  EXPECT_GE(std::chrono::steady_clock::now() - t0, limits.timeout);
  EXPECT_EQ(c.pending(), 0u);
  EXPECT_EQ(dropped, 2u);
  c.send("url", "3", "[200,{},\"c\"]", 3, true);  // down: left alone for 1 s
  EXPECT_EQ(dropped, 3u);
}

TEST_F(AnswerClient, ARefusedConnectDropsTheAnswers) {
  auto& c = pool().get(closed_address());
  c.send("url", "1", "[200,{},\"a\"]", 1, true);
  pool().collect(true);
  EXPECT_EQ(c.pending(), 0u);
  EXPECT_EQ(dropped, 1u);
}

TEST_F(AnswerClient, ABadAddressDropsTheAnswers) {
  auto& c = pool().get("no port here");
  c.send("url", "1", "[200,{},\"a\"]", 1, true);
  c.send("url", "2", "[200,{},\"b\"]", 2, true);
  pool().collect(true);
  EXPECT_EQ(c.pending(), 0u);
  EXPECT_EQ(dropped, 2u);
}

TEST_F(AnswerClient, ReconnectsWhenTheEndpointClosedAnIdleConnection) {
  endpoint e(endpoint::mode::close_after_reply);
  auto& c = pool().get(e.address());
  c.send("url", "1", "[200,{},\"a\"]", 1, true);
  pool().collect(true);
  EXPECT_EQ(c.pending(), 0u);
  std::this_thread::sleep_for(150ms);  // idle longer than the client's check interval
  c.send("url", "2", "[200,{},\"b\"]", 2, true);
  pool().collect(true);
  EXPECT_EQ(c.pending(), 0u);
  EXPECT_EQ(dropped, 0u);
  EXPECT_EQ(e.commands().size(), 2u);
  EXPECT_EQ(e.connections(), 2);
}

TEST_F(AnswerClient, CollectsManyEndpointsWithOnePoll) {
  limits.reply_wait = 500ms;  // room for the healthy one on a loaded machine
  limits.timeout = 5s;
  endpoint hung(endpoint::mode::silent), healthy(endpoint::mode::reply);
  auto& h = pool().get(hung.address());
  auto& ok = pool().get(healthy.address());
  h.send("url", "1", "[200,{},\"a\"]", 1, true);
  for (int i = 10; i < 20; ++i) ok.send("url", std::to_string(i), "[200,{},\"b\"]", i, true);
  auto t0 = std::chrono::steady_clock::now();
  pool().collect(false);  // the hung one costs at most its reply wait
  EXPECT_LT(std::chrono::steady_clock::now() - t0, limits.timeout);
  EXPECT_EQ(ok.pending(), 0u);
  EXPECT_EQ(h.pending(), 1u);
  EXPECT_EQ(dropped, 0u);
}

}  // namespace
}  // namespace tempest
