// The settings table (API and usage: config.hpp).
#include "core/config.hpp"

#include "core/duration.hpp"
#include "core/log.hpp"
#include "core/redis_url.hpp"

#include <CLI/CLI.hpp>
#include <toml++/toml.h>

#include <charconv>
#include <cstdlib>
#include <sstream>

namespace tempest {

std::vector<std::string> split_setting_list(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto comma = text.find(',', start);
    auto item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    while (!item.empty() && item.front() == ' ') item.erase(0, 1);
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (!item.empty()) out.push_back(std::move(item));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}
namespace {

void check_queue_name(const std::string& v) {
  if (v.empty()) throw std::invalid_argument("the queue name is empty");
  if (v.find('\n') != std::string::npos) throw std::invalid_argument("the queue name holds a line break");
}

// v and the bound as numbers of the row's type, compared: <0, 0, >0.
int compare_in_type(const std::string& type, const std::string& v, const std::string& bound) {
  if (type == "DURATION") {
    auto a = parse_duration(v), b = parse_duration(bound);
    return a < b ? -1 : a > b;
  }
  if (type == "SIZE") {
    auto a = parse_size(v), b = parse_size(bound);
    return a < b ? -1 : a > b;
  }
  auto a = parse_int(v), b = parse_int(bound);
  return a < b ? -1 : a > b;
}

// A repeatable row's TOML array of strings, as apply takes it: one a line.
std::string array_lines(const toml::array& a, const std::string& origin, const setting& s) {
  std::string text;
  for (auto&& item : a) {
    auto v = item.value<std::string>();
    if (!v) throw config_error(origin + ": key '" + s.name + "' must be an array of strings");
    text += (text.empty() ? "" : "\n") + *v;
  }
  return text;
}

}  // namespace

long long parse_int(const std::string& v) {
  long long n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc{} || p != v.data() + v.size()) throw std::invalid_argument("expected a whole number, got '" + v + "'");
  return n;
}

std::string setting::bounds_text() const {
  if (min.empty() && max.empty()) return "";
  return " [" + min + ".." + max + "]";
}

void setting::check_bounds(const std::string& v) const {
  if ((!min.empty() && compare_in_type(type, v, min) < 0) || (!max.empty() && compare_in_type(type, v, max) > 0))
    throw std::invalid_argument("'" + v + "' is out of range" + bounds_text());
}

std::string redis_url_from_env(const std::string& fallback) {
  if (const char* env = std::getenv("TEMPEST_REDIS"); env && *env) return env;
  return fallback;
}

setting redis_setting(std::string& target, const std::string& help, const std::string& what_default) {
  std::string shown = what_default.empty() ? std::string("$TEMPEST_REDIS, else ") + default_redis_url : what_default;
  return {"redis", "URL", "", help + " [default: " + shown + "]", [&target](const std::string& v) {
            parse_redis_url(v);  // throws with what is wrong
            target = v;
          }};
}

setting queue_setting(std::string& target, const std::string& help) {
  return {"queue", "NAME", default_queue, help, [&target](const std::string& v) {
            check_queue_name(v);
            target = v;
          }};
}

setting queues_setting(std::vector<std::string>& target, const std::string& help) {
  setting s{"queue", "NAME", default_queue, help, [&target](const std::string& v) {
              std::vector<std::string> names;
              std::istringstream lines(v);
              for (std::string name; std::getline(lines, name);) {
                check_queue_name(name);
                names.push_back(std::move(name));
              }
              if (names.empty()) check_queue_name("");
              target = std::move(names);
            }};
  s.repeatable = true;
  return s;
}

setting log_level_setting(std::string& target) {
  return {"log-level", "LEVEL", default_log_level, "trace, debug, info, warn, error or off",
          [&target](const std::string& v) {
            log::parse_level(v);
            target = v;
          }};
}

setting bool_setting(const std::string& name, bool& target, const std::string& help) {
  return {name, "BOOL", "false", help, [&target](const std::string& v) { target = parse_bool(v); }};
}

bool parse_bool(const std::string& v) {
  if (v != "true" && v != "false") throw std::invalid_argument("'" + v + "' is not true or false");
  return v == "true";
}

void settings_table::add_to(CLI::App& app) {
  app.add_option("--config", config_path_, "TOML file with the same keys as these flags (flags win)")
      ->type_name("FILE");
  add_flags_to(app);
}

void settings_table::add_flags_to(CLI::App& app) {
  for (const auto& s : settings_) {
    std::string help = s.help + s.bounds_text();
    if (!s.default_value.empty()) help += " [default: " + s.default_value + "]";
    CLI::Option* opt = nullptr;
    if (s.type == "BOOL") {
      opt = app.add_flag("--" + s.name, flag_values_[s.name], help);  // --json: "true", --json=false: "false"
    } else {
      opt = app.add_option("--" + s.name, flag_values_[s.name], help)->type_name(s.type);
      if (s.repeatable) opt->multi_option_policy(CLI::MultiOptionPolicy::Join);  // one a line
    }
    flag_options_[s.name] = opt;
  }
}

void settings_table::add_example_flag(CLI::App& app) {
  app.add_flag("--print-example-config", example_requested_,
               "print a commented TOML config with every default, and exit");
}

void settings_table::apply(const setting& s, const std::string& value, const std::string& origin) {
  try {
    s.check_bounds(value);
    s.apply(value);
  } catch (const std::exception& e) {
    throw config_error(origin + s.name + ": " + e.what());
  }
}

void settings_table::resolve() {
  for (const auto& s : settings_)
    if (!s.default_value.empty()) apply(s, s.default_value, "default of ");
  if (!config_path_.empty()) {
    toml::table file;
    try {
      file = toml::parse_file(config_path_);
    } catch (const toml::parse_error& e) {
      std::ostringstream msg;
      msg << config_path_ << ":" << e.source().begin.line << ": " << e.description();
      throw config_error(msg.str());
    }
    for (auto&& [key, node] : file) {
      std::string_view name = key.str();  // (clang 14, the fuzz build's, cannot capture a binding)
      auto it = std::find_if(settings_.begin(), settings_.end(), [&](const setting& s) { return s.name == name; });
      if (it == settings_.end())
        throw config_error(config_path_ + ": unknown key '" + std::string(key.str()) + "'");
      std::string text;
      if (auto v = node.value<std::string>()) text = *v;
      else if (auto* b = node.as_boolean()) text = b->get() ? "true" : "false";  // (value<int64_t> takes it as 1)
      else if (auto i = node.value<std::int64_t>()) text = std::to_string(*i);
      else if (auto d = node.value<double>()) text = std::to_string(*d);
      else if (auto* a = node.as_array(); a && it->repeatable) text = array_lines(*a, config_path_, *it);
      else throw config_error(config_path_ + ": key '" + std::string(key.str()) + "' must be a string or a number");
      apply(*it, text, config_path_ + ": ");
    }
  }
  for (const auto& s : settings_)
    if (flag_options_.count(s.name) && flag_options_[s.name]->count() > 0)
      apply(s, flag_values_[s.name], "--");
}

std::string settings_table::example_toml(const std::string& title, const std::string& intro) const {
  std::string out = "# " + title + "\n# " + intro + "\n";
  for (const auto& s : settings_) {
    out += "\n# " + s.help + " (" + s.type + s.bounds_text() + ")\n";
    if (s.default_value.empty()) out += "# " + s.name + " = \"\"\n";
    else if (s.type == "BOOL") out += s.name + " = " + s.default_value + "\n";  // TOML true/false
    else out += s.name + " = \"" + s.default_value + "\"\n";
  }
  return out;
}

}  // namespace tempest
