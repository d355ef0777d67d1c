// The subcommand table of the `tempest` binary: each subcommand lives in its own file under
// src/cli/ and registers itself on the CLI11 app here. A subcommand's callback throws
// CLI::RuntimeError(code) to set the exit code. Any other CLI11 error (unknown subcommand, flag or
// value) exits 2 with one line naming it (src/main.cpp), so a subcommand need not catch them.
#pragma once

namespace CLI { class App; }

namespace tempest::cli {

void add_front_command(CLI::App& app);
void add_publish_command(CLI::App& app);
void add_jobs_command(CLI::App& app);
void add_angel_command(CLI::App& app);
void add_status_command(CLI::App& app);

}  // namespace tempest::cli
