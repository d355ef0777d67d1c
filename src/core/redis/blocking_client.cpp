// The one blocking Redis client (API and error rules: blocking_client.hpp).
#include "core/redis/blocking_client.hpp"

#include "core/resp.hpp"

#include <fmt/format.h>

#include <array>
#include <cerrno>

namespace tempest::redis {
namespace {

timeval to_timeval(std::chrono::milliseconds d) {
  return {static_cast<time_t>(d.count() / 1000), static_cast<suseconds_t>(d.count() % 1000 * 1000)};
}

}  // namespace

blocking_client::blocking_client(redis_endpoint ep, blocking_options o) : ep_(std::move(ep)), o_(o) {}

void blocking_client::set_io_timeout(std::chrono::milliseconds t) {
  o_.io_timeout = t;
  if (ctx_) redisSetTimeout(ctx_.get(), to_timeval(t));
}

void blocking_client::fail(std::string_view what) {
  int err = errno;  // what hiredis saw, before anything else can change it
  std::string why = ctx_ && ctx_->errstr[0] ? ctx_->errstr : "no reply in time";
  auto c = io_error::cause::other;
  if (ctx_ && ctx_->err == REDIS_ERR_EOF) c = io_error::cause::closed;
  else if (ctx_ && ctx_->err == REDIS_ERR_IO && (err == ECONNRESET || err == EPIPE)) c = io_error::cause::closed;
  else if (ctx_ && ctx_->err == REDIS_ERR_IO && (err == EAGAIN || err == EWOULDBLOCK)) c = io_error::cause::timeout;
  ctx_.reset();
  throw io_error(fmt::format("Redis at {}: {} failed: {}", name(), what, why), c);
}

void blocking_client::connect() {
  if (ctx_) return;
  context_ptr c(ep_.is_unix() ? redisConnectUnixWithTimeout(ep_.unix_path.c_str(), to_timeval(o_.connect_timeout))
                              : redisConnectWithTimeout(ep_.host.c_str(), ep_.port, to_timeval(o_.connect_timeout)));
  if (!c) throw io_error(fmt::format("cannot connect to Redis at {}: out of memory", name()));
  if (c->err) throw io_error(fmt::format("cannot connect to Redis at {}: {}", name(), c->errstr));
  if (o_.io_timeout.count() > 0) redisSetTimeout(c.get(), to_timeval(o_.io_timeout));
  if (o_.keepalive && !ep_.is_unix()) redisEnableKeepAlive(c.get());
  ctx_ = std::move(c);
  // AUTH and SELECT go out together: one round trip.
  int setup = 0;
  if (!ep_.password.empty()) {
    if (ep_.user.empty()) append({"AUTH", ep_.password});
    else append({"AUTH", ep_.user, ep_.password});
    ++setup;
  }
  std::string db = std::to_string(ep_.db);
  if (ep_.db != 0) {
    append({"SELECT", db});
    ++setup;
  }
  if (setup == 0) return;
  flush();
  std::string error;
  for (int i = 0; i < setup; ++i) {
    auto r = read_reply();
    if (r->type == REDIS_REPLY_ERROR && error.empty()) error = text(r.get());
  }
  if (!error.empty()) {
    ctx_.reset();
    throw refused(fmt::format("Redis at {} refused {}: {}", name(), ep_.password.empty() ? "SELECT " + db : "AUTH/SELECT",
                              error));
  }
}

// The formatted command to hiredis; a scratch grown by a large command is not kept.
void blocking_client::hand_over(std::string& wire) {
  bool ok = redisAppendFormattedCommand(ctx_.get(), wire.data(), wire.size()) == REDIS_OK;
  if (wire.capacity() > (64u << 10)) std::string().swap(wire);
  if (!ok) fail("a command");
}

// Commands are formatted by format_command's writer (core/resp.hpp) and handed to hiredis
// as they are: its own formatting sprintf's every length (about 3,000 instructions a command
// on the worker's answer path, callgrind).
void blocking_client::append(args a) {
  connect();
  thread_local std::string wire;
  wire.clear();
  append_command(wire, {a});
  hand_over(wire);
}

void blocking_client::append(const script& s, args keys, args argv) {
  connect();
  std::string nkeys = std::to_string(keys.size());
  const std::string_view head[] = {"EVALSHA", s.sha, nkeys};
  thread_local std::string wire;
  wire.clear();
  append_command(wire, {head, keys, argv});
  hand_over(wire);
}

void blocking_client::flush() {
  if (!ctx_) throw io_error(fmt::format("Redis at {}: not connected", name()));
  int done = 0;
  do {
    if (redisBufferWrite(ctx_.get(), &done) != REDIS_OK) fail("write");
  } while (!done);
}

reply_ptr blocking_client::read_reply() {
  if (!ctx_) throw io_error(fmt::format("Redis at {}: not connected", name()));
  void* raw = nullptr;
  if (redisGetReply(ctx_.get(), &raw) != REDIS_OK || !raw) fail("read");
  return reply_ptr(static_cast<redisReply*>(raw));
}

reply_ptr blocking_client::command(args a) {
  append(a);
  return read_reply();  // redisGetReply writes the output buffer first
}

reply_ptr blocking_client::command(const std::vector<std::string>& a) {
  std::vector<std::string_view> v(a.begin(), a.end());
  return command(args(v));
}

std::vector<reply_ptr> blocking_client::pipeline(const std::vector<std::vector<std::string>>& commands) {
  for (const auto& c : commands) {
    std::vector<std::string_view> v(c.begin(), c.end());
    append(args(v));
  }
  std::vector<reply_ptr> out;
  out.reserve(commands.size());
  if (!commands.empty()) flush();
  for (std::size_t i = 0; i < commands.size(); ++i) out.push_back(read_reply());
  return out;
}

void blocking_client::load(script& s) {
  if (!s.sha.empty()) return;
  auto r = command({"SCRIPT", "LOAD", s.source});
  if (r->type != REDIS_REPLY_STRING)
    throw std::runtime_error(fmt::format("Redis at {} refused to load the {} script: {}", name(), s.name,
                                         r->type == REDIS_REPLY_ERROR ? text(r.get()) : "unexpected reply"));
  s.sha = text(r.get());
}

reply_ptr blocking_client::run(script& s, args keys, args argv) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    load(s);
    append(s, keys, argv);
    auto r = read_reply();
    if (r->type == REDIS_REPLY_ERROR && text(r.get()).starts_with("NOSCRIPT")) {
      s.sha.clear();  // SCRIPT FLUSH or a restarted Redis: load again
      continue;
    }
    return r;
  }
  throw std::runtime_error(fmt::format("Redis at {} keeps forgetting the {} script (NOSCRIPT)", name(), s.name));
}

}  // namespace tempest::redis
