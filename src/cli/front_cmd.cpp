// `tempest front`: the HTTP front. Flags come from the settings table (front/front_config.cpp).
#include "cli/commands.hpp"
#include "core/log.hpp"
#include "front/front.hpp"

#include <CLI/CLI.hpp>

#include <iostream>

namespace tempest::cli {

void add_front_command(CLI::App& app) {
  auto* sub = app.add_subcommand("front", "Run the HTTP front: requests become jobs on a Redis list, workers answer");
  sub->footer(
      "Each HTTP request becomes a job RPUSHed on the queue; workers answer on the answer endpoint.\n"
      "Without --redis (and $TEMPEST_REDIS) an embedded redis-server is started on a free loopback port.\n"
      "When listening, one line is printed on stdout: ready http=... answer=... redis=... queue=...");
  static front::front_config cfg;
  static settings_table table = front::make_front_settings(cfg);
  table.add_to(*sub);
  table.add_example_flag(*sub);
  sub->callback([] {
    if (table.example_requested()) {
      std::cout << table.example_toml("Tempest front configuration (tempest front --config FILE)");
      return;
    }
    try {
      table.resolve();
      log::init(cfg.log_level);
      int rc = front::run_front(cfg);
      if (rc != 0) throw CLI::RuntimeError(rc);
    } catch (const config_error& e) {
      std::cerr << "tempest front: " << e.what() << "\n";
      throw CLI::RuntimeError(2);
    } catch (const std::invalid_argument& e) {
      std::cerr << "tempest front: " << e.what() << "\n";
      throw CLI::RuntimeError(2);
    } catch (const std::runtime_error& e) {
      std::cerr << "tempest front: " << e.what() << "\n";
      throw CLI::RuntimeError(1);
    }
  });
}

}  // namespace tempest::cli
