#include "front/sse_session.hpp"

#include "core/errors.hpp"
#include "core/history.hpp"
#include "core/log.hpp"
#include "core/redis/async_client.hpp"
#include "core/resp.hpp"
#include "front/channel_hub.hpp"
#include "front/front_config.hpp"
#include "front/front_stats.hpp"
#include "front/sse_context.hpp"
#include "front/sse_replay.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <fnmatch.h>

#include <algorithm>
#include <optional>

namespace tempest::front {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using boost::system::error_code;

namespace {

constexpr std::size_t max_channels = 16;
constexpr std::chrono::seconds subscribe_wait{5};

std::string query_param(std::string_view target, std::string_view name) {
  auto q = target.find('?');
  if (q == std::string_view::npos) return {};
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    auto pair = rest.substr(0, amp);
    auto eq = pair.find('=');
    if (pair.substr(0, eq) == name) return percent_decode(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    rest = rest.substr(amp + 1);
  }
  return {};
}

bool allowed(const front_config& cfg, const std::string& channel) {
  for (auto& pattern : cfg.sub_allow)
    if (fnmatch(pattern.c_str(), channel.c_str(), 0) == 0) return true;
  return false;
}

std::string cors_header(const front_config& cfg, const http_request& req) {
  std::string_view origin = req[http::field::origin];
  if (origin.empty()) return {};
  for (auto& o : cfg.cors_origins)
    if (o == "*" || o == origin) return "Access-Control-Allow-Origin: " + std::string(origin) + "\r\nVary: Origin\r\n";
  return {};
}

asio::awaitable<void> refuse(asio::ip::tcp::socket& socket, const http_refusal& e, std::string_view detail = {},
                             std::string_view detail_after = {}) {
  std::size_t body_size = e.body.size() + detail.size() + detail_after.size() + 1;
  std::string r = "HTTP/1.1 " + std::to_string(e.status) + " " + std::string(e.reason) +
                  "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: " + std::to_string(body_size) +
                  "\r\nConnection: close\r\n" + std::string(e.extra) + "\r\n" + std::string(e.body) +
                  std::string(detail) + std::string(detail_after) + "\n";
  error_code ec;
  co_await asio::async_write(socket, asio::buffer(r), asio::redirect_error(asio::use_awaitable, ec));
  socket.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  socket.close(ec);
}

// Waits (bounded) until Redis confirmed the subscription to every channel of sub.
asio::awaitable<bool> wait_subscribed(sse_context& ctx, std::shared_ptr<sse_subscriber> sub) {
  auto until = std::chrono::steady_clock::now() + subscribe_wait;
  error_code ec;
  while (!sub->closing() && !ctx.hub->subscribed(*sub) && std::chrono::steady_clock::now() < until) {
    sub->wake().expires_at(until);
    co_await sub->wake().async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  co_return !sub->closing() && ctx.hub->subscribed(*sub);
}

// Sets each channel's cursor: the client's stream id where its cursor names the channel (which
// is then replayed), else the newest recorded id (asked of Redis when the hub does not know it).
asio::awaitable<void> set_cursors(sse_context& ctx, std::shared_ptr<sse_subscriber> sub,
                                  std::vector<std::pair<std::string, std::string>> given,
                                  std::vector<replay_source>& replay) {
  const auto& channels = sub->channels();
  std::vector<std::size_t> unknown;
  std::vector<std::string> wires;
  for (std::size_t i = 0; i < channels.size(); ++i) {
    auto it = std::find_if(given.begin(), given.end(), [&](auto& p) { return p.first == channels[i]; });
    if (it != given.end()) {
      sub->cursors()[i] = it->second;
      replay.push_back({i, it->second});
      continue;
    }
    sub->cursors()[i] = ctx.hub->last_id(channels[i]);
    if (!sub->cursors()[i].empty()) continue;
    unknown.push_back(i);
    wires.push_back(format_command({"XREVRANGE", history::key(channels[i]), "+", "-", "COUNT", "1"}));
  }
  auto replies = co_await redis_calls(ctx, std::move(wires), subscribe_wait);
  for (std::size_t k = 0; k < unknown.size(); ++k) {
    auto& v = replies[k];  // [[id, fields]] or []
    bool any = v && !v->elements.empty() && !v->elements[0].elements.empty();
    std::string known = any ? v->elements[0].elements[0].str : "0";
    ctx.hub->note_id(channels[unknown[k]], known == "0" ? "" : known);
    sub->cursors()[unknown[k]] = known;
  }
}

}  // namespace

bool valid_channel_name(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
              c == ':' || c == '@' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool split_channels(std::string_view list, std::vector<std::string>& out) {
  out.clear();
  while (true) {
    auto comma = list.find(',');
    auto name = list.substr(0, comma);
    if (!valid_channel_name(name)) return false;
    if (std::find(out.begin(), out.end(), name) == out.end()) out.emplace_back(name);
    if (comma == std::string_view::npos) break;
    list = list.substr(comma + 1);
  }
  return out.size() <= max_channels;
}

std::vector<std::pair<std::string, std::string>> parse_cursor(std::string_view text) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!text.empty()) {
    auto comma = text.find(',');
    auto entry = text.substr(0, comma);
    auto eq = entry.rfind('=');
    if (eq != std::string_view::npos && eq > 0 && eq + 1 < entry.size()) {
      auto id = entry.substr(eq + 1);
      bool ok = std::all_of(id.begin(), id.end(), [](char c) { return (c >= '0' && c <= '9') || c == '-'; });
      if (ok) out.emplace_back(std::string(entry.substr(0, eq)), std::string(id));
    }
    if (comma == std::string_view::npos) break;
    text = text.substr(comma + 1);
  }
  return out;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() + 0 && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i] == '+' ? ' ' : s[i]);
    }
  }
  return out;
}

