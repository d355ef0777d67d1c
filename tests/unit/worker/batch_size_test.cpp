// Unit tests of src/worker/batch_size.hpp: how many jobs a lane asks for per take.
#include <gtest/gtest.h>

#include <chrono>

#include "worker/batch_size.hpp"

namespace tempest::detail {
namespace {

using namespace std::chrono_literals;

TEST(batch_size, starts_at_16_or_the_maximum_if_lower) {
  EXPECT_EQ(batch_size(128, 1ms).next(), 16);
  EXPECT_EQ(batch_size(4, 1ms).next(), 4);
  EXPECT_EQ(batch_size(1, 1ms).next(), 1);
}

TEST(batch_size, fast_jobs_fill_the_maximum) {
  batch_size b(128, 1ms);
  b.record(16, 16 * 2us);  // 2 us a job: 500 would fit in 1 ms
  EXPECT_EQ(b.next(), 128);
}

TEST(batch_size, slow_jobs_are_taken_one_at_a_time) {
  batch_size b(128, 1ms);
  b.record(16, 16 * 20ms);
  EXPECT_EQ(b.next(), 1);
  b.record(1, 100ms);
  EXPECT_EQ(b.next(), 1);
}

TEST(batch_size, the_count_is_the_budget_over_the_time_per_job) {
  batch_size b(128, 1ms);
  b.record(10, 10 * 50us);
  EXPECT_EQ(b.next(), 20);
}

TEST(batch_size, one_odd_batch_moves_the_average_a_quarter_of_the_way) {
  batch_size b(128, 1ms);
  b.record(10, 10 * 100us);  // 10 a take
  EXPECT_EQ(b.next(), 10);
  b.record(10, 10 * 500us);  // average 100 + (500 - 100) / 4 = 200 us
  EXPECT_EQ(b.next(), 5);
  b.record(10, 10 * 40us);  // 200 + (40 - 200) / 4 = 160 us
  EXPECT_EQ(b.next(), 6);
}

TEST(batch_size, a_zero_budget_takes_one_job_and_empty_batches_change_nothing) {
  batch_size zero(128, 0ms);
  zero.record(4, 4us);
  EXPECT_EQ(zero.next(), 1);
  batch_size b(128, 1ms);
  b.record(0, 10s);
  EXPECT_EQ(b.next(), 16);
}

}  // namespace
}  // namespace tempest::detail
