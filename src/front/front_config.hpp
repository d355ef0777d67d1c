// The front's settings: the struct the front reads, and the table (core/config.hpp) that fills
// it from defaults, the TOML file and flags. Defaults live only in make_front_settings().
// If you add a setting, also regenerate docs/tempest.example.toml (`tempest front
// --print-example-config`); tests/unit/core/settings_test.cpp checks they agree
// (and that --help shows every row).
#pragma once
#include "core/config.hpp"
#include "front/route_rules.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace tempest::front {

struct front_config {
  std::string listen_host;          // HTTP listener
  std::uint16_t listen_port = 0;
  std::string redis_url;            // empty: embedded redis-server
  std::string queue;                // Redis list the jobs are pushed on
  std::string answer_host;          // answer endpoint (RESP) listener
  std::uint16_t answer_port = 0;    // 0: ephemeral; with N threads, thread i uses port+i
  std::string answer_password;      // required when answer_host is not loopback
  std::chrono::milliseconds announce_interval{};  // answer endpoints refreshed in tempest:fronts
  std::chrono::milliseconds timeout{};            // answer deadline -> 504
  std::chrono::milliseconds keepalive_timeout{};  // idle keep-alive connection lifetime
  std::chrono::milliseconds header_timeout{};     // time to receive a request's headers -> 408
  std::chrono::milliseconds shutdown_timeout{};   // SIGTERM drain bound
  std::uint64_t max_body_size = 0;    // -> 413
  std::uint64_t max_header_size = 0;  // -> 431
  // Spooled uploads (docs/protocol.md 11)
  std::uint64_t spool_threshold = 0;   // on a spooling route, larger bodies go to a file
  std::uint64_t max_upload_size = 0;   // largest spooled body -> 413
  std::string spool_dir;               // "": upload_spool::default_dir(<http port>)
  std::vector<route_rule> spool_routes;  // value: yes or no; no rule matching: inline
  std::uint64_t max_answer_size = 0;  // largest RESP message on the answer endpoint (exact)
  std::uint64_t answer_max_args = 0;  // items in one answer-endpoint command ("*N")
  std::uint64_t stream_buffer = 0;                // unsent bytes of a streamed answer before the worker is paused
  std::chrono::milliseconds stream_idle_timeout{}; // a stream with no progress for this long is cut
  std::uint64_t answer_auth_max_size = 0;  // largest RESP message before AUTH (with a password)
  int answer_auth_attempts = 0;       // wrong passwords per answer connection before it is closed
  std::uint64_t max_connections = 0;  // HTTP connections per front; past it new ones are refused
  int threads = 1;
  std::string log_level;
  std::string redis_server;  // binary used for the embedded Redis
  // Server-Sent Events (docs/protocol.md section 7)
  std::string sub_prefix;                        // GET <prefix><channels> is an event stream
  std::vector<std::string> sub_allow;            // glob patterns of channels browsers may read
  std::vector<std::string> cors_origins;         // origins given Access-Control-Allow-Origin ("*": any)
  std::chrono::milliseconds sse_keepalive{};     // comment line interval
  std::chrono::milliseconds sse_retry{};         // "retry:" hint to clients
  std::uint64_t sse_max_queue = 0;               // unsent bytes per subscriber before it is closed
  std::uint64_t sse_replay_limit = 0;            // events replayed per channel on resume
  // Priorities and retry safety (docs/protocol.md section 8)
  std::vector<route_rule> priority_routes;       // value: high, normal or low
  std::string priority_header;                   // trusted request header naming the priority ("": none)
  std::vector<std::string> retry_methods;        // methods safe to re-deliver after a worker death
  std::vector<route_rule> retry_routes;          // value: yes or no; overrides retry_methods
};

// Builds the table bound to cfg (cfg must outlive the table).
settings_table make_front_settings(front_config& cfg);

}  // namespace tempest::front
