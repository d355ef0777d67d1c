// Unit tests of src/core/answer/targets.*: which respond_to a worker answers (the allow list,
// the announced set and its cache, at most one Redis read per batch; pure logic, injected
// clock), and fetch_announced's two reads through the blocking client,
// against a scripted Redis (resp_server.hpp).
#include "core/answer/targets.hpp"

#include <hiredis/hiredis.h>

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/hiredis_ptr.hpp"
#include "core/redis/blocking_client.hpp"
#include "core/redis_url.hpp"
#include "resp_server.hpp"

namespace tempest {
namespace {

using answers::targets;
using verdict = targets::verdict;
using namespace std::chrono_literals;

TEST(AnswerTargets, AllowListNeedsNoRedis) {
  targets t({"127.0.0.1:7000"});
  auto now = targets::clock::now();
  EXPECT_EQ(t.check("127.0.0.1:7000", now, now), verdict::allowed);
  EXPECT_EQ(t.check("127.0.0.1:7001", now, now), verdict::ask_redis);  // never read yet
}

TEST(AnswerTargets, AnnouncedEndpointsAreTrustedForTheCacheAge) {
  targets t({});
  auto t0 = targets::clock::now();
  t.update(std::vector<std::string>{"h:1"}, t0);
  EXPECT_EQ(t.check("h:1", t0 + 10ms, t0), verdict::allowed);
  EXPECT_EQ(t.check("h:1", t0 + targets::cache_max_age, t0), verdict::ask_redis);  // stale: read again
  t.update(std::vector<std::string>{}, t0 + targets::cache_max_age);                // withdrawn
  EXPECT_EQ(t.check("h:1", t0 + targets::cache_max_age, t0), verdict::refused);
}

TEST(AnswerTargets, AMissIsLookedUpAtMostOncePerBatch) {
  targets t({});
  auto t0 = targets::clock::now();
  t.update(std::vector<std::string>{"h:1"}, t0);
  // A job of a batch taken after the read: the front may have announced since; ask.
  EXPECT_EQ(t.check("new:2", t0 + 5ms, t0 + 1ms), verdict::ask_redis);
  t.update(std::vector<std::string>{"h:1"}, t0 + 5ms);
  // The same batch, hostile jobs after hostile jobs: no more reads.
  for (int i = 0; i < 100; ++i) EXPECT_EQ(t.check("evil:" + std::to_string(i), t0 + 6ms, t0 + 1ms), verdict::refused);
  // A failed read keeps what was known and counts as a read.
  t.update(std::nullopt, t0 + 7ms);
  EXPECT_EQ(t.check("h:1", t0 + 8ms, t0 + 7ms), verdict::allowed);
  EXPECT_EQ(t.check("evil:1", t0 + 8ms, t0 + 7ms), verdict::refused);
}

// ---- fetch_announced --------------------------------------------------------------------------

using argv_list = std::vector<std::vector<std::string>>;

// TIME says 1700000000.123456; tempest:fronts holds two live endpoints (or an error, refuse).
test::resp_reply scripted_redis(const std::vector<std::string>& argv, bool refuse) {
  if (argv.at(0) == "TIME") return {"*2\r\n$10\r\n1700000000\r\n$6\r\n123456\r\n"};
  if (refuse) return {"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"};
  return {"*2\r\n$9\r\n1.2.3.4:5\r\n$9\r\n[::1]:700\r\n"};
}

const argv_list expected_reads = {
    {"TIME"}, {"ZRANGEBYSCORE", "tempest:fronts", "1700000000123", "+inf", "LIMIT", "0", "4096"}};

TEST(AnswerTargets, FetchAnnouncedReadsTheLiveEndpointsByRedisTime) {
  test::resp_server s([](const auto& argv) { return scripted_redis(argv, false); });
  redis::blocking_client r(parse_redis_url(s.address()));
  auto got = answers::fetch_announced(r);
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, (std::vector<std::string>{"1.2.3.4:5", "[::1]:700"}));
  EXPECT_EQ(s.commands(), expected_reads);
}

TEST(AnswerTargets, FetchAnnouncedIsNulloptOnAnErrorReply) {
  test::resp_server s([](const auto& argv) { return scripted_redis(argv, true); });
  redis::blocking_client r(parse_redis_url(s.address()));
  EXPECT_FALSE(answers::fetch_announced(r));
  EXPECT_TRUE(r.connected());  // an answer, not an I/O error: the caller keeps its connection
}

}  // namespace
}  // namespace tempest
