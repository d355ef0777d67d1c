// `tempest publish`: sends one Server-Sent Event to the browsers subscribed at a front
// (GET /sub/<channel>), recording it in the channel's history for those who reconnect.
//
//   tempest publish [--redis URL] [--event NAME] [--history N] [--history-age DURATION]
//                   [--config FILE] CHANNEL DATA
//   tempest publish --print-example-config
//
// The flags are the rows of one settings table (core/config.hpp: defaults and bounds there,
// shown by --help); --config FILE gives the same keys in TOML.
// Prints the recorded id ("1732761600000-0") on stdout; with --history 0 the message is live
// only (PUBLISH ["data"] or ["name","data"], nothing recorded) and nothing is printed. DATA "-"
// reads standard input. Exit status: 0 sent; 1 Redis unreachable or refusing (one line on
// stderr); 2 bad usage (one line naming what is wrong). The work is tempest::publisher's
// (src/worker/publisher.cpp), the same call workers use.
#include "cli/commands.hpp"
#include "core/config.hpp"
#include "core/duration.hpp"
#include "core/history.hpp"
#include "tempest/publish.hpp"

#include <CLI/CLI.hpp>

#include <iostream>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string>

namespace tempest::cli {
namespace {

// What one `tempest publish` is given; the table's rows store into it.
struct publish_args {
  std::string redis;        // --redis, else $TEMPEST_REDIS, else default_redis_url (core/config.hpp)
  std::string event;        // --event ("" = none)
  publish_options options;  // --history, --history-age
  std::string channel;      // positional
  std::string data;         // positional; "-" = standard input
  bool has_data = false;
  settings_table table;     // its rows store into the members above
};

settings_table make_publish_settings(publish_args& a) {
  settings_table t;
  t.add(redis_setting(a.redis, "Redis URL: redis://[[user]:password@]host[:port][/db] or unix:/path[?db=N]"));
  t.add({"event", "NAME", "",
         "event name (the browser's addEventListener name); default: none (onmessage; sent as \"message\")",
         [&a](const std::string& v) { a.event = v; }});
  t.add({"history", "INT", std::to_string(history::default_count), "entries kept in the channel's history; 0 = live only",
         [&a](const std::string& v) { a.options.history_count = parse_int(v); }, "0", "1000000000"});
  t.add({"history-age", "DURATION", format_duration(std::chrono::milliseconds(history::default_age_ms)),
         "entries older than this are trimmed and the history expires after it (ms, s, m, h); 0 = no age limit",
         [&a](const std::string& v) { a.options.history_age = parse_duration(v); }});
  return t;
}

[[noreturn]] void usage_error(const std::string& what) {
  std::cerr << "tempest publish: " << what << " (see tempest publish --help)\n";
  throw CLI::RuntimeError(2);
}

// Standard input, without one trailing line break (as $(...) in a shell removes them).
std::string read_stdin() {
  std::string s(std::istreambuf_iterator<char>(std::cin), {});
  if (std::cin.bad()) {
    std::cerr << "tempest publish: cannot read standard input\n";
    throw CLI::RuntimeError(1);
  }
  if (s.ends_with('\n')) s.pop_back();
  if (s.ends_with('\r')) s.pop_back();
  return s;
}

void run(publish_args& a, const CLI::App& sub) {
  if (a.table.example_requested()) {
    std::cout << a.table.example_toml("Tempest publish configuration (tempest publish --config FILE)");
    return;
  }
  for (const auto& extra : sub.remaining())
    if (extra != "--") usage_error("unexpected argument '" + extra + "'");
  for (const char* name : {"--config", "--redis", "--history", "--history-age"})  // (an empty --event is none)
    if (const auto* opt = sub.get_option(name); opt->count() > 0 && opt->as<std::string>().empty())
      usage_error(std::string(name) + " needs a value");
  if (a.channel.empty() || !a.has_data) usage_error("CHANNEL and DATA are required");
  try {
    a.table.resolve();  // bounds and values, one line naming the key
  } catch (const config_error& e) {
    usage_error(e.what());
  }
  std::string url = a.redis.empty() ? redis_url_from_env() : a.redis;

  try {
    publisher pub(url, a.options);
    std::string id = pub.publish(a.channel, a.data == "-" ? read_stdin() : a.data, a.event);
    if (!id.empty()) std::cout << id << '\n' << std::flush;
  } catch (const std::invalid_argument& e) {  // bad URL, channel, event or data
    usage_error(e.what());
  } catch (const std::runtime_error& e) {     // Redis unreachable, refusing, erroring
    std::cerr << "tempest publish: " << e.what() << "\n";
    throw CLI::RuntimeError(1);
  }
}

}  // namespace

void add_publish_command(CLI::App& app) {
  auto* sub = app.add_subcommand("publish", "Send a Server-Sent Event to the browsers subscribed to a channel at the front");
  sub->footer(
      "Records the message in the channel's history (Redis stream tempest:history:CHANNEL, for browsers\n"
      "that reconnect with Last-Event-ID), publishes it, and prints its id. --history 0: live only,\n"
      "nothing recorded, nothing printed. DATA - reads standard input (one trailing newline removed).\n"
      "Exit status: 0 sent, 1 Redis unreachable or refusing, 2 bad usage.");
  auto args = std::make_shared<publish_args>();
  args->table = make_publish_settings(*args);
  // Values are taken as text and checked in the callback, so every mistake is one line + exit 2.
  sub->allow_extras();
  args->table.add_to(*sub);
  args->table.add_example_flag(*sub);
  sub->add_option("channel", args->channel, "channel name: 1-128 characters of A-Za-z0-9_.:@-");
  sub->add_option("data", args->data, "the event's data (text; - reads standard input)")
      ->each([a = args.get()](const std::string&) { a->has_data = true; });
  for (auto* opt : sub->get_options())  // a missing value is reported by run(); the last one wins
    if (opt->nonpositional() && opt->get_expected_max() > 0)
      opt->expected(0, 1)->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  sub->callback([sub, args] { run(*args, *sub); });
}

}  // namespace tempest::cli
