// Unit tests for the settings tables (src/core/config.hpp) of every program: the front, the
// workers (worker_options), the angel, publish, jobs dead, jobs retry and status. Each program's
// generated example under docs/ must be what its table prints (--print-example-config), its
// --help must show every row's flag with its default and bounds (and no flag that is not a
// row), and values out of bounds are refused with one line naming the key.
#include "angel/angel_config.hpp"
#include "cli/commands.hpp"
#include "core/config.hpp"
#include "front/front_config.hpp"
#include "tempest/worker.hpp"

#include <CLI/CLI.hpp>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

using namespace tempest;

namespace {

std::string read_doc(const std::string& name) {
  std::ifstream f(std::string(TEMPEST_SOURCE_DIR "/docs/") + name);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

struct example_row {
  std::string key, default_value, bounds;  // bounds: "[lo..hi]" or ""
};

// The rows of a generated example: "# help (TYPE [lo..hi])" then `key = "v"` or `# key = ""`.
std::vector<example_row> example_rows(const std::string& example) {
  static const std::regex comment(R"re(^# .* \([A-Z:,.]+( \[[^\]]*\.\.[^\]]*\])?\)$)re");
  static const std::regex key_line(R"re(^(# )?([a-z-]+) = (?:"(.*)"|(true|false))$)re");  // BOOL bare
  std::vector<example_row> rows;
  std::istringstream in(example);
  std::string line, bounds;
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_match(line, m, comment)) {
      bounds = m[1].matched ? m[1].str().substr(1) : "";
    } else if (std::regex_match(line, m, key_line)) {
      rows.push_back({m[2], m[1].matched ? "" : m[3].matched ? m[3].str() : m[4].str(), bounds});
      bounds.clear();
    }
  }
  return rows;
}

// Every row of the example is a flag in help, with its default and its bounds.
void expect_help_shows(const std::string& help, const std::string& example, std::size_t at_least) {
  auto rows = example_rows(example);
  EXPECT_GE(rows.size(), at_least);
  for (const auto& r : rows) {
    EXPECT_NE(help.find("--" + r.key), std::string::npos) << r.key << " is not in --help";
    if (!r.default_value.empty()) {
      EXPECT_NE(help.find("[default: " + r.default_value + "]"), std::string::npos) << r.key << "'s default";
    }
    if (!r.bounds.empty()) {
      EXPECT_NE(help.find(r.bounds), std::string::npos) << r.key << "'s bounds " << r.bounds;
    }
  }
}

// The flags --help lists ("  --name ..." or "  -h,--name ..."), in order.
std::vector<std::string> help_flags(const std::string& help) {
  static const std::regex flag(R"re(^  (?:-[a-z],)?--([a-z-]+))re");
  std::vector<std::string> out;
  std::istringstream in(help);
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_search(line, m, flag)) out.push_back(m[1]);
  }
  return out;
}

// The keys of an example, in order.
std::vector<std::string> example_keys(const std::string& example) {
  std::vector<std::string> out;
  for (const auto& r : example_rows(example)) out.push_back(r.key);
  return out;
}

// The subcommand table of src/main.cpp.
void add_every_command(CLI::App& app) {
  cli::add_front_command(app);
  cli::add_publish_command(app);
  cli::add_jobs_command(app);
  cli::add_angel_command(app);
  cli::add_status_command(app);
}

// A `tempest` subcommand (path: {"jobs", "dead"}) run through the real command table
// (src/cli/commands.hpp): its stdout, stderr and exit status.
struct run_result {
  std::string out, err;
  int status = 0;
};
run_result run_tempest(std::vector<std::string> args) {
  CLI::App app("tempest");
  add_every_command(app);
  args.insert(args.begin(), "tempest");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  run_result r;
  testing::internal::CaptureStdout();
  testing::internal::CaptureStderr();
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::Error& e) {  // CLI::RuntimeError(code): the subcommand's exit status
    r.status = e.get_exit_code();
  }
  r.err = testing::internal::GetCapturedStderr();
  r.out = testing::internal::GetCapturedStdout();
  return r;
}

// A subcommand's --help text.
std::string tempest_help(const std::vector<std::string>& path) {
  CLI::App app("tempest");
  add_every_command(app);
  CLI::App* sub = &app;
  for (const auto& p : path) sub = sub->get_subcommand(p);
  return sub->help();
}

// The flags of a table-built subcommand are exactly its example's keys, plus these.
const std::vector<std::string> table_extras = {"help", "config", "print-example-config"};

