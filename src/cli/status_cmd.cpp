// `tempest status`: what the angels supervise and how deep the queues are, read from Redis
// (src/angel/status_report.hpp has the document and the keys).
//
//   tempest status [--redis URL] [--queue NAME]... [--json]
//
// Exit status: 0 printed; 1 Redis unreachable (one line on stderr); 2 bad usage.
#include "cli/commands.hpp"
#include "core/config.hpp"
#include "core/redis/blocking_client.hpp"
#include "angel/status_report.hpp"

#include <CLI/CLI.hpp>
#include <boost/json/serialize.hpp>

#include <cstdlib>
#include <iostream>

namespace tempest::cli {

void add_status_command(CLI::App& app) {
  auto* sub = app.add_subcommand("status", "Show supervised programs, queue depths, in-flight jobs and dead letters");
  sub->footer(
      "Programs, pids and restarts come from the angels' state keys (tempest:angel:<host>:<pid>); queue\n"
      "depths are the lengths of <queue>:high, <queue>, <queue>:low and <queue>:dead; in-flight jobs are\n"
      "the lengths of tempest:processing:<worker>. Exit status: 0 printed, 1 Redis unreachable, 2 bad usage.");
  static std::string redis;
  static std::vector<std::string> queues;
  static bool json = false;
  sub->add_option("--redis", redis,
                  std::string("Redis URL [default: $TEMPEST_REDIS, else ") + default_redis_url + "]");
  sub->add_option("--queue", queues, std::string("queue to report (repeatable) [default: ") + default_queue + "]")->type_name("NAME");
  sub->add_flag("--json", json, "print one JSON document instead of the table");
  sub->callback([] {
    std::string url = redis.empty() ? redis_url_from_env() : redis;
    if (queues.empty()) queues.push_back(default_queue);
    try {
      redis::blocking_client link(parse_redis_url(url), {.connect_timeout = std::chrono::seconds(1),
                                                          .io_timeout = std::chrono::seconds(1)});
      auto doc = angel::collect_status(link, queues);
      std::cout << (json ? boost::json::serialize(doc) + "\n" : angel::format_status(doc)) << std::flush;
    } catch (const std::invalid_argument& e) {
      std::cerr << "tempest status: --redis: " << e.what() << "\n";
      throw CLI::RuntimeError(2);
    } catch (const std::runtime_error& e) {
      std::cerr << "tempest status: " << e.what() << "\n";
      throw CLI::RuntimeError(1);
    }
  });
}

}  // namespace tempest::cli
