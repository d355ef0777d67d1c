// Unit tests for src/front/job_dispatch.*, against a real redis-server (redis_server.hpp) and the
// front's async client: where the jobs of one turn land (one RPUSH per priority list, one bell
// token), how turns and full batches are cut, and what a job becomes when Redis is down or
// refuses the push (job_dispatch.hpp, the lifecycle in pending_jobs.hpp).
#include "core/queue/keys.hpp"
#include "core/redis/async_client.hpp"
#include "core/redis/blocking_client.hpp"
#include "core/redis_url.hpp"
#include "front/front_stats.hpp"
#include "front/job_dispatch.hpp"
#include "front/pending_jobs.hpp"
#include "io_test_util.hpp"
#include "../core/redis/redis_server.hpp"

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

using namespace tempest;
using namespace tempest::front;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using test::run_until;
using prio = queue_keys::priority;

namespace {

constexpr std::string_view queue = "q";

// One front thread's dispatcher on its own Redis connection to a redis-server of its own, and a
// blocking client to look.
struct fixture {
  std::unique_ptr<test::redis_server> server = std::make_unique<test::redis_server>();
  asio::io_context ioc;
  front_stats stats;
  pending_jobs pending;
  std::shared_ptr<redis::async_client> client;
  std::unique_ptr<job_dispatch> dispatch;
  redis::blocking_client look;
  std::vector<std::unique_ptr<job_slot>> slots;
  std::uint64_t next_id = 1;

  fixture()
      : client(std::make_shared<redis::async_client>(ioc.get_executor(), parse_redis_url(server->url()), "test")),
        dispatch(std::make_unique<job_dispatch>(ioc.get_executor(), client, std::string(queue), pending, stats)),
        look(parse_redis_url(server->url())) {}
  ~fixture() {
    client->stop();  // fails what is in flight while the dispatcher and the slots still live
    ioc.restart();
    ioc.poll();
    dispatch.reset();
    for (auto& s : slots) pending.remove(s->id);
  }
  // redis-server is a build package (./run installs it): not running is a failure.
  bool connect() {
    client->start();
    return server->running() && run_until(ioc, [this] { return client->connected(); });
  }
  // As issue_job does: the slot in the table, pushing, then handed to the dispatcher.
  job_slot& push(std::string job, prio p = prio::normal) {
    auto& s = *slots.emplace_back(std::make_unique<job_slot>(ioc.get_executor()));
    s.id = next_id++;
    s.st = job_slot::state::pushing;
    pending.add(s);
    dispatch->push(s.id, std::move(job), p);
    return s;
  }
  bool all_past_pushing() {
    return run_until(ioc, [this] {
      for (auto& s : slots)
        if (s->st == job_slot::state::pushing) return false;
      return true;
    });
  }
  // A reply to a command sent on the dispatcher's connection after everything before it.
  bool sync() {
    bool done = false;
    client->send(format_command({"PING"}), [&](boost::system::error_code, resp_value) { done = true; });
    return run_until(ioc, [&] { return done; });
  }
  std::vector<std::string> list(const std::string& key) {
    auto r = look.command({"LRANGE", key, "0", "-1"});
    std::vector<std::string> out;
    for (std::size_t i = 0; i < r->elements; ++i) out.emplace_back(redis::text(r->element[i]));
    return out;
  }
  long long calls(std::string_view command) {  // from INFO commandstats, since CONFIG RESETSTAT
    auto r = look.command({"INFO", "commandstats"});
    std::string info(redis::text(r.get()));
    auto at = info.find("cmdstat_" + std::string(command) + ":calls=");
    return at == std::string::npos ? 0 : std::stoll(info.substr(info.find('=', at) + 1));
  }
};

}  // namespace

TEST(job_dispatch, a_turn_goes_out_as_one_rpush_per_priority_list_and_one_bell_push) {
  fixture f;
  ASSERT_TRUE(f.connect()) << "redis-server did not start, or the client did not connect";
  f.look.command({"CONFIG", "RESETSTAT"});
  f.push("h1", prio::high);
  f.push("n1");
  f.push("l1", prio::low);
  f.push("n2");
  f.push("h2", prio::high);
  EXPECT_EQ(f.stats.push_batches.load(), 0u);  // push() only queues: the flush waits for the turn's end
  ASSERT_TRUE(f.all_past_pushing());
  for (auto& s : f.slots) EXPECT_EQ(s->st, job_slot::state::queued) << s->id;
  auto lists = queue_keys::lists(queue);
  EXPECT_EQ(f.list(lists[0]), (std::vector<std::string>{"h1", "h2"}));
  EXPECT_EQ(f.list(lists[1]), (std::vector<std::string>{"n1", "n2"}));
  EXPECT_EQ(f.list(lists[2]), (std::vector<std::string>{"l1"}));
  ASSERT_TRUE(f.sync());  // the bell push went out behind the lists
  EXPECT_EQ(f.list(queue_keys::bell(queue)), std::vector<std::string>{"1"});  // one token a flush
  EXPECT_EQ(f.stats.push_batches.load(), 3u);
  EXPECT_EQ(f.stats.jobs_pushed.load(), 5u);
  EXPECT_EQ(f.calls("rpush"), 4);  // three lists, one bell
}

