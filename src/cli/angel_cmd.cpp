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
#include "core/log.hpp"
#include "core/redis_url.hpp"

#include <CLI/CLI.hpp>

#include <iostream>

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
  static std::string config, procfile, redis, level = "info";
  sub->add_option("--config", config, "TOML file with [programs.NAME] tables and the global keys")->type_name("FILE");
  sub->add_option("procfile", procfile, "a Procfile (name: command), instead of --config")->type_name("PROCFILE");
  sub->add_option("--redis", redis,
                  "Redis URL for the state and the reaper, passed to children as TEMPEST_REDIS "
                  "[default: the config's redis, else $TEMPEST_REDIS, else an embedded redis-server]");
  sub->add_option("--log-level", level, "trace, debug, info, warn, error, off [default: info]");
  static bool print_example = false;
  sub->add_flag("--print-example-config", print_example, "print a commented TOML config with every default, and exit");
  sub->callback([] {
    if (print_example) {
      std::cout << angel::angel_example_toml();
      return;
    }
    auto usage = [](const std::string& what) {
      std::cerr << "tempest angel: " << what << " (see tempest angel --help)\n";
      throw CLI::RuntimeError(2);
    };
    if (config.empty() == procfile.empty()) usage("give one of --config FILE or PROCFILE");
    try {
      log::init(level);
      if (!redis.empty()) parse_redis_url(redis);
    } catch (const std::invalid_argument& e) {
      usage(e.what());
    }
    angel::supervisor_options o;
    o.config_path = config.empty() ? procfile : config;
    o.procfile = config.empty();
    o.redis_flag = redis;
    if (int rc = angel::run_angel(o); rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace tempest::cli
