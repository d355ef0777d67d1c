#include "front/front_stats.hpp"

namespace tempest::front {

std::string front_stats::info_text() const {
  std::string s;
  auto line = [&s](const char* name, const std::atomic<std::uint64_t>& v) {
    s.append(name).append(":").append(std::to_string(v.load(std::memory_order_relaxed))).append("\r\n");
  };
  line("connections", connections);
  line("connections_total", connections_total);
  line("connections_refused", connections_refused);
  line("requests_total", requests_total);
  line("bad_requests", bad_requests);
  line("jobs_pushed", jobs_pushed);
  line("push_batches", push_batches);
  line("answers_accepted", answers_accepted);
  line("answers_unknown", answers_unknown);
  line("answers_invalid", answers_invalid);
  line("answer_auth_failures", answer_auth_failures);
  line("answer_protocol_errors", answer_protocol_errors);
  line("streams_started", streams_started);
  line("streams_cut", streams_cut);
  line("stream_bytes", stream_bytes);
  line("timeouts", timeouts);
  line("cancelled", cancelled);
  line("redis_unavailable", redis_unavailable);
  line("pending_jobs", pending_jobs);
  line("sse_subscribers", sse_subscribers);
  line("sse_subscribers_total", sse_subscribers_total);
  line("sse_channels", sse_channels);
  line("sse_events_sent", sse_events_sent);
  line("sse_slow_closed", sse_slow_closed);
  line("sse_replayed", sse_replayed);
  return s;
}

}  // namespace tempest::front
