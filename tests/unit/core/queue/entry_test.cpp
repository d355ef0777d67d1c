// Unit tests of the batch header and job-payload helpers (src/core/queue/entry.hpp). The
// scripts that write and read batches run against a real redis-server in
// tests/integration/test_reliable.py.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>

#include "core/queue/entry.hpp"

namespace tempest::queue {
namespace {

TEST(QueueBatchHeader, ReadsQueueAndPriority) {
  using namespace std::string_view_literals;
  batch_header h;
  ASSERT_TRUE(parse_batch_header("\0tempest\nhigh"sv, h));
  EXPECT_EQ(h.queue, "tempest");
  EXPECT_EQ(h.priority, "high");
  ASSERT_TRUE(parse_batch_header("\0q:x\n"sv, h));
  EXPECT_EQ(h.queue, "q:x");
  EXPECT_EQ(h.priority, "");
}

TEST(QueueBatchHeader, AJobOrAnOldEntryIsNotOne) {
  using namespace std::string_view_literals;
  batch_header h;
  EXPECT_FALSE(parse_batch_header("[\"url\",[{}],\"h:1\",2]", h));
  EXPECT_FALSE(parse_batch_header("tempest\nhigh\n[\"url\",[{}],\"h:1\",2]", h));  // the older layout
  EXPECT_FALSE(parse_batch_header("\0q\nnormal\n[]"sv, h));
  EXPECT_FALSE(parse_batch_header("\0q"sv, h));
  EXPECT_FALSE(parse_batch_header("", h));
}

TEST(QueueEntryTail, ReadsRespondToAndId) {
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

TEST(QueueEntryTail, RejectsWhatIsNotAJobTail) {
  std::string rt;
  std::int64_t id = 0;
  for (const char* bad : {"", "]", "[1,2", R"(["url",[],"h:1",-3])", R"(["url",[],"h:1",4.5])",
                          R"(["url",[],"h:1","7"])", R"(["url",[],h:1",7])", R"(["url",[],"a\"b",7])",
                          R"(["url",[],"h:1",1234567890123456789012])"})
    EXPECT_FALSE(parse_job_tail(bad, rt, id)) << bad;
}

TEST(QueueEntry, WorkerIdIsHostPidLane) {
  EXPECT_EQ(make_worker_id("web1", 4242, 3), "web1:4242:3");
  EXPECT_EQ(make_worker_id("", 1, 0), "localhost:1:0");
}

TEST(QueueEntry, UnsafeRetryAnswers) {
  auto url = boost::json::parse(unsafe_retry_answer("url"));
  EXPECT_EQ(url, boost::json::parse(R"([502, {"Content-Type":"text/plain"},
      "the worker handling this request died; it is not safe to retry"])"));
  auto other = boost::json::parse(unsafe_retry_answer("resize"));
  EXPECT_TRUE(other.as_object().contains("error"));
}

TEST(QueueEntry, PayloadAction) {
  EXPECT_EQ(payload_action(R"(["url",[],"h:1",2])"), "url");
  EXPECT_EQ(payload_action(R"( [ "resize",[],null,2])"), "resize");
  EXPECT_EQ(payload_action(R"({"url":1})"), "");
  EXPECT_EQ(payload_action("nothing"), "");
}

}  // namespace
}  // namespace tempest::queue
