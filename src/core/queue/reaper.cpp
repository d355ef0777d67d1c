// The reaper (API and steps: reaper.hpp; the script: scripts/reap.lua).
#include "core/queue/reaper.hpp"

#include <fmt/format.h>

#include <atomic>
#include <optional>
#include <stdexcept>

#include "core/answer/client.hpp"
#include "core/answer/targets.hpp"
#include "core/log.hpp"
#include "core/queue/entry.hpp"
#include "core/queue/keys.hpp"
#include "core/queue/scripts.hpp"
#include "core/redis/blocking_client.hpp"

namespace tempest::queue {
namespace {

namespace keys = ::tempest::queue_keys;

spdlog::logger& logger() {
  static const auto l = log::get("reaper");
  return *l;
}

// The answers for the jobs of one dead worker that are not safe to retry, queued on a client
// per respond_to (an answers::pool; written and acknowledged by finish()) when that is
// announced or allowed (targets: read once per reap, see core/answer/targets.hpp).
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

// The ids in tempest:workers whose heartbeat key is gone (one pipelined round of EXISTS).
std::vector<std::string> dead_worker_ids(redis::blocking_client& r) {
  auto members = r.command({"SMEMBERS", keys::workers});
  if (members->type == REDIS_REPLY_ERROR) throw std::runtime_error(fmt::format("SMEMBERS: {}", redis::text(members.get())));
  if (members->type != REDIS_REPLY_ARRAY || members->elements == 0) return {};
  std::vector<std::string> ids, dead;
  for (std::size_t i = 0; i < members->elements; ++i) ids.emplace_back(redis::text(members->element[i]));
  for (const auto& id : ids) r.append({"EXISTS", keys::heartbeat(id)});
  r.flush();
  for (const auto& id : ids) {
    auto e = r.read_reply();
    if (e->type == REDIS_REPLY_INTEGER && e->integer == 0) dead.push_back(id);
  }
  return dead;
}

// reap.lua for one worker: KEYS and ARGV as its header says, with the queues the script asked
// for (it answers {-2, queue...} when an entry names a queue not given). The script's reply.
reply_ptr run_reap(redis::blocking_client& r, redis::script& s, const std::string& id, const reap_options& o) {
  std::vector<std::string> queues;
  const std::string max = std::to_string(o.max_attempts), keep = std::to_string(keys::bell_keep);
  for (int round = 0; round < 4; ++round) {
    std::vector<std::string> k{keys::processing(id), keys::heartbeat(id), std::string(keys::workers)};
    std::vector<std::string> a{id, max, keep};
    for (const auto& q : queues) {
      for (auto& l : keys::lists(q)) k.push_back(std::move(l));
      k.insert(k.end(), {keys::bell(q), keys::attempts(q), keys::dead(q)});
      a.push_back(q);
    }
    std::vector<std::string_view> kv(k.begin(), k.end()), av(a.begin(), a.end());
    auto rep = r.run(s, kv, av);
    if (rep->type == REDIS_REPLY_ERROR) throw std::runtime_error(fmt::format("the reap script failed: {}", redis::text(rep.get())));
    bool asks = rep->type == REDIS_REPLY_ARRAY && rep->elements >= 1 && rep->element[0]->type == REDIS_REPLY_INTEGER &&
                rep->element[0]->integer == -2;
    if (!asks) return rep;
    for (std::size_t i = 1; i < rep->elements; ++i) queues.emplace_back(redis::text(rep->element[i]));
  }
  throw std::runtime_error(fmt::format("the reap script of worker {} keeps naming new queues", id));
}

}  // namespace

reap_result reap_dead_workers(redis::blocking_client& r, const reap_options& o) {
  reap_result result;
  thread_local redis::script script = scripts::reap();  // per thread: its sha is learnt as it runs
  std::optional<answers::targets> targets;               // read when the first 502 is to be sent
  for (const auto& id : dead_worker_ids(r)) {
    auto rep = run_reap(r, script, id, o);
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 1) continue;
    if (rep->element[0]->type == REDIS_REPLY_INTEGER && rep->element[0]->integer < 0) continue;  // alive again
    result.workers.push_back(id);
    long long requeued = rep->elements >= 2 ? rep->element[0]->integer : 0;
    long long dead = rep->elements >= 2 ? rep->element[1]->integer : 0;
    result.requeued += requeued;
    result.dead_lettered += dead;
    if (rep->elements > 2 && !targets) {
      targets.emplace(o.answer_allow);
      targets->update(answers::fetch_announced(r), answers::targets::clock::now());
    }
    unsafe_answers answers(o);
    for (std::size_t i = 2; i < rep->elements; ++i) {
      send_unsafe_answer(redis::text(rep->element[i]), *targets, answers);
      ++result.answered_unsafe;
    }
    answers.finish();
    logger().info("reaped dead worker {}: {} jobs re-queued, {} dead-lettered, {} answered 502 (not safe to retry)", id,
                  requeued, dead, rep->elements > 2 ? rep->elements - 2 : 0);
  }
  return result;
}

reap_result reap_dead_workers(std::string_view redis_url, const reap_options& options) {
  redis::blocking_client r(parse_redis_url(redis_url), {.io_timeout = std::chrono::seconds(5)});
  return reap_dead_workers(r, options);
}

}  // namespace tempest::queue
