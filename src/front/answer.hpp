// A worker's answer to a "url" job: parsing and validation. The wire form (docs/protocol.md):
//   [status, headers, body]
//   status   integer 200..599 (1xx are not final answers)
//   headers  object: name -> string, or name -> [string, ...] for repeated fields (set-cookie)
//   body     string (UTF-8 text), or {"base64": "..."} for any bytes
// Header names must be RFC 9110 tokens and values may not hold CR, LF or NUL: a worker can
// never inject headers or split the response. Framing headers (content-length,
// transfer-encoding, connection, keep-alive, upgrade) are dropped: the front frames responses.
#pragma once
#include "core/http_text.hpp"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tempest::front {

struct http_answer {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // raw bytes
};

// Returns true and fills out, or false with a short reason in why (sent back to the worker).
bool parse_answer(std::string_view json, http_answer& out, std::string& why);

using tempest::is_safe_header_value;
using tempest::is_token;

}  // namespace tempest::front
