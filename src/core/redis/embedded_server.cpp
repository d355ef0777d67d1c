#include "core/redis/embedded_server.hpp"

#include "core/redis/blocking_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

namespace tempest::redis {
namespace {

int free_loopback_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = -1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

bool answers_ping(int port) {
  redis_endpoint ep;
  ep.host = "127.0.0.1";
  ep.port = static_cast<std::uint16_t>(port);
  try {
    blocking_client c(ep, {.connect_timeout = std::chrono::milliseconds(200), .io_timeout = std::chrono::milliseconds(200)});
    auto r = c.command({"PING"});
    return r->type == REDIS_REPLY_STATUS;
  } catch (const io_error&) {
    return false;
  }
}

}  // namespace

std::unique_ptr<embedded_server> embedded_server::start(const std::string& program) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    int port = free_loopback_port();
    if (port <= 0) throw std::runtime_error("embedded Redis: no free loopback port");
    std::string port_s = std::to_string(port);
    std::vector<std::string> args = {program, "--port", port_s, "--bind", "127.0.0.1", "--save", "",
                                     "--appendonly", "no", "--protected-mode", "yes", "--loglevel", "warning",
                                     "--daemonize", "no"};
    pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("embedded Redis: fork failed");
    if (pid == 0) {
      // An empty mask: the angel starts this with its signals blocked (read from a signalfd),
      // and exec keeps the mask; redis-server must get the SIGTERM that stops it.
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != parent) ::_exit(1);
      // redis-server logs to stdout, which is ours for the ready line; its start-up warnings
      // (memory overcommit...) are about persistence, which the embedded one does not use.
      int devnull = ::open("/dev/null", O_WRONLY);
      if (devnull >= 0) ::dup2(devnull, 1);
      ::setpgid(0, 0);  // Ctrl-C reaches the front, which then stops Redis in order
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execvp(argv[0], argv.data());
      ::_exit(127);
    }
    for (int i = 0; i < 100; ++i) {  // up to 5 s
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
          throw std::runtime_error("embedded Redis: cannot run '" + program + "' (apt-get install redis-server, or give --redis URL)");
        break;  // probably lost the port to someone else: try another
      }
      if (answers_ping(port)) return std::make_unique<embedded_server>(pid, "redis://127.0.0.1:" + port_s + "/0");
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
  throw std::runtime_error("embedded Redis: '" + program + "' did not start (see its log above)");
}

embedded_server::~embedded_server() {
  if (pid_ <= 0) return;  // reaped() by its parent's own wait loop
  ::kill(pid_, SIGTERM);
  for (int i = 0; i < 100; ++i) {
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
}

}  // namespace tempest::redis
