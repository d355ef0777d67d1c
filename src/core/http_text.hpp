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

// A field value RFC 9110 5.5 allows: no control character but HTAB (so no CR, LF or NUL, which
// would split the header block, and no 0x01-0x1f or DEL, which clients and proxies treat
// differently). Bytes 0x80-0xff (obs-text, UTF-8) pass.
inline bool is_safe_header_value(std::string_view s) {
  for (unsigned char c : s)
    if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
  return true;
}

}  // namespace tempest
