// One cached connection from a worker lane to one front's answer endpoint: the answers of the
// job loop (worker.cpp) pipelined on it, their +OK/-ERR replies read later. All its I/O is
// non-blocking, so that a hung or slow endpoint never stalls the lane's jobs for the others:
// the lane polls every open answer connection at once (collect_answers below). Private to the
// library, included by worker.cpp (the lanes) and reliable.cpp (the reaper's 502 answers).
//
//   answer_conn c("127.0.0.1:7001", password, lane, limits, dropped_counter);
//   c.send("url", "42", "[200,{},\"hi\"]", 42, flush_now);   // queued, written now or later
//   c.flush_out();                                           // write what the socket takes
//   collect_answers(conns, false);                           // poll all: write, read replies
//
// States (all transitions here; "down" drops the queued answers: their requests get 504 at the
// front, counted in worker::dropped_answers(), warned about at most every 10 s per endpoint):
//   none       --answer--> connecting: non-blocking connect, AUTH and the answers queued behind
//   connecting --writable--> open (the queue is written as the socket takes it)
//              --refused, or not done within --answer-connect-timeout--> down
//   open       --write or read fails, peer closes--> reconnect once, resend the unacknowledged
//                                                   answers --fails again--> down
//   open       --an answer unacknowledged for --answer-timeout (its write stalled or no reply:
//                a hung endpoint)--> down at once (no resend)
//   open       --queued answers over --answer-buffer bytes--> down at once
//   open       --idle > 100 ms and the peer closed (poll before the next answer)--> reconnect
//   down       --1 s later, next answer--> connecting
// The lane waits for an endpoint's replies at most --answer-reply-wait after its oldest
// unacknowledged answer (then collects them with a later batch): a hung endpoint costs the lane
// that once per outage, never the 5 s of a timeout per job. In the healthy case an answer costs
// what blocking I/O did: one send() per flush, then one poll() and one read() per batch.
// Whether a respond_to may be answered at all is decided before (answer_targets.hpp).
//
// If you change the answer command, change src/front/answer_endpoint.cpp too.
#pragma once
#include <hiredis/hiredis.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
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

// From worker_options (--answer-connect-timeout, --answer-timeout, --answer-reply-wait,
// --answer-buffer).
struct answer_limits {
  std::chrono::milliseconds connect_timeout{500};
  std::chrono::milliseconds timeout{5000};     // longest an answer may stay unacknowledged
  std::chrono::milliseconds reply_wait{100};   // longest the lane waits for one endpoint
  std::size_t buffer_bytes = 8u << 20;         // unacknowledged answers per connection
};

class answer_conn {
 public:
  using clock_type = std::chrono::steady_clock;

  answer_conn(std::string key, const std::string& password, int lane, const answer_limits& limits,
              std::atomic<std::uint64_t>& dropped)
      : key_(std::move(key)), password_(password), lane_(lane), limits_(limits), dropped_(dropped) {
    try {
      split_host_port(key_, host_, port_);
    } catch (const std::invalid_argument& e) {
      bad_address_ = e.what();
    }
  }
  ~answer_conn() { close_fd(); }
  answer_conn(const answer_conn&) = delete;
  answer_conn& operator=(const answer_conn&) = delete;

  const std::string& key() const { return key_; }
  std::size_t pending() const { return pending_.size(); }

  // Queues `<action> <id> <json>` and, with flush_now, writes it at once (as far as the socket
  // takes it); otherwise it leaves with the next flush_out() or collect_answers().
  void send(std::string_view action, std::string_view id_text, std::string_view json, std::int64_t id, bool flush_now) {
    auto now = clock_type::now();
    expire(now);
    if (!ensure_open(id, now)) return drop_one(id);
    const char* argv[3] = {action.data(), id_text.data(), json.data()};
    std::size_t lens[3] = {action.size(), id_text.size(), json.size()};
    char* cmd = nullptr;
    int len = redisFormatCommandArgv(&cmd, 3, argv, lens);
    if (len < 0) throw std::bad_alloc();
    std::unique_ptr<char, command_free> owned(cmd);
    // The bound is on what queues behind unacknowledged answers: one answer alone always goes
    // (however large: the front's --max-answer-size judges it), as it did with blocking writes.
    if (!pending_.empty() && pending_bytes_ + static_cast<std::size_t>(len) > limits_.buffer_bytes) {
      read_some();  // replies that are in already free room
      if (fd_ >= 0 && !pending_.empty() && pending_bytes_ + static_cast<std::size_t>(len) > limits_.buffer_bytes) {
        drop_one(id);
        return mark_down("its outbound buffer (--answer-buffer) is full: the endpoint does not read");
      }
    }
    if (fd_ < 0) return drop_one(id);
    pending_bytes_ += static_cast<std::size_t>(len);
    out_.append(cmd, static_cast<std::size_t>(len));
    pending_.push_back({std::move(owned), static_cast<std::size_t>(len), id, now});
    last_used_ = now;
    if (flush_now) write_some();
    if (pending_.size() % max_unread_answers == 0) read_some();  // keep the replies flowing
  }

