// Reliable delivery, everything but the job loop: the reaper, the dead letters, the heartbeat
// thread and the blocking Redis helpers (APIs: include/tempest/reliable.hpp for the public
// part, src/worker/heartbeat.hpp for the library's own; scripts: reliable_scripts.hpp).
//
//   reap     SMEMBERS tempest:workers; EXISTS tempest:worker:<id> for each (pipelined); for each
//            missing one, EVALSHA reap_script; answer the jobs it returns as not safe to retry
//            (fresh answers::client connections, core/answer/client.hpp, all of a reap
//            together, bounded by reap_options::answer_timeout: rare, so not cached), when that
//            respond_to is announced in tempest:fronts (read once per reap) or allowed
//   dead     LRANGE <queue>:dead 0 -1, each record parsed with Boost.JSON
//   retry    EVALSHA retry_script
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <fmt/format.h>

#include <climits>
#include <optional>
#include <stdexcept>

#include "core/json_writer.hpp"
#include "core/log.hpp"
#include "core/queue/keys.hpp"
#include "core/answer/client.hpp"
#include "core/answer/targets.hpp"
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

std::runtime_error redis_failure(redisContext* c, std::string_view what) {
  return std::runtime_error(fmt::format("Redis {} failed: {}", what, c->errstr));
}

// The answer for a job that is not safe to retry, queued on a connection to its respond_to
// (an answers::pool; written and acknowledged by its collect) when that is announced or allowed
// (targets: read once per reap, see core/answer/targets.hpp).
struct unsafe_answers {
  // Limits from o: answer_connect_timeout, answer_timeout (also the reply wait), 64 MiB.
  explicit unsafe_answers(const reap_options& o)
      : clients(o.answer_password, -1, {o.answer_connect_timeout, o.answer_timeout, o.answer_timeout, 64u << 20},
                dropped) {}
  std::atomic<std::uint64_t> dropped{0};
  answers::pool clients;

  // Until each is acknowledged or its endpoint is down (at most o.answer_timeout).
  void finish() {
    clients.collect(true);
    if (auto n = dropped.exchange(0)) logger().warn("{} answers 502 (not safe to retry) could not be delivered", n);
  }
};

bool send_unsafe_answer(std::string_view payload, const answers::targets& targets, unsafe_answers& out) {
  std::string respond_to;
  std::int64_t id = 0;
  if (!parse_job_tail(payload, respond_to, id)) {
    logger().warn("a job not safe to retry has no readable respond_to/id; dropped: {:.120}", payload);
    return false;
  }
  if (respond_to.empty()) return true;  // nobody waits
  auto now = answers::targets::clock::now();
  if (targets.check(respond_to, now, now - answers::targets::cache_max_age) != answers::targets::verdict::allowed) {
    logger().warn("[j{}] respond_to '{:.100}' is neither announced by a front nor allowed: no 502 sent there", id,
                  respond_to);
    return false;
  }
  std::string action(payload_action(payload));
  if (action.empty()) action = "url";
  std::string id_text = std::to_string(id);
  out.clients.get(respond_to).send(action, id_text, unsafe_retry_answer(action), id, true);
  return true;
}

std::string json_string_field(const boost::json::object& o, std::string_view key) {
  if (auto* v = o.if_contains(key); v && v->is_string()) return std::string(v->as_string());
  return {};
}

