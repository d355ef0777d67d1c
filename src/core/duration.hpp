// Parsing of the human-friendly values used by flags and the config file of every program
// (front, worker, angel, tempest publish):
//   parse_duration("500ms") -> 500 ms; units: ms, s, m, h (a bare number means seconds)
//   parse_size("16k") -> 16384; units: b, k/kb/kib, m/mb/mib, g/gb/gib (powers of 1024)
// Both throw std::invalid_argument with a message that says what was expected, also for a
// value that does not fit: a duration above max_duration, a size above 2^64 - 1 bytes.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace tempest {

// The longest duration any setting may have: one year. Far more than any timeout needs, and far
// from what a deadline computed as steady_clock::now() + d (int64 nanoseconds, about 292 years
// of range, counted from boot) or system_clock::now() + d (from 1970) could overflow, even
// doubled or summed a few times (backoffs, 2 x heartbeat).
inline constexpr std::chrono::milliseconds max_duration = std::chrono::hours(8760);  // the messages say 8760h

std::chrono::milliseconds parse_duration(std::string_view text);
std::uint64_t parse_size(std::string_view text);
std::string format_duration(std::chrono::milliseconds d);

}  // namespace tempest