  // Writes what send() queued without flush_now, as far as the socket takes it.
  void flush_out() {
    if (fd_ >= 0 && out_off_ < out_.size()) write_some();
  }

  // ---- for collect_answers() ----------------------------------------------------------------

  // Drops the connection when its connect or an answer is overdue.
  void expire(clock_type::time_point now) {
    if (fd_ < 0) return;
    if (!connected_ && now - connect_started_ > limits_.connect_timeout)
      return mark_down("connect timed out (--answer-connect-timeout)");
    if (awaiting_auth_ && now - connect_started_ > limits_.timeout) return mark_down("no reply to AUTH within --answer-timeout");
    if (!pending_.empty() && now - pending_.front().queued_at > limits_.timeout)
      return mark_down(out_off_ < out_.size() ? "writes stalled past --answer-timeout (endpoint hung?)"
                                               : "no reply within --answer-timeout (endpoint hung?)");
  }
  // The poll events this connection waits for (0: none).
  short events() const {
    if (fd_ < 0) return 0;
    short e = 0;
    if (!connected_ || out_off_ < out_.size()) e |= POLLOUT;
    if (connected_ && (!pending_.empty() || awaiting_auth_)) e |= POLLIN;
    return e;
  }
  int fd() const { return fd_; }
  // Until when the lane waits for this connection's replies.
  clock_type::time_point wait_until() const {
    auto from = pending_.empty() ? connect_started_ : std::max(pending_.front().queued_at, connect_started_);
    return from + limits_.reply_wait;
  }
  void on_ready(short revents) {
    if (fd_ >= 0 && (revents & (POLLOUT | POLLERR | POLLHUP)) && (!connected_ || out_off_ < out_.size())) write_some();
    if (fd_ >= 0 && connected_ && (revents & (POLLIN | POLLERR | POLLHUP))) read_some();
  }

 private:
  static constexpr std::chrono::milliseconds answer_retry_after{1000};  // after down
  static constexpr std::chrono::milliseconds idle_check_after{100};     // see ensure_open
  static constexpr std::chrono::seconds down_log_interval{10};
  static constexpr std::size_t max_unread_answers = 256;  // read the replies in between
  static constexpr std::size_t read_chunk = 16 * 1024;

  struct command_free {
    void operator()(char* c) const { redisFreeCommand(c); }
  };
  struct reader_free {
    void operator()(redisReader* r) const { redisReaderFree(r); }
  };
  struct pending_answer {
    std::unique_ptr<char, command_free> command;  // RESP bytes, kept to resend after a reconnect
    std::size_t len;
    std::int64_t id;
    clock_type::time_point queued_at;
  };

  static spdlog::logger& logger() {
    static const auto l = log::get("worker");
    return *l;
  }

  bool ensure_open(std::int64_t id, clock_type::time_point now) {
    if (!bad_address_.empty()) {
      if (!bad_logged_) logger().warn("[w{} j{}] bad respond_to '{}': {}; its answers are dropped", lane_, id, key_, bad_address_);
      bad_logged_ = true;
      return false;
    }
    // Fronts close idle connections: check before reusing one that rested (a send on it would
    // be lost). Under load the connection never rests this long: no extra syscall per answer.
    if (fd_ >= 0 && connected_ && pending_.empty() && now - last_used_ > idle_check_after && peer_closed()) {
      logger().debug("[w{}] answer endpoint {} closed the idle connection; reconnecting", lane_, key_);
      close_fd();
    }
    if (fd_ >= 0) return true;
    if (now < retry_after_) return false;
    return start_connect(now);
  }

