// tempest::publisher (API in include/tempest/publish.hpp): one blocking hiredis connection that
// records and publishes Server-Sent Events with the history script of src/core/history.hpp.
//
//   publish    check the names; history_count 0: PUBLISH <channel> ["data"] or ["event","data"];
//              else EVALSHA <sha> 1 tempest:history:<channel> <channel> <event> <data> <count>
//              <age ms>, the sha coming from one SCRIPT LOAD per publisher; a NOSCRIPT reply
//              (Redis restarted, SCRIPT FLUSH) -> EVAL <script> ..., which caches it again.
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
// If you change the script's arguments, change history_script_args and src/core/history.hpp.
#include "tempest/publish.hpp"

#include <hiredis/hiredis.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>

#include <fmt/format.h>

#include <cerrno>
#include <ctime>
#include <stdexcept>

#include "core/hiredis_ptr.hpp"
#include "core/history.hpp"
#include "core/json_writer.hpp"
#include "core/redis_url.hpp"

namespace tempest {
namespace {

using namespace std::chrono_literals;

constexpr auto connect_timeout = 2s;
constexpr auto reply_timeout = 5s;
constexpr std::size_t max_args = 12;  // EVALSHA sha + the 7 script arguments is the longest

static_assert(publish_options{}.history_count == history::default_count,
              "publish.hpp's default must be history::default_count");
static_assert(publish_options{}.history_age.count() == history::default_age_ms,
              "publish.hpp's default must be history::default_age_ms");


timeval to_timeval(std::chrono::milliseconds d) {
  return {static_cast<time_t>(d.count() / 1000), static_cast<suseconds_t>(d.count() % 1000 * 1000)};
}

std::string_view reply_text(const redisReply* r) { return {r->str, r->len}; }

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
  explicit connection(redis_endpoint ep) : ep_(std::move(ep)) {}

  const redis_endpoint& endpoint() const { return ep_; }

  // Runs one command and returns its reply (an error reply is a reply). Throws
  // std::runtime_error on connection trouble (states: see the top of the file).
  reply_ptr command(std::initializer_list<std::string_view> args) {
    sigpipe_guard guard;
    if (ctx_ && peer_closed()) ctx_.reset();
    bool fresh = !ctx_;
    if (!ctx_) connect();
    if (auto r = send(args)) return r;
    if (!fresh && resendable()) {  // Redis went away since the last command: once more
      ctx_.reset();
      connect();
      if (auto r = send(args)) return r;
    }
    throw io_failure();
  }

  // Runs history::publish_script with the 7 arguments of detail::history_script_args:
  // EVALSHA, SCRIPT LOAD first when the sha is not known yet, EVAL after a NOSCRIPT.
  reply_ptr run_history_script(const std::vector<std::string>& a) {
    if (script_sha_.empty() && !script_load_refused_) {
      auto r = command({"SCRIPT", "LOAD", history::publish_script});
      if (r->type == REDIS_REPLY_STRING) script_sha_.assign(r->str, r->len);
      else script_load_refused_ = true;
    }
    if (!script_sha_.empty()) {
      auto r = command({"EVALSHA", script_sha_, a[0], a[1], a[2], a[3], a[4], a[5], a[6]});
      if (r->type != REDIS_REPLY_ERROR || !reply_text(r.get()).starts_with("NOSCRIPT")) return r;
    }
    return command({"EVAL", history::publish_script, a[0], a[1], a[2], a[3], a[4], a[5], a[6]});
  }

 private:
  void connect() {
    context_ptr c(ep_.is_unix() ? redisConnectUnixWithTimeout(ep_.unix_path.c_str(), to_timeval(connect_timeout))
                                : redisConnectWithTimeout(ep_.host.c_str(), ep_.port, to_timeval(connect_timeout)));
    if (!c) throw std::runtime_error(fmt::format("cannot connect to Redis at {}: out of memory", ep_.to_string()));
    if (c->err) throw std::runtime_error(fmt::format("cannot connect to Redis at {}: {}", ep_.to_string(), c->errstr));
    redisSetTimeout(c.get(), to_timeval(reply_timeout));
    if (!ep_.is_unix()) redisEnableKeepAlive(c.get());
    ctx_ = std::move(c);
    if (!ep_.password.empty()) {
      auto r = ep_.user.empty() ? send({"AUTH", ep_.password}) : send({"AUTH", ep_.user, ep_.password});
      setup_reply(std::move(r), "AUTH");
    }
    if (ep_.db != 0) setup_reply(send({"SELECT", std::to_string(ep_.db)}), "SELECT");
  }

  void setup_reply(reply_ptr r, const char* what) {
    if (!r) throw io_failure();
    if (r->type == REDIS_REPLY_ERROR) {
      ctx_.reset();
      throw std::runtime_error(fmt::format("Redis at {} refused {}: {}", ep_.to_string(), what, reply_text(r.get())));
    }
  }

  reply_ptr send(std::initializer_list<std::string_view> args) {
    const char* argv[max_args];
    std::size_t lens[max_args];
    int n = 0;
    if (args.size() > max_args) throw std::logic_error("publisher: too many command arguments");
    for (auto a : args) {
      argv[n] = a.data();
      lens[n] = a.size();
      ++n;
    }
    errno = 0;
    reply_ptr r(static_cast<redisReply*>(redisCommandArgv(ctx_.get(), n, argv, lens)));
    errno_ = errno;
    return r;
  }

  // After a failed command: was it Redis closing the connection (safe to resend)?
  bool resendable() const {
    return ctx_->err == REDIS_ERR_EOF ||
           (ctx_->err == REDIS_ERR_IO && (errno_ == ECONNRESET || errno_ == EPIPE));
  }

  // The exception for a failed command; the connection is dropped.
  std::runtime_error io_failure() {
    std::string msg;
    if (ctx_->err == REDIS_ERR_IO && (errno_ == EAGAIN || errno_ == EWOULDBLOCK))
      msg = fmt::format("no reply from Redis at {} within {} s (the command may have run)", ep_.to_string(),
                        std::chrono::duration_cast<std::chrono::seconds>(reply_timeout).count());
    else
      msg = fmt::format("lost the connection to Redis at {}: {}", ep_.to_string(), ctx_->errstr);
    ctx_.reset();
    return std::runtime_error(msg);
  }

  // With no reply outstanding the socket is readable only when Redis closed it.
  bool peer_closed() const {
    pollfd p{ctx_->fd, POLLIN, 0};
    return poll(&p, 1, 0) > 0;
  }

  const redis_endpoint ep_;
  context_ptr ctx_;
  int errno_ = 0;  // errno right after the last command
  std::string script_sha_;            // of history::publish_script, once SCRIPT LOAD said it
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
    return std::runtime_error(fmt::format("Redis at {} answered: {}", c.endpoint().to_string(), reply_text(r)));
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
  return std::string(reply_text(r.get()));
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