void expect_flags_are_the_rows(const std::vector<std::string>& path, std::size_t rows) {
  std::vector<std::string> args = path;
  args.push_back("--print-example-config");
  auto example = run_tempest(args);
  ASSERT_EQ(example.status, 0) << example.err;
  std::string help = tempest_help(path);
  expect_help_shows(help, example.out, rows);
  auto keys = example_keys(example.out);
  EXPECT_EQ(keys.size(), rows);
  auto expected = table_extras;
  expected.insert(expected.begin() + 2, keys.begin(), keys.end());  // help, config, rows..., print
  EXPECT_EQ(help_flags(help), expected) << help;
}

const char* const front_title = "Tempest front configuration (tempest front --config FILE)";

// The worker's --help and --print-example-config, through its public parser.
std::string worker_output(const char* flag, bool help_text) {
  CLI::App app("worker", "w");
  const char* argv[] = {"w", flag};
  testing::internal::CaptureStdout();
  try {
    worker_options::parse(app, 2, argv);
  } catch (const CLI::Success&) {
  }
  std::string out = testing::internal::GetCapturedStdout();
  return help_text ? app.help() : out;
}

template <class F>
std::string refusal(F f) {
  try {
    f();
  } catch (const config_error& e) {
    return e.what();
  }
  return "(accepted)";
}

}  // namespace

TEST(settings, front_example_file_matches_the_table) {
  front::front_config cfg;
  auto table = front::make_front_settings(cfg);
  EXPECT_EQ(read_doc("tempest.example.toml"), table.example_toml(front_title))
      << "regenerate with: build/tempest front --print-example-config > docs/tempest.example.toml";
}

TEST(settings, front_help_shows_every_row) {
  front::front_config cfg;
  auto table = front::make_front_settings(cfg);
  CLI::App app;
  table.add_to(app);
  expect_help_shows(app.help(), table.example_toml(front_title), table.settings().size());
  EXPECT_NE(app.help().find("[1..256]"), std::string::npos);  // --threads
}

TEST(settings, worker_example_file_matches_the_table) {
  EXPECT_EQ(read_doc("worker.example.toml"), worker_output("--print-example-config", false))
      << "regenerate with: build/examples/hello_worker --print-example-config > docs/worker.example.toml";
}

TEST(settings, worker_help_shows_every_row) {
  std::string help = worker_output("--help", true);
  expect_help_shows(help, worker_output("--print-example-config", false), 14);
  EXPECT_NE(help.find("[1..1024]"), std::string::npos);  // --concurrency
  EXPECT_NE(help.find("redis://127.0.0.1:6379/0"), std::string::npos);
}

TEST(settings, angel_example_file_matches_the_table) {
  EXPECT_EQ(read_doc("angel.example.toml"), angel::angel_example_toml())
      << "regenerate with: build/tempest angel --print-example-config > docs/angel.example.toml";
  auto c = angel::parse_toml_config(angel::angel_example_toml(), "angel.example.toml");  // it parses
  auto d = angel::default_config();
  EXPECT_EQ(c.limits.backoff_max, d.limits.backoff_max);
  EXPECT_EQ(c.stop_timeout, d.stop_timeout);
  auto rows = example_rows(angel::angel_example_toml());  // the global keys, then [programs.web]
  auto settings = angel::angel_settings(c);
  ASSERT_GE(rows.size(), settings.size());
  for (std::size_t i = 0; i < settings.size(); ++i) {
    EXPECT_EQ(rows[i].key, settings[i].name);
    EXPECT_EQ(rows[i].default_value, settings[i].default_value);
    EXPECT_EQ(rows[i].bounds, settings[i].bounds_text().empty() ? "" : settings[i].bounds_text().substr(1));
  }
}

TEST(settings, out_of_bounds_values_are_refused_naming_the_key) {
  auto front_with = [](const char* flag, const char* value) {
    front::front_config cfg;
    auto table = front::make_front_settings(cfg);
    CLI::App app;
    table.add_to(app);
    const char* argv[] = {"front", flag, value};
    app.parse(3, const_cast<char**>(argv));
    table.resolve();
  };
  EXPECT_EQ(refusal([&] { front_with("--threads", "0"); }), "--threads: '0' is out of range [1..256]");
  EXPECT_EQ(refusal([&] { front_with("--max-body-size", "5g"); }), "--max-body-size: '5g' is out of range [0..4g]");
  EXPECT_EQ(refusal([&] { front_with("--announce-interval", "2m"); }),
            "--announce-interval: '2m' is out of range [100ms..1m]");
  EXPECT_EQ(refusal([&] { front_with("--timeout", "0s"); }), "--timeout: '0s' is out of range [1ms..]");
  EXPECT_EQ(refusal([&] { front_with("--threads", "256"); }), "(accepted)");

  auto worker_with = [](const char* flag, const char* value) {
    CLI::App app;
    const char* argv[] = {"w", flag, value};
    worker_options::parse(app, 3, argv);
  };
  EXPECT_EQ(refusal([&] { worker_with("--concurrency", "1025"); }), "--concurrency: '1025' is out of range [1..1024]");
  EXPECT_EQ(refusal([&] { worker_with("--heartbeat-ttl", "100ms"); }),
            "--heartbeat-ttl: '100ms' is out of range [300ms..1h]");
  EXPECT_EQ(refusal([&] { worker_with("--answer-buffer", "2g"); }), "--answer-buffer: '2g' is out of range [64k..1g]");
  EXPECT_EQ(refusal([&] { worker_with("--batch", "10000"); }), "(accepted)");

  EXPECT_EQ(refusal([] { angel::parse_toml_config("crash-loop = 1001\n", "a.toml"); }),
            "a.toml: crash-loop: '1001' is out of range [0..1000]");
  EXPECT_EQ(refusal([] { angel::parse_toml_config("stop-timeout = \"0s\"\n", "a.toml"); }),
            "a.toml: stop-timeout: '0s' is out of range [1ms..]");
}

