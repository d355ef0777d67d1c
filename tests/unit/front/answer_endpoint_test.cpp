// Unit tests for src/front/answer_endpoint.cpp: the real acceptor and sessions on a loopback
// port of a real io_context, driven by a plain Asio client socket sending RESP commands; the
// pending table (answer_context.hpp) holds test slots that stand for waiting HTTP sessions.
//
// The fault-injection tests are Beast's fail_count loop, over one scenario (AUTH, PING, two
// answers, QUIT). First the endpoint's own steps: its n-th read, then its n-th write, fails as if
// the connection broke there (answer_context::faults, the async client's fail_count), for n = 1,
// 2, ... until a run completes without reaching it. Then the client's input: the scenario is cut
// after n bytes, for n = 0, 1, 2, ... until a run sends it whole; a cut is a half-close (the
// endpoint reads EOF there) in one pass and a reset in the other. For each n: the endpoint
// answers exactly the commands complete before the failure, in order; a slot is finished iff
// its answer was taken in (its waiter woken once, never for a partial answer); the pending table
// keeps its entries (only the HTTP session removes them); and once the listener closes every
// session has ended (the io_context runs out of work).
#include "core/errors.hpp"
#include "core/redis/async_client.hpp"
#include "core/resp.hpp"
#include "front/answer_context.hpp"
#include "front/answer_endpoint.hpp"
#include "front/front_config.hpp"
#include "front/front_stats.hpp"
#include "front/pending_jobs.hpp"
#include "io_test_util.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

using namespace tempest;
using namespace tempest::front;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

using test::run_until;

std::string cmd(std::initializer_list<std::string_view> argv) { return format_command(argv); }
std::string err(std::string_view line) { return "-" + std::string(line) + "\r\n"; }
// A reply that is the error line `prefix` followed by its detail (errors.hpp: the prefixes).
bool starts_with_error(const std::string& reply, std::string_view prefix) {
  return reply.rfind("-" + std::string(prefix), 0) == 0 && reply.ends_with("\r\n");
}

constexpr std::string_view good_answer = R"([200, {"X-Test": "yes"}, "hello"])";

// One front thread's answer endpoint: defaults from the settings table, then `tweak`.
struct endpoint {
  asio::io_context ioc;
  front_config cfg;
  front_stats stats;
  pending_jobs pending;
  std::string respond_to;
  answer_context ctx{cfg, stats, pending, respond_to};
  tcp::acceptor acceptor{ioc};
  bool acceptor_ended = false;

  explicit endpoint(const std::function<void(front_config&)>& tweak = {}) {
    auto table = make_front_settings(cfg);
    table.resolve();
    if (tweak) tweak(cfg);
    tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
    acceptor.open(ep.protocol());
    acceptor.bind(ep);
    acceptor.listen();
    respond_to = "127.0.0.1:" + std::to_string(acceptor.local_endpoint().port());
    asio::co_spawn(ioc, run_answer_acceptor(ctx, acceptor), [this](std::exception_ptr e) {
      acceptor_ended = true;
      EXPECT_FALSE(e) << "the accept loop ended by an exception";
    });
  }
  // Closes the listener, then runs until nothing is left to do: false when a session (or
  // anything else) still waits.
  bool drain() {
    acceptor.close();
    ioc.restart();
    ioc.run_for(3s);
    return ioc.stopped() && acceptor_ended;
  }
  ~endpoint() {  // sessions whose clients are gone end before their context does
    error_code ec;
    acceptor.close(ec);
    ioc.restart();
    ioc.run_for(2s);
  }
};

// A job some HTTP session waits for: in the pending table, queued, its waiter on `wake` (as
// http_session's wait_for_answer: an answer cancels the timer).
struct waiting_job {
  struct waiter {
    const job_slot* slot;  // null once the job is gone: a late completion touches nothing
    int woken = 0;         // wake-ups with the job done
  };
  job_slot slot;
  pending_jobs& pending;
  std::shared_ptr<waiter> w = std::make_shared<waiter>(waiter{&slot});

