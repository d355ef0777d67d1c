// The angel: supervises the programs of a config (TOML or Procfile), like Mongrel2's procer.
//
//   supervisor_options o{.config_path = "angel.toml", .procfile = false, .redis_flag = ""};
//   int rc = run_angel(o);   // returns after SIGTERM/SIGINT once every child has exited
//
// One thread, one poll loop: the signals it handles (SIGCHLD, SIGTERM, SIGINT, SIGHUP) are
// blocked and read from a signalfd; each turn reaps exited children (waitpid WNOHANG), starts the
// instances whose backoff is due (restart_policy.hpp decides), SIGKILLs what outlived its stop
// deadline, runs the reaper every reap-interval (reaper.hpp), and publishes the state to Redis
// every second (status_report.hpp: tempest:angel:<host>:<pid>, a JSON string with a 3 s TTL).
//
// Start-up, in this order: block the signals (a SIGTERM from then on is a drain, even before the
// config is read), read the config, find the children's Redis (--redis, the config's, $TEMPEST_REDIS,
// else an embedded redis-server started here: core/redis/embedded_server.hpp), then start the programs.
//
// Signals: SIGTERM/SIGINT drain (SIGTERM to every child's process group, SIGKILL after
// stop-timeout; a second SIGTERM/SIGINT kills at once); SIGHUP reloads the config and applies
// only the difference (angel_config.hpp diff; failed instances get a new chance).
//
// The angel is a child subreaper (PR_SET_CHILD_SUBREAPER): processes a child leaves behind are
// reaped here, and an instance counts as stopped once its whole process group is gone.
#pragma once
#include <string>

namespace tempest::angel {

struct supervisor_options {
  std::string config_path;  // TOML file, or a Procfile when procfile is set
  bool procfile = false;
  std::string redis_flag;   // --redis; wins over the config's redis and $TEMPEST_REDIS
};

// Exit status: 0 after a drain; 1 when the config cannot be read at start (one line on stderr),
// the signals cannot be set up, the embedded Redis cannot start, or it exited (then the angel
// drains its children first).
int run_angel(const supervisor_options& options);

}  // namespace tempest::angel
