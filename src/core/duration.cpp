#include "core/duration.hpp"

#include <cctype>
#include <charconv>
#include <stdexcept>

namespace tempest {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Splits "500ms" into 500 and "ms". Fractions are allowed ("1.5s").
bool split_number(std::string_view text, double& number, std::string& unit) {
  std::size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
  if (i == 0) return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + i, number);
  if (ec != std::errc{} || ptr != text.data() + i || number < 0) return false;
  std::string_view rest = text.substr(i);
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  unit = lower(rest);
  return true;
}

}  // namespace

std::chrono::milliseconds parse_duration(std::string_view text) {
  double n = 0;
  std::string unit;
  if (!split_number(text, n, unit))
    throw std::invalid_argument("expected a duration such as 500ms, 30s, 5m or 1h, got '" + std::string(text) + "'");
  double ms;
  if (unit == "ms") ms = n;
  else if (unit.empty() || unit == "s") ms = n * 1000;
  else if (unit == "m" || unit == "min") ms = n * 60'000;
  else if (unit == "h") ms = n * 3'600'000;
  else throw std::invalid_argument("unknown duration unit '" + unit + "' in '" + std::string(text) + "' (use ms, s, m, h)");
  // Checked as a double, before the conversion (which is undefined behaviour out of range).
  if (!(ms <= static_cast<double>(max_duration.count())))
    throw std::invalid_argument("'" + std::string(text) + "' is too long (at most 8760h, one year)");
  return std::chrono::milliseconds(static_cast<std::int64_t>(ms + 0.5));
}

std::uint64_t parse_size(std::string_view text) {
  double n = 0;
  std::string unit;
  if (!split_number(text, n, unit))
    throw std::invalid_argument("expected a size such as 8192, 16k or 1m, got '" + std::string(text) + "'");
  double mult;
  if (unit.empty() || unit == "b") mult = 1;
  else if (unit == "k" || unit == "kb" || unit == "kib") mult = 1024;
  else if (unit == "m" || unit == "mb" || unit == "mib") mult = 1024.0 * 1024;
  else if (unit == "g" || unit == "gb" || unit == "gib") mult = 1024.0 * 1024 * 1024;
  else throw std::invalid_argument("unknown size unit '" + unit + "' in '" + std::string(text) + "' (use k, m, g)");
  // 2^64 is exact as a double; anything at or above it does not fit (and converting it would be
  // undefined behaviour: 99999999999g became 0 on x86-64).
  double bytes = n * mult + 0.5;
  if (!(bytes < 18446744073709551616.0))
    throw std::invalid_argument("'" + std::string(text) + "' is too large (at most 2^64 - 1 bytes)");
  return static_cast<std::uint64_t>(bytes);
}

std::string format_duration(std::chrono::milliseconds d) {
  auto ms = d.count();
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

}  // namespace tempest
