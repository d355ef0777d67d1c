// Dead letters (API: dead_letters.hpp; the scripts that write and re-queue them: scripts/reap.lua,
// scripts/retry.lua).
#include "core/queue/dead_letters.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <fmt/format.h>

#include <stdexcept>

#include "core/queue/keys.hpp"
#include "core/queue/scripts.hpp"
#include "core/redis/blocking_client.hpp"

namespace tempest::queue {
namespace {

namespace keys = ::tempest::queue_keys;

redis::blocking_client connect(std::string_view url) {
  return redis::blocking_client(parse_redis_url(url), {.io_timeout = std::chrono::seconds(5)});
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

dead_job parse_record(std::string_view text) {
  dead_job d;
  d.record.assign(text);
  boost::json::error_code ec;
  auto v = boost::json::parse(d.record, ec);
  if (ec || !v.is_object()) {
    d.reason = "unreadable record";
    return d;
  }
  const auto& o = v.as_object();
  d.job = json_string_field(o, "job");
  d.queue = json_string_field(o, "queue");
  d.priority = json_string_field(o, "priority");
  d.reason = json_string_field(o, "reason");
  d.worker = json_string_field(o, "worker");
  d.time_ms = json_int_field(o, "time");
  d.attempts = json_int_field(o, "attempts");
  return d;
}

}  // namespace

std::vector<dead_job> list_dead_jobs(redis::blocking_client& r, std::string_view queue) {
  std::string key = keys::dead(queue);
  auto rep = r.command({"LRANGE", key, "0", "-1"});
  if (rep->type == REDIS_REPLY_ERROR) throw std::runtime_error(fmt::format("LRANGE {}: {}", key, redis::text(rep.get())));
  std::vector<dead_job> out;
  for (std::size_t i = 0; rep->type == REDIS_REPLY_ARRAY && i < rep->elements; ++i)
    out.push_back(parse_record(redis::text(rep->element[i])));
  return out;
}

std::vector<dead_job> list_dead_jobs(std::string_view redis_url, std::string_view queue) {
  auto r = connect(redis_url);
  return list_dead_jobs(r, queue);
}

long long retry_dead_jobs(redis::blocking_client& r, std::string_view queue, std::optional<long long> index) {
  if (index && *index < 0) throw std::invalid_argument("the index of a dead letter is 0 or more");
  auto lists = keys::lists(queue);
  std::string dead = keys::dead(queue), bell = keys::bell(queue), idx = std::to_string(index ? *index : -1),
              keep = std::to_string(keys::bell_keep);
  redis::script s = scripts::retry();
  auto rep = r.run(s, {dead, lists[0], lists[1], lists[2], bell}, {idx, keep, queue});
  if (rep->type == REDIS_REPLY_ERROR) throw std::runtime_error(fmt::format("the retry script failed: {}", redis::text(rep.get())));
  return rep->type == REDIS_REPLY_INTEGER ? rep->integer : 0;
}

long long retry_dead_jobs(std::string_view redis_url, std::string_view queue, std::optional<long long> index) {
  auto r = connect(redis_url);
  return retry_dead_jobs(r, queue, index);
}

}  // namespace tempest::queue
