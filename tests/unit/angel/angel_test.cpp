// Unit tests for src/angel/: the restart state machine with a fake clock (every transition of
// restart_policy.hpp), the TOML and Procfile parsers, the reload diff, exec argv and exit text.
#include "angel/angel_config.hpp"
#include "angel/child_process.hpp"
#include "angel/restart_policy.hpp"

#include <gtest/gtest.h>
#include <map>
#include <set>
#include <signal.h>

using namespace tempest;
using namespace tempest::angel;
using namespace std::chrono_literals;

namespace {

struct fake_clock {
  clock::time_point now{} ;
  void advance(milliseconds d) { now += d; }
};

restart_limits limits() {
  restart_limits l;
  l.backoff_min = 100ms;
  l.backoff_max = 1000ms;
  l.backoff_reset = 10s;
  l.crash_loop = 5;
  l.crash_window = 10s;
  return l;
}

}  // namespace

TEST(restart_policy, new_instance_is_due_at_once) {
  fake_clock t;
  restart_policy p(restart_mode::always, limits(), t.now);
  EXPECT_EQ(p.state(), instance_state::backoff);
  EXPECT_TRUE(p.due(t.now));
  p.on_started(t.now);
  EXPECT_EQ(p.state(), instance_state::running);
  EXPECT_EQ(p.restarts(), 0);
}

TEST(restart_policy, quick_exits_double_the_delay_then_fail) {
  fake_clock t;
  restart_policy p(restart_mode::always, limits(), t.now);
  std::vector<milliseconds> delays;
  for (int i = 0; i < 4; ++i) {
    p.on_started(t.now);
    t.advance(10ms);
    EXPECT_EQ(p.on_exit(t.now, exit_cause::failure), instance_state::backoff);
    delays.push_back(p.last_delay());
    EXPECT_FALSE(p.due(t.now + p.last_delay() - 1ms));
    EXPECT_TRUE(p.due(t.now + p.last_delay()));
    t.advance(p.last_delay());
  }
  EXPECT_EQ(delays, (std::vector<milliseconds>{100ms, 200ms, 400ms, 800ms}));
  p.on_started(t.now);
  EXPECT_EQ(p.restarts(), 4);
  t.advance(10ms);
  EXPECT_EQ(p.on_exit(t.now, exit_cause::failure), instance_state::failed);  // 5 exits within 10 s
  EXPECT_FALSE(p.due(t.now + 1h));
}

TEST(restart_policy, delay_is_capped_at_backoff_max) {
  fake_clock t;
  auto l = limits();
  l.crash_loop = 100;
  restart_policy p(restart_mode::always, l, t.now);
  for (int i = 0; i < 8; ++i) {
    p.on_started(t.now);
    p.on_exit(t.now, exit_cause::failure);
    t.advance(p.last_delay());
  }
  EXPECT_EQ(p.last_delay(), 1000ms);
}

TEST(restart_policy, a_long_run_resets_the_backoff_and_old_exits_leave_the_window) {
  fake_clock t;
  restart_policy p(restart_mode::always, limits(), t.now);
  for (int i = 0; i < 3; ++i) {
    p.on_started(t.now);
    p.on_exit(t.now, exit_cause::failure);
    t.advance(p.last_delay());
  }
  EXPECT_EQ(p.last_delay(), 400ms);
  p.on_started(t.now);
  t.advance(11s);  // healthy for longer than backoff_reset
  EXPECT_EQ(p.on_exit(t.now, exit_cause::failure), instance_state::backoff);
  EXPECT_EQ(p.last_delay(), 100ms);
}

// Issue 7 item 12: by default the angel never gives up; it keeps trying at most backoff-max apart.
TEST(restart_policy, the_defaults_never_give_up) {
  fake_clock t;
  auto l = default_config().limits;
  EXPECT_EQ(l.crash_loop, 0);
  EXPECT_EQ(l.backoff_max, 30s);
  restart_policy p(restart_mode::always, l, t.now);
  for (int i = 0; i < 200; ++i) {
    p.on_started(t.now);
    t.advance(1ms);
    ASSERT_EQ(p.on_exit(t.now, exit_cause::failure), instance_state::backoff) << "exit " << i;
    t.advance(p.last_delay());
  }
  EXPECT_EQ(p.last_delay(), 30s);
  EXPECT_EQ(p.restarts(), 199);
}

