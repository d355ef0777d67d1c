// The settings table (Redis's static_configs[] idea): each setting is one row with its name
// (the flag --name and the TOML key are the same word), type, default, help text and a parser
// that stores the value into the program's config struct. The table feeds --help, the config
// struct and the commented example file (docs/tempest.example.toml; a test checks they agree).
// Defaults live only in the table.
//
// Precedence: default < config file (--config FILE) < flag.
//   settings_table t;  t.add({...});  t.add_to(app);  app.parse(argc, argv);  t.resolve();
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
};

class settings_table {
 public:
  void add(setting s) { settings_.push_back(std::move(s)); }
  // Registers --config and one flag per setting.
  void add_to(CLI::App& app);
  // Applies defaults, then the config file, then the flags that were given.
  void resolve();
  // The commented TOML example, every setting at its default.
  std::string example_toml(const std::string& title) const;
  const std::vector<setting>& settings() const { return settings_; }

 private:
  void apply(const setting& s, const std::string& value, const std::string& origin);

  std::vector<setting> settings_;
  std::map<std::string, std::string> flag_values_;
  std::map<std::string, CLI::Option*> flag_options_;
  std::string config_path_;
};

}  // namespace tempest
