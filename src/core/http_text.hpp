// What may appear in an HTTP header, checked wherever headers cross a process boundary (the
// front validating worker answers, the worker library encoding them).
#pragma once
#include <string_view>

namespace tempest {

// RFC 9110 token characters: what a header name may hold.
inline bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

// A value that cannot split the header block: no CR, LF or NUL.
inline bool is_safe_header_value(std::string_view s) {
  for (char c : s)
    if (c == '\r' || c == '\n' || c == '\0') return false;
  return true;
}

}  // namespace tempest