TEST(restart_policy, a_run_of_backoff_reset_resets_the_delay_apart_from_the_crash_window) {
  fake_clock t;
  auto l = limits();
  l.backoff_reset = 1s;
  restart_policy p(restart_mode::always, l, t.now);
  for (int i = 0; i < 3; ++i) {
    p.on_started(t.now);
    p.on_exit(t.now, exit_cause::failure);
    t.advance(p.last_delay());
  }
  EXPECT_EQ(p.last_delay(), 400ms);
  p.on_started(t.now);
  t.advance(1s);
  EXPECT_EQ(p.on_exit(t.now, exit_cause::failure), instance_state::backoff);
  EXPECT_EQ(p.last_delay(), 100ms);
}

// A SIGKILL from outside (operator, OOM killer, chaos loop) is not a crash: always backoff_min,
// and neither the delay nor the crash loop counts it, even with an explicit crash-loop.
TEST(restart_policy, sigkill_from_outside_is_not_a_crash) {
  fake_clock t;
  auto l = limits();
  l.crash_loop = 3;
  restart_policy p(restart_mode::always, l, t.now);
  for (int i = 0; i < 50; ++i) {
    p.on_started(t.now);
    t.advance(1ms);
    ASSERT_EQ(p.on_exit(t.now, exit_cause::killed), instance_state::backoff) << "kill " << i;
    EXPECT_EQ(p.last_delay(), 100ms);
    t.advance(p.last_delay());
  }
  // Crashes still count as before, from the first delay.
  p.on_started(t.now);
  EXPECT_EQ(p.on_exit(t.now, exit_cause::failure), instance_state::backoff);
  EXPECT_EQ(p.last_delay(), 100ms);
  t.advance(p.last_delay());
  p.on_started(t.now);
  EXPECT_EQ(p.on_exit(t.now, exit_cause::failure), instance_state::backoff);
  EXPECT_EQ(p.last_delay(), 200ms);
  t.advance(p.last_delay());
  p.on_started(t.now);
  EXPECT_EQ(p.on_exit(t.now, exit_cause::failure), instance_state::failed);
}

TEST(restart_policy, clean_exits_count_too_under_always) {
  fake_clock t;
  auto l = limits();
  l.crash_loop = 2;
  restart_policy p(restart_mode::always, l, t.now);
  p.on_started(t.now);
  EXPECT_EQ(p.on_exit(t.now, exit_cause::clean), instance_state::backoff);
  t.advance(p.last_delay());
  p.on_started(t.now);
  EXPECT_EQ(p.on_exit(t.now, exit_cause::clean), instance_state::failed);
}

TEST(restart_policy, on_failure_and_never) {
  fake_clock t;
  restart_policy a(restart_mode::on_failure, limits(), t.now);
  a.on_started(t.now);
  EXPECT_EQ(a.on_exit(t.now, exit_cause::clean), instance_state::stopped);
  restart_policy b(restart_mode::on_failure, limits(), t.now);
  b.on_started(t.now);
  EXPECT_EQ(b.on_exit(t.now, exit_cause::failure), instance_state::backoff);
  restart_policy c(restart_mode::never, limits(), t.now);
  c.on_started(t.now);
  EXPECT_EQ(c.on_exit(t.now, exit_cause::failure), instance_state::stopped);
}

TEST(restart_policy, stop_transitions) {
  fake_clock t;
  restart_policy running(restart_mode::always, limits(), t.now);
  running.on_started(t.now);
  EXPECT_TRUE(running.on_stop());
  EXPECT_EQ(running.state(), instance_state::stopping);
  EXPECT_EQ(running.on_exit(t.now, exit_cause::failure), instance_state::stopped);  // no restart while stopping

  restart_policy waiting(restart_mode::always, limits(), t.now);
  EXPECT_FALSE(waiting.on_stop());
  EXPECT_EQ(waiting.state(), instance_state::stopped);
  waiting.on_started(t.now);  // ignored: not in backoff
  EXPECT_EQ(waiting.state(), instance_state::stopped);
}

TEST(restart_policy, retry_gives_a_failed_instance_a_new_chance) {
  fake_clock t;
  auto l = limits();
  l.crash_loop = 1;
  restart_policy p(restart_mode::always, l, t.now);
  p.on_started(t.now);
  EXPECT_EQ(p.on_exit(t.now, exit_cause::failure), instance_state::failed);
  p.on_retry(t.now);
  EXPECT_TRUE(p.due(t.now));
}

