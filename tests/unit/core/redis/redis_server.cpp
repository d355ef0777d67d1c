// Starts and stops the redis-server of the unit tests (see redis_server.hpp).
#include "redis_server.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include <arpa/inet.h>
#include <csignal>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace tempest::test {
namespace {

constexpr const char* redis_server_bin = "/usr/bin/redis-server";

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

bool accepts(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  auto a = loopback(port);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

std::uint16_t free_loopback_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  auto a = loopback(0);
  socklen_t len = sizeof a;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

redis_server::redis_server(std::vector<std::string> extra_args) : port_(free_loopback_port()) {
  if (::access(redis_server_bin, X_OK) != 0) return;
  std::vector<std::string> args = {redis_server_bin, "--port", std::to_string(port_), "--bind", "127.0.0.1",
                                   "--save", "", "--appendonly", "no", "--dir", "/tmp",
                                   "--daemonize", "no", "--loglevel", "warning"};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_ = ::fork();
  if (pid_ == 0) {  // its start-up banner would bury the test output
    int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 1);
    ::execv(redis_server_bin, argv.data());
    ::_exit(127);
  }
  for (std::size_t i = 0; i + 1 < extra_args.size(); ++i)
    if (extra_args[i] == "--unixsocket") unix_path_ = extra_args[i + 1];
  if (wait_ready()) return;
  stop();
  ADD_FAILURE() << redis_server_bin << " did not start on port " << port_;
}

bool redis_server::wait_ready() const {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!accepts(port_) || (!unix_path_.empty() && ::access(unix_path_.c_str(), F_OK) != 0)) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_ || std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

// SIGTERM, SIGKILL when it is still there after 2 s; the unix socket file is removed.
void redis_server::stop() {
  if (!unix_path_.empty()) ::unlink(unix_path_.c_str());
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  int status = 0;
  for (int i = 0; i < 200; ++i) {
    if (::waitpid(pid_, &status, WNOHANG) != 0) {  // reaped (or not our child): the pid is gone
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

redis_server::~redis_server() { stop(); }

std::string redis_server::url(std::string_view password, int db) const {
  std::string u = "redis://";
  if (!password.empty()) u += ":" + std::string(password) + "@";
  u += "127.0.0.1:" + std::to_string(port_);
  if (db != 0) u += "/" + std::to_string(db);
  return u;
}

}  // namespace tempest::test
