// answers::targets and fetch_announced (see targets.hpp).
#include "core/answer/targets.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <cstdlib>

#include "core/hiredis_ptr.hpp"
#include "core/queue/keys.hpp"
#include "core/redis/blocking_client.hpp"

namespace tempest::answers {
namespace {

constexpr std::size_t max_announced = 4096;  // endpoints read per refresh: a bound, not a limit in use

bool contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// The reply of TIME in milliseconds; nullopt when it is not one.
std::optional<long long> time_ms(const redisReply* t) {
  if (!t || t->type != REDIS_REPLY_ARRAY || t->elements != 2 || t->element[0]->type != REDIS_REPLY_STRING ||
      t->element[1]->type != REDIS_REPLY_STRING)
    return std::nullopt;
  return std::atoll(t->element[0]->str) * 1000 + std::atoll(t->element[1]->str) / 1000;
}

std::vector<std::string> range_command(long long now_ms) {
  return {"ZRANGEBYSCORE", std::string(queue_keys::fronts), std::to_string(now_ms), "+inf", "LIMIT", "0",
          std::to_string(max_announced)};
}

// The members in the reply of ZRANGEBYSCORE; nullopt when it is not an array.
std::optional<std::vector<std::string>> members(const redisReply* r) {
  if (!r || r->type != REDIS_REPLY_ARRAY) return std::nullopt;
  std::vector<std::string> out;
  out.reserve(r->elements);
  for (std::size_t i = 0; i < r->elements; ++i)
    if (r->element[i]->type == REDIS_REPLY_STRING) out.emplace_back(r->element[i]->str, r->element[i]->len);
  return out;
}

}  // namespace

bool targets::in_allow_list(std::string_view respond_to) const { return contains(allow_, respond_to); }

targets::verdict targets::check(std::string_view respond_to, clock::time_point now,
                                clock::time_point taken_at) const {
  if (in_allow_list(respond_to)) return verdict::allowed;
  bool fresh = read_at_ && now - *read_at_ < cache_max_age;
  if (contains(announced_, respond_to)) return fresh ? verdict::allowed : verdict::ask_redis;
  if (!read_at_ || *read_at_ < taken_at || !fresh) return verdict::ask_redis;
  return verdict::refused;
}

void targets::update(std::optional<std::vector<std::string>> announced, clock::time_point now) {
  if (announced) announced_ = std::move(*announced);
  read_at_ = now;
}

std::optional<std::vector<std::string>> fetch_announced(redis::blocking_client& r) {
  auto now_ms = time_ms(r.command({"TIME"}).get());
  if (!now_ms) return std::nullopt;
  return members(r.command(range_command(*now_ms)).get());
}

}  // namespace tempest::answers
