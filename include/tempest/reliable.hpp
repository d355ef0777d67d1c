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
//   tempest:processing:<id>      the batch worker <id> holds: "\0<queue>\n<priority>", then the
//                                jobs as queued (src/core/queue/entry.hpp)
//   <queue>:attempts             hash "<respond_to>/<job id>" -> worker deaths while holding it
//                                (expires a day after the last death; a dead-lettered job's
//                                field is deleted)
//   <queue>:dead                 dead letters, JSON records (dead_job below)
//
// What reaping does, for each id of tempest:workers whose heartbeat key is gone, in one Lua
// script per worker (src/core/queue/scripts/reap.lua; atomic; several reapers may run at once,
// the second finds nothing):
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
// The work is done in src/core/queue/ (reaper.hpp, dead_letters.hpp, scripts/*.lua), which
// `tempest angel` and `tempest jobs` use directly; this header names it for the library's users.
// Errors: Redis unreachable or refusing -> std::runtime_error; a bad URL -> std::invalid_argument.
// A front that cannot be reached for a 502 answer is logged and skipped (nobody waits then).
#pragma once
#include "core/queue/dead_letters.hpp"
#include "core/queue/reaper.hpp"

namespace tempest {

// The queue model's own (src/core/queue/), under the names the library has always had.
using queue::reap_options;
using queue::reap_result;
using queue::reap_dead_workers;  // (redis_url, options), and (redis::blocking_client&, options)
using queue::dead_job;
using queue::list_dead_jobs;     // (redis_url, queue), and (redis::blocking_client&, queue)
using queue::retry_dead_jobs;    // (redis_url, queue, index), and (redis::blocking_client&, ...)

}  // namespace tempest
