// answers::client (the states and their transitions) and answers::pool (see client.hpp).
#include "core/answer/client.hpp"

#include "core/resp.hpp"

#include <hiredis/hiredis.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>
#include <stdexcept>

#include "core/errors.hpp"
#include "core/hiredis_ptr.hpp"
#include "core/log.hpp"
#include "core/redis_url.hpp"

namespace tempest::answers {
namespace {

constexpr std::chrono::milliseconds retry_after_down{1000};
constexpr std::chrono::milliseconds idle_check_after{100};  // see ensure_open
constexpr std::chrono::seconds down_log_interval{10};
constexpr std::size_t max_unread_answers = 256;  // read the replies in between
constexpr std::size_t read_chunk = 16 * 1024;

spdlog::logger& logger() {
  static const auto l = log::get("worker");
  return *l;
}

std::string_view reply_text(const redisReply* r) { return {r->str, r->len}; }

}  // namespace

void client::reader_free::operator()(redisReader* r) const { redisReaderFree(r); }

client::client(std::string key, const std::string& password, int lane, const limits& l,
               std::atomic<std::uint64_t>& dropped)
    : key_(std::move(key)), password_(password), lane_(lane), limits_(l), dropped_(dropped) {
  try {
    split_host_port(key_, host_, port_);
  } catch (const std::invalid_argument& e) {
    bad_address_ = e.what();
  }
}

client::~client() { close_fd(); }

void client::send(std::string_view action, std::string_view id_text, std::string_view json, std::int64_t id,
                  bool flush_now) {
  auto now = clock_type::now();
  expire(now);
  if (!ensure_open(id, now)) return drop_one(id);
  const std::string_view argv[3] = {action, id_text, json};
  std::string cmd = format_command(argv);
  auto len = cmd.size();
  // The bound is on what queues behind unacknowledged answers: one answer alone always goes
  // (however large: the front's --max-answer-size judges it), as it did with blocking writes.
  if (!pending_.empty() && pending_bytes_ + len > limits_.buffer_bytes) {
    read_some();  // replies that are in already free room
    if (fd_ >= 0 && !pending_.empty() && pending_bytes_ + len > limits_.buffer_bytes) {
      drop_one(id);
      return mark_down("its outbound buffer (--answer-buffer) is full: the endpoint does not read");
    }
  }
  if (fd_ < 0) return drop_one(id);
  pending_bytes_ += len;
  out_.append(cmd);
  pending_.push_back({std::move(cmd), len, id, now});
  last_used_ = now;
  if (flush_now) write_some();
  if (pending_.size() % max_unread_answers == 0) read_some();  // keep the replies flowing
}

void client::flush_out() {
  if (fd_ >= 0 && out_off_ < out_.size()) write_some();
}

bool client::send_stream(std::string_view command, std::string_view id_text, std::string_view payload,
                         std::int64_t id, std::string& why) {
  auto failed = [&]() -> const std::string* {
    for (const auto& [fid, text] : failed_streams_)
      if (fid == id) return &text;
    return nullptr;
  };
  read_some();  // an error for an earlier command of this stream shows now
  if (const std::string* f = failed()) return why = *f, false;
  auto now = clock_type::now();
  expire(now);
  if (!ensure_open(id, now)) return why = "answer endpoint " + key_ + " is down", false;
  const std::string_view argv[3] = {command, id_text, payload};
  std::span<const std::string_view> args(argv, command == "end" || command == "abort" ? 2 : 3);
  if (!wait_for_room(payload.size() + 64)) {
    if (const std::string* f = failed()) return why = *f, false;
    return why = "answer endpoint " + key_ + " is down or stopped reading", false;
  }
  std::size_t at = out_.size();
  append_command(out_, {args});
  std::size_t len = out_.size() - at;
  pending_bytes_ += len;
  pending_.push_back({std::string(), len, id, now, true});
  last_used_ = now;
  write_some();
  if (fd_ < 0) {
    if (const std::string* f = failed()) return why = *f, false;
    return why = "the answer connection to " + key_ + " broke", false;
  }
  return true;
}

bool client::sync_stream(std::int64_t id, std::string& why) {
  wait_for_room(stream_window + 1);  // never fits: returns once nothing is pending, or down
  for (const auto& [fid, text] : failed_streams_)
    if (fid == id) return why = text, false;
  if (fd_ < 0) return why = "answer endpoint " + key_ + " is down", false;
  return true;
}

// Waits until `len` more bytes fit in the stream window (one command alone always goes), as
// long as replies keep coming: none for --answer-timeout marks the endpoint down.
bool client::wait_for_room(std::size_t len) {
  auto progress_at = clock_type::now();
  while (fd_ >= 0 && !pending_.empty() && pending_bytes_ + len > std::min(stream_window, limits_.buffer_bytes)) {
    std::size_t before = pending_bytes_ + (out_.size() - out_off_);
    pollfd p{fd_, events(), 0};
    if (poll(&p, 1, 100) > 0) on_ready(p.revents);
    auto now = clock_type::now();
    if (fd_ >= 0 && pending_bytes_ + (out_.size() - out_off_) < before) progress_at = now;
    else if (fd_ >= 0 && now - progress_at > limits_.timeout) mark_down("stream writes stalled past --answer-timeout");
  }
  return fd_ >= 0;
}

// ---- for pool::collect() --------------------------------------------------------------------------

void client::expire(clock_type::time_point now) {
  if (fd_ < 0) return;
  if (!connected_ && now - connect_started_ > limits_.connect_timeout)
    return mark_down("connect timed out (--answer-connect-timeout)");
  if (awaiting_auth_ && now - connect_started_ > limits_.timeout) return mark_down("no reply to AUTH within --answer-timeout");
  if (!pending_.empty() && now - std::max(pending_.front().queued_at, last_reply_at_) > limits_.timeout)
    return mark_down(out_off_ < out_.size() ? "writes stalled past --answer-timeout (endpoint hung?)"
                                             : "no reply within --answer-timeout (endpoint hung?)");
}

short client::events() const {
  if (fd_ < 0) return 0;
  short e = 0;
  if (!connected_ || out_off_ < out_.size()) e |= POLLOUT;
  if (connected_ && (!pending_.empty() || awaiting_auth_)) e |= POLLIN;
  return e;
}

client::clock_type::time_point client::wait_until() const {
  auto from = pending_.empty() ? connect_started_ : std::max(pending_.front().queued_at, connect_started_);
  return from + limits_.reply_wait;
}

void client::on_ready(short revents) {
  if (fd_ >= 0 && (revents & (POLLOUT | POLLERR | POLLHUP)) && (!connected_ || out_off_ < out_.size())) write_some();
  if (fd_ >= 0 && connected_ && (revents & (POLLIN | POLLERR | POLLHUP))) read_some();
}

// ---- connecting -----------------------------------------------------------------------------

bool client::ensure_open(std::int64_t id, clock_type::time_point now) {
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
bool client::start_connect(clock_type::time_point now) {
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
    out_.append(format_command({"AUTH", password_}));
  }
  for (const auto& p : pending_) out_.append(p.command);  // never a stream's: fail_streams took those
  return true;
}

bool client::connect_failed(const char* why) {
  std::string text = std::string("cannot connect: ") + why;
  mark_down(text.c_str());
  return false;
}

// ---- writing and reading --------------------------------------------------------------------

// send() as far as the socket takes it; the first success of a connecting socket opens it.
void client::write_some() {
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
void client::read_some() {
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

bool client::take_replies() {
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
    last_reply_at_ = clock_type::now();
    if (r->type == REDIS_REPLY_ERROR) {
      // A stream's error is logged once: the commands behind it get the same one.
      if (!pending_.front().stream || stream_failed(pending_.front().id, std::string(reply_text(r.get()))))
        log_refused(pending_.front().id, reply_text(r.get()));
    }
    pending_bytes_ -= pending_.front().bytes;
    pending_.pop_front();
    if (pending_.empty()) resent_ = false;
  }
}

// ---- breaking down --------------------------------------------------------------------------

// The connection broke: reconnect once and resend what has no reply yet, else drop it.
void client::broken(const char* why) {
  if (pending_.empty() && connected_) {  // nothing to resend: the next answer reconnects
    logger().debug("[w{}] answer connection to {} closed: {}", lane_, key_, why);
    return close_fd();
  }
  if (resent_ || !connected_) {
    std::string text = std::string(connected_ ? "" : "cannot connect: ") + why;
    return mark_down(text.c_str());
  }
  fail_streams("the answer connection broke mid-stream");
  logger().debug("[w{}] answer connection to {} broke ({}); reconnecting to resend {} answers", lane_, key_, why, pending_.size());
  resent_ = true;
  start_connect(clock_type::now());
}

// Drops the queued answers (their requests time out at the front) and leaves the endpoint
// alone for retry_after_down.
void client::mark_down(const char* why) {
  fail_streams(why);
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
  retry_after_ = now + retry_after_down;
}

void client::drop_one(std::int64_t id) {
  dropped_.fetch_add(1, std::memory_order_relaxed);
  ++down_dropped_;
  logger().debug("[w{} j{}] answer endpoint {} is down; answer dropped", lane_, id, key_);
}

void client::close_fd() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  connected_ = false;
  out_.clear();
  out_off_ = 0;
  awaiting_auth_ = false;
}

// With no reply outstanding the socket is readable only when the front closed it.
bool client::peer_closed() const {
  pollfd p{fd_, POLLIN, 0};
  return poll(&p, 1, 0) > 0;
}

void client::fail_streams(const char* why) {
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (!it->stream) {
      ++it;
      continue;
    }
    stream_failed(it->id, std::string("answer endpoint ") + key_ + ": " + why);
    pending_bytes_ -= it->bytes;
    it = pending_.erase(it);
  }
}

