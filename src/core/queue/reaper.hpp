// The reaper of reliable delivery: hands on the jobs of reliable workers whose heartbeat expired.
// Run by every reliable worker's heartbeat thread (src/worker/), by `tempest angel`
// (src/angel/reaper.cpp), and reachable from the worker library's public header
// (include/tempest/reliable.hpp, which documents the rules and the bound).
//
//   queue::reap_result r = queue::reap_dead_workers(client, {.max_attempts = 3});
//   queue::reap_dead_workers("redis://127.0.0.1:6379/0");   // connects, reaps, disconnects
//
// Steps: SMEMBERS tempest:workers; EXISTS tempest:worker:<id> for each (pipelined); for each
// missing one, scripts/reap.lua (atomic; called again with the queues it names when an entry is
// of a queue whose keys were not given); then the jobs it returns as not safe to retry are
// answered 502 (answers::pool, core/answer/client.hpp, all of a reap together, bounded by
// reap_options::answer_timeout: rare, so not cached), when their respond_to is announced in
// tempest:fronts (read once per reap) or allowed.
//
// Errors: Redis unreachable -> redis::io_error, refusing or the script failing ->
// std::runtime_error; a bad URL -> std::invalid_argument. A front that cannot be reached for a
// 502 answer is logged and skipped (nobody waits then).
#pragma once
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace tempest::redis {
class blocking_client;
}

namespace tempest::queue {

struct reap_options {
  int max_attempts = 3;         // worker deaths after which a job goes to <queue>:dead
  std::string answer_password;  // sent with AUTH to answer endpoints (the 502 answers)
  // The 502 answers go only to endpoints announced in tempest:fronts or listed here (as
  // worker_options::answer_allow); others are dropped with a log line.
  std::vector<std::string> answer_allow;
  // The 502 answers are sent without blocking, all of a reap together (core/answer/client.hpp):
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
// queue), on the caller's connection.
reap_result reap_dead_workers(redis::blocking_client& redis, const reap_options& options = {});
// The same on a connection of its own: connects, works, disconnects.
reap_result reap_dead_workers(std::string_view redis_url, const reap_options& options = {});

}  // namespace tempest::queue
