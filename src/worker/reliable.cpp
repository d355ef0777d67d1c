// Reliable delivery, the worker library's side beyond the job loop: the heartbeat thread and
// the blocking Redis helpers (API: src/worker/heartbeat.hpp). The reaper and the dead letters
// are the queue model's (src/core/queue/reaper.hpp, dead_letters.hpp); the heartbeat calls the
// reaper every ttl; the scripts are src/core/queue/scripts/*.lua.
#include <fmt/format.h>

#include <climits>
#include <optional>
#include <stdexcept>

#include "core/log.hpp"
#include "core/queue/keys.hpp"
#include "core/queue/reaper.hpp"
#include "core/queue/scripts.hpp"
#include "core/redis/blocking_client.hpp"
#include "worker/heartbeat.hpp"
#include "worker/job_codec.hpp"
#include "worker/reliable_scripts.hpp"

namespace tempest {
namespace detail {
namespace {

using namespace std::chrono_literals;

constexpr auto connect_timeout = 2s;
constexpr auto io_timeout = 5s;

spdlog::logger& logger() {
  static const auto l = log::get("reaper");
  return *l;
}

timeval to_timeval(std::chrono::milliseconds d) {
  return {static_cast<time_t>(d.count() / 1000), static_cast<suseconds_t>(d.count() % 1000 * 1000)};
}

}  // namespace

// ---- blocking Redis -------------------------------------------------------------------------

context_ptr connect_blocking(const redis_endpoint& ep, std::chrono::milliseconds timeout) {
  context_ptr c(ep.is_unix() ? redisConnectUnixWithTimeout(ep.unix_path.c_str(), to_timeval(connect_timeout))
                             : redisConnectWithTimeout(ep.host.c_str(), ep.port, to_timeval(connect_timeout)));
  if (!c) throw std::runtime_error(fmt::format("cannot connect to Redis at {}: out of memory", ep.to_string()));
  if (c->err) throw std::runtime_error(fmt::format("cannot connect to Redis at {}: {}", ep.to_string(), c->errstr));
  redisSetTimeout(c.get(), to_timeval(timeout));
  auto check = [&](reply_ptr r, const char* what) {
    if (!r) throw std::runtime_error(fmt::format("Redis at {}: {} failed: {}", ep.to_string(), what, c->errstr));
    if (r->type == REDIS_REPLY_ERROR)
      throw std::runtime_error(fmt::format("Redis at {} refused {}: {}", ep.to_string(), what, reply_text(r.get())));
  };
  if (!ep.password.empty())
    check(ep.user.empty() ? command_argv(c.get(), {"AUTH", ep.password}) : command_argv(c.get(), {"AUTH", ep.user, ep.password}),
          "AUTH");
  if (ep.db != 0) check(command_argv(c.get(), {"SELECT", std::to_string(ep.db)}), "SELECT");
  return c;
}

reply_ptr command_argv(redisContext* c, const std::vector<std::string_view>& args) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  argv.reserve(args.size());
  lens.reserve(args.size());
  for (auto a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  return reply_ptr(static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(args.size()), argv.data(), lens.data())));
}

void append_command(redisContext* c, std::initializer_list<std::string_view> args) {
  if (args.size() > max_appended_args) throw std::logic_error("append_command: too many arguments");
  const char* argv[max_appended_args];
  std::size_t lens[max_appended_args];
  int n = 0;
  for (auto a : args) {
    argv[n] = a.data();
    lens[n++] = a.size();
  }
  redisAppendCommandArgv(c, n, argv, lens);
}

bool flush_output(redisContext* c) {
  int done = 0;
  do {
    if (redisBufferWrite(c, &done) != REDIS_OK) return false;
  } while (!done);
  return true;
}

void append_script(redisContext* c, std::string_view sha, const std::vector<std::string_view>& keys,
                   const std::vector<std::string_view>& args) {
  std::string nkeys = std::to_string(keys.size());
  std::vector<const char*> argv{"EVALSHA", sha.data(), nkeys.c_str()};
  std::vector<std::size_t> lens{7, sha.size(), nkeys.size()};
  for (const auto* list : {&keys, &args})
    for (auto a : *list) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
  redisAppendCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data());
}

std::string load_script(redisContext* c, std::string_view script, std::string& err) {
  auto r = command_argv(c, {"SCRIPT", "LOAD", script});
  if (!r) {
    err = c->errstr;
    return {};
  }
  if (r->type != REDIS_REPLY_STRING) {
    err = r->type == REDIS_REPLY_ERROR ? std::string(reply_text(r.get())) : "unexpected reply";
    return {};
  }
  return std::string(reply_text(r.get()));
}

