// Starting a supervised child and describing how it ended. POSIX only (posix_spawn).
//
//   pid_t pid = spawn_child(spec, instance_index, redis_url, error);   // 0 + error on failure
//   describe_exit(status)  -> "exit code 3", "killed by signal 9 (SIGKILL)"
//
// What a child gets: its own process group (pgid = pid, so the angel signals the whole group:
// a shell and what it started), the default disposition of every signal and an empty mask (the
// angel blocks and ignores signals of its own), stdin from /dev/null, stdout/stderr inherited
// as they are (no prefix), the angel's environment plus TEMPEST_REDIS (the angel's Redis),
// TEMPEST_PROGRAM, TEMPEST_INSTANCE and the program's env table, and its cwd. A spawn error
// names what is missing: the working directory, else the program.
//
// A string command without shell metacharacters is split on blanks and exec'd directly (so the
// pid is the program's own, as Ruby's spawn and foreman do); any other string runs under
// /bin/sh -c. If you change this, change docs/angel.md ("What a child gets").
#pragma once
#include "angel/angel_config.hpp"

#include <sys/types.h>

#include <string>
#include <vector>

namespace tempest::angel {

pid_t spawn_child(const program_spec& spec, int instance, const std::string& redis_url, std::string& error);
std::string describe_exit(int wait_status);
// The argv to exec for a spec: a plain /bin/sh -c string without metacharacters is split.
std::vector<std::string> exec_argv(const program_spec& spec);

}  // namespace tempest::angel
