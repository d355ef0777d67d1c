// Encodes an HTTP request as a job, the original wire format (docs/protocol.md, "Jobs"):
//   ["url", [{method, url, path, query, headers, body? | body_file?, body_encoding?, remote_addr,
//             http_version, priority, deadline?, retry}], respond_to, job_id]
// url: the target as received, byte for byte (a worker can see what the client sent).
// path, query: the target split, its path normalised (request_target.hpp: absolute form,
// percent-escapes, dot segments, repeated slashes; "/a/../%70ay" -> "/pay"), done once per
// request; the route rules and the event-stream prefix matched this same path.
// headers: lower-case names; repeated fields joined with ", " ("; " for cookie).
// body: present only when the request has one; bytes that are not valid UTF-8 travel as
// base64 with "body_encoding": "base64". A spooled body (protocol.md 11) travels as
// "body_file": {"path", "size", "sha256"} instead. Streaming writer, no DOM: this is the hot path.
#pragma once
#include "front/request_body.hpp"
#include "front/request_target.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace tempest::front {

// What the front decided about a job, written into the request object (protocol.md 8).
struct job_meta {
  std::string_view priority = "normal";  // "high", "normal" or "low"
  std::int64_t deadline_ms = 0;          // unix time in ms when the front stops waiting (0: none)
  bool retry = true;                     // safe to re-deliver after a worker death
};

// target: parse_target(req.target()), done once by the caller.
void encode_job(std::string& out, const http_request& req, const target_parts& target, std::string_view remote_addr,
                std::string_view respond_to, std::uint64_t job_id, const job_meta& meta = {});

}  // namespace tempest::front