  waiting_job(endpoint& e, std::uint64_t id) : slot(e.ioc.get_executor()), pending(e.pending) {
    slot.id = id;
    slot.st = job_slot::state::queued;
    pending.add(slot);
    slot.wake.expires_after(1h);
    slot.wake.async_wait([w = w](error_code ec) {
      if (w->slot && ec == asio::error::operation_aborted && w->slot->st == job_slot::state::done) ++w->woken;
    });
  }
  ~waiting_job() {  // the session's part: its entry goes before the slot does
    pending.remove(slot.id);
    w->slot = nullptr;
  }
  bool done() const { return slot.st == job_slot::state::done; }
  int woken() const { return w->woken; }
};

// A worker's connection: what it sends, and every reply byte until the endpoint closes.
struct client : test::peer {
  asio::io_context& ioc;

  explicit client(endpoint& e) : test::peer(connect(e)), ioc(e.ioc) {}
  static tcp::socket connect(endpoint& e) {
    tcp::socket s(e.ioc);
    s.connect(e.acceptor.local_endpoint());
    return s;
  }
  // The endpoint may have closed already: what it does with the bytes is what is tested.
  void send(std::string_view bytes) {
    error_code ignored;
    asio::write(socket, asio::buffer(bytes), ignored);
  }
  // Sends, then waits for `replies` complete replies (or for the endpoint to close).
  std::string call(std::string_view bytes, std::size_t replies = 1) {
    in.clear();
    send(bytes);
    run_until(ioc, [&] { return closed || count_replies() >= replies; });
    return in;
  }
  std::size_t count_replies() const {
    resp_reader r(1u << 20);
    r.feed(in.data(), in.size());
    std::size_t n = 0;
    while (r.next()) ++n;
    return n;
  }
  bool wait_closed() { return run_until(ioc, [&] { return closed; }); }
};

}  // namespace

TEST(answer_endpoint, a_known_job_gets_its_answer_and_its_waiter_is_woken) {
  endpoint e;
  waiting_job job(e, 42);
  client c(e);
  EXPECT_EQ(c.call(cmd({"url", "42", good_answer})), "+OK\r\n");
  ASSERT_TRUE(job.done());
  EXPECT_EQ(job.slot.error, errc::none);
  EXPECT_EQ(job.slot.answer.status, 200);
  EXPECT_EQ(job.slot.answer.body, "hello");
  ASSERT_EQ(job.slot.answer.headers.size(), 1u);
  EXPECT_EQ(job.slot.answer.headers[0].first, "X-Test");
  ASSERT_TRUE(run_until(e.ioc, [&] { return job.woken() == 1; }));
  EXPECT_EQ(e.pending.size(), 1u);  // the session removes its entry, never the endpoint
  EXPECT_EQ(e.stats.answers_accepted.load(), 1u);
  EXPECT_FALSE(c.closed);
}

TEST(answer_endpoint, unknown_finished_and_malformed_ids_get_unknown_job) {
  endpoint e;
  waiting_job job(e, 42);
  client c(e);
  ASSERT_EQ(c.call(cmd({"url", "42", good_answer})), "+OK\r\n");
  const std::string unknown = "-" + std::string(answer_error::unknown_job);
  for (std::string_view id : {"42", "7", "abc", "42x", "-1"}) {  // finished, never issued, not a number
    std::string reply = c.call(cmd({"url", id, good_answer}));
    EXPECT_EQ(reply.rfind(unknown + std::string(id) + " ", 0), 0u) << reply;
  }
  EXPECT_EQ(e.stats.answers_unknown.load(), 5u);
  EXPECT_EQ(e.stats.answers_accepted.load(), 1u);
  EXPECT_EQ(job.slot.answer.body, "hello");  // the late ones changed nothing
  EXPECT_FALSE(c.closed);
}

