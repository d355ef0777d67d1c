// Reading the angel's TOML config and Procfiles, and diffing two configs (API: angel_config.hpp).
#include "angel/angel_config.hpp"

#include "core/duration.hpp"
#include "core/redis_url.hpp"

#include <toml++/toml.h>

#include <fstream>
#include <sstream>

namespace tempest::angel {
namespace {

constexpr int max_count = 1000;

bool valid_program_name(std::string_view n) {
  if (n.empty() || n.size() > 64) return false;
  for (char c : n)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) return false;
  return true;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw config_error(path + ": cannot read the file");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void set_command_string(program_spec& p, std::string cmd) {
  p.command_text = cmd;
  p.argv = {"/bin/sh", "-c", std::move(cmd)};
}

program_spec parse_program(const std::string& name, const toml::table& t, const std::string& origin) {
  const std::string where = origin + ": programs." + name;
  if (!valid_program_name(name))
    throw config_error(where + ": a program name is 1-64 characters of A-Za-z0-9_.-");
  program_spec p;
  p.name = name;
  for (auto&& [key, node] : t) {
    const std::string k(key.str());
    if (k == "command") {
      if (auto s = node.value<std::string>()) {
        if (s->find_first_not_of(" \t") == std::string::npos) throw config_error(where + ".command: is empty");
        set_command_string(p, *s);
      } else if (auto* a = node.as_array(); a && !a->empty()) {
        for (auto&& item : *a) {
          auto s = item.value<std::string>();
          if (!s) throw config_error(where + ".command: an array must hold strings only");
          p.argv.push_back(*s);
          p.command_text += (p.command_text.empty() ? "" : " ") + *s;
        }
      } else {
        throw config_error(where + ".command: must be a string or a non-empty array of strings");
      }
    } else if (k == "count") {
      auto n = node.value<std::int64_t>();
      if (!n || *n < 0 || *n > max_count)
        throw config_error(where + ".count: must be an integer from 0 to " + std::to_string(max_count));
      p.count = static_cast<int>(*n);
    } else if (k == "env") {
      auto* e = node.as_table();
      if (!e) throw config_error(where + ".env: must be a table of strings, like env = { KEY = \"v\" }");
      for (auto&& [ek, ev] : *e) {
        auto s = ev.value<std::string>();
        if (!s) throw config_error(where + ".env." + std::string(ek.str()) + ": must be a string");
        p.env[std::string(ek.str())] = *s;
      }
    } else if (k == "cwd") {
      auto s = node.value<std::string>();
      if (!s) throw config_error(where + ".cwd: must be a string");
      p.cwd = *s;
    } else if (k == "restart") {
      auto s = node.value<std::string>();
      if (!s || !parse_restart_mode(*s, p.restart))
        throw config_error(where + ".restart: must be \"always\", \"on-failure\" or \"never\"");
    } else {
      throw config_error(where + ": unknown key '" + k + "' (command, count, env, cwd, restart)");
    }
  }
  if (p.argv.empty()) throw config_error(where + ": command is required");
  return p;
}

}  // namespace

std::vector<setting> angel_settings(angel_config& c) {
  return {
      {"redis", "URL", "",
       "Redis for the state (tempest status) and the reaper, passed to children as TEMPEST_REDIS; the flag "
       "--redis wins over the key [default: $TEMPEST_REDIS, else an embedded redis-server]",
       [&c](const std::string& v) { if (!v.empty()) parse_redis_url(v); c.redis = v; }},
      {"backoff-min", "DURATION", "100ms", "delay before the first restart of an instance that exited",
       [&c](const std::string& v) { c.limits.backoff_min = parse_duration(v); }, "1ms"},
      {"backoff-max", "DURATION", "30s",
       "the restart delay doubles with each quick exit up to this; the angel keeps trying at this pace",
       [&c](const std::string& v) { c.limits.backoff_max = parse_duration(v); }, "1ms"},
      {"backoff-reset", "DURATION", "10s", "a run at least this long resets the restart delay to backoff-min",
       [&c](const std::string& v) { c.limits.backoff_reset = parse_duration(v); }, "1ms"},
      {"crash-loop", "INT", "0",
       "0: never give up on an instance; N: N exits within crash-window mark it failed (SIGHUP retries)",
       [&c](const std::string& v) { c.limits.crash_loop = static_cast<int>(parse_int(v)); }, "0", "1000"},
      {"crash-window", "DURATION", "10s", "the window of crash-loop (unused while crash-loop is 0)",
       [&c](const std::string& v) { c.limits.crash_window = parse_duration(v); }, "1ms"},
      {"stop-timeout", "DURATION", "10s", "after SIGTERM, children still running get SIGKILL",
       [&c](const std::string& v) { c.stop_timeout = parse_duration(v); }, "1ms"},
      {"reap-interval", "DURATION", "1s", "how often the jobs of dead workers are re-queued",
       [&c](const std::string& v) { c.reap_interval = parse_duration(v); }, "1ms"},
      {"redis-server", "PATH", default_redis_server,
       "program started as the embedded Redis when no Redis is configured (redis, --redis, $TEMPEST_REDIS)",
       [&c](const std::string& v) {
         if (v.empty()) throw std::invalid_argument("must not be empty");
         c.redis_server = v;
       }},
  };
}

angel_config default_config() {
  angel_config c;
  for (const auto& s : angel_settings(c))
    if (!s.default_value.empty()) s.apply(s.default_value);
  return c;
}

std::string angel_example_toml() {
  angel_config c;
  settings_table t;
  for (auto& s : angel_settings(c)) t.add(std::move(s));
  return t.example_toml("Tempest angel configuration (tempest angel --config FILE)",
                        "The global keys (only redis is also a flag: --redis wins), then the programs.") +
         "\n# One table per supervised program (keys: command, count, env, cwd, restart; docs/angel.md).\n"
         "# [programs.web]\n"
         "# command = \"build/examples/hello_worker --queue tempest\"  # a string (sh -c) or an argv array\n"
         "# count = 1\n"
         "# env = { KEY = \"v\" }\n"
         "# cwd = \"/srv/app\"\n"
         "# restart = \"always\"  # always | on-failure | never\n";
}

angel_config parse_toml_config(std::string_view text, const std::string& origin) {
  toml::table file;
  try {
    file = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << origin << ":" << e.source().begin.line << ": " << e.description();
    throw config_error(msg.str());
  }
  angel_config c = default_config();
  auto rows = angel_settings(c);
  auto apply = [&](const setting& s, const std::string& v, const std::string& from) {
    try {
      s.check_bounds(v);  // the min/max columns, as settings_table does
      s.apply(v);
    } catch (const std::exception& e) {
      throw config_error(from + s.name + ": " + e.what());
    }
  };
  for (auto&& [key, node] : file) {
    const std::string k(key.str());
    if (k == "programs") {
      auto* programs = node.as_table();
      if (!programs) throw config_error(origin + ": programs must be a table ([programs.NAME])");
      for (auto&& [pk, pn] : *programs) {
        auto* pt = pn.as_table();
        if (!pt) throw config_error(origin + ": programs." + std::string(pk.str()) + " must be a table");
        c.programs[std::string(pk.str())] = parse_program(std::string(pk.str()), *pt, origin);
      }
      continue;
    }
    auto it = std::find_if(rows.begin(), rows.end(), [&](const setting& s) { return s.name == k; });
    if (it == rows.end()) throw config_error(origin + ": unknown key '" + k + "'");
    std::string v;
    if (auto s = node.value<std::string>()) v = *s;
    else if (auto i = node.value<std::int64_t>()) v = std::to_string(*i);
    else throw config_error(origin + ": key '" + k + "' must be a string or a number");
    apply(*it, v, origin + ": ");
  }
  if (c.limits.backoff_max < c.limits.backoff_min)
    throw config_error(origin + ": backoff-max must be at least backoff-min");
  return c;
}

angel_config parse_procfile(std::string_view text, const std::string& origin) {
  angel_config c = default_config();
  std::istringstream in{std::string(text)};
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    auto first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#') continue;
    auto colon = line.find(':');
    const std::string where = origin + ":" + std::to_string(n);
    if (colon == std::string::npos) throw config_error(where + ": expected 'name: command'");
    std::string name = line.substr(first, colon - first);
    while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.pop_back();
    std::string cmd = line.substr(colon + 1);
    cmd.erase(0, cmd.find_first_not_of(" \t"));
    if (!valid_program_name(name)) throw config_error(where + ": a program name is 1-64 characters of A-Za-z0-9_.-");
    if (cmd.empty()) throw config_error(where + ": program '" + name + "' has no command");
    if (c.programs.count(name)) throw config_error(where + ": program '" + name + "' appears twice");
    program_spec p;
    p.name = name;
    set_command_string(p, cmd);
    c.programs[name] = std::move(p);
  }
  return c;
}

angel_config load_toml_config(const std::string& path) { return parse_toml_config(read_file(path), path); }
angel_config load_procfile(const std::string& path) { return parse_procfile(read_file(path), path); }

config_diff diff(const angel_config& before, const angel_config& after) {
  config_diff d;
  for (const auto& [name, p] : before.programs)
    if (!after.programs.count(name)) d.removed.push_back(name);
  for (const auto& [name, p] : after.programs) {
    auto it = before.programs.find(name);
    if (it == before.programs.end()) d.added.push_back(name);
    else if (!it->second.same_process(p)) d.changed.push_back(name);
    else if (it->second.count != p.count) d.recounted.push_back(name);
  }
  return d;
}

}  // namespace tempest::angel
