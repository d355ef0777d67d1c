// Unit tests for the settings tables (src/core/config.hpp) of every program that has one: the
// front, the workers (worker_options) and the angel. Each program's generated example under
// docs/ must be what its table prints (--print-example-config), its --help must show every
// row's flag with its default and bounds, and values out of bounds are refused with one line
// naming the key.
#include "angel/angel_config.hpp"
#include "core/config.hpp"
#include "front/front_config.hpp"
#include "tempest/worker.hpp"

#include <CLI/CLI.hpp>
#include <gtest/gtest.h>

#include <fstream>
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
  static const std::regex key_line(R"re(^(# )?([a-z-]+) = "(.*)"$)re");
  std::vector<example_row> rows;
  std::istringstream in(example);
  std::string line, bounds;
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_match(line, m, comment)) {
      bounds = m[1].matched ? m[1].str().substr(1) : "";
    } else if (std::regex_match(line, m, key_line)) {
      rows.push_back({m[2], m[1].matched ? "" : m[3].str(), bounds});
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
}
