// A real /usr/bin/redis-server for the unit tests of src/core/redis/: started on a free loopback
// port (no persistence), with its unix socket too when the arguments ask for one; stopped by the
// destructor. The C++ twin of tests/support/harness.py's
// RedisServer.
//
//   redis_server redis({"--requirepass", "pw"});   // extra redis-server arguments
//   ASSERT_TRUE(redis.running());   // redis-server is a build package (./run installs it)
//   auto ep = parse_redis_url(redis.url("pw", 3));  // redis://:pw@127.0.0.1:<port>/3
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <sys/types.h>

namespace tempest::test {

// A loopback port that nothing listens on right now (bound to port 0, then closed).
std::uint16_t free_loopback_port();

class redis_server {
 public:
  explicit redis_server(std::vector<std::string> extra_args = {});
  ~redis_server();
  redis_server(const redis_server&) = delete;
  redis_server& operator=(const redis_server&) = delete;

  // False when /usr/bin/redis-server is missing (skip the test) or did not start (a failure
  // is already recorded).
  bool running() const { return pid_ > 0; }
  std::uint16_t port() const { return port_; }
  std::string url(std::string_view password = "", int db = 0) const;

 private:
  bool wait_ready() const;
  void stop();

  std::uint16_t port_;
  pid_t pid_ = -1;
  std::string unix_path_;  // "--unixsocket" of the arguments, if any
};

}  // namespace tempest::test
