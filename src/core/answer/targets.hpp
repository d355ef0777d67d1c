// Which answer endpoints a worker answers: those announced by live fronts in tempest:fronts
// (src/front/endpoint_announcer.hpp, docs/protocol.md 3.5) and those of --answer-allow (for
// fronts that announce nothing, such as the 2012 one). A job whose respond_to is neither is
// dropped unhandled: nothing, not even the answer password, goes to an address a job names
// unless a front vouched for it. Used by the worker's lanes (src/worker/lane.cpp) and the
// reaper's 502 answers (src/core/queue/reaper.cpp) before an answers::client (client.hpp) is
// given a respond_to. Pure logic with an injected clock (tests/unit/core/answer/targets_test.cpp);
// the caller does the Redis reads with fetch_announced().
//
//   answers::targets t(options.answer_allow);
//   switch (t.check(respond_to, now, taken_at)) {   // taken_at: when the job's batch was taken
//     case verdict::allowed: ...; case verdict::refused: drop ...;
//     case verdict::ask_redis: t.update(fetch_announced(redis), now); then check again
//   }
//
// Cache: the announced set is trusted for cache_max_age (a withdrawn or expired endpoint is
// answered at most that much longer). A respond_to not in it is looked up again only when the
// set was read before the job's batch was taken (a front announces before it pushes its first
// job, so a set read after the take holds it): one Redis read per batch at most, whatever the
// jobs say, so hostile jobs cannot turn into a flood of lookups.
//
// If you change the key or what the scores mean, change src/front/endpoint_announcer.cpp too.
#pragma once
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>


namespace tempest::redis {
class blocking_client;
}

namespace tempest::answers {

class targets {
 public:
  using clock = std::chrono::steady_clock;
  enum class verdict { allowed, refused, ask_redis };
  static constexpr std::chrono::milliseconds cache_max_age{1000};

  explicit targets(std::vector<std::string> allow) : allow_(std::move(allow)) {}

  verdict check(std::string_view respond_to, clock::time_point now, clock::time_point taken_at) const;
  // After a read of tempest:fronts: the endpoints announced then (nullopt: the read failed; the
  // old set stays, and counts as read now so that a broken Redis is not asked per job).
  void update(std::optional<std::vector<std::string>> announced, clock::time_point now);
  bool in_allow_list(std::string_view respond_to) const;

 private:
  std::vector<std::string> allow_;      // --answer-allow, exact host:port
  std::vector<std::string> announced_;  // members of tempest:fronts whose time had not passed
  std::optional<clock::time_point> read_at_;  // when announced_ was read (never: nullopt)
};

// TIME, then ZRANGEBYSCORE tempest:fronts <now ms> +inf LIMIT 0 <max>: the endpoints announced
// now, by Redis's clock. nullopt on an error reply.
// I/O trouble throws redis::io_error (blocking_client.hpp).
std::optional<std::vector<std::string>> fetch_announced(redis::blocking_client& r);

}  // namespace tempest::answers