TEST(job_dispatch, turns_are_separate_batches_and_a_full_batch_goes_at_once) {
  fixture f;
  ASSERT_TRUE(f.connect()) << "redis-server did not start, or the client did not connect";
  f.push("turn1");
  f.ioc.poll();  // the turn ends: its flush runs
  EXPECT_EQ(f.stats.push_batches.load(), 1u);
  f.push("turn2");
  ASSERT_TRUE(f.all_past_pushing());
  EXPECT_EQ(f.stats.push_batches.load(), 2u);
  EXPECT_EQ(f.list(std::string(queue)), (std::vector<std::string>{"turn1", "turn2"}));

  // 600 jobs in one turn: the 512th flushes inside push(), the other 88 at the turn's end.
  f.look.command({"DEL", std::string(queue), queue_keys::bell(queue)});
  for (int i = 0; i < 600; ++i) {
    f.push("j" + std::to_string(i));
    if (i == 510) {
      EXPECT_EQ(f.stats.push_batches.load(), 2u);
    } else if (i == 511) {
      EXPECT_EQ(f.stats.push_batches.load(), 3u) << "a full batch waits for nothing";
    }
  }
  ASSERT_TRUE(f.all_past_pushing());
  ASSERT_TRUE(f.sync());
  EXPECT_EQ(f.stats.push_batches.load(), 4u);
  auto jobs = f.list(std::string(queue));
  ASSERT_EQ(jobs.size(), 600u);
  for (int i = 0; i < 600; ++i) ASSERT_EQ(jobs[i], "j" + std::to_string(i));  // in order
  EXPECT_EQ(f.list(queue_keys::bell(queue)).size(), 2u);  // one token a flush, whatever its size

  // 4 MiB in one turn flushes at once too.
  std::string big(1536 * 1024, 'b');
  f.push(big);
  f.push(big);
  EXPECT_EQ(f.stats.push_batches.load(), 4u);
  f.push(big);
  EXPECT_EQ(f.stats.push_batches.load(), 5u);
  ASSERT_TRUE(f.all_past_pushing());
  EXPECT_EQ(f.stats.jobs_pushed.load(), 605u);
}

TEST(job_dispatch, no_bell_tokens_without_reliable_workers) {
  fixture f;  // no member in tempest:workers: only plain workers, nobody listens to the bell
  ASSERT_TRUE(f.connect()) << "redis-server did not start, or the client did not connect";
  f.dispatch->start();
  ASSERT_TRUE(f.sync());  // the SCARD answered
  f.push("plain");
  ASSERT_TRUE(f.all_past_pushing());
  ASSERT_TRUE(f.sync());
  EXPECT_EQ(f.list(std::string(queue)), std::vector<std::string>{"plain"});
  EXPECT_EQ(f.look.command({"EXISTS", queue_keys::bell(queue)})->integer, 0);
}

TEST(job_dispatch, with_reliable_workers_the_bell_rings_and_is_trimmed_at_bell_keep) {
  fixture f;
  ASSERT_TRUE(f.connect()) << "redis-server did not start, or the client did not connect";
  f.look.command({"SADD", queue_keys::workers, "host:1:0"});
  std::vector<std::string> fill{"RPUSH", queue_keys::bell(queue)};
  fill.resize(2 + queue_keys::bell_keep + 50, "1");
  f.look.command(fill);
  f.dispatch->start();
  ASSERT_TRUE(f.sync());
  f.push("reliable");
  ASSERT_TRUE(f.all_past_pushing());
  EXPECT_TRUE(run_until(f.ioc, [&] {
    return f.look.command({"LLEN", queue_keys::bell(queue)})->integer == queue_keys::bell_keep;
  })) << "a bell longer than bell_keep is trimmed";
  EXPECT_EQ(f.list(std::string(queue)), std::vector<std::string>{"reliable"});
}

TEST(job_dispatch, redis_down_finishes_the_jobs_at_once_with_redis_unavailable) {
  fixture f;
  ASSERT_TRUE(f.connect()) << "redis-server did not start, or the client did not connect";
  f.server.reset();  // redis-server stops
  ASSERT_TRUE(run_until(f.ioc, [&] { return !f.client->connected(); }));
  auto start = std::chrono::steady_clock::now();
  auto& a = f.push("lost", prio::high);
  auto& b = f.push("lost too");
  ASSERT_TRUE(run_until(f.ioc, [&] { return a.st == job_slot::state::done && b.st == job_slot::state::done; }, 1s))
      << "a job waited for a Redis that is down";
  EXPECT_LT(std::chrono::steady_clock::now() - start, 500ms);  // not the --timeout: a 503 now
  EXPECT_EQ(a.error, errc::redis_unavailable);
  EXPECT_EQ(b.error, errc::redis_unavailable);
  EXPECT_EQ(f.stats.jobs_pushed.load(), 0u);
}

TEST(job_dispatch, a_refused_rpush_fails_the_jobs_of_its_list_only) {
  fixture f;
  ASSERT_TRUE(f.connect()) << "redis-server did not start, or the client did not connect";
  f.look.command({"SET", std::string(queue), "not a list"});  // RPUSH q: WRONGTYPE
  auto& refused = f.push("normal");
  auto& fine = f.push("high", prio::high);
  auto& gone = f.push("timed out");
  f.pending.remove(gone.id);  // its session gave up before the reply: the reply leaves it alone
  gone.st = job_slot::state::idle;
  ASSERT_TRUE(run_until(f.ioc, [&] { return refused.st == job_slot::state::done && fine.st != job_slot::state::pushing; }));
  EXPECT_EQ(refused.error, errc::redis_unavailable);
  EXPECT_EQ(fine.st, job_slot::state::queued);
  EXPECT_EQ(gone.st, job_slot::state::idle);
  EXPECT_EQ(f.stats.jobs_pushed.load(), 1u);
}
