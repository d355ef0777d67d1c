// answer_targets and fetch_announced (see answer_targets.hpp).
#include "worker/answer_targets.hpp"

#include <algorithm>
#include <cstdlib>

#include "core/queue_keys.hpp"
#include "worker/heartbeat.hpp"

namespace tempest::detail {
namespace {

constexpr std::size_t max_announced = 4096;  // endpoints read per refresh: a bound, not a limit in use

bool contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

}  // namespace

bool answer_targets::in_allow_list(std::string_view respond_to) const { return contains(allow_, respond_to); }

answer_targets::verdict answer_targets::check(std::string_view respond_to, clock::time_point now,
                                              clock::time_point taken_at) const {
  if (in_allow_list(respond_to)) return verdict::allowed;
  bool fresh = read_at_ && now - *read_at_ < cache_max_age;
  if (contains(announced_, respond_to)) return fresh ? verdict::allowed : verdict::ask_redis;
  if (!read_at_ || *read_at_ < taken_at || !fresh) return verdict::ask_redis;
  return verdict::refused;
}

void answer_targets::update(std::optional<std::vector<std::string>> announced, clock::time_point now) {
  if (announced) announced_ = std::move(*announced);
  read_at_ = now;
}

std::optional<std::vector<std::string>> fetch_announced(redisContext* c) {
  auto t = command_argv(c, {"TIME"});
  if (!t || t->type != REDIS_REPLY_ARRAY || t->elements != 2 || t->element[0]->type != REDIS_REPLY_STRING ||
      t->element[1]->type != REDIS_REPLY_STRING)
    return std::nullopt;
  long long now_ms = std::atoll(t->element[0]->str) * 1000 + std::atoll(t->element[1]->str) / 1000;
  auto r = command_argv(c, {"ZRANGEBYSCORE", queue_keys::fronts, std::to_string(now_ms), "+inf", "LIMIT", "0",
                            std::to_string(max_announced)});
  if (!r || r->type != REDIS_REPLY_ARRAY) return std::nullopt;
  std::vector<std::string> out;
  out.reserve(r->elements);
  for (std::size_t i = 0; i < r->elements; ++i)
    if (r->element[i]->type == REDIS_REPLY_STRING) out.emplace_back(r->element[i]->str, r->element[i]->len);
  return out;
}

}  // namespace tempest::detail
