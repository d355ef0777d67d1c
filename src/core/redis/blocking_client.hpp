// The one blocking Redis client (hiredis), for everything that is not the front's data path:
// the worker library (job loop, heartbeat, reaper, queue watch, publisher), the angel, the CLI
// (`tempest jobs`, `status`, `publish`) and the benchmarks. The front has its own async client
// (async_client.hpp); nothing else opens a Redis connection by hand.
//
//   blocking_client r(parse_redis_url(url), {.connect_timeout = 2s, .io_timeout = 5s});
//   r.connect();                                   // TCP or unix socket, AUTH, SELECT (or throw)
//   reply_ptr v = r.command({"LLEN", "tempest"});  // connects first when needed
//   r.append({"LREM", list, "1", entry});          // pipelined: no I/O yet
//   r.append(script, {keys...}, {args...});        // EVALSHA (the script must be loaded)
//   r.flush();  reply_ptr a = r.read_reply();      // write the appended, read one reply each
//   reply_ptr t = r.run(take, {keys...}, {args...});  // EVALSHA; SCRIPT LOAD first, and again
//                                                      // after NOSCRIPT (SCRIPT FLUSH, restart)
//
// Errors: an error reply (-ERR ...) is a reply like any other (type REDIS_REPLY_ERROR); the
// caller decides. I/O trouble (unreachable, lost, no reply within io_timeout) throws
// redis::io_error and closes the connection, so the next call connects again: retry later.
// AUTH or SELECT refused throws redis::refused: a configuration error, retrying will not help.
// Both messages name the Redis (URL without its password) and what failed.
#pragma once
#include <chrono>
#include <initializer_list>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/hiredis_ptr.hpp"
#include "core/redis_url.hpp"

namespace tempest::redis {

struct io_error : std::runtime_error {
  // closed: Redis closed the connection (EOF, reset, broken pipe): a command sent on a
  // connection found closed like this never reached Redis, so it may be sent again.
  // timeout: no reply within io_timeout (the command may have run). other: anything else.
  enum class cause { closed, timeout, other };
  io_error(const std::string& what, cause c = cause::other) : std::runtime_error(what), why(c) {}
  cause why;
};
struct refused : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct blocking_options {
  std::chrono::milliseconds connect_timeout{2000};
  // Each read and write; 0: wait forever (only for commands that block on purpose).
  std::chrono::milliseconds io_timeout{5000};
  // TCP keepalive (not for unix sockets): for connections that sit idle between commands.
  bool keepalive = false;
};

// A Lua script run by its sha. The source is the .lua file embedded at build time
// (core/queue/scripts.hpp); the sha is learnt on first use and again after NOSCRIPT.
struct script {
  std::string_view name;    // for error messages: "take", "reap", ...
  std::string_view source;
  std::string sha;          // "" until loaded on this Redis
};

inline std::string_view text(const redisReply* r) { return {r->str, r->len}; }

class blocking_client {
 public:
  using args = std::span<const std::string_view>;

  explicit blocking_client(redis_endpoint ep, blocking_options o = {});
  blocking_client(blocking_client&&) noexcept = default;
  blocking_client& operator=(blocking_client&&) noexcept = default;

  // Connects now (no-op when connected). Throws io_error or refused.
  void connect();
  bool connected() const { return ctx_ != nullptr; }
  void close() { ctx_.reset(); }
  // The hiredis context, for what this class does not wrap (nullptr when not connected).
  redisContext* context() const { return ctx_.get(); }
  const redis_endpoint& endpoint() const { return ep_; }
  std::string name() const { return ep_.to_string(); }  // for logs: no password
  void set_io_timeout(std::chrono::milliseconds t);

  // One command and its reply. Connects first when needed.
  reply_ptr command(args a);
  reply_ptr command(std::initializer_list<std::string_view> a) { return command(args(a.begin(), a.size())); }
  reply_ptr command(const std::vector<std::string>& a);

  // Pipelining: append commands (no I/O), flush(), then read_reply() once per command. Append
  // connects first when needed. A script is appended as EVALSHA: load it first (load()).
  void append(args a);
  void append(std::initializer_list<std::string_view> a) { append(args(a.begin(), a.size())); }
  void append(const script& s, args keys, args argv);
  void flush();
  reply_ptr read_reply();
  // append + flush + read_reply for each; replies in order.
  std::vector<reply_ptr> pipeline(const std::vector<std::vector<std::string>>& commands);

  // SCRIPT LOAD when s has no sha yet. Throws io_error, or std::runtime_error when refused.
  void load(script& s);
  // EVALSHA s keys args: loads first when needed and once more after NOSCRIPT.
  reply_ptr run(script& s, args keys, args argv);
  reply_ptr run(script& s, std::initializer_list<std::string_view> keys, std::initializer_list<std::string_view> argv) {
    return run(s, args(keys.begin(), keys.size()), args(argv.begin(), argv.size()));
  }

 private:
  [[noreturn]] void fail(std::string_view what);
  void hand_over(std::string& wire);  // a formatted command to hiredis's output buffer

  redis_endpoint ep_;
  blocking_options o_;
  context_ptr ctx_;
};

}  // namespace tempest::redis
