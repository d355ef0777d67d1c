// Encodes an HTTP request as a job, the original wire format (docs/protocol.md, "Jobs"):
//   ["url", [{method, url, path, query, headers, body?, body_encoding?, remote_addr,
//             http_version}], respond_to, job_id]
// headers: lower-case names; repeated fields joined with ", " ("; " for cookie).
// body: present only when the request has one; bytes that are not valid UTF-8 travel as
// base64 with "body_encoding": "base64". Streaming writer, no DOM: this is the hot path.
#pragma once
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace tempest::front {

using http_request = boost::beast::http::request<boost::beast::http::string_body>;

// A request target's path and query (RFC 9112 3.2), the one view of the target that the
// job's "path", the route rules and the event-stream prefix all use:
//   origin-form   "/p/q?x=1"          -> path "/p/q", query "x=1"
//   absolute-form "http://host/p?x=1" -> path "/p",   query "x=1" (no path after the host: "/")
//   anything else ("*", "host:443")   -> the whole target before '?'
struct target_parts {
  std::string_view path;
  std::string_view query;  // "" when there is no '?'
};
target_parts split_target(std::string_view target);

// What the front decided about a job, written into the request object (protocol.md 8).
struct job_meta {
  std::string_view priority = "normal";  // "high", "normal" or "low"
  std::int64_t deadline_ms = 0;          // unix time in ms when the front stops waiting (0: none)
  bool retry = true;                     // safe to re-deliver after a worker death
};

void encode_job(std::string& out, const http_request& req, std::string_view remote_addr,
                std::string_view respond_to, std::uint64_t job_id, const job_meta& meta = {});

}  // namespace tempest::front
