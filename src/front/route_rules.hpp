// Per-route settings (priority, retry safety): an ordered list of rules, the first match wins.
//   rule  := [METHOD " "] PREFIX "=" VALUE          e.g.  "POST /upload=low", "/admin/=high", "GET=high"
//   rules := rule ("," rule)*                      (a rule with only a METHOD matches every path)
// parse_route_rules throws std::invalid_argument naming the bad rule.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tempest::front {

struct route_rule {
  std::string method;  // "" matches any method
  std::string prefix;  // "" matches any path
  std::string value;
};

std::vector<route_rule> parse_route_rules(std::string_view text);
// The value of the first rule matching (method, path), or nullopt.
std::optional<std::string_view> match_route(const std::vector<route_rule>& rules, std::string_view method,
                                            std::string_view path);

}  // namespace tempest::front
