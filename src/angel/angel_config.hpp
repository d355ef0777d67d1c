// What the angel supervises: programs read from a TOML file or a Procfile, the global limits,
// and the difference between two configs (what a SIGHUP reload starts and stops).
//
//   angel_config c = load_toml_config("angel.toml");     // or load_procfile("Procfile")
//   config_diff d = diff(old_config, new_config);         // added, removed, changed, recounted
//
// TOML (docs/angel.md has the prose, examples/angel.toml a commented file, docs/angel.example.toml
// the generated one):
//   redis = "redis://127.0.0.1:6379/0"          global keys: the rows of angel_settings()
//   backoff-min = "100ms"                        (defaults live only in that table)
//   crash-loop = 0                               0: never give up on an instance (the default)
//   [programs.web]
//   command = "build/examples/hello_worker --queue q"   # a string (run by /bin/sh -c) or an argv array
//   count = 2                                    # instances, default 1
//   env = { KEY = "v" }                          # added to the angel's environment
//   cwd = "/srv/app"                             # working directory, default the angel's
//   restart = "always"                           # always | on-failure | never
// Procfile: one `name: command` a line (count 1, restart always); # comments and blank lines.
//
// Errors: config_error (core/config.hpp) with one line naming the file, the key and what is
// wrong. If you add a program key, change program_spec, parse_program, the docs and the example.
#pragma once
#include "angel/restart_policy.hpp"
#include "core/config.hpp"

#include <map>
#include <string>
#include <vector>

namespace tempest::angel {

struct program_spec {
  std::string name;
  std::vector<std::string> argv;   // what is exec'd (a string command becomes /bin/sh -c "...")
  std::string command_text;        // for logs and `tempest status`
  int count = 1;
  std::map<std::string, std::string> env;
  std::string cwd;                 // empty: the angel's
  restart_mode restart = restart_mode::always;

  // Same process to run (everything but count): a change means restart its instances.
  bool same_process(const program_spec& o) const {
    return argv == o.argv && env == o.env && cwd == o.cwd && restart == o.restart;
  }
};

// The global keys. Their defaults live only in angel_settings(); default_config() applies them.
struct angel_config {
  std::string redis;                 // empty: from the flag or $TEMPEST_REDIS, else embedded
  std::string redis_server;          // the program of the embedded Redis
  restart_limits limits;
  milliseconds stop_timeout{0};      // SIGTERM, then SIGKILL after this
  milliseconds reap_interval{0};     // how often the dead-worker reaper runs
  std::map<std::string, program_spec> programs;
};

// The global keys, one row each (core/config.hpp's setting): name, type, default, help.
std::vector<setting> angel_settings(angel_config& target);
// A config with no programs and every global key at its default.
angel_config default_config();
// The commented example (docs/angel.example.toml, `tempest angel --print-example-config`): the
// global keys from angel_settings() at their defaults, then a commented [programs.NAME] table.
std::string angel_example_toml();

angel_config load_toml_config(const std::string& path);
angel_config load_procfile(const std::string& path);
// Parsers on text (what the loaders use; the unit tests call them). origin names the file.
angel_config parse_toml_config(std::string_view text, const std::string& origin);
angel_config parse_procfile(std::string_view text, const std::string& origin);

struct config_diff {
  std::vector<std::string> added;      // new programs: start count instances
  std::vector<std::string> removed;    // gone: stop every instance
  std::vector<std::string> changed;    // command/env/cwd/restart differ: restart every instance
  std::vector<std::string> recounted;  // only count differs: start or stop the difference
  bool empty() const { return added.empty() && removed.empty() && changed.empty() && recounted.empty(); }
};
config_diff diff(const angel_config& before, const angel_config& after);

}  // namespace tempest::angel