long long json_int_field(const boost::json::object& o, std::string_view key) {
  if (auto* v = o.if_contains(key)) {
    if (v->is_int64()) return v->as_int64();
    if (v->is_uint64()) return static_cast<long long>(v->as_uint64());
    if (v->is_double()) return static_cast<long long>(v->as_double());
  }
  return 0;
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

// ---- the reaper -----------------------------------------------------------------------------

reap_result reap_dead_workers(redisContext* c, const reap_options& o) {
  reap_result result;
  auto members = command_argv(c, {"SMEMBERS", queue_keys::workers});
  if (!members) throw redis_failure(c, "SMEMBERS");
  if (members->type != REDIS_REPLY_ARRAY) return result;
  std::vector<std::string> ids;
  for (std::size_t i = 0; i < members->elements; ++i) ids.emplace_back(reply_text(members->element[i]));
  for (const auto& id : ids) append_command(c, {"EXISTS", queue_keys::heartbeat(id)});
  std::vector<std::string> dead;
  for (const auto& id : ids) {
    void* raw = nullptr;
    if (redisGetReply(c, &raw) != REDIS_OK) throw redis_failure(c, "EXISTS");
    reply_ptr r(static_cast<redisReply*>(raw));
    if (r->type == REDIS_REPLY_INTEGER && r->integer == 0) dead.push_back(id);
  }
  thread_local std::string sha;  // per thread: the same connection's scripts, Redis-wide really
  std::string max = std::to_string(o.max_attempts), keep = std::to_string(queue_keys::bell_keep);
  std::optional<answers::targets> targets;  // read when the first 502 is to be sent
  for (const auto& id : dead) {
    std::string processing = queue_keys::processing(id), hb = queue_keys::heartbeat(id);
    auto r = run_script(c, reap_script, sha, {processing, hb, queue_keys::workers}, {id, max, keep});
    if (!r) throw redis_failure(c, "the reap script");
    if (r->type == REDIS_REPLY_ERROR) throw std::runtime_error(fmt::format("the reap script failed: {}", reply_text(r.get())));
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1) continue;
    if (r->element[0]->type == REDIS_REPLY_INTEGER && r->element[0]->integer < 0) continue;  // alive again
    result.workers.push_back(id);
    if (r->elements >= 2) {
      result.requeued += r->element[0]->integer;
      result.dead_lettered += r->element[1]->integer;
    }
    if (r->elements > 2 && !targets) {
      targets.emplace(o.answer_allow);
      targets->update(answers::fetch_announced(c), answers::targets::clock::now());
    }
    unsafe_answers answers(o);
    for (std::size_t i = 2; i < r->elements; ++i) {
      send_unsafe_answer(reply_text(r->element[i]), *targets, answers);
      ++result.answered_unsafe;
    }
    answers.finish();
    logger().info("reaped dead worker {}: {} jobs re-queued, {} dead-lettered, {} answered 502 (not safe to retry)", id,
                  r->elements >= 2 ? r->element[0]->integer : 0, r->elements >= 2 ? r->element[1]->integer : 0,
                  r->elements > 2 ? r->elements - 2 : 0);
  }
  return result;
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
    reap_dead_workers(redis_.get(), reap_options_);
  } catch (const std::runtime_error& e) {
    logger().warn("reaping dead workers failed: {}", e.what());
    if (redis_->err) redis_.reset();
  }
}

