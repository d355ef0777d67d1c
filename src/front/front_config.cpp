// The front's settings table: one row per setting with its default and bounds (API: front_config.hpp).
#include "front/front_config.hpp"

#include "core/duration.hpp"
#include "core/queue/keys.hpp"
#include "core/redis_url.hpp"
#include "front/request_target.hpp"

#include <stdexcept>

namespace tempest::front {
namespace {

std::vector<route_rule> yes_no_rules(const std::string& text) {
  auto rules = parse_route_rules(text);
  for (auto& r : rules)
    if (r.value != "yes" && r.value != "no") throw std::invalid_argument("'" + r.value + "' is not yes or no");
  return rules;
}

}  // namespace

settings_table make_front_settings(front_config& c) {
  settings_table t;
  t.add({"listen", "ADDRESS", "127.0.0.1:8080", "HTTP listener, host:port (port 0: any free port)",
         [&c](const std::string& v) { split_host_port(v, c.listen_host, c.listen_port); }});
  t.add(redis_setting(c.redis_url, "Redis URL (redis://host:port/db or unix:/path)",
                      "$TEMPEST_REDIS, else an embedded redis-server"));
  t.add(queue_setting(c.queue, "Redis list the jobs are pushed on"));
  t.add({"answer-listen", "ADDRESS", "127.0.0.1:0",
         "answer endpoint (RESP) host:port; port 0: any free port; with N threads, thread i listens on port+i",
         [&c](const std::string& v) { split_host_port(v, c.answer_host, c.answer_port); }});
  t.add({"answer-password", "TEXT", "",
         "password workers must AUTH with on the answer endpoint; required when it is not on loopback",
         [&c](const std::string& v) { c.answer_password = v; }});
  t.add({"announce-interval", "DURATION", "2s",
         "how often each answer endpoint is re-announced in Redis (tempest:fronts, valid 3x this); workers "
         "answer only announced endpoints",
         [&c](const std::string& v) { c.announce_interval = parse_duration(v); }, "100ms", "1m"});
  t.add({"timeout", "DURATION", "30s", "time a request waits for a worker's answer before 504",
         [&c](const std::string& v) { c.timeout = parse_duration(v); }, "1ms"});
  t.add({"keepalive-timeout", "DURATION", "75s", "idle keep-alive connections are closed after this",
         [&c](const std::string& v) { c.keepalive_timeout = parse_duration(v); }, "1ms"});
  t.add({"header-timeout", "DURATION", "10s", "a request's headers (and body) must arrive within this, else 408 and close",
         [&c](const std::string& v) { c.header_timeout = parse_duration(v); }, "1ms"});
  t.add({"shutdown-timeout", "DURATION", "10s", "on SIGTERM, how long in-flight requests may take to finish",
         [&c](const std::string& v) { c.shutdown_timeout = parse_duration(v); }, "0ms"});
  t.add({"max-body-size", "SIZE", "1m", "largest request body held in memory, else 413 (larger ones: see spool-routes)",
         [&c](const std::string& v) { c.max_body_size = parse_size(v); }, "0", "4g"});
  t.add({"spool-threshold", "SIZE", "1m",
         "on routes that spool (spool-routes), a request body larger than this is written to a file in spool-dir "
         "and the job names the file (at most max-body-size)",
         [&c](const std::string& v) { c.spool_threshold = parse_size(v); }, "0", "4g"});
  t.add({"max-upload-size", "SIZE", "1g", "largest spooled request body, else 413 (before reading it when it is declared)",
         [&c](const std::string& v) { c.max_upload_size = parse_size(v); }, "0", "16384g"});
  t.add({"spool-dir", "PATH", "",
         "directory (mode 0700, owned by this user, one per front) for spooled bodies; empty: "
         "$TMPDIR or /tmp, then tempest-spool-<uid>-<http port>",
         [&c](const std::string& v) { c.spool_dir = v; }});
  t.add({"spool-routes", "RULES", "/=yes",
         "which routes spool large bodies: [METHOD ][/prefix]=yes|no, first match wins; no match: the body stays "
         "inline, up to max-body-size (routes served by workers on other hosts, which cannot read the front's disk)",
         [&c](const std::string& v) { c.spool_routes = yes_no_rules(v); }});
  t.add({"max-header-size", "SIZE", "16k", "largest request line plus headers, else 431",
         [&c](const std::string& v) { c.max_header_size = parse_size(v); }, "256", "16m"});
  t.add({"max-answer-size", "SIZE", "16m",
         "largest RESP message a worker may send to the answer endpoint (exact); a larger answer gets -ERR and its request 502",
         [&c](const std::string& v) { c.max_answer_size = parse_size(v); }, "1k", "2g"});
  t.add({"stream-buffer", "SIZE", "1m",
         "unsent bytes of a streamed answer (protocol.md 10.4) past which the front stops reading that worker connection",
         [&c](const std::string& v) { c.stream_buffer = parse_size(v); }, "4k", "1g"});
  t.add({"stream-idle-timeout", "DURATION", "30s",
         "a streamed answer that gets no chunk, or whose client takes no byte, for this long is cut and its connection closed",
         [&c](const std::string& v) { c.stream_idle_timeout = parse_duration(v); }, "10ms"});
  t.add({"answer-max-args", "INT", "16",
         "most items in one command on the answer endpoint; more is a protocol error and closes the connection",
         [&c](const std::string& v) { c.answer_max_args = static_cast<std::uint64_t>(parse_int(v)); }, "3", "1048576"});
  t.add({"answer-auth-max-size", "SIZE", "4k",
         "largest RESP message on the answer endpoint before AUTH (with --answer-password, raised to fit it); more closes the connection",
         [&c](const std::string& v) { c.answer_auth_max_size = parse_size(v); }, "256", "1m"});
  t.add({"answer-auth-attempts", "INT", "3", "wrong passwords one answer connection may send before it is closed",
         [&c](const std::string& v) { c.answer_auth_attempts = static_cast<int>(parse_int(v)); }, "1", "1000"});
  t.add({"max-connections", "INT", "100000", "connections held at once (requests and event streams); past it new ones are closed; "
         "lowered at start to the open-files limit (ulimit -n) minus 64 + 16 per thread",
         [&c](const std::string& v) { c.max_connections = static_cast<std::uint64_t>(parse_int(v)); }, "1", "10000000"});
  t.add({"threads", "INT", "1", "event-loop threads (each with its own Redis connection and answer port)",
         [&c](const std::string& v) { c.threads = static_cast<int>(parse_int(v)); }, "1", "256"});
  t.add(log_level_setting(c.log_level));
  t.add({"redis-server", "PATH", default_redis_server, "program started for the embedded Redis when no --redis is given",
         [&c](const std::string& v) { c.redis_server = v; }});
  t.add({"sub-prefix", "PATH", "/sub/", "GET <prefix><channel>[,<channel>...] opens a Server-Sent Events stream",
         [&c](const std::string& v) {
           if (v.size() < 2 || v.front() != '/' || v.back() != '/') throw std::invalid_argument("must start and end with /");
           std::string scratch;  // matched on normalised paths (request_target.hpp): it must be one
           target_parts parts;
           if (parse_target(v, scratch, parts) != target_error::none || parts.path != v || !parts.query.empty())
             throw std::invalid_argument("must be a normalised path (protocol.md 1.3): no '.', '..' or empty "
                                         "segment, no escape of an unreserved character");
           c.sub_prefix = v;
         }});
  t.add({"sub-allow", "PATTERNS", "*", "channels browsers may subscribe to: comma-separated glob patterns",
         [&c](const std::string& v) { c.sub_allow = split_setting_list(v); }});
  t.add({"cors-origins", "ORIGINS", "", "origins allowed to read event streams cross-origin: comma-separated, or *",
         [&c](const std::string& v) { c.cors_origins = split_setting_list(v); }});
  t.add({"sse-keepalive", "DURATION", "15s", "a comment line is sent on idle event streams this often",
         [&c](const std::string& v) { c.sse_keepalive = parse_duration(v); }, "10ms"});
  t.add({"sse-retry", "DURATION", "2s", "reconnection delay suggested to clients (the retry: field)",
         [&c](const std::string& v) { c.sse_retry = parse_duration(v); }, "0ms"});
  t.add({"sse-max-queue", "SIZE", "1m", "unsent bytes a subscriber may lag behind before it is disconnected",
         [&c](const std::string& v) { c.sse_max_queue = parse_size(v); }, "1k", "2g"});
  t.add({"sse-replay-limit", "INT", "10000", "most events replayed per channel when a client resumes",
         [&c](const std::string& v) { c.sse_replay_limit = static_cast<std::uint64_t>(parse_int(v)); }, "1", "1000000"});
  t.add({"priority-routes", "RULES", "",
         "job priority by route: comma-separated [METHOD ][/prefix]=high|normal|low, first match wins",
         [&c](const std::string& v) {
           auto rules = parse_route_rules(v);
           queue_keys::priority p;
           for (auto& r : rules)
             if (!queue_keys::parse(r.value, p)) throw std::invalid_argument("'" + r.value + "' is not high, normal or low");
           c.priority_routes = std::move(rules);
         }});
  t.add({"priority-header", "NAME", "",
         "trusted request header whose value (high, normal, low) sets the job priority; only name one your proxy sets",
         [&c](const std::string& v) { c.priority_header = v; }});
  t.add({"retry-methods", "METHODS", "GET,HEAD,OPTIONS,PUT,DELETE",
         "methods whose jobs may be re-delivered when a worker dies (others get 502)",
         [&c](const std::string& v) { c.retry_methods = split_setting_list(v); }});
  t.add({"retry-routes", "RULES", "", "retry safety by route, overriding retry-methods: [METHOD ][/prefix]=yes|no",
         [&c](const std::string& v) { c.retry_routes = yes_no_rules(v); }});
  return t;
}

}  // namespace tempest::front
