// tempest::publisher: sends Server-Sent Events to the browsers subscribed at the front
// (GET /sub/<channel>), from a worker or any C++ program. One blocking hiredis connection.
//
//   tempest::publisher pub("redis://127.0.0.1:6379/0");
//   std::string id = pub.publish("news", "hello");            // data: hello
//   pub.publish("news", "{\"n\":1}", "update");                // event: update + data: ...
//
// Inside a worker's handler use worker.publisher() (include/tempest/worker.hpp): a publisher per
// worker thread, on the worker's --redis.
//
// What publish() does (the format is src/core/history.hpp's, prose in docs/protocol.md 7.5):
//   history_count > 0   one EVALSHA of the history script: XADD to tempest:history:<channel>
//                       (trimmed to history_count entries, and to history_age when > 0; the key
//                       expires after history_age), then PUBLISH <channel> [event, data, id],
//                       event "message" when none is given (never null: the 2012 front
//                       exits on a null event name; EventSource calls onmessage for both).
//                       Returns the entry id ("1732761600000-0"). Browsers that reconnect with
//                       Last-Event-ID get the entries they missed.
//   history_count == 0  live only: PUBLISH <channel> ["data"] or ["event", "data"]; returns "".
//
// API summary
//   publish_options              history_count, history_age
//   publisher(url, options)      parses the URL (throws std::invalid_argument); connects lazily
//     publish(channel, data, event = {}) -> id ("" when live only)
//     set_options(o), options()
//     endpoint()                 the URL without its password, for logs
//
// Errors: a bad channel name (1-128 chars of A-Za-z0-9_.:@-, as the front accepts), an event
// name with CR or LF, or data or an event name that is not UTF-8 -> std::invalid_argument.
// Redis unreachable, refusing AUTH/SELECT, or answering an error -> std::runtime_error whose
// message says which Redis and what happened. The connection (2 s to connect, 5 s per reply) is
// reconnected once when Redis closed or reset it; after a reply timeout there is no retry (the
// message may have been published, and publishing twice would duplicate it).
//
// Threads: a publisher is not thread-safe; use one per thread.
#pragma once
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tempest {

struct publish_options {
  // Entries kept in the channel's history; 0 = live only (nothing recorded, nothing replayed).
  // The default is history::default_count (src/core/history.hpp).
  long long history_count = 1000;
  // Entries older than this are trimmed and the history key expires after it; 0 = no age
  // limit. The default is history::default_age_ms.
  std::chrono::milliseconds history_age{3600000};
};

class publisher {
 public:
  explicit publisher(std::string_view redis_url, publish_options options = {});
  ~publisher();
  publisher(publisher&&) noexcept;
  publisher& operator=(publisher&&) noexcept;

  // Sends data (and an event name, empty for none) to the channel's subscribers. Returns the
  // recorded id, or "" when history_count is 0. Throws as said at the top.
  std::string publish(std::string_view channel, std::string_view data, std::string_view event = {});

  void set_options(publish_options options) { options_ = options; }
  const publish_options& options() const noexcept { return options_; }
  std::string endpoint() const;

 private:
  class connection;

  publish_options options_;
  std::unique_ptr<connection> conn_;
};

namespace detail {
// The pure parts of publish(), for tests.

// nullptr when name is a channel the front accepts, else what is wrong with it.
const char* check_channel(std::string_view name);
// nullptr when event is usable as an SSE event name ("" = none), else what is wrong.
const char* check_event(std::string_view event);
// The arguments after EVALSHA <sha> / EVAL <script>: 1, the history key, channel, event, data,
// count, age in ms (the script's KEYS and ARGV, see src/core/history.hpp).
std::vector<std::string> history_script_args(std::string_view channel, std::string_view data,
                                             std::string_view event, const publish_options& o);
// The live-only payload: ["data"] or ["event","data"].
std::string live_payload(std::string_view data, std::string_view event);
}  // namespace detail

}  // namespace tempest