TEST(answer_endpoint, an_invalid_answer_fails_the_job_with_bad_answer) {
  endpoint e;
  waiting_job job(e, 43);
  client c(e);
  EXPECT_EQ(c.call(cmd({"url", "43"})), err(answer_error::answer_arity));
  EXPECT_FALSE(job.done());
  std::string reply = c.call(cmd({"url", "43", "[999, {}, \"\"]"}));
  EXPECT_TRUE(starts_with_error(reply, answer_error::invalid_answer)) << reply;
  ASSERT_TRUE(job.done());
  EXPECT_EQ(job.slot.error, errc::bad_answer);
  ASSERT_TRUE(run_until(e.ioc, [&] { return job.woken() == 1; }));
  EXPECT_EQ(e.stats.answers_invalid.load(), 1u);
  EXPECT_FALSE(c.closed);
}

TEST(answer_endpoint, redis_commands_and_pipelined_replies_in_order) {
  endpoint e;
  auto job = std::make_unique<waiting_job>(e, 5);
  client c(e);
  std::string batch = cmd({"PING"}) + cmd({"PING", "hi"}) + cmd({"ECHO", "e"}) + cmd({"SELECT", "0"}) +
                      cmd({"url", "5", good_answer}) + "PING\r\n";  // the last one inline
  EXPECT_EQ(c.call(batch, 6), "+PONG\r\n$2\r\nhi\r\n$1\r\ne\r\n+OK\r\n+OK\r\n+PONG\r\n");
  std::string info = c.call(cmd({"INFO"}));
  EXPECT_NE(info.find("respond_to:" + e.respond_to), std::string::npos) << info;
  EXPECT_EQ(c.call(cmd({"QUIT"})), "+OK\r\n");
  EXPECT_TRUE(c.wait_closed());
  EXPECT_TRUE(job->done());
  job.reset();
  EXPECT_TRUE(e.drain());
}

TEST(answer_endpoint, malformed_resp_gets_a_protocol_error_and_the_connection_closes) {
  endpoint e([](front_config& cfg) { cfg.answer_max_args = 3; });
  for (std::string_view bad : {"*x\r\n", "*1\r\n$abc\r\n", "*4\r\n"}) {  // bad header, bad length, too many items
    client c(e);
    std::string reply = c.call(bad);
    EXPECT_TRUE(starts_with_error(reply, answer_error::protocol)) << bad << ": " << reply;
    EXPECT_TRUE(c.wait_closed()) << bad;
  }
  EXPECT_EQ(e.stats.answer_protocol_errors.load(), 3u);
  EXPECT_TRUE(e.drain());
}

TEST(answer_endpoint, http_closes_without_a_reply) {
  endpoint e;
  waiting_job job(e, 9);
  for (std::string_view http : {"POST / HTTP/1.1\r\n", "Host: 127.0.0.1\r\n", "GET /x\r\n"}) {
    client c(e);
    c.send(http);
    // Behind it, an answer that a web page smuggled in a POST body: it must never run.
    c.send(std::string(cmd({"url", "9", good_answer})));
    EXPECT_TRUE(c.wait_closed()) << http;
    EXPECT_EQ(c.in, "") << http;
  }
  EXPECT_FALSE(job.done());
  EXPECT_EQ(e.stats.answer_protocol_errors.load(), 3u);
}

TEST(answer_endpoint, after_an_unknown_command_only_arrays_are_read) {
  endpoint e;
  client c(e);
  EXPECT_EQ(c.call(cmd({"FOO", "x"})), err(std::string(answer_error::unknown_command) +
                                           "FOO' (this is a Tempest answer endpoint)"));
  EXPECT_EQ(c.call(cmd({"PING"})), "+PONG\r\n");  // still open, arrays still read
  std::string reply = c.call("PING\r\n");
  EXPECT_TRUE(starts_with_error(reply, answer_error::protocol)) << reply;
  EXPECT_TRUE(c.wait_closed());
}

