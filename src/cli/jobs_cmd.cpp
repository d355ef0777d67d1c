// `tempest jobs`: the dead letters of reliable delivery (jobs that kept killing their workers).
//
//   tempest jobs dead  [--redis URL] [--queue NAME] [--json] [--config FILE]
//   tempest jobs retry [--redis URL] [--queue NAME] [--config FILE] (--all | N)
//
// Each subcommand's flags are the rows of its settings table (core/config.hpp: defaults there,
// shown by --help; --config FILE gives the same keys in TOML, --print-example-config prints them).
// dead prints one line per record of <queue>:dead, oldest first, numbered from 1: when it died,
// the worker deaths, the priority, the request (method and url, or the action) with its job id,
// and the reason; --json prints the records as stored, as one JSON array. retry re-queues
// record N (the number `jobs dead` shows) or all of them on their priority lists and prints how
// many. Exit status: 0 done; 1 Redis unreachable or refusing; 2 bad usage, or N not found.
// The work is the queue model's (src/core/queue/dead_letters.hpp), the same the worker
// libraries use; nothing here depends on the worker library.
#include "cli/commands.hpp"
#include "core/config.hpp"
#include "core/queue/dead_letters.hpp"

#include <CLI/CLI.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <fmt/chrono.h>
#include <fmt/format.h>

#include <charconv>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>

