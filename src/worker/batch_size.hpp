// batch_size: how many jobs a lane takes in its next round trip to Redis (lane.cpp).
//
// Taking many jobs per round trip is what makes a fast handler cheap (one take, one answer
// write per front, for the whole batch), but the jobs of a batch wait for each other: with a
// slow handler, a big batch keeps jobs waiting behind it while another worker is idle. So a
// lane sizes each take from its own measured time per job:
//
//   count = clamp(--batch-time / time per job, 1, --batch)
//
// where the time per job is a moving average (weight 1/4 per batch) of each batch's wall time
// divided by its jobs. Before the first measurement: min(--batch, 16).
#pragma once
#include <algorithm>
#include <chrono>

namespace tempest::detail {

class batch_size {
 public:
  using duration = std::chrono::nanoseconds;

  batch_size(int max, duration budget) : max_(std::max(max, 1)), budget_(budget) {}

  int next() const {
    if (per_job_ns_ <= 0) return std::min(max_, 16);
    double n = static_cast<double>(budget_.count()) / per_job_ns_;
    return n >= max_ ? max_ : std::max(1, static_cast<int>(n));
  }

  // A batch of jobs (> 0) took elapsed to handle.
  void record(int jobs, duration elapsed) {
    if (jobs <= 0) return;
    double per_job = std::max(1.0, static_cast<double>(elapsed.count()) / jobs);
    per_job_ns_ = per_job_ns_ <= 0 ? per_job : per_job_ns_ + (per_job - per_job_ns_) / 4;
  }

 private:
  int max_;
  duration budget_;
  double per_job_ns_ = 0;  // 0: not measured yet
};

}  // namespace tempest::detail