TEST(restart_policy, spawn_failure_counts_as_a_quick_exit) {
  fake_clock t;
  auto l = limits();
  l.crash_loop = 2;
  restart_policy p(restart_mode::always, l, t.now);
  p.on_spawn_failed(t.now);
  EXPECT_EQ(p.state(), instance_state::backoff);
  t.advance(p.last_delay());
  p.on_spawn_failed(t.now);
  EXPECT_EQ(p.state(), instance_state::failed);
}

TEST(angel_config, toml_programs_and_globals) {
  auto c = parse_toml_config(R"(
redis = "redis://127.0.0.1:7000/1"
backoff-min = "50ms"
crash-loop = 3
stop-timeout = "2s"
[programs.web]
command = "build/examples/hello_worker --queue q"
count = 2
env = { A = "1" }
cwd = "/tmp"
restart = "on-failure"
[programs.argv]
command = ["/bin/echo", "a b"]
)", "t.toml");
  EXPECT_EQ(c.redis, "redis://127.0.0.1:7000/1");
  EXPECT_EQ(c.limits.backoff_min, 50ms);
  EXPECT_EQ(c.limits.backoff_max, 30s);  // default from the table
  EXPECT_EQ(c.limits.crash_loop, 3);
  EXPECT_EQ(c.stop_timeout, 2s);
  EXPECT_EQ(c.reap_interval, 1s);
  const auto& web = c.programs.at("web");
  EXPECT_EQ(web.count, 2);
  EXPECT_EQ(web.argv, (std::vector<std::string>{"/bin/sh", "-c", "build/examples/hello_worker --queue q"}));
  EXPECT_EQ(web.env.at("A"), "1");
  EXPECT_EQ(web.cwd, "/tmp");
  EXPECT_EQ(web.restart, restart_mode::on_failure);
  EXPECT_EQ(c.programs.at("argv").argv, (std::vector<std::string>{"/bin/echo", "a b"}));
  EXPECT_EQ(c.programs.at("argv").count, 1);
}

