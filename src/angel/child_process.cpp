// Spawning children with posix_spawn, and exit descriptions (API: child_process.hpp).
#include "angel/child_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cerrno>
#include <map>
#include <sstream>

extern char** environ;

namespace tempest::angel {
namespace {

// Ruby's list of shell metacharacters (process.c), plus '=' for a leading VAR=value and '%'.
constexpr std::string_view shell_chars = "*?{}[]<>()~&|\\$;'`\"\n#=%";

std::vector<std::string> environment(const program_spec& spec, int instance, const std::string& redis_url) {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string_view kv(*e);
    auto eq = kv.find('=');
    if (eq != std::string_view::npos) env[std::string(kv.substr(0, eq))] = std::string(kv.substr(eq + 1));
  }
  if (!redis_url.empty()) env["TEMPEST_REDIS"] = redis_url;
  env["TEMPEST_PROGRAM"] = spec.name;
  env["TEMPEST_INSTANCE"] = std::to_string(instance);
  for (const auto& [k, v] : spec.env) env[k] = v;
  std::vector<std::string> out;
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

// Why posix_spawnp failed, naming the missing path: the working directory (the chdir happens
// first, and its ENOENT would otherwise be blamed on the program), else the program itself.
std::string spawn_error(const program_spec& spec, const std::string& program, int rc) {
  struct stat st{};
  if (!spec.cwd.empty()) {
    if (stat(spec.cwd.c_str(), &st) != 0)
      return "working directory '" + spec.cwd + "' is missing (" + strerror(errno) + ")";
    if (!S_ISDIR(st.st_mode)) return "working directory '" + spec.cwd + "' is not a directory";
  }
  if (program.find('/') == std::string::npos) {
    if (rc == ENOENT) return "cannot run '" + program + "': not found in PATH";
  } else {
    std::string path = program[0] == '/' || spec.cwd.empty() ? program : spec.cwd + "/" + program;
    if (stat(path.c_str(), &st) != 0) return "cannot run '" + path + "': " + strerror(errno);
  }
  return "cannot run '" + program + "': " + strerror(rc);
}

std::vector<char*> c_array(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

}  // namespace

std::vector<std::string> exec_argv(const program_spec& spec) {
  if (spec.argv.size() == 3 && spec.argv[0] == "/bin/sh" && spec.argv[1] == "-c" &&
      spec.argv[2].find_first_of(shell_chars) == std::string::npos) {
    std::istringstream in(spec.argv[2]);
    std::vector<std::string> words;
    for (std::string w; in >> w;) words.push_back(w);
    if (!words.empty()) return words;
  }
  return spec.argv;
}

pid_t spawn_child(const program_spec& spec, int instance, const std::string& redis_url, std::string& error) {
  auto argv_s = exec_argv(spec);
  auto env_s = environment(spec, instance, redis_url);
  auto argv = c_array(argv_s);
  auto envp = c_array(env_s);

  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  if (!spec.cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, spec.cwd.c_str());
  // Every disposition back to the default (the angel ignores SIGPIPE; tempest's main() handles
  // SIGTERM, SIGINT, SIGHUP) and an empty mask (the angel blocks what its signalfd reads).
  sigset_t none, defaults;
  sigemptyset(&none);
  sigfillset(&defaults);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  pid_t pid = 0;
  int rc = posix_spawnp(&pid, argv[0], &fa, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    error = spawn_error(spec, argv_s[0], rc);
    return 0;
  }
  return pid;
}

std::string describe_exit(int status) {
  if (WIFEXITED(status)) return "exit code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    int s = WTERMSIG(status);
    const char* abbrev = sigabbrev_np(s);
    std::string out = "killed by signal " + std::to_string(s);
    if (abbrev) out += std::string(" (SIG") + abbrev + ")";
    if (WCOREDUMP(status)) out += ", core dumped";
    return out;
  }
  return "wait status " + std::to_string(status);
}

}  // namespace tempest::angel
