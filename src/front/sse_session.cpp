#include "front/sse_session.hpp"

#include "core/history.hpp"
#include "core/log.hpp"
#include "core/resp.hpp"
#include "front/channel_hub.hpp"
#include "front/shard.hpp"

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

// One Redis command from a coroutine; nullopt when Redis failed or did not answer in time.
asio::awaitable<std::optional<resp_value>> redis_call(shard& sh, std::string wire) {
  struct call_state {
    explicit call_state(asio::io_context& ioc) : wake(ioc) {}
    asio::steady_timer wake;
    std::optional<resp_value> value;
    bool done = false;
  };
  auto st = std::make_shared<call_state>(sh.ioc);
  st->wake.expires_after(subscribe_wait);
  sh.redis->send(std::move(wire), [st](error_code ec, resp_value v) {
    if (!ec && !v.is_error()) st->value = std::move(v);
    st->done = true;
    st->wake.cancel();
  });
  error_code ec;
  while (!st->done) {
    co_await st->wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) break;  // timed out
  }
  co_return std::move(st->value);
}

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

asio::awaitable<void> refuse(asio::ip::tcp::socket& socket, int status, std::string_view reason, std::string_view body,
                             std::string_view extra = {}) {
  std::string r = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) +
                  "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: " + std::to_string(body.size() + 1) +
                  "\r\nConnection: close\r\n" + std::string(extra) + "\r\n" + std::string(body) + "\n";
  error_code ec;
  co_await asio::async_write(socket, asio::buffer(r), asio::redirect_error(asio::use_awaitable, ec));
  socket.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  socket.close(ec);
}

struct replay_entry {
  std::size_t channel;
  sse_message message;
};

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

asio::awaitable<void> run_sse(shard& sh, asio::ip::tcp::socket socket, http_request req) {
  const front_config& cfg = sh.cfg;
  auto log = log::get("sse");
  if (req.method() != http::verb::get && req.method() != http::verb::head)
    co_return co_await refuse(socket, 405, "Method Not Allowed", "event streams take GET", "Allow: GET, HEAD\r\n");
  std::string_view target = req.target();
  std::string_view list = target.substr(cfg.sub_prefix.size());
  list = list.substr(0, list.find('?'));
  std::vector<std::string> channels;
  if (!split_channels(list, channels))
    co_return co_await refuse(socket, 400, "Bad Request",
                              "bad channel list: 1 to 16 names of A-Z a-z 0-9 _ . : @ -, joined by commas");
  for (auto& c : channels)
    if (!allowed(cfg, c)) co_return co_await refuse(socket, 403, "Forbidden", "channel " + c + " is not allowed");
  if (!sh.hub->connected() || !sh.redis->connected())
    co_return co_await refuse(socket, 503, "Service Unavailable", "service unavailable: Redis unreachable",
                              "Retry-After: 1\r\n");
  std::string last_event_id(req["Last-Event-ID"]);
  if (last_event_id.empty()) last_event_id = query_param(target, "lastEventId");
  std::string head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                     "X-Accel-Buffering: no\r\nConnection: close\r\n" + cors_header(cfg, req) + "\r\n";
  bool head_only = req.method() == http::verb::head;

  auto sub = std::make_shared<sse_subscriber>(sh, std::move(socket), channels);
  sh.hub->add(sub);
  auto until = std::chrono::steady_clock::now() + subscribe_wait;
  error_code ec;
  while (!sh.hub->subscribed(*sub) && std::chrono::steady_clock::now() < until) {
    sub->wake().expires_at(until);
    co_await sub->wake().async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  if (!sh.hub->subscribed(*sub)) {
    log->warn("subscription to {} not confirmed by Redis in time: 503", list);
    sub->enqueue("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    sub->finish();
    co_return;
  }

  // Cursors: from Last-Event-ID where given (then replay), else the newest recorded id now.
  auto given = parse_cursor(last_event_id);
  std::vector<replay_entry> replay;
  std::vector<std::size_t> gaps;  // channels whose history does not cover the client's gap
  for (std::size_t i = 0; i < channels.size(); ++i) {
    auto it = std::find_if(given.begin(), given.end(), [&](auto& p) { return p.first == channels[i]; });
    if (it != given.end()) {
      sub->cursors()[i] = it->second;
      // (the command is built outside co_await: GCC 12 mishandles initializer lists there)
      std::string wire = history_range_command(channels[i], it->second, cfg.sse_replay_limit);
      auto v = co_await redis_call(sh, std::move(wire));
      if (!v) {
        gaps.push_back(i);
        continue;
      }
      history_page page = read_history(*v, it->second, cfg.sse_replay_limit);
      if (page.gap) gaps.push_back(i);
      for (auto& m : page.messages) replay.push_back({i, std::move(m)});
      continue;
    }
    std::string known = sh.hub->last_id(channels[i]);
    if (known.empty()) {
      std::string wire = format_command({"XREVRANGE", history::key(channels[i]), "+", "-", "COUNT", "1"});
      auto v = co_await redis_call(sh, std::move(wire));
      known = v && !v->elements.empty() && !v->elements[0].elements.empty() ? v->elements[0].elements[0].str : "0";
      sh.hub->note_id(channels[i], known == "0" ? "" : known);
    }
    sub->cursors()[i] = known;
  }
  std::stable_sort(replay.begin(), replay.end(), [](const replay_entry& a, const replay_entry& b) {
    return stream_id_less(a.message.id, b.message.id);
  });

  std::string out = head;
  if (head_only) {
    sub->enqueue(std::move(out));
    sub->finish();
    co_return;
  }
  out += "retry: " + std::to_string(cfg.sse_retry.count()) + "\n";
  append_sse_id(out, sub->cursor_text(0));
  for (auto& r : replay) {
    if (!stream_id_less(sub->cursors()[r.channel], r.message.id)) continue;
    sub->cursors()[r.channel] = r.message.id;
    append_sse_event(out, sub->cursor_text(r.channel), r.message.event, r.message.data);
    front_stats::inc(sh.stats.sse_replayed);
  }
  for (auto i : gaps)  // the client missed more than the history holds: say so (7.8)
    append_sse_event(out, sub->cursor_text(i), "tempest.resync", "{\"channel\":\"" + channels[i] + "\",\"lost\":true}");
  if (!replay.empty()) log->debug("replayed {} event(s) to a subscriber of {}", replay.size(), list);
  sub->enqueue(std::move(out));
  sub->make_ready();
  sub->start_reading();
}

}  // namespace tempest::front
