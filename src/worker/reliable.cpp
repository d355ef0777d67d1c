// Reliable delivery, everything but the take and the heartbeat (reliable_source.cpp, heartbeat.cpp):
// the reaper and the dead letters (APIs: include/tempest/reliable.hpp for the public part,
// src/worker/reliable.hpp for the library's own; scripts: reliable_scripts.hpp; Redis through
// core/redis/blocking_client.hpp).
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
#include "core/queue_keys.hpp"
#include "core/answer/client.hpp"
#include "core/answer/targets.hpp"
#include "worker/reliable.hpp"
#include "worker/job_codec.hpp"
#include "worker/reliable_scripts.hpp"

namespace tempest {
namespace detail {
namespace {

using namespace std::chrono_literals;

spdlog::logger& logger() {
  static const auto l = log::get("reaper");
  return *l;
}

using redis::text;

redis::blocking_client open_redis(std::string_view url) {
  redis::blocking_client r(parse_redis_url(url), {std::chrono::seconds(2), std::chrono::seconds(5)});
  r.connect();
  return r;
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

// ---- the reaper -----------------------------------------------------------------------------

reap_result reap_dead_workers(redis::blocking_client& c, const reap_options& o) {
  reap_result result;
  auto members = c.command({"SMEMBERS", queue_keys::workers});
  if (members->type != REDIS_REPLY_ARRAY) return result;
  std::vector<std::string> ids;
  for (std::size_t i = 0; i < members->elements; ++i) ids.emplace_back(text(members->element[i]));
  std::vector<std::string> dead;
  if (!ids.empty()) {
    for (const auto& id : ids) c.append({"EXISTS", queue_keys::heartbeat(id)});
    c.flush();
    for (const auto& id : ids) {
      auto r = c.read_reply();
      if (r->type == REDIS_REPLY_INTEGER && r->integer == 0) dead.push_back(id);
    }
  }
  thread_local redis::script reap{"reap", reap_script, {}};  // per thread: the sha is Redis-wide really
  std::string max = std::to_string(o.max_attempts), keep = std::to_string(queue_keys::bell_keep);
  std::optional<answers::targets> targets;  // read when the first 502 is to be sent
  for (const auto& id : dead) {
    std::string processing = queue_keys::processing(id), hb = queue_keys::heartbeat(id);
    auto r = c.run(reap, {processing, hb, queue_keys::workers}, {id, max, keep});
    if (r->type == REDIS_REPLY_ERROR) throw std::runtime_error(fmt::format("the reap script failed: {}", text(r.get())));
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
      send_unsafe_answer(text(r->element[i]), *targets, answers);
      ++result.answered_unsafe;
    }
    answers.finish();
    logger().info("reaped dead worker {}: {} jobs re-queued, {} dead-lettered, {} answered 502 (not safe to retry)", id,
                  r->elements >= 2 ? r->element[0]->integer : 0, r->elements >= 2 ? r->element[1]->integer : 0,
                  r->elements > 2 ? r->elements - 2 : 0);
  }
  return result;
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
  auto c = detail::open_redis(redis_url);
  return detail::reap_dead_workers(c, options);
}

std::vector<dead_job> list_dead_jobs(std::string_view redis_url, std::string_view queue) {
  auto c = detail::open_redis(redis_url);
  std::string key = queue_keys::dead(queue);
  auto r = c.command({"LRANGE", key, "0", "-1"});
  if (r->type == REDIS_REPLY_ERROR) throw std::runtime_error(fmt::format("LRANGE {}: {}", key, redis::text(r.get())));
  std::vector<dead_job> out;
  for (std::size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; ++i) {
    dead_job d;
    d.record.assign(redis::text(r->element[i]));
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
  auto c = detail::open_redis(redis_url);
  std::string key = queue_keys::dead(queue), idx = std::to_string(index ? *index : -1),
              keep = std::to_string(queue_keys::bell_keep);
  redis::script retry{"retry", detail::retry_script, {}};
  auto r = c.run(retry, {key}, {idx, keep});
  if (r->type == REDIS_REPLY_ERROR) throw std::runtime_error(fmt::format("the retry script failed: {}", redis::text(r.get())));
  return r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
}

}  // namespace tempest
