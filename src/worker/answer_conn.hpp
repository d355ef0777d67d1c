// One cached connection from a worker lane to one front's answer endpoint: the answers of the
// job loop (worker.cpp) pipelined on it, their +OK/-ERR replies read after the batch. Private
// to the library, included by worker.cpp only.
//
//   answer_conn c("127.0.0.1:7001", password, lane);
//   c.send("url", "42", "[200,{},\"hi\"]", 42, flush_now);   // queued, written now or later
//   c.flush_out();   c.collect();                            // write; read every reply
//
// States (all transitions here):
//   none    --answer--> connect (+ AUTH) --ok--> open
//                                         --fails--> down: answers dropped, retry after 1 s
//   open    --write or read fails--> reconnect once, resend the unacknowledged answers
//                                    --fails again--> down, those answers dropped
//   open    --no reply within 5 s (a hung endpoint)--> down at once, answers dropped (no resend)
//   open    --peer closed while idle (poll before the first write of a batch)--> reconnect
//   down    --1 s later, next answer--> connect
// Whether a respond_to may be answered at all is decided before (answer_targets.hpp).
//
// If you change the answer command, change src/front/answer_endpoint.cpp too.
#pragma once
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/log.hpp"
#include "core/redis_url.hpp"
#include "worker/heartbeat.hpp"

namespace tempest::detail {

class answer_conn {
 public:
  answer_conn(std::string key, const std::string& password, int lane) : key_(std::move(key)), password_(password), lane_(lane) {
    try {
      split_host_port(key_, host_, port_);
    } catch (const std::invalid_argument& e) {
      bad_address_ = e.what();
    }
  }

  const std::string& key() const { return key_; }
  std::size_t pending() const { return pending_.size(); }

  // Queues `<action> <id> <json>` and, with flush_now, writes it at once; otherwise it leaves
  // with the next flush or collect(). The reply is read later by collect().
  void send(std::string_view action, std::string_view id_text, std::string_view json, std::int64_t id, bool flush_now) {
    if (!ensure_open(id)) return;
    const char* argv[3] = {action.data(), id_text.data(), json.data()};
    std::size_t lens[3] = {action.size(), id_text.size(), json.size()};
    char* cmd = nullptr;
    int len = redisFormatCommandArgv(&cmd, 3, argv, lens);
    if (len < 0) throw std::bad_alloc();
    pending_.push_back({std::unique_ptr<char, command_free>(cmd), static_cast<std::size_t>(len), id});
    if (redisAppendFormattedCommand(ctx_.get(), cmd, static_cast<std::size_t>(len)) != REDIS_OK ||
        (flush_now && !flush())) {
      recover();
      return;
    }
    if (pending_.size() >= max_pending_answers) collect();
  }

  // Writes what send() queued without flush_now (the replies stay for collect()).
  void flush_out() {
    if (ctx_ && !pending_.empty() && !flush()) recover();
  }

  // Reads the replies of every answer sent so far.
  void collect() {
    while (!pending_.empty() && ctx_) {
      void* raw = nullptr;
      errno = 0;
      if (redisGetReply(ctx_.get(), &raw) != REDIS_OK) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {  // alive but silent: resending cannot help
          timed_out();
          break;
        }
        if (!recover()) break;
        continue;
      }
      reply_ptr r(static_cast<redisReply*>(raw));
      if (r->type == REDIS_REPLY_ERROR) log_refused(pending_.front().id, reply_text(r.get()));
      pending_.pop_front();
    }
    resent_ = false;
  }

 private:
  using clock_type = std::chrono::steady_clock;
  static constexpr std::chrono::milliseconds connect_timeout{2000};
  static constexpr std::chrono::milliseconds answer_io_timeout{5000};   // a front that does not read or reply is dropped
  static constexpr std::chrono::milliseconds answer_retry_after{1000};  // after a failed connect or a reply timeout
  static constexpr std::size_t max_pending_answers = 256;  // per connection, before replies are read

  struct command_free {
    void operator()(char* c) const { redisFreeCommand(c); }
  };

  static spdlog::logger& logger() {
    static const auto l = log::get("worker");
    return *l;
  }
  static timeval to_timeval(std::chrono::milliseconds d) {
    return {static_cast<time_t>(d.count() / 1000), static_cast<suseconds_t>(d.count() % 1000 * 1000)};
  }
  static reply_ptr command(redisContext* c, std::initializer_list<std::string_view> args) {
    return command_argv(c, std::vector<std::string_view>(args));
  }

  struct pending_answer {
    std::unique_ptr<char, command_free> command;  // RESP bytes, kept to resend after a reconnect
    std::size_t len;
    std::int64_t id;
  };

  bool ensure_open(std::int64_t id) {
    if (!bad_address_.empty()) {
      if (!down_logged_) logger().warn("[w{} j{}] bad respond_to '{}': {}; its answers are dropped", lane_, id, key_, bad_address_);
      down_logged_ = true;
      return false;
    }
    if (ctx_ && pending_.empty() && peer_closed()) {
      logger().debug("[w{}] answer endpoint {} closed the idle connection; reconnecting", lane_, key_);
      ctx_.reset();
    }
    if (ctx_) return true;
    if (clock_type::now() < retry_after_) {
      logger().debug("[w{} j{}] answer endpoint {} is down; answer dropped", lane_, id, key_);
      return false;
    }
    return connect();
  }

