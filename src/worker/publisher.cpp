// tempest::publisher (API in include/tempest/publish.hpp): one redis::blocking_client connection
// (core/redis/blocking_client.hpp) that records and publishes Server-Sent Events with the
// history script (src/core/queue/scripts/history.lua; the layout is src/core/history.hpp).
//
//   publish    check the names; history_count 0: PUBLISH <channel> ["data"] or ["event","data"];
//              else EVALSHA <sha> 1 tempest:history:<channel> <channel> <event> <data> <count>
//              <age ms>, the sha coming from one SCRIPT LOAD per publisher; a NOSCRIPT reply
//              (Redis restarted, SCRIPT FLUSH) -> SCRIPT LOAD again; SCRIPT LOAD refused -> EVAL.
//
// Connection states, all transitions in connection::command():
//   none   --command--> connect (2 s), AUTH, SELECT --ok--> open   --fails--> none, throw
//   open   --idle socket readable (Redis closed it)--> none, then connect as above
//   open   --EOF, ECONNRESET or EPIPE during a command--> reconnect and resend once
//   open   --reply timeout (5 s) or any other I/O error--> none, throw (no resend: the command
//                                                          may have run)
// SIGPIPE is blocked around each command (a write to a closed socket is an error value here,
// not a death), so this works in programs that do not ignore SIGPIPE.
//
// If you change the script's arguments, change history_script_args and history.lua.
#include "tempest/publish.hpp"

#include <hiredis/hiredis.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>

#include <fmt/format.h>

#include <ctime>
#include <stdexcept>

#include "core/redis/blocking_client.hpp"
#include "core/history.hpp"
#include "core/queue/scripts.hpp"
#include "core/json_writer.hpp"
#include "core/redis_url.hpp"