reply_ptr run_script(redisContext* c, std::string_view script, std::string& sha,
                     const std::vector<std::string_view>& keys, const std::vector<std::string_view>& args) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (sha.empty()) {
      std::string err;
      sha = load_script(c, script, err);
      if (sha.empty()) {
        if (c->err) return nullptr;
        throw std::runtime_error("SCRIPT LOAD refused: " + err);
      }
    }
    append_script(c, sha, keys, args);
    void* raw = nullptr;
    if (redisGetReply(c, &raw) != REDIS_OK) return nullptr;
    reply_ptr r(static_cast<redisReply*>(raw));
    if (r->type == REDIS_REPLY_ERROR && reply_text(r.get()).starts_with("NOSCRIPT")) {
      sha.clear();
      continue;
    }
    return r;
  }
  throw std::runtime_error("Redis keeps forgetting a script (NOSCRIPT)");
}

// ---- heartbeat ------------------------------------------------------------------------------

heartbeat::heartbeat(redis_endpoint ep, std::vector<std::string> ids, std::chrono::milliseconds ttl, reap_options o)
    : ep_(std::move(ep)), ids_(std::move(ids)), ttl_(ttl), reap_options_(std::move(o)) {
  thread_ = std::thread([this] { run(); });
}

void heartbeat::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stop_) return;
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void heartbeat::run() {
  auto next_reap = std::chrono::steady_clock::now();  // once at start: leftovers of earlier deaths
  std::unique_lock lock(mutex_);
  while (!stop_) {
    lock.unlock();
    if (ensure_connected()) {
      beat();
      if (redis_ && std::chrono::steady_clock::now() >= next_reap) {
        reap();
        next_reap = std::chrono::steady_clock::now() + ttl_;
      }
    }
    lock.lock();
    wake_.wait_for(lock, ttl_ / 3, [this] { return stop_; });
  }
  lock.unlock();
  goodbye();
}

bool heartbeat::ensure_connected() {
  if (redis_) return true;
  try {
    redis_ = connect_blocking(ep_, io_timeout);
    if (down_logged_) logger().info("heartbeat: connected to Redis at {} again", ep_.to_string());
    down_logged_ = false;
    return true;
  } catch (const std::runtime_error& e) {
    if (!down_logged_) logger().warn("heartbeat: {}; retrying", e.what());
    down_logged_ = true;
    return false;
  }
}

void heartbeat::beat() {
  std::string px = std::to_string(ttl_.count());
  for (const auto& id : ids_) {
    append_command(redis_.get(), {"SET", queue_keys::heartbeat(id), "1", "PX", px});
  }
  for (std::size_t i = 0; i < ids_.size(); ++i) {
    void* raw = nullptr;
    if (redisGetReply(redis_.get(), &raw) != REDIS_OK) {
      if (!down_logged_) logger().warn("heartbeat: lost Redis at {}: {}; retrying", ep_.to_string(), redis_->errstr);
      down_logged_ = true;
      redis_.reset();
      return;
    }
    freeReplyObject(raw);
  }
}

void heartbeat::reap() {
  try {
    // On a connection of its own for now (the heartbeat's is a raw hiredis context), kept by
    // this thread (the heartbeat's alone) and connected again after an I/O error.
    thread_local std::optional<redis::blocking_client> reaper;
    if (!reaper) reaper.emplace(ep_, redis::blocking_options{.io_timeout = io_timeout});
    queue::reap_dead_workers(*reaper, reap_options_);
  } catch (const std::runtime_error& e) {
    logger().warn("reaping dead workers failed: {}", e.what());
  }
}

void heartbeat::goodbye() {
  if (!ensure_connected()) return;
  std::string sha;
  const std::string_view goodbye_script = queue::scripts::goodbye_source;
  for (const auto& id : ids_) {
    std::string processing = queue_keys::processing(id), hb = queue_keys::heartbeat(id);
    try {
      auto r = run_script(redis_.get(), goodbye_script, sha, {processing, hb, queue_keys::workers}, {id});
      if (!r) return;
      if (r->type == REDIS_REPLY_INTEGER && r->integer == 0)
        logger().warn("worker {} stops with jobs in flight; the next reaper hands them on", id);
    } catch (const std::runtime_error& e) {
      logger().warn("worker {}: goodbye failed: {}", id, e.what());
    }
  }
}

}  // namespace detail

}  // namespace tempest
