// `tempest status`: what the angels supervise and how deep the queues are, read from Redis
// (src/angel/status_report.hpp has the document and the keys).
//
//   tempest status [--redis URL] [--queue NAME]... [--json] [--config FILE]
//
// The flags are the rows of one settings table (core/config.hpp: defaults there, shown by
// --help; --config FILE gives the same keys in TOML, --print-example-config prints them).
// Exit status: 0 printed; 1 Redis unreachable (one line on stderr); 2 bad usage.
#include "cli/commands.hpp"
#include "core/config.hpp"
#include "core/redis/blocking_client.hpp"
#include "core/redis_url.hpp"
#include "angel/status_report.hpp"

#include <CLI/CLI.hpp>
#include <boost/json/serialize.hpp>

#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

namespace tempest::cli {

void add_status_command(CLI::App& app) {
  auto* sub = app.add_subcommand("status", "Show supervised programs, queue depths, in-flight jobs and dead letters");
  sub->footer(
      "Programs, pids and restarts come from the angels' state keys (tempest:angel:<host>:<pid>); queue\n"
      "depths are the lengths of <queue>:high, <queue>, <queue>:low and <queue>:dead; in-flight jobs are\n"
      "the lengths of tempest:processing:<worker>. Exit status: 0 printed, 1 Redis unreachable, 2 bad usage.");
  // What one `tempest status` is given; the table's rows store into it.
  struct status_args {
    std::string redis;                // --redis, else $TEMPEST_REDIS, else default_redis_url
    std::vector<std::string> queues;  // --queue, repeatable
    bool json = false;                // --json
    settings_table table;
  };
  auto a = std::make_shared<status_args>();
  a->table.add(redis_setting(a->redis, "Redis URL"));
  a->table.add(queues_setting(a->queues, "queue to report (repeatable)"));
  a->table.add(bool_setting("json", a->json, "print one JSON document instead of the table"));
  a->table.add_to(*sub);
  a->table.add_example_flag(*sub);
  sub->callback([a] {
    if (a->table.example_requested()) {
      std::cout << a->table.example_toml("Tempest status configuration (tempest status --config FILE)");
      return;
    }
    try {
      a->table.resolve();
    } catch (const config_error& e) {  // one line naming the key
      std::cerr << "tempest status: " << e.what() << "\n";
      throw CLI::RuntimeError(2);
    }
    std::string url = a->redis.empty() ? redis_url_from_env() : a->redis;
    try {
      redis::blocking_client link(parse_redis_url(url), {.connect_timeout = std::chrono::seconds(1),
                                                          .io_timeout = std::chrono::seconds(1)});
      auto doc = angel::collect_status(link, a->queues);
      std::cout << (a->json ? boost::json::serialize(doc) + "\n" : angel::format_status(doc)) << std::flush;
    } catch (const std::invalid_argument& e) {  // $TEMPEST_REDIS
      std::cerr << "tempest status: --redis: " << e.what() << "\n";
      throw CLI::RuntimeError(2);
    } catch (const std::runtime_error& e) {
      std::cerr << "tempest status: " << e.what() << "\n";
      throw CLI::RuntimeError(1);
    }
  });
}

}  // namespace tempest::cli
