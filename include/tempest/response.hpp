// tempest::response: what an on_request handler fills in; the library sends it to the front.
//
//   res.status = 404;                               // 200 unless set
//   res.set_header("Content-Type", "text/plain");   // replaces a header of that name
//   res.add_header("Set-Cookie", "a=1");            // repeated headers: add_header again
//   res.body = "not found\n";                       // raw bytes; binary is fine
//
// On the wire (the answer [status, headers, body], docs/protocol.md; encoded by
// src/worker/job_codec.cpp): headers become a JSON object, a name given several times becomes an
// array of strings; a body that is not valid UTF-8 travels as {"base64": "..."}. A header whose
// name is not an HTTP token, or whose value holds CR, LF, NUL or invalid UTF-8, is dropped and
// logged; a status outside 200..599 (what the front accepts: 1xx are not final) is sent as 500.
#pragma once
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tempest {

struct response {
  int status = 200;                                         // crosses to the front: HTTP status, 200..599
  std::vector<std::pair<std::string, std::string>> headers; // crosses to the front: name, value
  std::string body;                                         // crosses to the front: raw bytes

  // Replaces every header of that name (case-insensitive) with this one.
  void set_header(std::string_view name, std::string_view value);
  // Adds a header, keeping those of the same name (Set-Cookie).
  void add_header(std::string_view name, std::string_view value) { headers.emplace_back(name, value); }
  // Back to 200, no headers, empty body; keeps the buffers' capacity.
  void clear() noexcept;
};

}  // namespace tempest