TEST(answer_endpoint, an_oversized_answer_fails_its_job_and_the_connection_goes_on) {
  endpoint e([](front_config& cfg) { cfg.max_answer_size = 1024; });
  waiting_job job(e, 11);
  client c(e);
  std::string big = "[200, {}, \"" + std::string(2000, 'x') + "\"]";
  std::string replies = c.call(cmd({"url", "11", big}) + cmd({"PING"}), 2);
  EXPECT_TRUE(starts_with_error(replies, answer_error::invalid_answer)) << replies;
  EXPECT_NE(replies.find("larger than --max-answer-size (1024 bytes)\r\n+PONG\r\n"), std::string::npos) << replies;
  ASSERT_TRUE(job.done());
  EXPECT_EQ(job.slot.error, errc::bad_answer);
  EXPECT_FALSE(c.closed);
}

TEST(answer_endpoint, auth_rules_with_a_password) {
  endpoint e([](front_config& cfg) {
    cfg.answer_password = "s3cret";
    cfg.answer_auth_attempts = 2;
  });
  waiting_job job(e, 12);
  {
    client c(e);
    EXPECT_EQ(c.call(cmd({"url", "12", good_answer})), err(answer_error::noauth));
    EXPECT_EQ(c.call(cmd({"PING"})), err(answer_error::noauth));
    EXPECT_FALSE(job.done());
    EXPECT_EQ(c.call(cmd({"AUTH", "a", "b", "c"})), err(answer_error::auth_arity));
    EXPECT_EQ(c.call(cmd({"AUTH", "default", "s3cret"})), "+OK\r\n");  // the two-argument form
    EXPECT_EQ(c.call(cmd({"url", "12", good_answer})), "+OK\r\n");
    EXPECT_TRUE(job.done());
  }
  {
    client c(e);  // --answer-auth-attempts wrong passwords close the connection
    EXPECT_EQ(c.call(cmd({"AUTH", "nope"})), err(answer_error::wrong_password));
    EXPECT_FALSE(c.closed);
    EXPECT_EQ(c.call(cmd({"AUTH", "s3cre"})), err(answer_error::wrong_password));
    EXPECT_TRUE(c.wait_closed());
  }
  {
    client c(e);  // before AUTH a message over --answer-auth-max-size is refused, not skipped
    std::string reply = c.call(cmd({"AUTH", std::string(8192, 'p')}));
    EXPECT_TRUE(starts_with_error(reply, answer_error::protocol)) << reply;
    EXPECT_TRUE(c.wait_closed());
  }
  {
    client c(e);  // QUIT needs no AUTH
    EXPECT_EQ(c.call(cmd({"QUIT"})), "+OK\r\n");
    EXPECT_TRUE(c.wait_closed());
  }
  EXPECT_EQ(e.stats.answer_auth_failures.load(), 2u);
}

TEST(answer_endpoint, auth_without_a_password_set_is_an_error) {
  endpoint e;
  client c(e);
  EXPECT_EQ(c.call(cmd({"AUTH", "x"})), err(answer_error::auth_without_password));
  EXPECT_EQ(c.call(cmd({"PING"})), "+PONG\r\n");
}

TEST(answer_endpoint, a_scenario_sent_byte_by_byte_gets_the_same_replies) {
  endpoint e([](front_config& cfg) { cfg.answer_password = "pw"; });
  waiting_job job(e, 77);
  client c(e);
  std::string bytes = cmd({"AUTH", "pw"}) + cmd({"url", "77", good_answer}) + cmd({"PING"});
  for (char b : bytes) {
    c.send(std::string_view(&b, 1));
    e.ioc.poll();  // the endpoint reads what came so far: the reader sees many splits
  }
  ASSERT_TRUE(run_until(e.ioc, [&] { return c.count_replies() >= 3; }));
  EXPECT_EQ(c.in, "+OK\r\n+OK\r\n+PONG\r\n");
  EXPECT_TRUE(job.done());
}

