// The `tempest` binary: the process-wide signal handling, then the subcommand table (each
// subcommand is in src/cli/) and the exit status of a usage error.
//
// Signals, before anything else: SIGTERM and SIGINT get a handler that stops the process at once
// with one line on stderr and exit status 128+N (nothing has started that would need a drain:
// never the default action, which would leave "killed by signal 15" behind), and SIGHUP one that
// writes a line and ignores it. A subcommand that drains installs its own handling over these
// (the front's asio signal_set, the angel's signalfd): they are handlers and no signal is blocked,
// so asio's sigaction handler works unchanged; exec resets handlers, so children start with the
// defaults.
//
// Exit status: the subcommand's; 0 for --help and --version; 2 for every usage error, with one
// line naming the bad word (an unknown subcommand, flag or value).
#include "cli/commands.hpp"

#include <CLI/CLI.hpp>

#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <iostream>
#include <string>
#include <vector>

namespace {

extern "C" void early_signal(int signo) {
  // async-signal-safe only: write(2) and _exit(2).
  char line[96] = "tempest: ";
  const char* name = sigabbrev_np(signo);
  strncat(line, "SIG", sizeof line - strlen(line) - 1);
  strncat(line, name ? name : "?", sizeof line - strlen(line) - 1);
  if (signo == SIGHUP) {
    strncat(line, " ignored (no reload here)\n", sizeof line - strlen(line) - 1);
    (void)!write(STDERR_FILENO, line, strlen(line));
    return;
  }
  strncat(line, ": stopped\n", sizeof line - strlen(line) - 1);
  (void)!write(STDERR_FILENO, line, strlen(line));
  _exit(128 + signo);
}

void install_early_signal_handling() {
  struct sigaction sa {};
  sa.sa_handler = early_signal;
  sigemptyset(&sa.sa_mask);
  for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaction(s, &sa, nullptr);
  sigset_t unblock;
  sigemptyset(&unblock);
  for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&unblock, s);
  sigprocmask(SIG_UNBLOCK, &unblock, nullptr);  // a parent may have left them blocked
}

// The innermost subcommand that was parsed (the app itself when none was).
CLI::App* innermost(CLI::App* app) {
  for (auto subs = app->get_subcommands(); !subs.empty(); subs = app->get_subcommands()) app = subs.front();
  return app;
}

std::string path_of(const CLI::App* app) {
  std::string out;
  for (; app; app = app->get_parent()) out = app->get_name() + (out.empty() ? "" : " " + out);
  return out;
}

// One line naming the bad word. CLI11 says "A subcommand is required" for an unknown one, and
// nothing about which subcommand an unexpected flag was given to.
std::string usage_line(CLI::App& app, const CLI::ParseError& e) {
  CLI::App* at = innermost(&app);
  std::string where = path_of(at);
  std::string what = e.what();
  if (dynamic_cast<const CLI::RequiredError*>(&e) && what.find("subcommand") != std::string::npos &&
      at->get_subcommands({}).size() > 0) {
    std::string names;
    for (const auto* s : at->get_subcommands({})) names += (names.empty() ? "" : ", ") + s->get_name();
    auto rest = at->remaining();
    std::string word;
    for (const auto& r : rest)
      if (!r.empty() && r[0] != '-') { word = r; break; }
    if (!word.empty()) what = "unknown subcommand '" + word + "' (one of: " + names + ")";
    else if (!rest.empty()) what = "unknown flag '" + rest.front() + "' (a subcommand comes first: " + names + ")";
    else what = "a subcommand is required (one of: " + names + ")";
  }
  return where + ": " + what + " (see " + where + " --help)";
}

}  // namespace

int main(int argc, char** argv) {
  install_early_signal_handling();
  CLI::App app{
      "Tempest: a low-latency web front where Redis is the orchestrator.\n"
      "HTTP requests become jobs on a Redis list; workers in any language answer over RESP."};
  app.name("tempest");
  app.set_version_flag("--version", "tempest 0.1.0");
  app.require_subcommand(1);
  tempest::cli::add_front_command(app);
  tempest::cli::add_publish_command(app);
  tempest::cli::add_jobs_command(app);
  tempest::cli::add_angel_command(app);
  tempest::cli::add_status_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::RuntimeError& e) {  // a subcommand's exit status; it said why
    return e.get_exit_code();
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --help-all, --version
    std::cerr << usage_line(app, e) << "\n";
    return 2;
  }
  return 0;
}