  bool connect() {
    context_ptr c(redisConnectWithTimeout(host_.c_str(), port_, to_timeval(connect_timeout)));
    if (!c || c->err) return connect_failed(c ? c->errstr : "out of memory");
    redisSetTimeout(c.get(), to_timeval(answer_io_timeout));
    redisEnableKeepAlive(c.get());
    int one = 1;  // answers are small and pipelined: no Nagle delay
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (!password_.empty()) {
      auto r = command(c.get(), {"AUTH", password_});
      if (!r) return connect_failed(c->errstr);
      if (r->type == REDIS_REPLY_ERROR)
        logger().warn("[w{}] answer endpoint {} refused AUTH: {}", lane_, key_, reply_text(r.get()));
    }
    ctx_ = std::move(c);
    if (down_logged_) logger().info("[w{}] answer endpoint {} is reachable again", lane_, key_);
    down_logged_ = false;
    return true;
  }

  bool connect_failed(const char* why) {
    retry_after_ = clock_type::now() + answer_retry_after;
    if (!down_logged_) logger().warn("[w{}] cannot connect to answer endpoint {}: {}; its answers are dropped, retrying every 1s", lane_, key_, why);
    else logger().debug("[w{}] answer endpoint {} still down: {}", lane_, key_, why);
    down_logged_ = true;
    return false;
  }

  bool flush() {
    int done = 0;
    do {
      if (redisBufferWrite(ctx_.get(), &done) != REDIS_OK) return false;
    } while (!done);
    return true;
  }

  // The connection broke: reconnect once and resend what has no reply yet, else drop it.
  bool recover() {
    const char* why = ctx_ ? ctx_->errstr : "not connected";
    if (resent_) {
      drop_pending(why);
      return false;
    }
    logger().debug("[w{}] answer connection to {} broke ({}); reconnecting to resend {} answers", lane_, key_, why, pending_.size());
    resent_ = true;
    ctx_.reset();
    if (!connect()) {
      drop_pending("reconnect failed");
      return false;
    }
    for (const auto& p : pending_) redisAppendFormattedCommand(ctx_.get(), p.command.get(), p.len);
    if (!flush()) {
      drop_pending(ctx_->errstr);
      return false;
    }
    return true;
  }

  // No reply within answer_io_timeout: a hung endpoint. Its answers are dropped and it is left
  // alone for answer_retry_after (a reconnect and resend would cost the lane a second timeout).
  void timed_out() {
    drop_pending("no reply within the answer timeout (endpoint hung?)");
    retry_after_ = clock_type::now() + answer_retry_after;
    down_logged_ = true;
  }

  void drop_pending(const char* why) {
    if (!pending_.empty())
      logger().warn("[w{} j{}] dropping {} answers to {}: {}", lane_, pending_.front().id, pending_.size(), key_, why);
    pending_.clear();
    ctx_.reset();  // the next answer tries a new connection
    resent_ = false;
  }

  // With no reply outstanding the socket is readable only when the front closed it.
  bool peer_closed() const {
    pollfd p{ctx_->fd, POLLIN, 0};
    return poll(&p, 1, 0) > 0;
  }

  void log_refused(std::int64_t id, std::string_view err) {
    // A job the front no longer waits for (answered, timed out, older run) is routine.
    if (err.starts_with("ERR unknown job")) {
      logger().debug("[w{} j{}] {} refused the answer: {}", lane_, id, key_, err);
      return;
    }
    // Anything else is a bug or a misconfiguration (NOAUTH, not a Tempest front, invalid answer)
    // that may hit every answer: warn at most once a second.
    auto now = clock_type::now();
    if (now - last_warning_ < std::chrono::seconds(1)) {
      ++suppressed_warnings_;
      return;
    }
    if (suppressed_warnings_ > 0)
      logger().warn("[w{} j{}] {} refused the answer: {} ({} more refusals in the last second)", lane_, id, key_, err, suppressed_warnings_);
    else
      logger().warn("[w{} j{}] {} refused the answer: {}", lane_, id, key_, err);
    last_warning_ = now;
    suppressed_warnings_ = 0;
  }

  std::string key_;  // respond_to as the job gave it: "host:port" or "[v6]:port"
  std::string host_;
  std::uint16_t port_ = 0;
  std::string bad_address_;  // why key_ is not host:port, if it is not
  const std::string& password_;
  int lane_;
  context_ptr ctx_;
  std::deque<pending_answer> pending_;  // sent, reply not read yet
  clock_type::time_point retry_after_{};
  bool resent_ = false;       // pending_ was already resent once on a new connection
  bool down_logged_ = false;  // warn once per outage, debug after
  clock_type::time_point last_warning_{};  // refused answers are warned about once a second
  std::uint64_t suppressed_warnings_ = 0;
};


}  // namespace tempest::detail
