// A worker's answer to a "url" job: parsing and validation. The wire form (docs/protocol.md 2.2):
//   [status, headers, body]  or  [status, headers] (an empty body)
//   status   integer 200..599 (1xx are not final answers), or that number as a 3-digit string
//   headers  object: name -> value, or name -> [value, ...] for repeated fields (set-cookie);
//            a value is a string, or a JSON number sent as its decimal text ("12", "1.5")
//   body     string (UTF-8 text), {"base64": "..."} for any bytes, or null
// The number and string forms are what the 2012 front and its Python client used; what made
// the 2012 front crash (a missing or null status, a body that is a number) stays refused.
// Header names must be RFC 9110 tokens and values may not hold a control character but HTAB:
// a worker can never inject headers or split the response. Framing headers (content-length,
// transfer-encoding, connection, keep-alive, upgrade) are dropped: the front frames responses.
#pragma once
#include "core/http_text.hpp"

#include <cstdint>
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
// Any bytes may be given (it is a fuzz target).
bool parse_answer(std::string_view json, http_answer& out, std::string& why);
// The same, always through a JSON document (parse_answer's reference: it reads the usual
// answers in one pass, and anything else with this).
bool parse_answer_document(std::string_view json, http_answer& out, std::string& why);

// A stream head's Content-Length (protocol.md 10.3), which parse_answer drops like every
// framing header: true with `length` untouched when the head (already valid for parse_answer)
// declares none, true with it set for a decimal string or a non-negative integer, false with
// why for anything else (a list, two fields, a sign, junk).
bool declared_length(std::string_view head_json, std::uint64_t& length, std::string& why);

// The reason phrase to send: the status's name ("OK", from Beast's table), or for a status
// that has none the name of its class ("Successful" for 299), never "<unknown-status>".
std::string_view reason_phrase(int status);

// A header the front frames itself (content-length, transfer-encoding, connection, keep-alive,
// upgrade), case-insensitive: parse_answer drops it from a worker's headers.
bool is_framing_header(std::string_view name);

using tempest::is_safe_header_value;
using tempest::is_token;

}  // namespace tempest::front
