// endpoint_announcer: keeps a front thread's answer endpoint in tempest:fronts (see the header).
#include "front/endpoint_announcer.hpp"

#include "core/log.hpp"
#include "core/queue/keys.hpp"
#include "core/resp.hpp"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace tempest::front {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;

// KEYS[1] tempest:fronts; ARGV[1] respond_to, ARGV[2] ttl in ms. Redis time, not the front's.
constexpr std::string_view announce_script = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return 1
)lua";

}  // namespace

endpoint_announcer::endpoint_announcer(asio::any_io_executor ex, std::shared_ptr<redis::async_client> redis,
                                       std::string respond_to, std::chrono::milliseconds interval)
    : ex_(ex), redis_(std::move(redis)), respond_to_(std::move(respond_to)), interval_(interval), timer_(ex) {}

endpoint_announcer::~endpoint_announcer() {
  if (redis_) redis_->on_connect({});
}

void endpoint_announcer::start() {
  redis_->on_connect([this] { announce(); });
  schedule();
}

void endpoint_announcer::schedule() {
  timer_.expires_after(interval_);
  timer_.async_wait([this](error_code ec) {
    if (ec || stopped_) return;
    if (redis_->connected()) announce();  // (a reconnect announces by itself)
    schedule();
  });
}

void endpoint_announcer::announce() {
  if (stopped_) return;
  auto ttl = std::to_string((interval_ * queue_keys::announce_ttl_factor).count());
  redis_->send(format_command({"EVAL", announce_script, "1", queue_keys::fronts, respond_to_, ttl}),
               [this](error_code ec, resp_value v) {
                 if (ec || !v.is_error() || refused_logged_) return;
                 refused_logged_ = true;  // e.g. an ACL without EVAL: workers will not answer this front
                 log::get("front")->error("announcing the answer endpoint {} in {} failed: {}; workers that check "
                                          "announcements will not answer it",
                                          respond_to_, queue_keys::fronts, v.str);
               });
}

asio::awaitable<void> endpoint_announcer::withdraw(std::chrono::milliseconds max_wait) {
  stopped_ = true;
  timer_.cancel();
  if (!redis_->connected()) co_return;
  auto done = std::make_shared<asio::steady_timer>(ex_, max_wait);
  auto replied = std::make_shared<bool>(false);
  redis_->send(format_command({"ZREM", queue_keys::fronts, respond_to_}), [done, replied](error_code, resp_value) {
    *replied = true;
    done->cancel();
  });
  error_code ec;
  if (!*replied) co_await done->async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

}  // namespace tempest::front