namespace {

// One command of the fault scenario: its bytes and the reply it gets when it runs.
struct step {
  std::string wire;
  std::string reply;
  std::uint64_t answers = 0;  // the job it answers (0: none)
};

std::vector<step> fault_scenario() {
  return {{cmd({"AUTH", "pw"}), "+OK\r\n"},
          {cmd({"PING"}), "+PONG\r\n"},
          {cmd({"url", "1001", good_answer}), "+OK\r\n", 1001},
          {cmd({"url", "1002", R"([204, {}, ""])"}), "+OK\r\n", 1002},
          {cmd({"QUIT"}), "+OK\r\n"}};
}

// What the endpoint owes a client whose input stops after n bytes: the replies of the commands
// complete by then, and which of the answers among them (by job, in order) completed their job.
struct outcome {
  std::string replies;
  std::vector<bool> answered;
};

outcome expected_after(const std::vector<step>& steps, std::size_t n) {
  outcome o;
  std::size_t end = 0;
  for (auto& s : steps) {
    end += s.wire.size();
    if (end <= n) o.replies += s.reply;
    if (s.answers) o.answered.push_back(end <= n);
  }
  return o;
}

// Half-close: the endpoint reads EOF after the cut, runs what is complete, closes. Reset (the
// worker dies, linger 0): whatever of the prefix it read before the reset is all it gets, so
// only consistency is checked: a job is either answered right (and its waiter woken) or
// untouched, never half.
void cut_after(std::size_t n, bool reset, endpoint& e, const std::vector<step>& steps,
               std::vector<std::unique_ptr<waiting_job>>& jobs) {
  std::string all;
  for (auto& s : steps) all += s.wire;
  client c(e);
  c.send(std::string_view(all).substr(0, n));
  if (reset) {
    c.socket.set_option(asio::socket_base::linger(true, 0));
    c.socket.close();
    e.ioc.restart();
    e.ioc.run_for(20ms);  // lets the endpoint see the reset (no check below depends on when)
  } else if (n < all.size()) {
    c.socket.shutdown(tcp::socket::shutdown_send);
  }
  ASSERT_TRUE(c.wait_closed()) << "the endpoint did not close";  // EOF: the session has ended
  outcome want = expected_after(steps, n);
  if (!reset) {
    EXPECT_EQ(c.in, want.replies);
  }
  std::size_t done = 0;
  for (std::size_t k = 0; k < jobs.size(); ++k) {
    waiting_job& job = *jobs[k];
    if (!reset) {
      EXPECT_EQ(job.done(), want.answered[k]) << "job " << job.slot.id;
    }
    if (job.done()) {
      ++done;
      EXPECT_EQ(job.slot.error, errc::none);
      EXPECT_TRUE(run_until(e.ioc, [&] { return job.woken() == 1; })) << "waiter not woken";
    } else {
      EXPECT_EQ(job.slot.st, job_slot::state::queued);  // untouched: its session answers 504 later
      EXPECT_EQ(job.woken(), 0);
    }
  }
  EXPECT_EQ(e.stats.answers_accepted.load(), done);
  EXPECT_EQ(e.pending.size(), jobs.size());  // the endpoint removes no entry
}

// The fail_count loop: cut after n bytes, n = 0, 1, ... until a run sends the scenario whole.
// Returns the number of runs that were cut.
std::size_t cut_at_every_byte(bool reset) {
  const auto steps = fault_scenario();
  std::size_t bytes = 0;
  for (auto& s : steps) bytes += s.wire.size();
  for (std::size_t n = 0;; ++n) {
    SCOPED_TRACE((reset ? "reset after " : "half-close after ") + std::to_string(n) + " bytes");
    endpoint e([](front_config& cfg) { cfg.answer_password = "pw"; });
    std::vector<std::unique_ptr<waiting_job>> jobs;
    for (auto& s : steps)
      if (s.answers) jobs.push_back(std::make_unique<waiting_job>(e, s.answers));
    cut_after(n, reset, e, steps, jobs);
    jobs.clear();  // the sessions' part: remove the entries, stop the waiters
    EXPECT_EQ(e.pending.size(), 0u);
    EXPECT_TRUE(e.drain()) << "a session or a handler outlived its connection";
    if (n >= bytes || testing::Test::HasFailure()) return n;
  }
}

}  // namespace

