// Unit tests of the pure parts of reliable delivery (src/worker/reliable_scripts.hpp,
// reliable.cpp, request.cpp's deadline check) and of the reliable-mode worker options. The
// scripts themselves run against a real redis-server in tests/integration/test_reliable.py.
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>

#include <cstdlib>
#include <string>
#include <vector>

#include "worker/job_codec.hpp"
#include "worker/reliable_scripts.hpp"

namespace tempest {
namespace {

using namespace detail;

TEST(WorkerReliableEntry, SplitsQueuePriorityAndPayload) {
  entry_parts p;
  ASSERT_TRUE(split_entry("tempest\nhigh\n[\"url\",[{}],\"h:1\",2]", p));
  EXPECT_EQ(p.queue, "tempest");
  EXPECT_EQ(p.priority, "high");
  EXPECT_EQ(p.payload, "[\"url\",[{}],\"h:1\",2]");
  ASSERT_TRUE(split_entry("q:x\nlow\n", p));
  EXPECT_EQ(p.queue, "q:x");
  EXPECT_EQ(p.payload, "");
  EXPECT_FALSE(split_entry("[\"url\",[{}],\"h:1\",2]", p));
  EXPECT_FALSE(split_entry("q\nnormal", p));
}

TEST(WorkerReliableTail, ReadsRespondToAndId) {
  std::string rt;
  std::int64_t id = 0;
  ASSERT_TRUE(parse_job_tail(R"(["url",[{"url":"/a\"b"}],"127.0.0.1:7000",1774761600000123])", rt, id));
  EXPECT_EQ(rt, "127.0.0.1:7000");
  EXPECT_EQ(id, 1774761600000123);
  ASSERT_TRUE(parse_job_tail("[\"url\", [{}], \"[::1]:9\" , 42 ] \n", rt, id));
  EXPECT_EQ(rt, "[::1]:9");
  EXPECT_EQ(id, 42);
  ASSERT_TRUE(parse_job_tail(R"(["x",[],null,7])", rt, id));
  EXPECT_EQ(rt, "");
  EXPECT_EQ(id, 7);
}

TEST(WorkerReliableTail, RejectsWhatIsNotAJobTail) {
  std::string rt;
  std::int64_t id = 0;
  for (const char* bad : {"", "]", "[1,2", R"(["url",[],"h:1",-3])", R"(["url",[],"h:1",4.5])",
                          R"(["url",[],"h:1","7"])", R"(["url",[],h:1",7])", R"(["url",[],"a\"b",7])",
                          R"(["url",[],"h:1",1234567890123456789012])"})
    EXPECT_FALSE(parse_job_tail(bad, rt, id)) << bad;
}

TEST(WorkerReliable, WorkerIdIsHostPidLane) {
  EXPECT_EQ(make_worker_id("web1", 4242, 3), "web1:4242:3");
  EXPECT_EQ(make_worker_id("", 1, 0), "localhost:1:0");
}

TEST(WorkerReliable, UnsafeRetryAnswers) {
  auto url = boost::json::parse(unsafe_retry_answer("url"));
  EXPECT_EQ(url, boost::json::parse(R"([502, {"Content-Type":"text/plain"},
      "the worker handling this request died; it is not safe to retry"])"));
  auto other = boost::json::parse(unsafe_retry_answer("resize"));
  EXPECT_TRUE(other.as_object().contains("error"));
}

TEST(WorkerReliable, PayloadAction) {
  EXPECT_EQ(payload_action(R"(["url",[],"h:1",2])"), "url");
  EXPECT_EQ(payload_action(R"( [ "resize",[],null,2])"), "resize");
  EXPECT_EQ(payload_action(R"({"url":1})"), "");
  EXPECT_EQ(payload_action("nothing"), "");
}

// ---- deadlines --------------------------------------------------------------------------------

struct parsed_job {
  explicit parsed_job(std::string_view text) : value(boost::json::parse(text)) {
    EXPECT_EQ(job_access::decode(value, j), nullptr);
  }
  boost::json::value value;
  job j;
};

TEST(WorkerDeadline, OnlyAPassedDeadlineOfAUrlJobCounts) {
  EXPECT_TRUE(deadline_passed(parsed_job(R"(["url",[{"deadline":999}],"h:1",1])").j, 1000));
  EXPECT_FALSE(deadline_passed(parsed_job(R"(["url",[{"deadline":1000}],"h:1",1])").j, 1000));
  EXPECT_FALSE(deadline_passed(parsed_job(R"(["url",[{"deadline":5000}],"h:1",1])").j, 1000));
  EXPECT_TRUE(deadline_passed(parsed_job(R"(["url",[{"deadline":999.5}],"h:1",1])").j, 1000));
  EXPECT_FALSE(deadline_passed(parsed_job(R"(["url",[{}],"h:1",1])").j, 1000));
  EXPECT_FALSE(deadline_passed(parsed_job(R"(["url",[{"deadline":null}],"h:1",1])").j, 1000));
  EXPECT_FALSE(deadline_passed(parsed_job(R"(["url",[{"deadline":"1"}],"h:1",1])").j, 1000));
  EXPECT_FALSE(deadline_passed(parsed_job(R"(["other",[{"deadline":1}],"h:1",1])").j, 1000));
  EXPECT_FALSE(deadline_passed(parsed_job(R"(["url",[],"h:1",1])").j, 1000));
}

// ---- options ----------------------------------------------------------------------------------

worker_options parse(std::vector<const char*> args) {
  args.insert(args.begin(), "worker");
  CLI::App app("test");
  return worker_options::parse(app, static_cast<int>(args.size()), args.data());
}

TEST(WorkerReliableOptions, DefaultsAreReliable) {
  auto o = parse({});
  EXPECT_EQ(o.mode, worker_options::delivery::reliable);
  EXPECT_EQ(o.heartbeat_ttl, std::chrono::milliseconds(3000));
  EXPECT_EQ(o.max_attempts, 3);
}

TEST(WorkerReliableOptions, ModeFlags) {
  EXPECT_EQ(parse({"--mode", "plain"}).mode, worker_options::delivery::plain);
  EXPECT_EQ(parse({"--plain"}).mode, worker_options::delivery::plain);
  EXPECT_EQ(parse({"--mode", "reliable"}).mode, worker_options::delivery::reliable);
  EXPECT_THROW(parse({"--mode", "fast"}), std::exception);
}

TEST(WorkerReliableOptions, HeartbeatAndAttempts) {
  auto o = parse({"--heartbeat-ttl", "1500ms", "--max-attempts", "5"});
  EXPECT_EQ(o.heartbeat_ttl, std::chrono::milliseconds(1500));
  EXPECT_EQ(o.max_attempts, 5);
  EXPECT_THROW(parse({"--heartbeat-ttl", "10ms"}), std::exception);
  EXPECT_THROW(parse({"--max-attempts", "0"}), std::exception);
  EXPECT_THROW(parse({"--queue", "a\nb"}), std::exception);
}

}  // namespace
}  // namespace tempest
