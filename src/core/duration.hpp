// Parsing of the human-friendly values used by flags and the config file:
//   parse_duration("500ms") -> 500 ms; units: ms, s, m, h (a bare number means seconds)
//   parse_size("16k") -> 16384; units: b, k/kb/kib, m/mb/mib, g/gb/gib (powers of 1024)
// Both throw std::invalid_argument with a message that says what was expected.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace tempest {

std::chrono::milliseconds parse_duration(std::string_view text);
std::uint64_t parse_size(std::string_view text);
std::string format_duration(std::chrono::milliseconds d);

}  // namespace tempest
