#include "core/config.hpp"

#include <CLI/CLI.hpp>
#include <toml++/toml.h>

#include <sstream>

namespace tempest {

void settings_table::add_to(CLI::App& app) {
  app.add_option("--config", config_path_, "TOML file with the same keys as these flags (flags win)")
      ->type_name("FILE");
  for (const auto& s : settings_) {
    std::string help = s.help;
    if (!s.default_value.empty()) help += " [default: " + s.default_value + "]";
    flag_options_[s.name] = app.add_option("--" + s.name, flag_values_[s.name], help)->type_name(s.type);
  }
}

void settings_table::apply(const setting& s, const std::string& value, const std::string& origin) {
  try {
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
      else if (auto i = node.value<std::int64_t>()) text = std::to_string(*i);
      else if (auto b = node.value<bool>()) text = *b ? "true" : "false";
      else if (auto d = node.value<double>()) text = std::to_string(*d);
      else throw config_error(config_path_ + ": key '" + std::string(key.str()) + "' must be a string or a number");
      apply(*it, text, config_path_ + ": ");
    }
  }
  for (const auto& s : settings_)
    if (flag_options_.count(s.name) && flag_options_[s.name]->count() > 0)
      apply(s, flag_values_[s.name], "--");
}

std::string settings_table::example_toml(const std::string& title) const {
  std::string out = "# " + title + "\n# Every key is also a flag of the same name (flags win over this file).\n";
  for (const auto& s : settings_) {
    out += "\n# " + s.help + " (" + s.type + ")\n";
    if (s.default_value.empty()) out += "# " + s.name + " = \"\"\n";
    else out += s.name + " = \"" + s.default_value + "\"\n";
  }
  return out;
}

}  // namespace tempest
