// Unit tests of src/core/answer/targets.*: which respond_to a worker answers (the allow list,
// the announced set and its cache, at most one Redis read per batch). Pure logic, injected clock.
#include "core/answer/targets.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

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

}  // namespace
}  // namespace tempest
