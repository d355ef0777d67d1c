// The embedded Redis: when no --redis is configured (and $TEMPEST_REDIS is unset), the front
// starts Debian's redis-server itself, on a free loopback port, with no persistence, and
// stops it when the front exits (it also dies with the front: PR_SET_PDEATHSIG). The angel
// (src/angel/supervisor.cpp) starts one the same way for its children when it has no Redis.
#pragma once
#include <memory>
#include <string>
#include <sys/types.h>

namespace tempest::redis {

class embedded_server {
 public:
  // Starts the server and waits until it answers PING; throws std::runtime_error saying why not.
  static std::unique_ptr<embedded_server> start(const std::string& program);
  embedded_server(pid_t pid, std::string url) : pid_(pid), url_(std::move(url)) {}
  ~embedded_server();
  embedded_server(const embedded_server&) = delete;
  embedded_server& operator=(const embedded_server&) = delete;
  const std::string& url() const { return url_; }
  pid_t pid() const { return pid_; }
  // A parent with its own waitpid(-1) loop (the angel) reaped the server: the destructor must
  // not signal a pid that may belong to someone else by now.
  void reaped() { pid_ = 0; }

 private:
  pid_t pid_;
  std::string url_;
};

}  // namespace tempest::redis