namespace tempest {

// The public header's defaults are the history layout's (one value, two spellings: the header
// cannot include src/core/).
static_assert(publish_options{}.history_count == history::default_count);
static_assert(publish_options{}.history_age.count() == history::default_age_ms);

namespace {

using namespace std::chrono_literals;

constexpr auto connect_timeout = 2s;
constexpr auto reply_timeout = 5s;

static_assert(publish_options{}.history_count == history::default_count,
              "publish.hpp's default must be history::default_count");
static_assert(publish_options{}.history_age.count() == history::default_age_ms,
              "publish.hpp's default must be history::default_age_ms");


using redis::text;

// Blocks SIGPIPE in this thread for its lifetime and swallows one it caused.
class sigpipe_guard {
 public:
  sigpipe_guard() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~sigpipe_guard() {
    if (!was_pending_) {
      sigset_t pending;
      sigpending(&pending);
      if (sigismember(&pending, SIGPIPE) == 1) {
        timespec zero{0, 0};
        sigtimedwait(&pipe_, nullptr, &zero);
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  sigpipe_guard(const sigpipe_guard&) = delete;
  sigpipe_guard& operator=(const sigpipe_guard&) = delete;

 private:
  sigset_t pipe_{}, old_{};
  bool was_pending_ = false;
};

}  // namespace

// ---- the connection -------------------------------------------------------------------------

class publisher::connection {
 public:
  explicit connection(redis_endpoint ep)
      : redis_(std::move(ep), {connect_timeout, reply_timeout, true}), script_(queue::scripts::history()) {}

  const redis_endpoint& endpoint() const { return redis_.endpoint(); }

  // Runs one command and returns its reply (an error reply is a reply). Throws
  // std::runtime_error on connection trouble (states: see the top of the file).
  reply_ptr command(redis::blocking_client::args a) {
    return with_resend([&] { return redis_.command(a); });
  }
  reply_ptr command(std::initializer_list<std::string_view> a) { return command(redis::blocking_client::args(a.begin(), a.size())); }

  // Runs history.lua (queue::scripts::history) with the 7 arguments of detail::history_script_args (the
  // key count first): EVALSHA, loaded first and again after NOSCRIPT (redis::blocking_client::
  // run); EVAL when SCRIPT LOAD is refused (an ACL?).
  reply_ptr run_history_script(const std::vector<std::string>& a) {
    std::vector<std::string_view> keys{a[1]}, argv(a.begin() + 2, a.end());
    if (!script_load_refused_) {
      try {
        return with_resend([&] { return redis_.run(script_, keys, argv); });
      } catch (const redis::io_error&) {
        throw;
      } catch (const std::runtime_error&) {
        script_load_refused_ = true;
      }
    }
    return command({"EVAL", queue::scripts::history_source, a[0], a[1], a[2], a[3], a[4], a[5], a[6]});
  }

 private:
  // Connects when needed (a fresh connection after Redis closed an idle one) and runs f; once
  // more on a new connection when Redis went away since the last command.
  template <class F>
  reply_ptr with_resend(F f) {
    sigpipe_guard guard;
    if (redis_.connected() && peer_closed()) redis_.close();
    bool fresh = !redis_.connected();
    connect();
    try {
      return f();
    } catch (const redis::io_error& e) {
      if (fresh || e.why != redis::io_error::cause::closed) throw io_failure(e);
    }
    connect();
    try {
      return f();
    } catch (const redis::io_error& e) {
      throw io_failure(e);
    }
  }

  void connect() {
    if (redis_.connected()) return;
    redis_.connect();  // AUTH and SELECT refused: redis::refused, "Redis at ... refused AUTH/SELECT: ..."
  }

  // The exception for a failed command (the connection is already dropped).
  std::runtime_error io_failure(const redis::io_error& e) const {
    if (e.why == redis::io_error::cause::timeout)
      return std::runtime_error(fmt::format("no reply from Redis at {} within {} s (the command may have run)",
                                            redis_.name(),
                                            std::chrono::duration_cast<std::chrono::seconds>(reply_timeout).count()));
    return std::runtime_error(fmt::format("lost the connection to Redis: {}", e.what()));
  }

  // With no reply outstanding the socket is readable only when Redis closed it.
  bool peer_closed() const {
    pollfd p{redis_.context()->fd, POLLIN, 0};
    return poll(&p, 1, 0) > 0;
  }

  redis::blocking_client redis_;
  redis::script script_;              // history.lua
  bool script_load_refused_ = false;  // SCRIPT LOAD answered an error (ACL?): EVAL only
};

// ---- publisher ------------------------------------------------------------------------------

publisher::publisher(std::string_view redis_url, publish_options options)
    : options_(options), conn_(std::make_unique<connection>(parse_redis_url(redis_url))) {}

publisher::~publisher() = default;
publisher::publisher(publisher&&) noexcept = default;
publisher& publisher::operator=(publisher&&) noexcept = default;

std::string publisher::endpoint() const { return conn_->endpoint().to_string(); }

std::string publisher::publish(std::string_view channel, std::string_view data, std::string_view event) {
  if (const char* err = detail::check_channel(channel))
    throw std::invalid_argument(fmt::format("channel '{:.140}': {}", channel, err));
  if (const char* err = detail::check_event(event)) throw std::invalid_argument(fmt::format("event name: {}", err));
  if (!is_valid_utf8(data)) throw std::invalid_argument("data is not valid UTF-8 (events carry text)");
  if (options_.history_count < 0) throw std::invalid_argument("history count is negative");
  if (options_.history_age.count() < 0) throw std::invalid_argument("history age is negative");
  connection& c = *conn_;
  auto failed = [&](const redisReply* r) {
    return std::runtime_error(fmt::format("Redis at {} answered: {}", c.endpoint().to_string(), text(r)));
  };

  if (options_.history_count == 0) {
    auto r = c.command({"PUBLISH", channel, detail::live_payload(data, event)});
    if (r->type == REDIS_REPLY_ERROR) throw failed(r.get());
    return {};
  }

  auto r = c.run_history_script(detail::history_script_args(channel, data, event, options_));
  if (r->type == REDIS_REPLY_ERROR) throw failed(r.get());
  if (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS)
    throw std::runtime_error(fmt::format("Redis at {} answered the publish script with a reply of type {}, not an id",
                                         c.endpoint().to_string(), r->type));
  return std::string(text(r.get()));
}

// ---- the pure parts -------------------------------------------------------------------------

namespace detail {

const char* check_channel(std::string_view name) {
  if (name.empty()) return "empty";
  if (name.size() > 128) return "longer than 128 characters";
  for (char ch : name) {
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
              ch == '.' || ch == ':' || ch == '@' || ch == '-';
    if (!ok) return "only A-Za-z0-9 and _ . : @ - are allowed (the front's /sub/<channel> rule)";
  }
  return nullptr;
}

const char* check_event(std::string_view event) {
  if (event.find_first_of("\r\n") != std::string_view::npos) return "contains a line break";
  if (!is_valid_utf8(event)) return "not valid UTF-8";
  return nullptr;
}

std::vector<std::string> history_script_args(std::string_view channel, std::string_view data,
                                             std::string_view event, const publish_options& o) {
  return {"1",
          history::key(channel),
          std::string(channel),
          std::string(event),
          std::string(data),
          std::to_string(o.history_count),
          std::to_string(o.history_age.count())};
}

std::string live_payload(std::string_view data, std::string_view event) {
  std::string out;
  out.reserve(data.size() + event.size() + 8);
  out.push_back('[');
  if (!event.empty()) {
    append_json_string(out, event);
    out.push_back(',');
  }
  append_json_string(out, data);
  out.push_back(']');
  return out;
}

}  // namespace detail
}  // namespace tempest
