// Logging: spdlog, one logger per component ("front", "http", "answer", "redis", "worker"),
// all writing to stderr. Lines carry a connection or job id prefix where one exists, so
// that one request can be followed with grep: "[c12 j4403...]".
#pragma once
#include <spdlog/spdlog.h>

#include <memory>
#include <string>
#include <string_view>

namespace tempest::log {

// Sets the level for every component: trace, debug, info, warn, error, off.
// Throws std::invalid_argument on an unknown level name.
void init(std::string_view level);
// Checks a level name; throws std::invalid_argument listing the valid ones.
void parse_level(std::string_view level);
// The component's logger (created on first use, thread-safe).
std::shared_ptr<spdlog::logger> get(const std::string& component);

}  // namespace tempest::log