TEST(settings, shared_rows_have_one_default) {
  std::string queue, redis;
  EXPECT_EQ(queue_setting(queue, "q").default_value, default_queue);
  EXPECT_EQ(std::string(default_queue), "tempest");
  EXPECT_EQ(redis_setting(redis, "r", "x").default_value, "");  // filled from $TEMPEST_REDIS first
  EXPECT_EQ(worker_options().queue, default_queue);
  EXPECT_THROW(queue_setting(queue, "q").apply(""), std::invalid_argument);
  EXPECT_THROW(redis_setting(redis, "r", "x").apply("ftp://x"), std::invalid_argument);

  std::string level;
  EXPECT_EQ(log_level_setting(level).default_value, default_log_level);
  EXPECT_THROW(log_level_setting(level).apply("loud"), std::invalid_argument);
  front::front_config cfg;
  auto front_table = front::make_front_settings(cfg);
  std::map<std::string, std::string> front_defaults, angel_defaults;
  for (const auto& s : front_table.settings()) front_defaults[s.name] = s.default_value;
  angel::angel_config ac;
  for (const auto& s : angel::angel_settings(ac)) angel_defaults[s.name] = s.default_value;
  EXPECT_EQ(front_defaults["log-level"], default_log_level);
  EXPECT_EQ(front_defaults["queue"], default_queue);
  EXPECT_EQ(front_defaults["redis-server"], default_redis_server);
  EXPECT_EQ(angel_defaults["redis-server"], default_redis_server);
  std::string help = worker_output("--help", true);
  EXPECT_NE(help.find("--log-level LEVEL           trace, debug, info, warn, error or off [default: info]"),
            std::string::npos)
      << help;
}

TEST(settings, cli_programs_flags_are_their_table_rows) {
  expect_flags_are_the_rows({"publish"}, 4);
  expect_flags_are_the_rows({"jobs", "dead"}, 3);
  expect_flags_are_the_rows({"jobs", "retry"}, 3);
  expect_flags_are_the_rows({"status"}, 3);
  EXPECT_NE(tempest_help({"publish"}).find("--history INT"), std::string::npos);
  EXPECT_NE(tempest_help({"publish"}).find("[0..1000000000] [default: 1000]"), std::string::npos);
  EXPECT_NE(tempest_help({"publish"}).find("[default: 3600s]"), std::string::npos);  // --history-age
  EXPECT_NE(tempest_help({"status"}).find("queue to report (repeatable) [default: tempest]"), std::string::npos);
  EXPECT_NE(tempest_help({"jobs", "retry"}).find("every dead job of the queue [default: false]"), std::string::npos);
}

TEST(settings, front_cli_help_is_its_table) {
  auto example = run_tempest({"front", "--print-example-config"});
  ASSERT_EQ(example.status, 0) << example.err;
  EXPECT_EQ(example.out, read_doc("tempest.example.toml"));
  std::string help = tempest_help({"front"});
  front::front_config cfg;
  expect_help_shows(help, example.out, front::make_front_settings(cfg).settings().size());
  auto expected = table_extras;
  auto keys = example_keys(example.out);
  expected.insert(expected.begin() + 2, keys.begin(), keys.end());
  EXPECT_EQ(help_flags(help), expected);
}

TEST(settings, angel_flags_are_table_rows) {
  std::string help = tempest_help({"angel"});
  EXPECT_EQ(help_flags(help), (std::vector<std::string>{"help", "config", "redis", "log-level", "print-example-config"}));
  angel::angel_config c;
  auto rows = angel::angel_settings(c);
  auto redis = std::find_if(rows.begin(), rows.end(), [](const setting& s) { return s.name == "redis"; });
  ASSERT_NE(redis, rows.end());
  EXPECT_NE(help.find(redis->help), std::string::npos) << "--redis is the config's redis row";
  EXPECT_NE(help.find("--log-level LEVEL"), std::string::npos);
  EXPECT_NE(help.find(std::string("[default: ") + default_log_level + "]"), std::string::npos);
  auto example = run_tempest({"angel", "--print-example-config"});
  EXPECT_EQ(example.status, 0);
  EXPECT_EQ(example.out, read_doc("angel.example.toml"));
  EXPECT_EQ(run_tempest({"angel", "--log-level", "loud", "Procfile"}).err,
            "tempest angel: --log-level: unknown log level 'loud' (trace, debug, info, warn, error, off) "
            "(see tempest angel --help)\n");
}

