// A blocking hiredis connection with short timeouts (API: redis_link.hpp).
#include "angel/redis_link.hpp"

#include <fmt/format.h>
#include <hiredis/hiredis.h>

#include <stdexcept>

namespace tempest::angel {
namespace {

timeval to_timeval(std::chrono::milliseconds d) {
  return timeval{static_cast<time_t>(d.count() / 1000), static_cast<suseconds_t>((d.count() % 1000) * 1000)};
}


void append(redisContext* c, const std::vector<std::string>& argv) {
  std::vector<const char*> a;
  std::vector<size_t> lens;
  for (const auto& s : argv) {
    a.push_back(s.data());
    lens.push_back(s.size());
  }
  redisAppendCommandArgv(c, static_cast<int>(a.size()), a.data(), lens.data());
}

}  // namespace

redis_link::redis_link(std::string_view url, std::chrono::milliseconds timeout)
    : ep_(parse_redis_url(url)), timeout_(timeout) {}

redis_link::~redis_link() { drop(); }

void redis_link::drop() {
  if (ctx_) redisFree(ctx_);
  ctx_ = nullptr;
}

void redis_link::connect() {
  ctx_ = ep_.is_unix() ? redisConnectUnixWithTimeout(ep_.unix_path.c_str(), to_timeval(timeout_))
                       : redisConnectWithTimeout(ep_.host.c_str(), ep_.port, to_timeval(timeout_));
  if (!ctx_ || ctx_->err) {
    std::string why = ctx_ ? ctx_->errstr : "out of memory";
    drop();
    throw std::runtime_error(fmt::format("cannot connect to Redis at {}: {}", ep_.to_string(), why));
  }
  redisSetTimeout(ctx_, to_timeval(timeout_));
  std::vector<std::vector<std::string>> setup;
  if (!ep_.password.empty())
    setup.push_back(ep_.user.empty() ? std::vector<std::string>{"AUTH", ep_.password}
                                     : std::vector<std::string>{"AUTH", ep_.user, ep_.password});
  if (ep_.db != 0) setup.push_back({"SELECT", std::to_string(ep_.db)});
  if (setup.empty()) return;
  for (const auto& r : pipeline(setup))
    if (r.is_error()) {
      drop();
      throw std::runtime_error(fmt::format("Redis at {} refused AUTH/SELECT: {}", ep_.to_string(), r.str));
    }
}

std::vector<resp_value> redis_link::pipeline(const std::vector<std::vector<std::string>>& commands) {
  if (!ctx_) connect();
  for (const auto& c : commands) append(ctx_, c);
  std::vector<resp_value> out;
  for (size_t i = 0; i < commands.size(); ++i) {
    void* raw = nullptr;
    if (redisGetReply(ctx_, &raw) != REDIS_OK || !raw) {
      std::string why = ctx_->errstr;
      drop();
      throw std::runtime_error(fmt::format("lost the connection to Redis at {}: {}", ep_.to_string(),
                                           why.empty() ? "no reply in time" : why));
    }
    out.push_back(convert_reply(static_cast<redisReply*>(raw)));
    freeReplyObject(raw);
  }
  return out;
}

resp_value redis_link::command(const std::vector<std::string>& argv) { return pipeline({argv})[0]; }

resp_value redis_link::command(std::initializer_list<std::string_view> argv) {
  std::vector<std::string> a(argv.begin(), argv.end());
  return command(a);
}

}  // namespace tempest::angel