bool is_sse_target(const front_config& cfg, std::string_view target) {
  return target.substr(0, cfg.sub_prefix.size()) == cfg.sub_prefix;
}

asio::awaitable<void> run_sse(sse_context& ctx, asio::ip::tcp::socket socket, http_request req) {
  const front_config& cfg = ctx.cfg;
  auto log = log::get("sse");
  if (req.method() != http::verb::get && req.method() != http::verb::head)
    co_return co_await refuse(socket, sse_error::not_get);
  std::string_view target = req.target();
  std::string_view list = target.substr(cfg.sub_prefix.size());
  list = list.substr(0, list.find('?'));
  std::vector<std::string> channels;
  if (!split_channels(list, channels))
    co_return co_await refuse(socket, sse_error::bad_channels);
  for (auto& c : channels)
    if (!allowed(cfg, c)) co_return co_await refuse(socket, sse_error::forbidden, c, " is not allowed");
  if (!ctx.hub->connected() || !ctx.redis->connected())
    co_return co_await refuse(socket, sse_error::redis_unreachable);
  std::string last_event_id(req["Last-Event-ID"]);
  if (last_event_id.empty()) last_event_id = query_param(target, "lastEventId");
  std::string head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                     "X-Accel-Buffering: no\r\nConnection: close\r\n" + cors_header(cfg, req) + "\r\n";
  bool head_only = req.method() == http::verb::head;

  auto sub = std::make_shared<sse_subscriber>(ctx, std::move(socket), channels);
  ctx.hub->add(sub);
  sub->start_reading();  // a client that leaves during the handshake or the replay is noticed
  if (!co_await wait_subscribed(ctx, sub)) {
    if (sub->closing()) co_return;
    log->warn("subscription to {} not confirmed by Redis in time: 503", list);
    sub->enqueue(std::string(sse_error::not_confirmed));
    sub->finish();
    co_return;
  }
  if (head_only) {
    sub->enqueue(std::move(head));
    sub->finish();
    co_return;
  }

  // Cursors: from Last-Event-ID where given (then replay), else the newest recorded id now.
  std::vector<replay_source> replay;
  co_await set_cursors(ctx, sub, parse_cursor(last_event_id), replay);
  if (sub->closing()) co_return;
  head += "retry: " + std::to_string(cfg.sse_retry.count()) + "\n";
  append_sse_id(head, sub->cursor_text(0));
  sub->enqueue(std::move(head));
  std::uint64_t before = ctx.stats.sse_replayed.load(std::memory_order_relaxed);
  auto gaps = co_await replay_history(ctx, sub, std::move(replay));
  if (sub->closing()) co_return;
  std::string out;
  for (auto i : gaps)  // the client missed more than the history holds: say so (7.8)
    append_sse_event(out, sub->cursor_text(i), "tempest.resync", "{\"channel\":\"" + channels[i] + "\",\"lost\":true}");
  if (!out.empty()) sub->enqueue(std::move(out));
  std::uint64_t replayed = ctx.stats.sse_replayed.load(std::memory_order_relaxed) - before;
  if (replayed > 0) log->debug("replayed about {} event(s) to a subscriber of {}", replayed, list);
  sub->make_ready();
}

}  // namespace tempest::front
