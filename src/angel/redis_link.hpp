// A small blocking Redis connection (hiredis) for the angel and `tempest status`: short
// timeouts, connects lazily, reconnects on the next call after an I/O error. Not for the data
// path (the front has its async client, workers their own connections).
//
//   redis_link r("redis://127.0.0.1:6379/0");     // parses the URL: std::invalid_argument
//   resp_value v = r.command({"LLEN", "tempest"}); // std::runtime_error when unreachable
//   r.endpoint()                                   // URL without the password, for logs
//
// Each call waits at most connect_timeout + reply_timeout (1 s + 1 s by default).
#pragma once
#include "core/redis_url.hpp"
#include "core/resp.hpp"

#include <chrono>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

struct redisContext;

namespace tempest::angel {

class redis_link {
 public:
  explicit redis_link(std::string_view url, std::chrono::milliseconds timeout = std::chrono::milliseconds(1000));
  ~redis_link();
  redis_link(const redis_link&) = delete;
  redis_link& operator=(const redis_link&) = delete;

  // One command; an error reply is returned as a value (is_error()), I/O failures throw.
  resp_value command(const std::vector<std::string>& argv);
  resp_value command(std::initializer_list<std::string_view> argv);
  // Several commands in one round trip; replies in order.
  std::vector<resp_value> pipeline(const std::vector<std::vector<std::string>>& commands);
  std::string endpoint() const { return ep_.to_string(); }

 private:
  void connect();
  void drop();

  redis_endpoint ep_;
  std::chrono::milliseconds timeout_;
  redisContext* ctx_ = nullptr;  // owned; freed by drop()
};

}  // namespace tempest::angel
