// Where a Redis server is, as every Tempest program names it with --redis:
//   redis://[[user]:password@]host[:port][/db]   (port 6379, db 0 by default)
//   unix:/path/to/redis.sock[?db=N]              (also unix:///path and redis+unix:///path)
//   host:port                                     (shorthand for redis://host:port)
// parse_redis_url throws std::invalid_argument saying what is wrong.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace tempest {

struct redis_endpoint {
  std::string host;       // empty for a unix socket
  std::uint16_t port = 6379;
  std::string unix_path;  // set for unix sockets
  int db = 0;
  std::string user;       // ACL user, optional
  std::string password;   // AUTH password, optional

  bool is_unix() const { return !unix_path.empty(); }
  std::string to_string() const;  // a URL without the password, for logs
};

redis_endpoint parse_redis_url(std::string_view url);

// "host:port" -> host and port (IPv6 as "[::1]:port"); throws std::invalid_argument.
void split_host_port(std::string_view text, std::string& host, std::uint16_t& port);

}  // namespace tempest
