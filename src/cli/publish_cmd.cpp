// `tempest publish`: sends one Server-Sent Event to the browsers subscribed at a front
// (GET /sub/<channel>), recording it in the channel's history for those who reconnect.
//
//   tempest publish [--redis URL] [--event NAME] [--history N] [--history-age DURATION] CHANNEL DATA
//
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

#include <charconv>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <stdexcept>
#include <string>

namespace tempest::cli {
namespace {

constexpr long long max_history = 1'000'000'000;

struct publish_args {
  std::string redis;        // --redis, else $TEMPEST_REDIS, else default_redis_url (core/config.hpp)
  std::string event;        // --event ("" = none)
  std::string history;      // --history as typed ("" = not given)
  std::string history_age;  // --history-age as typed ("" = not given)
  std::string channel;      // positional
  std::string data;         // positional; "-" = standard input
  bool has_data = false;
};

[[noreturn]] void usage_error(const std::string& what) {
  std::cerr << "tempest publish: " << what << " (see tempest publish --help)\n";
  throw CLI::RuntimeError(2);
}

long long parse_history(const std::string& text) {
  long long v = -1;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size() || v < 0 || v > max_history)
    usage_error("--history: '" + text + "' is not a count from 0 to " + std::to_string(max_history));
  return v;
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

void run(const publish_args& a, const CLI::App& sub) {
  for (const auto& extra : sub.remaining())
    if (extra != "--") usage_error("unexpected argument '" + extra + "'");
  for (const char* name : {"--redis", "--history", "--history-age"})  // (an empty --event is none)
    if (const auto* opt = sub.get_option(name); opt->count() > 0 && opt->as<std::string>().empty())
      usage_error(std::string(name) + " needs a value");
  if (a.channel.empty() || !a.has_data) usage_error("CHANNEL and DATA are required");
  publish_options o;
  if (!a.history.empty()) o.history_count = parse_history(a.history);
  if (!a.history_age.empty()) {
    try {
      o.history_age = parse_duration(a.history_age);
    } catch (const std::invalid_argument& e) {
      usage_error(std::string("--history-age: ") + e.what());
    }
  }
  std::string url = a.redis.empty() ? redis_url_from_env() : a.redis;

  try {
    publisher pub(url, o);
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
  static publish_args args;
  // Values are taken as text and checked in the callback, so every mistake is one line + exit 2.
  sub->allow_extras();
  sub->add_option("--redis", args.redis,
                  std::string("Redis URL: redis://[[user]:password@]host[:port][/db] or unix:/path[?db=N] "
                              "[default: $TEMPEST_REDIS, else ") + default_redis_url + "]");
  sub->add_option("--event", args.event, "event name (the browser's addEventListener name); default: none (onmessage; sent as \"message\")");
  sub->add_option("--history", args.history,
                  "entries kept in the channel's history; 0 = live only [default: " +
                      std::to_string(history::default_count) + "]");
  sub->add_option("--history-age", args.history_age,
                  "entries older than this are trimmed and the history expires after it (ms, s, m, h); "
                  "0 = no age limit [default: " +
                      format_duration(std::chrono::milliseconds(history::default_age_ms)) + "]");
  sub->add_option("channel", args.channel, "channel name: 1-128 characters of A-Za-z0-9_.:@-");
  sub->add_option("data", args.data, "the event's data (text; - reads standard input)")
      ->each([](const std::string&) { args.has_data = true; });
  for (auto* opt : sub->get_options())  // a missing value is reported by run(); the last one wins
    if (opt->nonpositional() && opt->get_expected_max() > 0)
      opt->expected(0, 1)->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  sub->callback([sub] { run(args, *sub); });
}

}  // namespace tempest::cli