TEST(angel_config, errors_name_the_key) {
  auto error_of = [](const char* text) {
    try {
      parse_toml_config(text, "t.toml");
    } catch (const config_error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(error_of("bogus = 1"), "t.toml: unknown key 'bogus'");
  EXPECT_EQ(error_of("backoff-min = \"soon\"").rfind("t.toml: backoff-min: ", 0), 0u);
  EXPECT_EQ(error_of("[programs.w]\ncount = 1"), "t.toml: programs.w: command is required");
  EXPECT_NE(error_of("[programs.w]\ncommand = \"x\"\ncount = -1").find("programs.w.count"), std::string::npos);
  EXPECT_NE(error_of("[programs.w]\ncommand = \"x\"\nrestart = \"sometimes\"").find("programs.w.restart"), std::string::npos);
  EXPECT_NE(error_of("[programs.w]\ncommand = \"x\"\nuser = \"root\"").find("unknown key 'user'"), std::string::npos);
  EXPECT_NE(error_of("[programs.w\n").find("t.toml:1"), std::string::npos);
  EXPECT_NE(error_of("backoff-min = \"5s\"\nbackoff-max = \"1s\"").find("backoff-max"), std::string::npos);
}

TEST(angel_config, procfile) {
  auto c = parse_procfile("# comment\n\nweb: build/examples/hello_worker --queue q\r\nclock:sleep 100\n", "Procfile");
  ASSERT_EQ(c.programs.size(), 2u);
  EXPECT_EQ(c.programs.at("web").command_text, "build/examples/hello_worker --queue q");
  EXPECT_EQ(c.programs.at("clock").argv.back(), "sleep 100");
  EXPECT_EQ(c.limits.backoff_min, 100ms);
  EXPECT_THROW(parse_procfile("no colon here\n", "P"), config_error);
  EXPECT_THROW(parse_procfile("a: x\na: y\n", "P"), config_error);
  EXPECT_THROW(parse_procfile("a:\n", "P"), config_error);
}

TEST(angel_config, diff_lists_only_what_changed) {
  auto before = parse_toml_config(R"(
[programs.a]
command = "x"
count = 2
[programs.b]
command = "y"
[programs.c]
command = "z"
)", "1");
  auto after = parse_toml_config(R"(
[programs.a]
command = "x"
count = 1
[programs.b]
command = "y --changed"
[programs.d]
command = "new"
)", "2");
  auto d = diff(before, after);
  EXPECT_EQ(d.recounted, std::vector<std::string>{"a"});
  EXPECT_EQ(d.changed, std::vector<std::string>{"b"});
  EXPECT_EQ(d.removed, std::vector<std::string>{"c"});
  EXPECT_EQ(d.added, std::vector<std::string>{"d"});
  EXPECT_TRUE(diff(after, after).empty());
}

TEST(child_process, plain_commands_are_exec_directly) {
  program_spec p;
  p.argv = {"/bin/sh", "-c", "build/examples/hello_worker  --queue q"};
  EXPECT_EQ(exec_argv(p), (std::vector<std::string>{"build/examples/hello_worker", "--queue", "q"}));
  p.argv = {"/bin/sh", "-c", "exec worker > log"};
  EXPECT_EQ(exec_argv(p), p.argv);
  p.argv = {"/bin/sh", "-c", "FOO=1 worker"};
  EXPECT_EQ(exec_argv(p), p.argv);
  p.argv = {"/bin/echo", "a; b"};
  EXPECT_EQ(exec_argv(p), p.argv);
}

TEST(child_process, describe_exit) {
  EXPECT_EQ(describe_exit(3 << 8), "exit code 3");
  EXPECT_EQ(describe_exit(SIGKILL), "killed by signal 9 (SIGKILL)");
}

TEST(angel_config, the_examples_parse) {
  auto t = load_toml_config(TEMPEST_SOURCE_DIR "/examples/angel.toml");
  EXPECT_EQ(t.programs.at("hello").count, 2);
  EXPECT_EQ(t.programs.count("front"), 1u);
  auto defaults = default_config();
  EXPECT_EQ(t.limits.backoff_min, defaults.limits.backoff_min);  // the example shows the defaults
  EXPECT_EQ(t.limits.backoff_max, defaults.limits.backoff_max);
  EXPECT_EQ(t.limits.backoff_reset, defaults.limits.backoff_reset);
  EXPECT_EQ(t.limits.crash_loop, defaults.limits.crash_loop);
  EXPECT_EQ(t.limits.crash_window, defaults.limits.crash_window);
  EXPECT_EQ(t.stop_timeout, defaults.stop_timeout);
  EXPECT_EQ(t.reap_interval, defaults.reap_interval);
  EXPECT_EQ(t.programs.count("python") + t.programs.count("node") + t.programs.count("ruby") + t.programs.count("shell"), 4u);
  auto p = load_procfile(TEMPEST_SOURCE_DIR "/examples/Procfile");
  EXPECT_EQ(p.programs.size(), 8u);
}

namespace {
// What a worker program answers: its script for an interpreter (python3, node, ruby), else its
// executable, by file name; the hello examples of every language (and the shell worker) all
// answer `Hello world!`, so they are one kind.
std::string worker_kind(const std::vector<std::string>& argv) {
  auto base = [](const std::string& path) { return path.substr(path.rfind('/') + 1); };
  std::string program = base(argv[0]);
  if ((program.starts_with("python") || program == "node" || program == "ruby") && argv.size() > 1)
    program = base(argv[1]);
  for (const char* hello : {"hello_worker", "hello.py", "hello.js", "hello.rb", "worker.sh"})
    if (program == hello) return "hello";
  return program;
}

// queue -> the kinds of worker serving it: workers by --queue, fronts left out.
std::map<std::string, std::set<std::string>> workers_by_queue(const angel_config& c) {
  std::map<std::string, std::set<std::string>> out;
  for (const auto& [name, spec] : c.programs) {
    auto argv = exec_argv(spec);
    if (argv.size() > 1 && argv[1] == "front") continue;
    std::string queue = "tempest";
    for (std::size_t i = 0; i + 1 < argv.size(); ++i)
      if (argv[i] == "--queue") queue = argv[i + 1];
    out[queue].insert(worker_kind(argv));
  }
  return out;
}
}  // namespace

// Issue 7 item 22: any worker of a queue may take any of its jobs, so one kind per queue (issue 9:
// the hello workers of five languages share one).
TEST(angel_config, the_examples_run_one_kind_of_worker_per_queue) {
  for (const char* path : {TEMPEST_SOURCE_DIR "/examples/Procfile", TEMPEST_SOURCE_DIR "/examples/angel.toml"}) {
    std::string p(path);
    auto c = p.ends_with(".toml") ? load_toml_config(p) : load_procfile(p);
    auto queues = workers_by_queue(c);
    EXPECT_FALSE(queues.empty()) << p;
    for (const auto& [queue, programs] : queues) EXPECT_EQ(programs.size(), 1u) << p << ": queue " << queue;
  }
}
