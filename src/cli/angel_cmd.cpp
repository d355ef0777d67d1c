// `tempest angel`: the supervisor (src/angel/supervisor.hpp). Runs the programs of a TOML
// config or a Procfile on one Redis (embedded when none is configured), restarts the ones that
// exit with a capped backoff (never giving up unless crash-loop says so), drains on SIGTERM,
// reloads on SIGHUP.
//
//   tempest angel [--redis URL] [--log-level L] (--config FILE.toml | PROCFILE)
//   tempest angel --print-example-config     (docs/angel.example.toml)
//
// Exit status: 0 after a drain; 1 the config cannot be read, signals cannot be set up, or the
// embedded Redis cannot start or died; 2 bad usage. docs/angel.md is the manual.
#include "cli/commands.hpp"
#include "angel/angel_config.hpp"
#include "angel/supervisor.hpp"
#include "core/config.hpp"
#include "core/log.hpp"

#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>

namespace tempest::cli {

void add_angel_command(CLI::App& app) {
  auto* sub = app.add_subcommand("angel", "Supervise workers and fronts: start, restart with backoff, drain, reload");
  sub->footer(
      "Programs come from a TOML file (--config: [programs.NAME] command, count, env, cwd, restart) or a\n"
      "Procfile (one 'name: command' a line). Children get TEMPEST_REDIS, TEMPEST_PROGRAM, TEMPEST_INSTANCE.\n"
      "Without --redis, a config redis and $TEMPEST_REDIS, an embedded redis-server is started for them.\n"
      "An instance that exits is restarted with a backoff capped at backoff-max; by default never given up.\n"
      "SIGTERM/SIGINT: drain (SIGTERM to children, SIGKILL after stop-timeout). SIGHUP: reload, apply changes.\n"
      "The state is published to Redis every second for `tempest status`. See docs/angel.md.");
  // Its --config is the programs file the supervisor reads (and re-reads on SIGHUP), so the table
  // gives only the flags: --redis is the config's redis row (the flag wins), --log-level the
  // shared row.
  struct state {
    std::string config, procfile;
    angel::angel_config flags;  // only redis is set, by the flag
    std::string level;
    settings_table table;
  };
  auto st = std::make_shared<state>();
  for (auto& row : angel::angel_settings(st->flags))
    if (row.name == "redis") st->table.add(std::move(row));
  st->table.add(log_level_setting(st->level));
  sub->add_option("--config", st->config, "TOML file with [programs.NAME] tables and the global keys")->type_name("FILE");
  sub->add_option("procfile", st->procfile, "a Procfile (name: command), instead of --config")->type_name("PROCFILE");
  st->table.add_flags_to(*sub);
  st->table.add_example_flag(*sub);
  sub->callback([st] {
    if (st->table.example_requested()) {
      std::cout << angel::angel_example_toml();
      return;
    }
    auto usage = [](const std::string& what) {
      std::cerr << "tempest angel: " << what << " (see tempest angel --help)\n";
      throw CLI::RuntimeError(2);
    };
    if (st->config.empty() == st->procfile.empty()) usage("give one of --config FILE or PROCFILE");
    try {
      st->table.resolve();
      log::init(st->level);
    } catch (const config_error& e) {  // one line naming the flag
      usage(e.what());
    }
    angel::supervisor_options o;
    o.config_path = st->config.empty() ? st->procfile : st->config;
    o.procfile = st->config.empty();
    o.redis_flag = st->flags.redis;
    if (int rc = angel::run_angel(o); rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace tempest::cli
