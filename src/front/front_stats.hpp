// The front's counters, shared by all its threads (relaxed atomics), shown by INFO on the
// answer endpoint and asserted by tests. Declare a counter here and in info_text() only.
#pragma once
#include <atomic>
#include <cstdint>
#include <string>

namespace tempest::front {

struct front_stats {
  std::atomic<std::uint64_t> connections{0};        // HTTP connections open now
  std::atomic<std::uint64_t> connections_total{0};  // accepted since start
  std::atomic<std::uint64_t> connections_refused{0};// closed at once: over --max-connections
  std::atomic<std::uint64_t> requests_total{0};     // complete requests that became jobs
  std::atomic<std::uint64_t> bad_requests{0};       // rejected before becoming jobs (4xx/501)
  std::atomic<std::uint64_t> jobs_pushed{0};        // confirmed by Redis (RPUSH reply)
  std::atomic<std::uint64_t> push_batches{0};       // RPUSH commands sent
  std::atomic<std::uint64_t> answers_accepted{0};   // answers that completed a request
  std::atomic<std::uint64_t> answers_unknown{0};    // answers for an unknown or finished job
  std::atomic<std::uint64_t> answers_invalid{0};    // answers rejected (-> 502), oversized ones too
  std::atomic<std::uint64_t> answer_auth_failures{0};    // wrong passwords on the answer endpoint
  std::atomic<std::uint64_t> answer_protocol_errors{0};  // answer connections closed: bad RESP, limits, HTTP
  std::atomic<std::uint64_t> streams_started{0};    // streamed answers whose head was accepted
  std::atomic<std::uint64_t> streams_cut{0};        // streams ended early: idle, over or under their length, client gone
  std::atomic<std::uint64_t> stream_bytes{0};       // body bytes of streams handed to clients
  std::atomic<std::uint64_t> timeouts{0};           // 504s
  std::atomic<std::uint64_t> cancelled{0};          // jobs cancelled: the client went away first
  std::atomic<std::uint64_t> redis_unavailable{0};  // 503s because Redis was unreachable
  std::atomic<std::uint64_t> pending_jobs{0};       // waiting for an answer now
  std::atomic<std::uint64_t> sse_subscribers{0};    // event streams open now
  std::atomic<std::uint64_t> sse_subscribers_total{0};
  std::atomic<std::uint64_t> sse_channels{0};       // channels subscribed now (summed over threads)
  std::atomic<std::uint64_t> sse_events_sent{0};    // live events queued to subscribers
  std::atomic<std::uint64_t> sse_slow_closed{0};    // subscribers closed for lagging behind
  std::atomic<std::uint64_t> sse_replayed{0};       // history events replayed on resume or resync

  static void inc(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) { c.fetch_add(n, std::memory_order_relaxed); }
  static void dec(std::atomic<std::uint64_t>& c) { c.fetch_sub(1, std::memory_order_relaxed); }

  // "name:value\r\n" lines, as Redis INFO does.
  std::string info_text() const;
};

}  // namespace tempest::front