void heartbeat::goodbye() {
  if (!ensure_connected()) return;
  std::string sha;
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

// ---- pure helpers ---------------------------------------------------------------------------

bool split_entry(std::string_view entry, entry_parts& out) {
  auto a = entry.find('\n');
  if (a == std::string_view::npos) return false;
  auto b = entry.find('\n', a + 1);
  if (b == std::string_view::npos) return false;
  out.queue = entry.substr(0, a);
  out.priority = entry.substr(a + 1, b - a - 1);
  out.payload = entry.substr(b + 1);
  return true;
}

bool parse_job_tail(std::string_view p, std::string& respond_to, std::int64_t& job_id) {
  auto is_space = [](char ch) { return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n'; };
  std::size_t end = p.size();
  while (end > 0 && is_space(p[end - 1])) --end;
  if (end == 0 || p[end - 1] != ']') return false;
  --end;
  while (end > 0 && is_space(p[end - 1])) --end;
  std::size_t digits_end = end;
  while (end > 0 && p[end - 1] >= '0' && p[end - 1] <= '9') --end;
  if (end == digits_end || digits_end - end > 18) return false;
  std::int64_t id = 0;
  for (std::size_t i = end; i < digits_end; ++i) id = id * 10 + (p[i] - '0');
  while (end > 0 && is_space(p[end - 1])) --end;
  if (end == 0 || p[end - 1] != ',') return false;
  --end;
  while (end > 0 && is_space(p[end - 1])) --end;
  if (end >= 4 && p.substr(end - 4, 4) == "null") {
    respond_to.clear();
  } else {
    if (end == 0 || p[end - 1] != '"') return false;
    std::size_t close = end - 1;
    std::size_t open = p.rfind('"', close == 0 ? 0 : close - 1);
    if (open == std::string_view::npos || open == close) return false;
    if (p.substr(open + 1, close - open - 1).find('\\') != std::string_view::npos) return false;
    std::size_t before = open;  // the respond_to string must be an item of the array
    while (before > 0 && is_space(p[before - 1])) --before;
    if (before == 0 || p[before - 1] != ',') return false;
    respond_to.assign(p.substr(open + 1, close - open - 1));
  }
  job_id = id;
  return true;
}

std::string make_worker_id(std::string_view host, long pid, int lane) {
  return fmt::format("{}:{}:{}", host.empty() ? "localhost" : host, pid, lane);
}

std::string unsafe_retry_answer(std::string_view action) {
  constexpr std::string_view why_url = "the worker handling this request died; it is not safe to retry";
  constexpr std::string_view why_job = "the worker handling this job died; it is not safe to retry";
  std::string out;
  if (action == "url") {
    out = R"([502,{"Content-Type":"text/plain"},)";
    append_json_string(out, why_url);
    out += ']';
  } else {
    out = R"({"error":)";
    append_json_string(out, why_job);
    out += '}';
  }
  return out;
}

std::string_view payload_action(std::string_view p) {
  auto open = p.find('"');
  if (open == std::string_view::npos || p.substr(0, open).find_first_not_of(" \t\r\n[") != std::string_view::npos) return {};
  auto close = p.find('"', open + 1);
  if (close == std::string_view::npos) return {};
  auto a = p.substr(open + 1, close - open - 1);
  if (a.find('\\') != std::string_view::npos) return {};
  return a;
}

}  // namespace detail

// ---- public API -----------------------------------------------------------------------------

reap_result reap_dead_workers(std::string_view redis_url, const reap_options& options) {
  auto c = detail::connect_blocking(parse_redis_url(redis_url), std::chrono::seconds(5));
  return detail::reap_dead_workers(c.get(), options);
}

std::vector<dead_job> list_dead_jobs(std::string_view redis_url, std::string_view queue) {
  auto c = detail::connect_blocking(parse_redis_url(redis_url), std::chrono::seconds(5));
  std::string key = queue_keys::dead(queue);
  auto r = detail::command_argv(c.get(), {"LRANGE", key, "0", "-1"});
  if (!r) throw detail::redis_failure(c.get(), "LRANGE");
  if (r->type == REDIS_REPLY_ERROR) throw std::runtime_error(fmt::format("LRANGE {}: {}", key, detail::reply_text(r.get())));
  std::vector<dead_job> out;
  for (std::size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; ++i) {
    dead_job d;
    d.record.assign(detail::reply_text(r->element[i]));
    boost::json::error_code ec;
    auto v = boost::json::parse(d.record, ec);
    if (!ec && v.is_object()) {
      const auto& o = v.as_object();
      d.job = detail::json_string_field(o, "job");
      d.queue = detail::json_string_field(o, "queue");
      d.priority = detail::json_string_field(o, "priority");
      d.reason = detail::json_string_field(o, "reason");
      d.worker = detail::json_string_field(o, "worker");
      d.time_ms = detail::json_int_field(o, "time");
      d.attempts = detail::json_int_field(o, "attempts");
    } else {
      d.reason = "unreadable record";
    }
    out.push_back(std::move(d));
  }
  return out;
}

long long retry_dead_jobs(std::string_view redis_url, std::string_view queue, std::optional<long long> index) {
  if (index && *index < 0) throw std::invalid_argument("the index of a dead letter is 0 or more");
  auto c = detail::connect_blocking(parse_redis_url(redis_url), std::chrono::seconds(5));
  std::string key = queue_keys::dead(queue), idx = std::to_string(index ? *index : -1),
              keep = std::to_string(queue_keys::bell_keep), sha;
  auto r = detail::run_script(c.get(), detail::retry_script, sha, {key}, {idx, keep});
  if (!r) throw detail::redis_failure(c.get(), "the retry script");
  if (r->type == REDIS_REPLY_ERROR) throw std::runtime_error(fmt::format("the retry script failed: {}", detail::reply_text(r.get())));
  return r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
}

}  // namespace tempest
