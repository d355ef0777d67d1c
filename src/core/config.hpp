// The settings table (Redis's static_configs[] idea): each setting is one row with its name
// (the flag --name and the TOML key are the same word), type, default, help text and a parser
// that stores the value into the program's config struct. The table feeds --help, the config
// struct and the commented example file (docs/tempest.example.toml; a test checks they agree).
// Defaults live only in the table. Bounds are columns too: min/max (as text in the row's
// type: INT, SIZE or DURATION; empty: unbounded) are checked by the table before apply and
// shown in --help and the example as "[1..1024]". Two more columns say how a flag is given:
// type BOOL is a flag without a value (--json is "true", --json=false "false"; default "false";
// TOML true or false), and repeatable lets a flag be given several times (--queue a --queue b;
// TOML an array of strings): apply then gets the values one a line ("a\nb").
//
// Settings every program shares are rows built here, so each default is written once:
// redis_setting() (default $TEMPEST_REDIS, else default_redis_url), queue_setting() and
// queues_setting() (default default_queue), log_level_setting() (default default_log_level),
// bool_setting() for a flag without a value.
//
// Precedence: default < config file (--config FILE) < flag.
//   settings_table t;  t.add({...});  t.add_to(app);  t.add_example_flag(app);
//   app.parse(argc, argv);
//   if (t.example_requested()) print t.example_toml(title); else t.resolve();
// resolve() throws config_error with one line that names the key and what is wrong.
#pragma once
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace tempest {

struct config_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct setting {
  std::string name;           // flag name without "--", and the TOML key
  std::string type;           // shown in help: DURATION, SIZE, INT, ADDRESS, URL, TEXT
  std::string default_value;  // as text; empty: unset (the help says what that means)
  std::string help;
  std::function<void(const std::string&)> apply;  // parse and store; throws std::invalid_argument
  std::string min = {};       // bounds in the row's type (INT, SIZE, DURATION); empty: none
  std::string max = {};
  bool repeatable = false;    // the flag may be given several times; apply gets the values one a line
  // " [lo..hi]" (empty when unbounded), as --help and the example show it.
  std::string bounds_text() const;
  // Throws std::invalid_argument "'v' is out of range [lo..hi]" when v is outside the bounds.
  void check_bounds(const std::string& v) const;
};

// The Redis every program uses when neither --redis nor $TEMPEST_REDIS says otherwise.
inline constexpr const char* default_redis_url = "redis://127.0.0.1:6379/0";
// The Redis list jobs are pushed on and taken from.
inline constexpr const char* default_queue = "tempest";
// The program started as the embedded Redis (front, angel) when no Redis is configured.
inline constexpr const char* default_redis_server = "redis-server";
// The level of every program's logs (trace, debug, info, warn, error, off).
inline constexpr const char* default_log_level = "info";
// $TEMPEST_REDIS when set and not empty, else fallback.
std::string redis_url_from_env(const std::string& fallback = default_redis_url);
// A whole number (std::invalid_argument otherwise); bounds are the row's columns.
long long parse_int(const std::string& v);

// --redis URL: checked with parse_redis_url and stored in target. The row has no default (the
// program fills target from redis_url_from_env() first); what_default ends the help text
// (empty: "$TEMPEST_REDIS, else <default_redis_url>").
setting redis_setting(std::string& target, const std::string& help, const std::string& what_default = "");
// --queue NAME (default default_queue): not empty, no line break.
setting queue_setting(std::string& target, const std::string& help);
// --queue NAME, repeatable (default default_queue alone): each name checked as queue_setting's.
setting queues_setting(std::vector<std::string>& target, const std::string& help);
// --log-level LEVEL (default default_log_level): checked with log::parse_level.
setting log_level_setting(std::string& target);
// --NAME, a flag without a value (type BOOL, default false).
setting bool_setting(const std::string& name, bool& target, const std::string& help);
// "true" or "false" (std::invalid_argument otherwise): a BOOL row's value.
bool parse_bool(const std::string& v);

// "a, b,,c" -> {"a", "b", "c"}: a comma-separated setting, items trimmed of spaces, empty ones
// dropped.
std::vector<std::string> split_setting_list(const std::string& text);

class settings_table {
 public:
  void add(setting s) { settings_.push_back(std::move(s)); }
  // Registers --config and one flag per setting.
  void add_to(CLI::App& app);
  // One flag per setting, without --config (for a program whose --config is its own file).
  void add_flags_to(CLI::App& app);
  // Registers --print-example-config; example_requested() says whether it was given.
  void add_example_flag(CLI::App& app);
  bool example_requested() const { return example_requested_; }
  // Applies defaults, then the config file, then the flags that were given.
  void resolve();
  // The commented TOML example, every setting at its default; intro is its second line.
  std::string example_toml(const std::string& title,
                           const std::string& intro = "Every key is also a flag of the same name (flags win over this file).") const;
  const std::vector<setting>& settings() const { return settings_; }

 private:
  void apply(const setting& s, const std::string& value, const std::string& origin);

  std::vector<setting> settings_;
  std::map<std::string, std::string> flag_values_;
  std::map<std::string, CLI::Option*> flag_options_;
  std::string config_path_;
  bool example_requested_ = false;
};

}  // namespace tempest
