#include "front/route_rules.hpp"

#include "front/request_target.hpp"

#include <stdexcept>

namespace tempest::front {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

bool is_method(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < 'A' || c > 'Z') return false;
  return true;
}

// Rules match normalised paths (request_target.hpp), so a prefix that normalising would change
// ("/%70ay", "//pay", "/a/../pay") could never match as written: refuse it, naming the form
// that would.
void check_normal(std::string_view item, std::string_view prefix) {
  if (prefix.empty()) return;
  if (prefix.find('?') != std::string_view::npos)
    throw std::invalid_argument("rule '" + std::string(item) + "': a path prefix has no '?'");
  std::string scratch;
  target_parts parts;
  auto e = parse_target(prefix, scratch, parts);
  if (e != target_error::none)
    throw std::invalid_argument("rule '" + std::string(item) + "': " + std::string(describe(e)));
  if (parts.path != prefix)
    throw std::invalid_argument("rule '" + std::string(item) + "': paths are matched normalised, write the prefix as '" +
                                std::string(parts.path) + "'");
}

}  // namespace

std::vector<route_rule> parse_route_rules(std::string_view text) {
  std::vector<route_rule> rules;
  while (!text.empty()) {
    auto comma = text.find(',');
    auto item = trim(text.substr(0, comma));
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    if (item.empty()) continue;
    auto eq = item.rfind('=');
    if (eq == std::string_view::npos || eq + 1 == item.size())
      throw std::invalid_argument("rule '" + std::string(item) + "' needs =VALUE");
    route_rule r;
    r.value = std::string(trim(item.substr(eq + 1)));
    auto match = trim(item.substr(0, eq));
    auto space = match.find(' ');
    if (space != std::string_view::npos) {
      r.method = std::string(match.substr(0, space));
      r.prefix = std::string(trim(match.substr(space + 1)));
    } else if (is_method(match)) {
      r.method = std::string(match);
    } else {
      r.prefix = std::string(match);
    }
    if (!r.method.empty() && !is_method(r.method))
      throw std::invalid_argument("rule '" + std::string(item) + "': '" + r.method + "' is not a method");
    if (!r.prefix.empty() && r.prefix.front() != '/')
      throw std::invalid_argument("rule '" + std::string(item) + "': a path prefix starts with /");
    check_normal(item, r.prefix);
    rules.push_back(std::move(r));
  }
  return rules;
}

std::optional<std::string_view> match_route(const std::vector<route_rule>& rules, std::string_view method,
                                            std::string_view path) {
  for (auto& r : rules) {
    if (!r.method.empty() && r.method != method) continue;
    if (path.substr(0, r.prefix.size()) != r.prefix) continue;
    return std::string_view(r.value);
  }
  return std::nullopt;
}

}  // namespace tempest::front