TEST(settings, out_of_bounds_history_is_refused_naming_the_key) {
  const std::string unreachable = "redis://127.0.0.1:1/0";  // accepted values then fail to connect (exit 1)
  auto r = run_tempest({"publish", "--redis", unreachable, "--history", "1000000001", "news", "x"});
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.err, "tempest publish: --history: '1000000001' is out of range [0..1000000000] "
                   "(see tempest publish --help)\n");
  r = run_tempest({"publish", "--redis", unreachable, "--history", "-1", "news", "x"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--history: '-1' is out of range [0..1000000000]"), std::string::npos) << r.err;
  r = run_tempest({"publish", "--redis", unreachable, "--history", "many", "news", "x"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--history: "), std::string::npos) << r.err;
  r = run_tempest({"publish", "--redis", unreachable, "--history", "1000000000", "news", "x"});
  EXPECT_EQ(r.status, 1) << r.err;  // in bounds: refused only by the unreachable Redis
  EXPECT_EQ(r.err.find("--history"), std::string::npos) << r.err;
  r = run_tempest({"publish", "--redis", unreachable, "--history-age", "soon", "news", "x"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--history-age: "), std::string::npos) << r.err;
}

TEST(settings, a_config_file_gives_the_same_keys_with_the_same_bounds) {
  std::string path = testing::TempDir() + "settings_test_publish.toml";
  {
    std::ofstream f(path);
    f << "history = 1000000001\n";
  }
  auto r = run_tempest({"publish", "--redis", "redis://127.0.0.1:1/0", "--config", path, "news", "x"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find(path + ": history: '1000000001' is out of range [0..1000000000]"), std::string::npos) << r.err;
  {
    std::ofstream f(path);
    f << "queue = \"\"\n";
  }
  r = run_tempest({"status", "--redis", "redis://127.0.0.1:1/0", "--config", path});
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.err, "tempest status: " + path + ": queue: the queue name is empty\n");
  std::remove(path.c_str());
}

TEST(settings, bool_and_repeatable_rows) {
  bool json = true;
  std::vector<std::string> queues;
  settings_table t;
  t.add(bool_setting("json", json, "j"));
  t.add(queues_setting(queues, "q"));
  CLI::App app;
  t.add_to(app);
  const char* argv[] = {"p", "--queue", "a", "--json", "--queue", "b"};
  app.parse(6, const_cast<char**>(argv));
  t.resolve();
  EXPECT_TRUE(json);
  EXPECT_EQ(queues, (std::vector<std::string>{"a", "b"}));

  settings_table u;
  u.add(bool_setting("json", json, "j"));
  u.add(queues_setting(queues, "q"));
  CLI::App none;
  u.add_to(none);
  const char* bare[] = {"p"};
  none.parse(1, const_cast<char**>(bare));
  u.resolve();
  EXPECT_FALSE(json);  // the row's default
  EXPECT_EQ(queues, (std::vector<std::string>{default_queue}));
  CLI::App explicit_false;
  u.add_to(explicit_false);
  const char* no[] = {"p", "--json=false"};
  explicit_false.parse(2, const_cast<char**>(no));
  json = true;
  u.resolve();
  EXPECT_FALSE(json);
  EXPECT_THROW(u.settings()[1].apply("a\n\nb"), std::invalid_argument);  // an empty name among them
  EXPECT_THROW(u.settings()[0].apply("yes"), std::invalid_argument);
  EXPECT_NE(u.example_toml("t").find("\njson = false\n"), std::string::npos);  // TOML's own boolean

  std::string path = testing::TempDir() + "settings_test_rows.toml";
  {
    std::ofstream f(path);
    f << "json = true\nqueue = [\"x\", \"y\"]\n";
  }
  settings_table v;
  v.add(bool_setting("json", json, "j"));
  v.add(queues_setting(queues, "q"));
  CLI::App file;
  v.add_to(file);
  const char* with_config[] = {"p", "--config", path.c_str()};
  file.parse(3, const_cast<char**>(with_config));
  v.resolve();
  EXPECT_TRUE(json);
  EXPECT_EQ(queues, (std::vector<std::string>{"x", "y"}));
  std::remove(path.c_str());
}
