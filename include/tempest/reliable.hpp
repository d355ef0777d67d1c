// Reliable delivery (at-least-once) for Tempest workers: the parts other programs call. The
// worker library runs all of this by itself in reliable mode (the default, see worker.hpp);
// `tempest angel` calls reap_dead_workers and `tempest jobs` the dead-letter functions.
//
//   auto r = tempest::reap_dead_workers("redis://127.0.0.1:6379/0");
//   r.workers.size(), r.requeued, r.dead_lettered, r.answered_unsafe
//   for (auto& d : tempest::list_dead_jobs(url, "tempest")) ... d.reason, d.attempts, d.job ...
//   tempest::retry_dead_jobs(url, "tempest", 0);             // re-queue the first dead letter
//   tempest::retry_dead_jobs(url, "tempest", std::nullopt);  // all of them
//
// Keys (src/core/queue/keys.hpp; prose in docs/protocol.md section 8):
//   tempest:workers              set of reliable worker ids ("host:pid:lane")
//   tempest:worker:<id>          heartbeat, SET ... PX <heartbeat ttl> every ttl/3
//   tempest:processing:<id>      the jobs worker <id> holds, each as "<queue>\n<priority>\n<job>"
//   <queue>:attempts             hash "<respond_to>/<job id>" -> worker deaths while holding it
//                                (expires a day after the last death; a dead-lettered job's
//                                field is deleted)
//   <queue>:dead                 dead letters, JSON records (dead_job below)
//
// What reaping does, for each id of tempest:workers whose heartbeat key is gone, in one Lua
// script per worker (atomic; several reapers may run at once, the second finds nothing):
//   retry-safe job (its request has no "retry": false), deaths < max_attempts
//        -> LPUSH back on the head of its priority list (taken next) + a bell token
//   retry-safe job, deaths reach max_attempts, or a job that is not JSON
//        -> RPUSH a record on <queue>:dead
//   not retry-safe ("retry": false)
//        -> answered here, straight to its respond_to: url jobs
//           [502, {"Content-Type":"text/plain"}, "the worker handling this request died; it is
//           not safe to retry"], other actions {"error": "..."}; nothing when respond_to is null
//   then DEL the processing list, SREM the id.
// Bound: a worker killed at time t last beat at t - ttl/3 or later, so its key is gone by t + ttl,
// and reliable workers reap every ttl: its jobs are back on their lists by t + 2 * ttl (plus a
// Redis round trip) while any reliable worker (or the angel) runs.
//
// Errors: Redis unreachable or refusing -> std::runtime_error; a bad URL -> std::invalid_argument.
// A front that cannot be reached for a 502 answer is logged and skipped (nobody waits then).
#pragma once
#include <optional>
#include <string>
#include <chrono>
#include <string_view>
#include <vector>

namespace tempest {

struct reap_options {
  int max_attempts = 3;         // worker deaths after which a job goes to <queue>:dead
  std::string answer_password;  // sent with AUTH to answer endpoints (the 502 answers)
  // The 502 answers go only to endpoints announced in tempest:fronts or listed here (as
  // worker_options::answer_allow); others are dropped with a log line.
  std::vector<std::string> answer_allow;
  // The 502 answers are sent without blocking, all of a reap together (src/worker/answer_conn.hpp):
  // an endpoint not connected within answer_connect_timeout, or that has not acknowledged its
  // answers within answer_timeout, gets no more (the reap runs in the heartbeat thread: a hung
  // front must not delay the beats; worker::run() uses a third of --heartbeat-ttl at most).
  std::chrono::milliseconds answer_connect_timeout{500};
  std::chrono::milliseconds answer_timeout{1000};
};

struct reap_result {
  std::vector<std::string> workers;  // ids reaped (their heartbeat had expired)
  long long requeued = 0;            // jobs put back on their priority lists
  long long dead_lettered = 0;       // jobs moved to <queue>:dead
  long long answered_unsafe = 0;     // jobs not safe to retry, answered 502 (or dropped: no respond_to)
};

// Reaps every dead reliable worker, whatever queue it served (each in-flight entry names its
// queue). Connects, works, disconnects.
reap_result reap_dead_workers(std::string_view redis_url, const reap_options& options = {});

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
std::vector<dead_job> list_dead_jobs(std::string_view redis_url, std::string_view queue);

// Re-queues dead letter number `index` (0-based, in list_dead_jobs order), or all of them when
// index is nullopt, at the tail of their priority lists with a bell token each, and removes
// them from <queue>:dead (one script: atomic). Returns how many were re-queued (0 when the
// index is past the end; a record that is not JSON stays).
long long retry_dead_jobs(std::string_view redis_url, std::string_view queue, std::optional<long long> index);

}  // namespace tempest