bool client::stream_failed(std::int64_t id, std::string why) {
  for (const auto& f : failed_streams_)
    if (f.first == id) return false;  // the first reason stays
  if (failed_streams_.size() >= 64) failed_streams_.pop_front();
  failed_streams_.emplace_back(id, std::move(why));
  return true;
}

void client::log_refused(std::int64_t id, std::string_view err) {
  // A job the front no longer waits for (answered, timed out, older run), or a stream whose
  // client left, is routine.
  if (err.starts_with(answer_error::unknown_job) || err.starts_with(answer_error::no_stream)) {
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

// ---- all of a lane's clients at once --------------------------------------------------------

client& pool::get(std::string_view respond_to) {
  if (last_ && last_->key() == respond_to) return *last_;
  for (auto& c : clients_)
    if (c->key() == respond_to) return *(last_ = c.get());
  if (clients_.size() >= max_clients) {  // many fronts came and went: forget an idle one
    auto idle = std::find_if(clients_.begin(), clients_.end(), [](const auto& c) { return c->pending() == 0; });
    if (idle != clients_.end()) clients_.erase(idle);
  }
  clients_.push_back(std::make_unique<client>(std::string(respond_to), password_, lane_, limits_, dropped_));
  return *(last_ = clients_.back().get());
}

void pool::flush_out() {
  for (auto& c : clients_) c->flush_out();
}

void pool::collect(bool final) {
  std::vector<pollfd> fds;
  std::vector<client*> polled;
  for (;;) {
    auto now = client::clock_type::now();
    auto until = client::clock_type::time_point::max();
    fds.clear();
    polled.clear();
    bool waiting = false;
    for (auto& c : clients_) {
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

}  // namespace tempest::answers
