// tempest::worker_options: the standard flags of every worker program, as one settings table
// (core/config.hpp): --redis --queue --concurrency --batch --batch-time --log-level --answer-password
// --answer-allow --answer-connect-timeout --answer-timeout --answer-reply-wait --answer-buffer --mode
// --plain (a flag for mode = plain) --heartbeat-ttl --max-attempts, and --config FILE.toml with the
// same keys (docs/worker.example.toml, from --print-example-config). Precedence: default <
// environment (TEMPEST_REDIS, TEMPEST_ANSWER_PASSWORD) < config file < flag.
//
//   auto o = worker_options::from_args(argc, argv, "what the program does");  // exits on error
//   auto o = worker_options::parse(app, argc, argv);                          // throws instead
//
// The defaults are the member initializers of worker_options (include/tempest/worker.hpp; the
// Redis URL, queue and log level come from core/config.hpp's shared rows); the table shows
// them and the bounds (its min/max columns) in --help. If you add a setting, add the member
// there too.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "core/config.hpp"
#include "core/duration.hpp"
#include "core/redis_url.hpp"
#include "tempest/worker.hpp"

namespace tempest {
namespace {

// "host:port,host:port": each item checked as an address (the exact text is what jobs carry).
std::vector<std::string> parse_allow_list(const std::string& text) {
  std::vector<std::string> out = split_setting_list(text);
  for (const auto& item : out) {
    std::string host;
    std::uint16_t port = 0;
    split_host_port(item, host, port);  // throws with what is wrong
    if (port == 0) throw std::invalid_argument("'" + item + "' has port 0");
  }
  return out;
}

// The answer connections' limits (src/core/answer/client.hpp).
void add_answer_limits(settings_table& t, worker_options& o, const worker_options& d) {
  t.add({"answer-connect-timeout", "DURATION", format_duration(d.answer_connect_timeout),
         "an answer endpoint not connected within this is down for 1s (its answers dropped)",
         [&o](const std::string& v) { o.answer_connect_timeout = parse_duration(v); }, "10ms", "60s"});
  t.add({"answer-timeout", "DURATION", format_duration(d.answer_timeout),
         "an answer not written and acknowledged within this marks its endpoint down (hung) for 1s",
         [&o](const std::string& v) { o.answer_timeout = parse_duration(v); }, "100ms", "10m"});
  t.add({"answer-reply-wait", "DURATION", format_duration(d.answer_reply_wait),
         "longest a batch waits for one endpoint's replies (later ones are read with the next batch)",
         [&o](const std::string& v) { o.answer_reply_wait = parse_duration(v); }, "1ms", "10s"});
  t.add({"answer-buffer", "SIZE", "8m",
         "most bytes of unacknowledged answers per endpoint; above, it is down for 1s (answers dropped)",
         [&o](const std::string& v) { o.answer_buffer = static_cast<std::size_t>(parse_size(v)); }, "64k", "1g"});
}

void add_settings(settings_table& t, worker_options& o) {
  const worker_options d;
  t.add(redis_setting(o.redis, "Redis holding the queue: redis://[:password@]host[:port][/db] or unix:/path[?db=N]",
                      std::string("$TEMPEST_REDIS, else ") + default_redis_url));
  t.add(queue_setting(o.queue, "Redis list the jobs are taken from"));
  t.add({"concurrency", "INT", std::to_string(d.concurrency),
         "worker threads, each with its own connections (above 1, handlers must be thread-safe)",
         [&o](const std::string& v) { o.concurrency = static_cast<int>(parse_int(v)); }, "1", "1024"});
  t.add({"batch", "INT", std::to_string(d.batch), "most jobs taken from the queue per round trip",
         [&o](const std::string& v) { o.batch = static_cast<int>(parse_int(v)); }, "1", "10000"});
  t.add({"batch-time", "DURATION", format_duration(d.batch_time),
         "each take holds about this much work, from the lane's measured time per job (at most --batch; "
         "a slow handler takes one job at a time)",
         [&o](const std::string& v) { o.batch_time = parse_duration(v); }, "0ms", "10s"});
  t.add(log_level_setting(o.log_level));
  t.add({"answer-password", "TEXT", "",
         "password sent with AUTH to the fronts' answer endpoints [default: $TEMPEST_ANSWER_PASSWORD]",
         [&o](const std::string& v) { o.answer_password = v; }});
  t.add({"answer-allow", "HOST:PORT,...", "",
         "answer endpoints answered although no front announces them (fronts that announce nothing, "
         "such as the 2012 one); other unannounced respond_to are dropped",
         [&o](const std::string& v) { o.answer_allow = parse_allow_list(v); }});
  add_answer_limits(t, o, d);
  t.add({"mode", "MODE", "reliable",
         "reliable: at-least-once (in-flight jobs recorded, re-queued when a worker dies); "
         "plain: at-most-once BLMPOP, the original way (--plain says the same)",
         [&o](const std::string& v) {
           if (v == "reliable") o.mode = worker_options::delivery::reliable;
           else if (v == "plain") o.mode = worker_options::delivery::plain;
           else throw std::invalid_argument("'" + v + "' is not reliable or plain");
         }});
  t.add({"plain", "BOOL", "false", "the same as mode = plain (at-most-once, the original BLMPOP way)",
         [&o](const std::string& v) {
           if (parse_bool(v)) o.mode = worker_options::delivery::plain;
         }});
  t.add({"heartbeat-ttl", "DURATION", format_duration(d.heartbeat_ttl),
         "reliable mode: a worker silent this long is dead, its jobs re-queued (within twice this)",
         [&o](const std::string& v) { o.heartbeat_ttl = parse_duration(v); }, "300ms", "1h"});
  t.add({"max-attempts", "INT", std::to_string(d.max_attempts),
         "reliable mode: worker deaths after which a job goes to <queue>:dead",
         [&o](const std::string& v) { o.max_attempts = static_cast<int>(parse_int(v)); }, "1", "1000"});
}

constexpr const char* example_title = "Tempest worker configuration (any worker program's --config FILE)";

std::string program_name(int argc, const char* const* argv) {
  std::string name = argc > 0 && argv[0] ? argv[0] : "worker";
  if (auto slash = name.rfind('/'); slash != std::string::npos) name.erase(0, slash + 1);
  return name;
}

}  // namespace

worker_options::worker_options() : redis(redis_url_from_env()), queue(default_queue), log_level(default_log_level) {
  if (const char* env = std::getenv("TEMPEST_ANSWER_PASSWORD"); env && *env) answer_password = env;
}

worker_options worker_options::parse(CLI::App& app, int argc, const char* const* argv) {
  worker_options o;
  settings_table table;
  add_settings(table, o);
  table.add_to(app);
  table.add_example_flag(app);
  app.parse(argc, argv);
  if (table.example_requested()) {
    std::fputs(table.example_toml(example_title).c_str(), stdout);
    std::fflush(stdout);
    throw CLI::Success();
  }
  table.resolve();  // throws config_error naming the key
  // The environment is not checked by the table: say which variable is wrong.
  if (app.count("--redis") == 0) {
    try {
      parse_redis_url(o.redis);
    } catch (const std::invalid_argument& e) {
      throw config_error(std::string("TEMPEST_REDIS: ") + e.what());
    }
  }
  return o;
}

worker_options worker_options::from_args(int argc, char** argv, std::string description,
                                         const std::function<void(CLI::App&)>& extra_flags) {
  catch_stop_signals();  // the first thing a worker program does (docs: stop_signals.hpp)
  std::string name = program_name(argc, argv);
  CLI::App app(std::move(description), name);
  if (extra_flags) extra_flags(app);
  try {
    return parse(app, argc, argv);
  } catch (const CLI::Success& e) {  // --help
    std::exit(app.exit(e));
  } catch (const std::exception& e) {  // CLI::ParseError, config_error
    std::fprintf(stderr, "%s: %s (see --help)\n", name.c_str(), e.what());
    std::exit(2);
  }
}

}  // namespace tempest