  // Non-blocking connect; AUTH, then the unacknowledged answers (after a break), are queued.
  // (A respond_to is an IP address in practice; a host name is resolved here, blocking.)
  bool start_connect(clock_type::time_point now) {
    close_fd();
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* res = nullptr;
    std::string port = std::to_string(port_);
    if (int rc = getaddrinfo(host_.c_str(), port.c_str(), &hints, &res); rc != 0 || !res)
      return connect_failed(gai_strerror(rc));
    std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard(res, freeaddrinfo);
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return connect_failed(std::strerror(errno));
    int one = 1;  // answers are small and pipelined: no Nagle delay
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    fd_ = fd;
    connect_started_ = now;
    connected_ = ::connect(fd, res->ai_addr, res->ai_addrlen) == 0;
    if (!connected_ && errno != EINPROGRESS) return connect_failed(std::strerror(errno));
    reader_.reset(redisReaderCreate());
    if (!reader_) throw std::bad_alloc();
    out_.clear();
    out_off_ = 0;
    awaiting_auth_ = !password_.empty();
    if (awaiting_auth_) {
      const char* argv[2] = {"AUTH", password_.data()};
      std::size_t lens[2] = {4, password_.size()};
      char* cmd = nullptr;
      int len = redisFormatCommandArgv(&cmd, 2, argv, lens);
      if (len < 0) throw std::bad_alloc();
      out_.append(cmd, static_cast<std::size_t>(len));
      redisFreeCommand(cmd);
    }
    for (const auto& p : pending_) out_.append(p.command.get(), p.len);
    return true;
  }

  bool connect_failed(const char* why) {
    std::string text = std::string("cannot connect: ") + why;
    mark_down(text.c_str());
    return false;
  }

  // send() as far as the socket takes it; the first success of a connecting socket opens it.
  void write_some() {
    while (out_off_ < out_.size()) {
      ssize_t n = ::send(fd_, out_.data() + out_off_, out_.size() - out_off_, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;  // still connecting, or full
      if (n < 0) return broken(std::strerror(errno));
      if (!connected_) logger().debug("[w{}] connected to answer endpoint {}", lane_, key_);
      connected_ = true;
      out_off_ += static_cast<std::size_t>(n);
    }
    out_.clear();
    out_off_ = 0;
  }

  // read() what is there and take the replies out of it, without waiting.
  void read_some() {
    if (fd_ < 0 || !connected_) return;
    char buf[read_chunk];
    for (;;) {
      ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      if (n <= 0) return broken(n == 0 ? "closed by the endpoint" : std::strerror(errno));
      if (redisReaderFeed(reader_.get(), buf, static_cast<std::size_t>(n)) != REDIS_OK) return broken("bad reply");
      if (!take_replies()) return;
      if (static_cast<std::size_t>(n) < sizeof buf) return;
    }
  }

  bool take_replies() {
    for (;;) {
      void* raw = nullptr;
      if (redisReaderGetReply(reader_.get(), &raw) != REDIS_OK) {
        broken("bad reply");
        return false;
      }
      if (!raw) return true;
      reply_ptr r(static_cast<redisReply*>(raw));
      if (awaiting_auth_) {
        awaiting_auth_ = false;
        if (r->type == REDIS_REPLY_ERROR)
          logger().warn("[w{}] answer endpoint {} refused AUTH: {}", lane_, key_, reply_text(r.get()));
        continue;
      }
      if (pending_.empty()) {  // a reply to nothing: not a Tempest front
        broken("a reply to no answer");
        return false;
      }
      if (r->type == REDIS_REPLY_ERROR) log_refused(pending_.front().id, reply_text(r.get()));
      pending_bytes_ -= pending_.front().len;
      pending_.pop_front();
      if (pending_.empty()) resent_ = false;
    }
  }

  // The connection broke: reconnect once and resend what has no reply yet, else drop it.
  void broken(const char* why) {
    if (pending_.empty() && connected_) {  // nothing to resend: the next answer reconnects
      logger().debug("[w{}] answer connection to {} closed: {}", lane_, key_, why);
      return close_fd();
    }
    if (resent_ || !connected_) {
      std::string text = std::string(connected_ ? "" : "cannot connect: ") + why;
      return mark_down(text.c_str());
    }
    logger().debug("[w{}] answer connection to {} broke ({}); reconnecting to resend {} answers", lane_, key_, why, pending_.size());
    resent_ = true;
    start_connect(clock_type::now());
  }

  // Drops the queued answers (their requests time out at the front) and leaves the endpoint
  // alone for answer_retry_after.
  void mark_down(const char* why) {
    auto now = clock_type::now();
    dropped_.fetch_add(pending_.size(), std::memory_order_relaxed);
    down_dropped_ += pending_.size();
    ++down_since_log_;
    if (now - down_logged_at_ >= down_log_interval || down_logged_at_ == clock_type::time_point{}) {
      logger().warn("[w{}] answer endpoint {} is down: {}; {} answers dropped ({} outages since the last such line), "
                    "retrying every 1s", lane_, key_, why, down_dropped_, down_since_log_);
      down_logged_at_ = now;
      down_dropped_ = 0;
      down_since_log_ = 0;
    } else {
      logger().debug("[w{}] answer endpoint {} is down: {}; {} answers dropped", lane_, key_, why, pending_.size());
    }
    pending_.clear();
    pending_bytes_ = 0;
    resent_ = false;
    close_fd();
    retry_after_ = now + answer_retry_after;
  }

  void drop_one(std::int64_t id) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    ++down_dropped_;
    logger().debug("[w{} j{}] answer endpoint {} is down; answer dropped", lane_, id, key_);
  }

