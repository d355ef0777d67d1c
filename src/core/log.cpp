#include "core/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <mutex>
#include <stdexcept>

namespace tempest::log {
namespace {

std::mutex mutex;
spdlog::level::level_enum current = spdlog::level::info;

}  // namespace

void parse_level(std::string_view level) {
  auto lvl = spdlog::level::from_str(std::string(level));
  if (lvl == spdlog::level::off && level != "off")
    throw std::invalid_argument("unknown log level '" + std::string(level) + "' (trace, debug, info, warn, error, off)");
}

void init(std::string_view level) {
  parse_level(level);
  auto lvl = spdlog::level::from_str(std::string(level));
  std::lock_guard lock(mutex);
  current = lvl;
  spdlog::set_level(lvl);
  spdlog::apply_all([&](const std::shared_ptr<spdlog::logger>& l) { l->set_level(lvl); });
}

std::shared_ptr<spdlog::logger> get(const std::string& component) {
  if (auto l = spdlog::get(component)) return l;
  std::lock_guard lock(mutex);
  if (auto l = spdlog::get(component)) return l;
  auto l = spdlog::stderr_color_mt(component);
  l->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %n: %v");
  l->set_level(current);
  return l;
}

}  // namespace tempest::log
