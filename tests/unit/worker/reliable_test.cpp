// Unit tests of the worker library's side of reliable delivery: job_codec.cpp's deadline check and
// the reliable-mode worker options (the entry helpers and the scripts: tests/unit/core/queue/). The
// scripts themselves run against a real redis-server in tests/integration/test_reliable.py.
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>

#include <cstdlib>
#include <string>
#include <vector>

#include "worker/job_codec.hpp"

namespace tempest {
namespace {

using namespace detail;  // deadline_passed, job_access

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