  void close_fd() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    connected_ = false;
    out_.clear();
    out_off_ = 0;
    awaiting_auth_ = false;
  }

  // With no reply outstanding the socket is readable only when the front closed it.
  bool peer_closed() const {
    pollfd p{fd_, POLLIN, 0};
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
  bool bad_logged_ = false;
  const std::string& password_;
  int lane_;
  const answer_limits& limits_;
  std::atomic<std::uint64_t>& dropped_;  // worker::dropped_answers()
  int fd_ = -1;
  bool connected_ = false;      // the non-blocking connect completed (a send succeeded)
  bool awaiting_auth_ = false;  // the first reply on this connection is AUTH's
  std::unique_ptr<redisReader, reader_free> reader_;
  std::string out_;            // bytes not written yet (AUTH, answers)
  std::size_t out_off_ = 0;    // how much of out_ is written
  std::deque<pending_answer> pending_;  // queued or sent, reply not read yet
  std::size_t pending_bytes_ = 0;       // their RESP bytes (bounded by buffer_bytes)
  clock_type::time_point connect_started_{};
  clock_type::time_point last_used_{};
  clock_type::time_point retry_after_{};
  bool resent_ = false;  // pending_ was already resent once on a new connection
  clock_type::time_point down_logged_at_{};  // outages are warned about every 10 s at most
  std::uint64_t down_dropped_ = 0;           // answers dropped since that line
  std::uint64_t down_since_log_ = 0;         // outages since that line
  clock_type::time_point last_warning_{};    // refused answers are warned about once a second
  std::uint64_t suppressed_warnings_ = 0;
};

// Writes the queued answers of every connection and reads their replies with one poll() over
// all of them, waiting for each at most until its wait_until() (final: until each is done or
// down, at a stop). Replies not in by then are collected with a later batch.
inline void collect_answers(std::vector<std::unique_ptr<answer_conn>>& conns, bool final) {
  std::vector<pollfd> fds;
  std::vector<answer_conn*> polled;
  for (;;) {
    auto now = answer_conn::clock_type::now();
    auto until = answer_conn::clock_type::time_point::max();
    fds.clear();
    polled.clear();
    bool waiting = false;
    for (auto& c : conns) {
      c->flush_out();
      c->expire(now);
      short e = c->events();
      if (e == 0) continue;
      fds.push_back({c->fd(), e, 0});
      polled.push_back(c.get());
      auto u = final ? now + std::chrono::milliseconds(50) : c->wait_until();
      if (u > now) waiting = true, until = std::min(until, u);
    }
    if (!waiting) return;
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(until - now).count();
    int n = poll(fds.data(), fds.size(), static_cast<int>(std::clamp<long long>(ms, 0, 60'000)));
    if (n < 0 && errno != EINTR) return;
    for (std::size_t i = 0; n > 0 && i < fds.size(); ++i)
      if (fds[i].revents != 0) polled[i]->on_ready(fds[i].revents);
  }
}

}  // namespace tempest::detail