namespace {

// The fail_count loop on the endpoint's own steps (answer_context::faults): the scenario's
// commands one at a time, each waited for, with the n-th read or write of the session failing,
// for n = 1, 2, ... until a run completes without reaching it. Returns the runs that failed.
std::size_t fail_each_step(std::string_view kind) {
  const auto steps = fault_scenario();
  std::string all_replies;
  for (auto& s : steps) all_replies += s.reply;
  for (std::size_t n = 1; n < 100; ++n) {
    SCOPED_TRACE("failing " + std::string(kind) + " number " + std::to_string(n));
    redis::fail_count fc{.n = n, .kind = kind};
    endpoint e([](front_config& cfg) { cfg.answer_password = "pw"; });
    e.ctx.faults = &fc;
    std::vector<std::unique_ptr<waiting_job>> jobs;
    for (auto& s : steps)
      if (s.answers) jobs.push_back(std::make_unique<waiting_job>(e, s.answers));
    std::string got;
    {
      client c(e);
      for (auto& s : steps) {
        if (c.closed) break;
        got += c.call(s.wire);
      }
      EXPECT_TRUE(c.wait_closed());
    }
    bool completed = !fc.reached();
    // The replies are those of the commands before the failure, in order; a job whose +OK came
    // is done; one failed write may leave its job done without the +OK (the answer was stored
    // before the reply went out); every other job is untouched.
    EXPECT_EQ(all_replies.substr(0, got.size()), got);
    if (completed) {
      EXPECT_EQ(got, all_replies);
    }
    std::size_t done = 0, done_unreplied = 0, replies = 0, k = 0;
    std::size_t replied = got.size();
    for (auto& s : steps) {
      bool got_reply = replies + s.reply.size() <= replied;
      replies += s.reply.size();
      if (!s.answers) continue;
      waiting_job& job = *jobs[k++];
      if (job.done()) {
        ++done;
        if (!got_reply) ++done_unreplied;
        EXPECT_EQ(job.slot.error, errc::none);
        EXPECT_TRUE(run_until(e.ioc, [&] { return job.woken() == 1; })) << "waiter not woken";
      } else {
        EXPECT_FALSE(got_reply) << "+OK for job " << s.answers << " that was not finished";
        EXPECT_EQ(job.slot.st, job_slot::state::queued);
      }
    }
    EXPECT_LE(done_unreplied, kind == "write" ? 1u : 0u);
    EXPECT_EQ(e.stats.answers_accepted.load(), done);
    EXPECT_EQ(e.pending.size(), jobs.size());
    jobs.clear();
    EXPECT_TRUE(e.drain()) << "a session or a handler outlived its connection";
    if (completed || testing::Test::HasFailure()) return n - 1;
  }
  ADD_FAILURE() << "the scenario never ran to its end";
  return 0;
}

}  // namespace

TEST(answer_endpoint, survives_a_failure_at_every_read_and_write) {
  auto commands = fault_scenario().size();
  EXPECT_GE(fail_each_step("read"), commands);  // one read a command, more if one came in pieces
  EXPECT_EQ(fail_each_step("write"), commands);  // one write of replies a command
}

TEST(answer_endpoint, survives_the_input_cut_at_every_byte) {
  std::size_t bytes = 0;
  for (auto& s : fault_scenario()) bytes += s.wire.size();
  EXPECT_EQ(cut_at_every_byte(false), bytes);
  EXPECT_EQ(cut_at_every_byte(true), bytes);
}
