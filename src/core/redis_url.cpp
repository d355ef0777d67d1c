#include "core/redis_url.hpp"

#include <charconv>
#include <stdexcept>

namespace tempest {
namespace {

int parse_int(std::string_view s, std::string_view what, std::string_view url) {
  int v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || ptr != s.data() + s.size() || v < 0)
    throw std::invalid_argument("bad " + std::string(what) + " in Redis URL '" + std::string(url) + "'");
  return v;
}

}  // namespace

void split_host_port(std::string_view text, std::string& host, std::uint16_t& port) {
  std::size_t colon;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) throw std::invalid_argument("bad address '" + std::string(text) + "'");
    host = std::string(text.substr(1, close - 1));
    colon = close + 1;
    if (colon >= text.size() || text[colon] != ':')
      throw std::invalid_argument("address '" + std::string(text) + "' needs a port");
  } else {
    colon = text.rfind(':');
    if (colon == std::string_view::npos)
      throw std::invalid_argument("address '" + std::string(text) + "' needs host:port");
    host = std::string(text.substr(0, colon));
  }
  int p = parse_int(text.substr(colon + 1), "port", text);
  if (p > 65535) throw std::invalid_argument("port out of range in '" + std::string(text) + "'");
  port = static_cast<std::uint16_t>(p);
  if (host.empty()) throw std::invalid_argument("address '" + std::string(text) + "' needs a host");
}

redis_endpoint parse_redis_url(std::string_view url) {
  redis_endpoint ep;
  std::string_view rest;
  auto starts = [&](std::string_view p) { return url.substr(0, p.size()) == p; };
  if (starts("unix:") || starts("redis+unix:")) {
    rest = url.substr(url.find(':') + 1);
    while (rest.substr(0, 2) == "//") rest.remove_prefix(1);  // unix:///path -> /path
    if (auto q = rest.find('?'); q != std::string_view::npos) {
      auto query = rest.substr(q + 1);
      rest = rest.substr(0, q);
      if (query.substr(0, 3) == "db=") ep.db = parse_int(query.substr(3), "db", url);
      else throw std::invalid_argument("unknown parameter in Redis URL '" + std::string(url) + "' (only db=N)");
    }
    if (rest.empty()) throw std::invalid_argument("Redis URL '" + std::string(url) + "' has no socket path");
    ep.unix_path = std::string(rest);
    return ep;
  }
  if (starts("redis://")) rest = url.substr(8);
  else if (url.find("://") != std::string_view::npos)
    throw std::invalid_argument("unsupported scheme in Redis URL '" + std::string(url) + "' (use redis:// or unix:)");
  else rest = url;
  if (auto at = rest.rfind('@'); at != std::string_view::npos) {
    auto cred = rest.substr(0, at);
    rest = rest.substr(at + 1);
    if (auto c = cred.find(':'); c != std::string_view::npos) {
      ep.user = std::string(cred.substr(0, c));
      ep.password = std::string(cred.substr(c + 1));
    } else {
      ep.password = std::string(cred);
    }
  }
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    auto db = rest.substr(slash + 1);
    if (!db.empty()) ep.db = parse_int(db, "db", url);
    rest = rest.substr(0, slash);
  }
  if (rest.empty()) throw std::invalid_argument("Redis URL '" + std::string(url) + "' has no host");
  if (rest.front() == '[') {  // an IPv6 address: "[addr]" or "[addr]:port", nothing else
    auto close = rest.find(']');
    if (close == std::string_view::npos)
      throw std::invalid_argument("Redis URL '" + std::string(url) + "' has a '[' without its ']'");
    if (close + 1 < rest.size()) {
      split_host_port(rest, ep.host, ep.port);  // throws unless ':port' follows the ']'
    } else {
      ep.host = std::string(rest.substr(1, close - 1));
      if (ep.host.empty()) throw std::invalid_argument("Redis URL '" + std::string(url) + "' has no host");
    }
  } else if (rest.find(':') != std::string_view::npos) {
    split_host_port(rest, ep.host, ep.port);
  } else {
    ep.host = std::string(rest);
  }
  return ep;
}

std::string redis_endpoint::to_string() const {
  if (is_unix()) return "unix:" + unix_path + (db ? "?db=" + std::to_string(db) : "");
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return "redis://" + h + ":" + std::to_string(port) + "/" + std::to_string(db);
}

}  // namespace tempest
