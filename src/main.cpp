// The `tempest` binary: only the subcommand table. Each subcommand is in src/cli/.
#include "cli/commands.hpp"

#include <CLI/CLI.hpp>

int main(int argc, char** argv) {
  CLI::App app{
      "Tempest: a low-latency web front where Redis is the orchestrator.\n"
      "HTTP requests become jobs on a Redis list; workers in any language answer over RESP."};
  app.set_version_flag("--version", "tempest 0.1.0");
  app.require_subcommand(1);
  tempest::cli::add_front_command(app);
  tempest::cli::add_publish_command(app);
  tempest::cli::add_jobs_command(app);
  tempest::cli::add_angel_command(app);
  tempest::cli::add_status_command(app);
  CLI11_PARSE(app, argc, argv);
  return 0;
}
