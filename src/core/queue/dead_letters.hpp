// The dead letters of a queue (<queue>:dead): jobs that kept killing their workers, as the
// reaper records them (scripts/reap.lua), listed and re-queued by `tempest jobs`
// (src/cli/jobs_cmd.cpp) and by the worker library's public API (include/tempest/reliable.hpp).
//
//   for (auto& d : queue::list_dead_jobs(client, "tempest")) ... d.reason, d.attempts, d.job ...
//   queue::retry_dead_jobs(client, "tempest", 0);             // re-queue the first dead letter
//   queue::retry_dead_jobs(url, "tempest", std::nullopt);     // all of them, on a connection of its own
//
//   list   LRANGE <queue>:dead 0 -1, each record parsed with Boost.JSON
//   retry  scripts/retry.lua (atomic)
//
// Errors: Redis unreachable -> redis::io_error, refusing -> std::runtime_error; a bad URL or a
// negative index -> std::invalid_argument.
// If you change the record, change scripts/reap.lua and scripts/retry.lua too.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tempest::redis {
class blocking_client;
}

namespace tempest::queue {

// One record of <queue>:dead, as RPUSHed by the reaper (JSON keys in parentheses).
struct dead_job {
  std::string job;       // the job payload, as the front pushed it ("job")
  std::string queue;     // ("queue")
  std::string priority;  // high, normal, low: the list it is re-queued on ("priority")
  std::string reason;    // why it is here ("reason")
  std::string worker;    // the id of the last worker that died holding it ("worker")
  long long time_ms = 0; // unix ms when it was dead-lettered ("time")
  long long attempts = 0;// worker deaths while holding it ("attempts")
  std::string record;    // the record as stored (JSON text)
};

// The dead letters of a queue, oldest first (index = position, as retry_dead_jobs takes it).
std::vector<dead_job> list_dead_jobs(redis::blocking_client& redis, std::string_view queue);
std::vector<dead_job> list_dead_jobs(std::string_view redis_url, std::string_view queue);

// Re-queues dead letter number `index` (0-based, in list_dead_jobs order), or all of them when
// index is nullopt, at the tail of their priority lists with a bell token each, and removes
// them from <queue>:dead (one script: atomic). Returns how many were re-queued (0 when the
// index is past the end; a record that is not JSON stays).
long long retry_dead_jobs(redis::blocking_client& redis, std::string_view queue, std::optional<long long> index);
long long retry_dead_jobs(std::string_view redis_url, std::string_view queue, std::optional<long long> index);

}  // namespace tempest::queue