namespace tempest::cli {
namespace {

// What one `tempest jobs dead` or `jobs retry` is given; the table's rows store into it.
struct jobs_args {
  std::string redis;         // --redis, else $TEMPEST_REDIS, else default_redis_url (core/config.hpp)
  std::string queue;         // --queue
  bool json = false;         // dead --json
  bool all = false;          // retry --all
  std::string number;        // retry N, as typed
  settings_table table;      // --redis --queue, then --json (dead) or --all (retry)
};

[[noreturn]] void usage_error(const std::string& what) {
  std::cerr << "tempest jobs: " << what << " (see tempest jobs --help)\n";
  throw CLI::RuntimeError(2);
}

std::string redis_url(const jobs_args& a) {
  return a.redis.empty() ? redis_url_from_env() : a.redis;
}

// "GET /path (j123)" for a url job, "<action> (j123)" otherwise, "?" when unreadable.
std::string describe_job(const std::string& payload) {
  boost::json::error_code ec;
  auto v = boost::json::parse(payload, ec);
  if (ec || !v.is_array() || v.as_array().size() < 4) return "? (not a job)";
  const auto& a = v.as_array();
  std::string out = a[0].is_string() ? std::string(a[0].as_string()) : "?";
  if (out == "url" && a[1].is_array() && !a[1].as_array().empty() && a[1].as_array()[0].is_object()) {
    const auto& req = a[1].as_array()[0].as_object();
    auto field = [&](const char* k) {
      auto* f = req.if_contains(k);
      return f && f->is_string() ? std::string(f->as_string()) : std::string("?");
    };
    out = field("method") + " " + field("url");
  }
  out += " (j" + boost::json::serialize(a[3]) + ")";
  return out;
}

std::string format_time(long long ms) {
  if (ms <= 0) return "?";
  std::chrono::sys_time<std::chrono::milliseconds> t{std::chrono::milliseconds(ms)};
  return fmt::format("{:%Y-%m-%d %H:%M:%S}Z", std::chrono::floor<std::chrono::seconds>(t));
}

void run_dead(const jobs_args& a) {
  auto records = queue::list_dead_jobs(redis_url(a), a.queue);
  if (a.json) {
    std::cout << "[";
    for (std::size_t i = 0; i < records.size(); ++i) std::cout << (i ? ",\n " : "") << records[i].record;
    std::cout << "]\n" << std::flush;
    return;
  }
  if (records.empty()) {
    std::cout << "no dead jobs in " << a.queue << ":dead\n";
    return;
  }
  std::cout << fmt::format("{:>4}  {:<20}  {:>8}  {:<8}  {:<40}  {}\n", "N", "dead since", "attempts", "priority", "job",
                           "reason");
  for (std::size_t i = 0; i < records.size(); ++i) {
    const auto& d = records[i];
    std::cout << fmt::format("{:>4}  {:<20}  {:>8}  {:<8}  {:<40}  {}\n", i + 1, format_time(d.time_ms), d.attempts,
                             d.priority, describe_job(d.job), d.reason);
  }
  std::cout << std::flush;
}

void run_retry(const jobs_args& a) {
  if (a.all == !a.number.empty()) usage_error("retry takes --all or one number N (from tempest jobs dead)");
  std::optional<long long> index;
  if (!a.all) {
    long long n = 0;
    auto [end, ec] = std::from_chars(a.number.data(), a.number.data() + a.number.size(), n);
    if (ec != std::errc{} || end != a.number.data() + a.number.size() || n < 1)
      usage_error("'" + a.number + "' is not a number from 1 (as tempest jobs dead shows)");
    index = n - 1;
  }
  long long done = queue::retry_dead_jobs(redis_url(a), a.queue, index);
  if (!a.all && done == 0) {
    std::cerr << "tempest jobs: no dead job number " << a.number << " in " << a.queue << ":dead\n";
    throw CLI::RuntimeError(2);
  }
  std::cout << "re-queued " << done << (done == 1 ? " job\n" : " jobs\n") << std::flush;
}

// Runs f, turning library errors into the exit codes of the top of the file.
template <typename F>
void guarded(F f) {
  try {
    f();
  } catch (const CLI::Error&) {  // our own exit codes (a std::runtime_error too)
    throw;
  } catch (const std::invalid_argument& e) {  // bad URL
    usage_error(e.what());
  } catch (const std::runtime_error& e) {     // Redis unreachable, refusing, erroring
    std::cerr << "tempest jobs: " << e.what() << "\n";
    throw CLI::RuntimeError(1);
  }
}

// The subcommand's table: the shared rows, then its own flag; --config and
// --print-example-config with them.
void add_settings(CLI::App* sub, jobs_args& a, setting own) {
  a.table.add(redis_setting(a.redis, "Redis URL"));
  a.table.add(queue_setting(a.queue, "the queue whose dead letters (<queue>:dead) to use"));
  a.table.add(std::move(own));
  a.table.add_to(*sub);
  a.table.add_example_flag(*sub);
}

// Prints the example config, or resolves the table and runs f.
template <typename F>
void run_resolved(jobs_args& a, const std::string& name, F f) {
  if (a.table.example_requested()) {
    std::cout << a.table.example_toml("Tempest jobs " + name + " configuration (tempest jobs " + name + " --config FILE)");
    return;
  }
  guarded([&] {
    try {
      a.table.resolve();
    } catch (const config_error& e) {  // one line naming the key
      usage_error(e.what());
    }
    f(a);
  });
}

}  // namespace

void add_jobs_command(CLI::App& app) {
  auto* jobs = app.add_subcommand("jobs", "Dead letters of reliable delivery: list them, re-queue them");
  jobs->require_subcommand(1);

  auto* dead = jobs->add_subcommand("dead", "List the jobs that kept killing their workers (<queue>:dead)");
  auto dead_args = std::make_shared<jobs_args>();
  add_settings(dead, *dead_args, bool_setting("json", dead_args->json, "print the records as stored, as one JSON array"));
  dead->callback([dead_args] { run_resolved(*dead_args, "dead", run_dead); });

  auto* retry = jobs->add_subcommand("retry", "Re-queue dead jobs on their priority lists");
  auto retry_args = std::make_shared<jobs_args>();
  add_settings(retry, *retry_args, bool_setting("all", retry_args->all, "every dead job of the queue"));
  retry->add_option("N", retry_args->number, "the number tempest jobs dead shows");
  retry->callback([retry_args] { run_resolved(*retry_args, "retry", run_retry); });
}

}  // namespace tempest::cli
